"""User administration (admins) and the log of unmasked personal-data views (supervisors and admins)."""

from .routes import bp

__all__ = ["bp"]
