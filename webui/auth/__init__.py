"""Signing in and out, and the language switch."""

from .routes import bp

__all__ = ["bp"]
