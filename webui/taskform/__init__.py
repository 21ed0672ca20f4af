"""A task's form: shown from its JSON Schema and UI schema, checked on the server when submitted."""

from .routes import bp

__all__ = ["bp"]
