"""Task drafts (暂存): a task form saved unfinished, to be reloaded into the form later.

One draft per task (table ``task_drafts``, keyed by the task id), owned by the person who saved it last: it comes
back into their form, and nobody working beside them sees their half-typed data. When the task passes to someone
else, the draft is not lost: the person now holding the task (a supervisor assigned it to them, or they claimed it
after it was released), or any member of its lane once the author can no longer work on it (deactivated, out of the
lane), sees who saved it and when (``earlier_draft``) and may take it over (``take_over_draft``), as when a colleague
hands over a half-finished paper file. ``services.complete_task`` deletes the draft when the task completes. Plain
functions over a session; the caller commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .accounts import User
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


def draft_of(session: Session, task_id: str) -> TaskDraft | None:
    """The task's draft, whoever saved it (for the supervisor's assign page: who left unfinished input)."""
    return session.get(TaskDraft, task_id)


def earlier_draft(session: Session, task_id: str, user: str) -> TaskDraft | None:
    """Another person's draft of the task that ``user`` may see and take over, else None: while the task is free
    or held by ``user``, if ``user`` holds it now, or if its author can no longer work on it (deactivated, deleted,
    out of the task's lane). A draft of a colleague still in the lane of a free task stays theirs."""
    draft = session.get(TaskDraft, task_id)
    if draft is None or draft.user == user:
        return None
    task = get_task(session, task_id)
    if task.assignee not in (None, user):
        return None
    if task.assignee == user:
        return draft
    author = session.scalar(select(User).where(User.username == draft.user))
    if author is None or not author.active or task.lane not in author.group_names:
        return draft
    return None


def take_over_draft(session: Session, task_id: str, user: str) -> str:
    """Make the earlier draft ``user``'s own (it then fills their form; its time stays when it was saved) and
    return who saved it; refused (``PermissionDenied``) when ``earlier_draft`` would not show it to them."""
    draft = earlier_draft(session, task_id, user)
    if draft is None:
        raise PermissionDenied(f"no draft of task {task_id} for {user} to take over")
    author, draft.user = draft.user, user
    session.flush()
    return author
