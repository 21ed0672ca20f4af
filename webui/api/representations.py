"""The JSON shapes the API answers with (``openapi.py`` describes the same shapes; keep the two in step)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner import case_queries, services, task_eligibility
from runner.case import FourEyesError
from runner.case_queries import CaseDataView, Progress
from runner.models import Case as CaseRow
from runner.models import Event, Incident, OpenTask
from runner.services import FailedMessageRow, TaskForm
from runner.workdays import WorkingCalendar

from ..extensions import runtime, session
from .auth import api_account


def when(value: datetime | None) -> str | None:
    """RFC 3339 with the offset (UTC as stored), or None."""
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class TaskFacts:
    """What a task's representation says beyond its row, read once for a whole list: its case's status, who of the
    tasks the requesting user could never complete (four-eyes), and the calendar that tells estimated due dates."""

    case_statuses: Mapping[str, str]
    four_eyes: Mapping[str, FourEyesError]
    calendar: WorkingCalendar


def task_facts(tasks: list[OpenTask], user: str | None = None) -> TaskFacts:
    """The facts of ``tasks`` for ``user`` (the token's user when not given)."""
    user = user if user is not None else api_account().username
    return TaskFacts(case_queries.case_statuses(session(), {task.case_number for task in tasks}),
                     task_eligibility.four_eyes_blocked(session(), runtime(), tasks, user), runtime().calendar)


def task_json(task: OpenTask, now: datetime, facts: TaskFacts | None = None) -> dict[str, Any]:
    """A task; ``facts`` (``task_facts``) read for this one task when not given. ``due_estimated``: its due date
    was counted over a year without official holiday data (rule-based, no 调休, DOMAIN §2);
    ``four_eyes_blocked``: the requesting user did the step its four-eyes rule pairs it with, so can neither claim
    nor complete it; ``case_status``: a ``suspended`` case takes no claim or completion until resumed."""
    facts = facts if facts is not None else task_facts([task])
    return {
        "id": task.id,
        "case_number": task.case_number,
        "element_id": task.element_id,
        "name": task.name,
        "lane": task.lane,
        "assignee": task.assignee,
        "category": task.category,
        "customer_name": task.customer_name,
        "created_at": when(task.created_at),
        "due_at": when(task.due_at),
        "follow_up_at": when(task.follow_up_at),
        "overdue": task.due_at is not None and task.due_at < now,
        "due_estimated": task_eligibility.due_estimated(facts.calendar, task),
        "case_status": facts.case_statuses.get(task.case_number),
        "four_eyes_blocked": task.id in facts.four_eyes,
    }


def task_detail_json(tf: TaskForm, now: datetime) -> dict[str, Any]:
    return {**task_json(tf.task, now), "form": {"schema": tf.schema, "ui_schema": tf.ui_schema},
            "documentation": tf.documentation}


def case_json(row: CaseRow) -> dict[str, Any]:
    return {
        "case_number": row.case_number,
        "status": row.status,
        "category": row.category,
        "customer_name": row.customer_name,
        "version_id": row.version_id,
        "created_at": when(row.created_at),
        "updated_at": when(row.updated_at),
        "completed_at": when(row.completed_at),
    }


def case_detail_json(row: CaseRow, tasks: list[OpenTask], now: datetime) -> dict[str, Any]:
    facts = task_facts(tasks)
    return {**case_json(row), "summary": row.summary or {},
            "open_tasks": [task_json(task, now, facts) for task in tasks]}


CASE_ACTIVITY = "整个案件"
"""The activity of an event about the case as a whole (cancelled, suspended, resumed, migrated …), as the case
page's timeline names it; its ``element_id`` stays ``case``."""
EVENT_DETAILS = frozenset({"by", "previous", "assignee", "reason", "closed_incidents", "resolved_incidents", "due_at",
                           "from", "to", "from_hash", "to_hash", "message", "request_id", "paused_working_days",
                           "deadlines_moved"})
"""What of an event's data the event log (``event_json``) returns: who assigned and the previous holder
(``assigned``), the holder given back and why (``unclaimed``), a cancellation's or suspension's reason and the
incidents it closed, a migration's versions, a step's due date (``enabled``), a resumption's paused working days
and moved deadlines, the message and request id a delivery recorded. Never form data or a message's payload: they
may hold personal data, which only ``/cases/{n}/data`` returns, masked as the case page shows them (``runner.pii``,
``case_data_json``)."""


def event_json(event: Event) -> dict[str, Any]:
    """One entry of the event log: what happened to which element, by whom and when, with the details the case
    page's timeline shows (``EVENT_DETAILS``; no form data)."""
    whole_case = event.element_id == "case" and event.task_id is None
    return {
        "id": event.id,
        "task_id": event.task_id,
        "element_id": event.element_id,
        "activity": CASE_ACTIVITY if whole_case else event.activity,
        "lifecycle": event.lifecycle,
        "role": event.role,
        "user": event.user,
        "at": when(event.at),
        "details": event_details(event),
    }


def event_details(event: Event) -> dict[str, Any]:
    """The ``EVENT_DETAILS`` of the event's data; nothing of a completion's data but a delivered message's name
    and request id (``services.send_message``): the rest is form data."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.lifecycle == "completed" and not {"message", "payload"} <= set(data) <= services.MESSAGE_EVENT_KEYS:
        return {}
    return {key: value for key, value in data.items() if key in EVENT_DETAILS}


def case_data_json(view: CaseDataView) -> dict[str, Any]:
    """The application and each shown step's data, as ``runner.case_queries.case_data_view`` masked them (or not:
    a view in full); a step's ``activity`` is its name, as in ``event_json``."""
    return {
        "case_number": view.case.case_number,
        "application": view.application,
        "steps": [{"event_id": event.id, "element_id": event.element_id, "activity": event.activity,
                   "user": event.user, "at": when(event.at), "data": view.event_data[event.id]}
                  for event in view.events],
    }


def progress_json(progress: Progress) -> dict[str, Any]:
    return {
        "case_number": progress.case.case_number,
        "status": progress.case.status,
        "steps": [{"element_id": step.element_id, "name": step.name, "state": step.state, "lane": step.lane,
                   "completed_at": when(step.completed_at), "due_at": when(step.due_at), "assignee": step.assignee,
                   "kind": step.kind, "waiting_for": step.waiting_for, "since": when(step.since)}
                  for step in progress.steps],
    }


def incident_json(incident: Incident, case_number: str | None) -> dict[str, Any]:
    return {
        "id": incident.id,
        "case_number": case_number,
        "task_id": incident.task_id,
        "element_id": incident.element_id,
        "message": incident.message,
        "attempts": incident.attempts,
        "created_at": when(incident.created_at),
        "resolved_at": when(incident.resolved_at),
    }


def failed_message_json(row: FailedMessageRow) -> dict[str, Any]:
    """A notification the worker gave up on; the recipient's phone number, if its parameters carry one, masked."""
    message = row.message
    return {
        "id": message.id,
        "case_number": message.case_number,
        "template": message.template,
        "channel": message.channel,
        "recipient": {"role": message.to_role, "customer_name": row.customer_name, "phone": row.phone},
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created_at": when(message.created_at),
        "last_attempt_at": when(message.last_attempt_at),
    }


def page_json(items: list[dict[str, Any]], total: int, limit: int, offset: int, total_exact: bool = True
              ) -> dict[str, Any]:
    """A page of a list: ``total`` is the list's length, or (``total_exact`` false) a lower bound: more than
    ``total - 1``."""
    return {"items": items, "total": total, "total_exact": total_exact, "limit": limit, "offset": offset}
