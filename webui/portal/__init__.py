"""The customer portal (/portal): apply without an account, follow the case with its access code, and do the
customer's own tasks. Anonymous; a checked access code keeps the visitor signed in to that one case for a while."""

from .routes import bp

__all__ = ["bp"]
