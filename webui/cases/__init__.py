"""Case detail: status, summary, open tasks, steps so far and the timeline of events."""

from .routes import bp

__all__ = ["bp"]
