"""Task drafts (暂存): a task form saved unfinished, to be reloaded into the form later.

One draft per task (table ``task_drafts``, keyed by the task id), owned by the person who saved it last: only they
get it back, so nobody sees another person's half-typed data. ``services.complete_task`` deletes the draft when the
task completes. Plain functions over a session; the caller commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import TaskDraft
from .services import PermissionDenied, get_task


def save_draft(session: Session, task_id: str, user: str, data: dict[str, Any], now: datetime) -> TaskDraft:
    """Keep ``data`` as the task's draft (replacing any earlier one); refused while someone else holds the task."""
    task = get_task(session, task_id)
    if task.assignee not in (None, user):
        raise PermissionDenied(f"task {task_id} is claimed by {task.assignee}")
    draft = session.get(TaskDraft, task_id)
    if draft is None:
        draft = TaskDraft(task_id=task_id, case_id=task.case_id, user=user, data=data, saved_at=now)
        session.add(draft)
    else:
        draft.user, draft.data, draft.saved_at = user, data, now
    session.flush()
    return draft


def load_draft(session: Session, task_id: str, user: str) -> TaskDraft | None:
    """The user's draft of the task, if they saved one."""
    return session.scalar(select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.user == user))


def discard_draft(session: Session, task_id: str, user: str) -> bool:
    """Throw the user's draft of the task away; whether there was one."""
    result = session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.user == user))
    return bool(result.rowcount)  # type: ignore[attr-defined]
