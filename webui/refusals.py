"""Why the runner refused a claim, an assignment or a completion, in the reader's language, where the refusal says
so in structured form (``runner.services.TaskGone``, ``TaskHeld``) or the database does (the case's status now, the
event that withdrew the task); shared by the task list, the task form and the portal."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from runner import services
from runner.case import CUSTOMER_ROLE
from runner.models import Case as CaseRow
from runner.models import Event

from .i18n import _, _l

CUSTOMER_USER_PREFIXES = ("customer:", "applicant:")
"""The pseudo users a customer acts as (``runner.portal``): named 客户 in refusals, never by the case number."""


def who(username: str) -> str:
    """A person as the pages name them: the customer's pseudo user (``customer:<case>``) as 客户, staff by their
    display name (``webui.tasks.people.display_name``), an unknown name as it is."""
    if username.startswith(CUSTOMER_USER_PREFIXES):
        return _("客户")
    from .tasks.people import display_name  # the task pages' per-request name cache

    return display_name(username)


def task_conflict(err: Exception) -> str | None:
    """The task was completed meanwhile (by whom) or someone else holds it; None for any other refusal."""
    if isinstance(err, services.TaskGone):
        if err.done_by:
            return _("该任务已不在待办中：%(user)s 已办理。", user=who(err.done_by))
        return _("该任务已不在待办中（已由系统结束）。")
    if isinstance(err, services.TaskHeld):
        return _("该任务已被 %(user)s 领取。", user=who(err.assignee))
    return None


CASE_STATUS_REFUSALS = {
    "suspended": _l("案件 %(case)s 已暂停，恢复后才能办理其任务。"),
    "cancelled": _l("案件 %(case)s 已取消，其任务不能再办理。"),
    "completed": _l("案件 %(case)s 已办结，其任务不能再办理。"),
}


def case_not_running(session: Session, case_number: str, statuses: tuple[str, ...] = ("suspended", "cancelled",
                                                                                        "completed")) -> str | None:
    """Why a task of this case cannot be claimed, unclaimed, assigned or completed when its case is not running
    (its status now, one of ``statuses``), else None."""
    status = session.scalar(select(CaseRow.status).where(CaseRow.case_number == case_number))
    if status in statuses and status in CASE_STATUS_REFUSALS:
        return str(CASE_STATUS_REFUSALS[status]) % {"case": case_number}
    return None


CAUSE_WINDOW = timedelta(minutes=1)
"""How long before a task's ``cancelled`` event the step or timer that withdrew it may lie (the same transaction
logs both; its events each carry their own clock reading)."""


def task_withdrawn(session: Session, task_id: str) -> str | None:
    """The task was withdrawn by the process (the other branch of a race won, a time limit ended it): what did it
    — the last step someone completed (the customer, or a member of staff) or the last timer that fired just before
    the task's ``cancelled`` event — read from the event log; None when the task was not withdrawn."""
    cancelled = session.scalar(select(Event).where(Event.task_id == task_id, Event.lifecycle == "cancelled")
                               .order_by(Event.id.desc()).limit(1))
    if cancelled is None:
        return None
    cause = session.scalar(select(Event).where(
        Event.case_id == cancelled.case_id, Event.id < cancelled.id, Event.at >= cancelled.at - CAUSE_WINDOW,
        or_(and_(Event.lifecycle == "completed", Event.user.is_not(None)), Event.lifecycle == "fired"))
        .order_by(Event.id.desc()).limit(1))
    if cause is None:
        return _("该环节已撤回，无需再办理。")
    if cause.lifecycle == "fired":
        return _("该环节已撤回，无需再办理：“%(step)s”时限已到。", step=cause.activity)
    if cause.role == CUSTOMER_ROLE:
        return _("该环节已撤回，无需再办理：客户已完成“%(step)s”。", step=cause.activity)
    return _("该环节已撤回，无需再办理：%(user)s 已完成“%(step)s”。", user=who(cause.user or ""), step=cause.activity)


def completion_refusal(session: Session, err: Exception, task_id: str, case_number: str | None) -> str | None:
    """Why a completion was refused, in words: the task done or held by someone else, its case suspended or
    cancelled, the task withdrawn by the process (by what), the case ended; None when none of these says why."""
    found = task_conflict(err)
    if found is None and case_number:
        found = case_not_running(session, case_number, ("suspended", "cancelled"))
    found = found or task_withdrawn(session, task_id)
    if found is None and case_number:
        found = case_not_running(session, case_number)
    return found


def case_number_of_task(session: Session, task_id: str) -> str | None:
    """The number of the case a task (open or not) belongs to, from the event log."""
    return session.scalar(select(Event.case_number).where(Event.task_id == task_id).limit(1))
