"""``GET /healthz`` for load balancers and monitoring."""

from .routes import bp

__all__ = ["bp"]
