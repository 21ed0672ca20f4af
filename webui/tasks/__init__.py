"""工作台: the task list, claiming, releasing and (for supervisors) assigning tasks."""

from .routes import bp

__all__ = ["bp"]
