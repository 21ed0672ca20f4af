"""Why the runner refused a claim, an assignment or a completion, in the reader's language, where the refusal says
so in structured form (``runner.services.TaskGone``, ``TaskHeld``); shared by the task list and the task form."""

from __future__ import annotations

from runner import services

from .i18n import _


def task_conflict(err: Exception) -> str | None:
    """The task was completed meanwhile (by whom) or someone else holds it; None for any other refusal."""
    if isinstance(err, services.TaskGone):
        if err.done_by:
            return _("该任务已不在待办中：%(user)s 已办理。", user=err.done_by)
        return _("该任务已不在待办中（已由系统结束）。")
    if isinstance(err, services.TaskHeld):
        return _("该任务已被 %(user)s 领取。", user=err.assignee)
    return None
