"""The process owner's simulation page (issue 5): stored runs, the new-run form, progress and the report."""

from .routes import bp

__all__ = ["bp"]
