"""Error pages, and the runner's refusals mapped to HTTP statuses."""

from .handlers import init_app

__all__ = ["init_app"]
