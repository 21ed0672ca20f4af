"""The use cases the web UI, the REST API and the command line call: plain functions over a session.

Each function does one unit of work inside the caller's transaction (the caller commits); none imports Flask.
Errors: ``NotFoundError`` (404), ``ConflictError`` (409), ``PermissionDenied`` (403), ``FormValidationError`` and
``CaseError`` (400/422) — each with a message fit to show.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import audit, outbox_admin, suspensions
from .case import Case as EngineCase
from .case import CaseError, CaseEvent, FourEyesError, element_id, is_reminder, timer_wait
from .clock import SHANGHAI, parse_iso, to_iso
from .forms import FormValidationError, validate_message_payload
from .instructions import is_template, render_instructions
from .models import Case as CaseRow
from .models import (
    CompletionRequest,
    Event,
    Incident,
    Job,
    OpenTask,
    OutboxMessage,
    ProcessVersion,
    StartRequest,
)
from .process_folder import spec_properties
from .script_engine import SLA_PAUSES
from .start_data import validate_start_data
from .store import (
    ConflictError,
    LoadedCase,
    NotFoundError,
    Runtime,
    latest_version,
    load_case,
    load_locked_row,
    new_case,
    save_case,
)
from .task_list import CASE_NUMBER_SHAPE as CASE_NUMBER_SHAPE  # the work list's reads, offered from here too
from .task_list import StepCount as StepCount
from .task_list import TaskFilter as TaskFilter
from .task_list import TaskPage as TaskPage
from .task_list import case_number_prefix as case_number_prefix
from .task_list import count_tasks as count_tasks
from .task_list import list_tasks as list_tasks
from .task_list import task_steps as task_steps

REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
"""A client's request id (a completion's, a case start's): what the idempotency rows keep (80 characters)."""


class PermissionDenied(Exception):
    """The user may not do this to this task."""


# -- cases -------------------------------------------------------------------------------------------------------


def new_case_number(session: Session, runtime: Runtime) -> str:
    """``YK`` + date + a random suffix: unique without a shared counter across hosts."""
    day = runtime.clock.now().astimezone(SHANGHAI).strftime("%Y%m%d")
    for _ in range(10):
        number = f"YK{day}{secrets.randbelow(10**6):06d}"
        if session.scalar(select(CaseRow.id).where(CaseRow.case_number == number)) is None:
            return number
    raise ConflictError("could not allocate a case number; try again")


class StartRepeated(Exception):
    """The start's request id already started a case (``case_number``, asked for by ``requested_by``).
    ``same_data``: whether that start carried the same data as this one (None: not known, a start recorded before
    its data's digest was kept, or a caller that did not say what it asks)."""

    def __init__(self, request_id: str, case_number: str, requested_by: str, same_data: bool | None = None) -> None:
        super().__init__(f"request id {request_id} already started case {case_number}")
        self.request_id = request_id
        self.case_number = case_number
        self.requested_by = requested_by
        self.same_data = same_data


def start_digest(data: dict[str, Any]) -> str:
    """The SHA-256 of a start's data as the caller gave it (canonical JSON: key order and spacing do not count)."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def earlier_start(session: Session, request_id: str, digest: str | None = None) -> StartRepeated | None:
    """What the request id started before, or None; with ``digest`` (``start_digest`` of this start's data) it
    tells whether the earlier start asked the same."""
    row = session.get(StartRequest, request_id)
    if row is None:
        return None
    same = None if digest is None or row.request_digest is None else row.request_digest == digest
    return StartRepeated(request_id, row.case_number, row.requested_by, same)


def _claim_start(session: Session, runtime: Runtime, request_id: str, case_number: str, requested_by: str,
                 digest: str) -> None:
    """Insert the request id before the case: of two starts with the same id (also concurrent, on other processes
    or hosts) only one gets past here; the other raises ``StartRepeated`` naming the first case."""
    try:
        with session.begin_nested():  # PostgreSQL: waits for a concurrent insert of the id, then fails or goes on
            session.add(StartRequest(request_id=request_id, case_number=case_number, requested_by=requested_by,
                                     requested_at=runtime.clock.now(), request_digest=digest))
    except IntegrityError:
        earlier = earlier_start(session, request_id, digest)
        if earlier is None:
            raise
        raise earlier from None


def start_case(session: Session, runtime: Runtime, data: dict[str, Any], user: str,
               version_id: int | None = None, case_number: str | None = None, *,
               request_id: str | None = None, requested_by: str | None = None) -> str:
    """Start a case of the given (default: newest) version with the application data; return its number.

    With ``request_id`` the start is idempotent: a request id that started a case before raises ``StartRepeated``
    (with that case's number, and whether it asked the same data: ``same_data``) and starts nothing."""
    version = session.get(ProcessVersion, version_id) if version_id else latest_version(session)
    if version is None:
        raise NotFoundError(f"no process version {version_id}")
    digest = start_digest(data)
    if request_id is not None and (earlier := earlier_start(session, request_id, digest)) is not None:
        raise earlier
    number = case_number or new_case_number(session, runtime)
    if request_id is not None:
        _claim_start(session, runtime, request_id, number, requested_by or user, digest)
    start_data = {**data, "case_number": number}
    start_data.setdefault("applied_at", runtime.clock.now().isoformat(timespec="seconds"))
    start_data.setdefault("regime", runtime.default_regime)
    validate_start_data(runtime.bundle(version), start_data)
    loaded = new_case(session, runtime, version, number)
    loaded.case.start(start_data)
    save_case(session, runtime, loaded)
    return number


def _load_running(session: Session, runtime: Runtime, case_number: str) -> LoadedCase:
    loaded = load_case(session, runtime, case_number)
    if loaded.row.status != "running":
        raise CaseError(f"case {case_number} is {loaded.row.status}")
    return loaded


MESSAGE_EVENT_KEYS = frozenset({"message", "payload", "request_id"})
"""The data of the event recording a message delivered with a request id (without one: no ``request_id``)."""


@dataclass
class MessageDelivery:
    """What delivering a message did: delivered now, or (``repeated``) by an earlier request with the same id."""

    case_number: str
    name: str
    repeated: bool


def _brief(payload: Any, limit: int = 60) -> str:
    """A payload as compact JSON, cut at ``limit`` characters (…)."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _reused_request_id(request_id: str, case_number: str, earlier_user: str | None, first: dict[str, Any],
                       user: str | None, name: str, payload: dict[str, Any]) -> str:
    """Why a request id cannot deliver this message: what differs from the delivery it was used for."""
    sent, sender = first.get("message"), earlier_user or "the system"
    if sent != name:
        what = f"another message to case {case_number} ({sent} by {sender}, now {name})"
    elif first.get("payload") != payload:
        what = (f"{name} to case {case_number} with another payload ({_brief(first.get('payload'))} then, "
                f"{_brief(payload)} now)")
    else:
        what = f"{name} to case {case_number} by {sender} (now {user or 'the system'})"
    return f"request id {request_id} was used for {what}: choose a new request id for a new message"


def send_message(session: Session, runtime: Runtime, case_number: str, name: str, payload: dict[str, Any],
                 user: str | None = None, *, request_id: str | None = None) -> MessageDelivery:
    """Deliver a named message (e.g. ``payment_confirmed``) to the case it correlates with.

    The payload is checked as form data is, without a schema (``forms.validate_message_payload``). The ``completed``
    event of the element that caught it records ``user`` (who sent it; None: the system) and, in its data, the
    message, its payload and the request id. With ``request_id`` the delivery is idempotent: the id found in that
    case's log with the same message and payload answers ``repeated`` and delivers nothing (also when the case
    has moved on or ended since); with another message, payload or user it is a ``ConflictError``."""
    validate_message_payload(payload)
    loaded = load_case(session, runtime, case_number)  # locks the case: a retry waits for the first delivery
    if request_id is not None and (earlier := _earlier_message(session, loaded.row.id, request_id)) is not None:
        first = earlier.data or {}
        if (earlier.user, first.get("message"), first.get("payload")) != (user, name, payload):
            raise ConflictError(_reused_request_id(request_id, case_number, earlier.user, first, user, name, payload))
        return MessageDelivery(loaded.row.case_number, name, repeated=True)
    if loaded.row.status != "running":
        raise CaseError(f"case {case_number} is {loaded.row.status}")
    catchers = _message_catchers(loaded.case.workflow, name)
    first_new = len(loaded.case.history)
    loaded.case.deliver_message(name, payload)
    data: dict[str, Any] = {"message": name, "payload": payload}
    if request_id is not None:
        data["request_id"] = request_id
    caught = next((event for event in loaded.case.history[first_new:]
                   if event.lifecycle == "completed" and event.task_id in catchers), None)
    if caught is None:  # caught by an element the log does not name: the delivery is still recorded
        caught = loaded.case.case_event("case", "message", user)
        loaded.case.history.append(caught)
    caught.user, caught.data = user, data
    save_case(session, runtime, loaded)
    return MessageDelivery(loaded.row.case_number, name, repeated=False)


def _message_catchers(workflow: Any, name: str) -> set[str]:
    """Ids of the engine tasks waiting for message ``name`` (a catch event, or an event-based gateway)."""
    from SpiffWorkflow.util.task import TaskState

    from .case import message_waits

    return {str(task.id) for task in workflow.get_tasks(state=TaskState.WAITING)
            if any(waited == name for waited, _catcher in message_waits(task.task_spec))}


def _earlier_message(session: Session, case_id: int, request_id: str) -> Event | None:
    """The event recording the case's delivery of a message with this request id, if any (a case's log is short:
    read in Python, alike on both databases)."""
    query = select(Event).where(Event.case_id == case_id, Event.lifecycle.in_(("completed", "message")))
    return next((event for event in session.scalars(query.order_by(Event.id))
                 if isinstance(event.data, dict) and set(event.data) == MESSAGE_EVENT_KEYS
                 and event.data["request_id"] == request_id), None)


def set_case_status(session: Session, runtime: Runtime, case_number: str, status: str, user: str,
                    reason: str | None = None) -> None:
    """Cancel, suspend or resume a case. Suspended cases keep their tasks but nobody may complete them.
    A ``reason`` (required by the web UI to cancel) goes into the event's data."""
    loaded = load_case(session, runtime, case_number)
    allowed = {"cancelled": {"running", "suspended"}, "suspended": {"running"}, "running": {"suspended"}}
    if status not in allowed or loaded.row.status not in allowed[status]:
        raise CaseError(f"case {case_number} is {loaded.row.status}; cannot make it {status}")
    data: dict[str, Any] = {"reason": reason} if reason else {}
    if status == "cancelled":
        loaded.case.workflow.cancel()
        session.execute(update(Job).where(Job.case_id == loaded.row.id, Job.status == "pending")
                        .values(status="cancelled"))
        closed = _close_incidents(session, runtime, loaded.row.id)
        if closed:
            data["closed_incidents"] = closed
    if status == "running":  # resumed: the SLA clock paused; timers the worker put off are due again
        data.update(_pause_deadlines(session, runtime, loaded))
        for timer in loaded.case.pending_timers():
            session.execute(update(Job).where(Job.case_id == loaded.row.id, Job.kind == "timer",
                                              Job.task_id == timer.task_id, Job.status == "pending")
                            .values(due_at=timer.deadline).execution_options(synchronize_session=False))
    loaded.row.status = status
    event = loaded.case.case_event("case", status, user)
    if data:
        event.data = data
    loaded.case.history.append(event)
    save_case(session, runtime, loaded)


def _pause_deadlines(session: Session, runtime: Runtime, loaded: LoadedCase) -> dict[str, Any]:
    """On resuming a case: move every waiting SLA timer (a non-interrupting timer that is not a reminder: what
    ``Case.due_date`` calls a step's deadline) later by the working days the case was suspended, so that the
    suspension — customer-caused delay, DOMAIN.md §2 — does not count against the utility's time limit; and the
    due dates of the case's open tasks with them. A deadline that had passed when the case was suspended stays (the
    step was late already), as do the customer's own dates (a plan's expiry, its reminder: interrupting timers or
    reminders). Working days are counted with ``runner.workdays`` on Shanghai days: those after the suspension's
    day up to the resumption's day, so a suspension within one day moves nothing. Returns what the ``running``
    event records: the working days paused and each moved deadline (``deadlines_moved``), or nothing."""
    from SpiffWorkflow.util.task import TaskState

    row = loaded.row
    suspended_at = suspensions.suspended_since(session, [row.case_number]).get(row.case_number)  # still suspended
    if suspended_at is None:
        return {}
    paused = runtime.calendar.working_days_between(suspended_at, runtime.clock.now())
    if paused <= 0:
        return {}
    moved: list[dict[str, str]] = []
    for task in loaded.case.workflow.get_tasks(state=TaskState.WAITING):
        catcher = timer_wait(task.task_spec)
        value = task.internal_data.get("event_value")
        if (catcher is None or not value or task.internal_data.get("event_fired")
                or getattr(task.task_spec, "cancel_activity", True) or is_reminder(element_id(task))):
            continue
        deadline = parse_iso(str(value))
        if deadline <= suspended_at:
            continue  # overdue before the suspension: the pause does not make it on time
        later = runtime.calendar.postponed(deadline, paused)
        task.internal_data["event_value"] = to_iso(later)
        moved.append({"element_id": element_id(task) or "", "name": task.task_spec.bpmn_name or "",
                      "from": to_iso(deadline), "to": to_iso(later)})
    if not moved:
        return {"paused_working_days": paused}
    workflow_data = loaded.case.workflow.data  # what a 督办 of a moved step states as its deadline (sla_deadline)
    workflow_data[SLA_PAUSES] = [*workflow_data.get(SLA_PAUSES, []),
                                 {"suspended_at": to_iso(suspended_at), "working_days": paused}]
    for task in loaded.case.ready_tasks():  # the lists' due dates follow (rows that exist keep theirs otherwise)
        session.execute(update(OpenTask).where(OpenTask.id == task.id, OpenTask.case_id == row.id)
                        .values(due_at=loaded.case.due_date(task.id)).execution_options(synchronize_session=False))
    return {"paused_working_days": paused, "deadlines_moved": moved}


def _close_incidents(session: Session, runtime: Runtime, case_id: int) -> list[int]:
    """Resolve the open incidents of a case being cancelled (nothing of it will run again, so nobody is to retry
    them); their ids go into the ``cancelled`` event, which records why they were closed."""
    incidents = list(session.scalars(select(Incident).where(Incident.case_id == case_id,
                                                            Incident.resolved_at.is_(None)).order_by(Incident.id)))
    for incident in incidents:
        incident.resolved_at = runtime.clock.now()
    return [incident.id for incident in incidents]


# -- tasks -------------------------------------------------------------------------------------------------------


def get_task(session: Session, task_id: str) -> OpenTask:
    task = session.get(OpenTask, task_id)
    if task is None:
        raise NotFoundError(f"no open task {task_id}")
    return task


class TaskGone(ConflictError):
    """A task that was open and is no more (completed, or ended by a timer, a message or a cancellation):
    ``done_by`` completed it, or None. Claims, assignments and late completions all say it in these words."""

    def __init__(self, task_id: str, done_by: str | None) -> None:
        self.done_by = done_by
        super().__init__(f"task {task_id} is no longer open"
                         + (f": {done_by} completed it" if done_by is not None else ""))


class TaskHeld(ConflictError):
    """A task someone else (``assignee``) has claimed: another person can neither claim nor complete it."""

    def __init__(self, task_id: str, assignee: str) -> None:
        self.assignee = assignee
        super().__init__(f"task {task_id} is already claimed by {assignee}")


def _gone(session: Session, task_id: str) -> TaskGone:
    return TaskGone(task_id, _completed_by(session, task_id))


def _logged_case_id(session: Session, task_id: str) -> int | None:
    """The case of a task id the event log knows (a task that was open), else None."""
    case_id: int | None = session.scalar(select(Event.case_id).where(Event.task_id == task_id).limit(1))
    return case_id


def task_to_act_on(session: Session, task_id: str) -> OpenTask:
    """The open task someone is about to claim, give back or assign: ``get_task``, except that a task which was
    open (its id is in the event log) is a ``TaskGone`` conflict, in the words a late completion gets, instead of
    "no open task" (a list shown before a colleague finished it)."""
    task = session.get(OpenTask, task_id)
    if task is not None:
        return task
    if _logged_case_id(session, task_id) is not None:
        raise _gone(session, task_id)
    raise NotFoundError(f"no open task {task_id}")


@dataclass
class TaskForm:
    """What a task's form page needs: the open task, its form (JSON Schema + UI schema) and its instructions
    (the element's BPMN documentation), all from the version the case runs."""

    task: OpenTask
    schema: dict[str, Any] | None
    ui_schema: dict[str, Any]
    documentation: str | None


def task_form(session: Session, runtime: Runtime, task_id: str) -> TaskForm:
    task = get_task(session, task_id)
    row = session.get(CaseRow, task.case_id)
    if row is None:
        raise NotFoundError(f"no case {task.case_number}")
    bundle = runtime.bundle_for_case(session, row)
    schema = bundle.form(task.form_schema) if task.form_schema else None
    ui_schema = bundle.form(task.form_ui_schema) if task.form_ui_schema else {}
    documentation = None
    for spec in (bundle.spec, *bundle.subprocess_specs.values()):
        task_spec = spec.task_specs.get(task.element_id)
        if task_spec is not None and getattr(task_spec, "documentation", None):
            documentation = str(task_spec.documentation)
            break
    if documentation is not None and is_template(documentation):
        documentation = render_instructions(documentation, _task_data(session, runtime, row, task.id))
    return TaskForm(task, schema, ui_schema, documentation)


def _task_data(session: Session, runtime: Runtime, row: CaseRow, task_id: str) -> dict[str, Any]:
    """A task's data, read from the stored engine state without locking or changing anything."""
    found = stored_case(session, runtime, row).workflow.get_task_from_id(UUID(task_id))
    return dict(found.data) if found is not None else {}


def _task_event(session: Session, task: OpenTask, lifecycle: str, user: str, now: datetime | None,
                data: dict[str, Any] | None = None) -> None:
    """Append a lifecycle event about an open task (claimed, released, assigned) to the case's event log."""
    event = CaseEvent(element_id=task.element_id, name=task.name, lifecycle=lifecycle,
                      at=to_iso(now or datetime.now(UTC)), task_id=task.id, role=task.lane, user=user, data=data)
    audit.append(session, task.case_id, task.case_number, [event])


# The status of an open task's case, read under a share lock on PostgreSQL (SQLite's writers queue at BEGIN already):
# a suspension or cancellation holding the row (``load_case``) is either seen or waits until the claim is done.
# The case row is locked before the task row, in the order of completions, so the two cannot deadlock.
_CASE_STATUS_SHARED = (select(CaseRow.case_number, CaseRow.status).where(CaseRow.id == bindparam("case_id"))
                       .with_for_update(read=True))


def _task_of_running_case(session: Session, task_id: str, action: str) -> OpenTask:
    """The open task, if its case takes work: the tasks of a suspended (or cancelled) case wait as they are, so
    they may not be claimed (which logs ``started``: work on a case that takes none), unclaimed or assigned. A task
    that was open and is no more (done, or ended by a timer) is a ``ConflictError``; an unknown id ``NotFoundError``."""
    task = session.get(OpenTask, task_id)
    # gone: a cancelled case's tasks are closed
    case_id = task.case_id if task is not None else _logged_case_id(session, task_id)
    case = session.execute(_CASE_STATUS_SHARED, {"case_id": case_id}).first() if case_id is not None else None
    if case is not None and case.status != "running":
        raise ConflictError(f"case {case.case_number} is {case.status}: task {task_id} cannot be {action}")
    if task is None and case_id is not None:  # it was open: a conflict, in the words a late completion gets
        raise _gone(session, task_id)
    if task is None:
        raise NotFoundError(f"no open task {task_id}")
    return task


def four_eyes_conflict(session: Session, runtime: Runtime, task: OpenTask, user: str) -> FourEyesError | None:
    """Why ``user`` could never complete the task (its ``fourEyesWith`` step was done by them: the engine would
    refuse the completion: the ``case.FourEyesError`` it would raise), else None. Read from the case's version and
    event log."""
    holder = four_eyes_holder(session, runtime, task)
    return holder if holder is not None and holder.user == user else None


def four_eyes_holder(session: Session, runtime: Runtime, task: OpenTask) -> FourEyesError | None:
    """The one person the four-eyes rule bars from the task — who last did its ``fourEyesWith`` step — as the
    ``case.FourEyesError`` a completion by them would raise; None when the task has no such step or nobody did it."""
    row = session.get(CaseRow, task.case_id)
    if row is None:
        return None
    process = runtime.bundle_for_case(session, row).process_with(task.element_id)
    if process is None:
        return None
    partner = spec_properties(process.task_specs[task.element_id]).get("fourEyesWith")
    user = audit.last_user_of(session, task.case_id, partner) if partner else None
    if not partner or user is None:
        return None
    partner_name = getattr(process.task_specs.get(partner), "bpmn_name", None) or partner
    return FourEyesError(task.element_id, task.name, partner, partner_name, user)


def claim_task(session: Session, task_id: str, user: str, groups: tuple[str, ...] | None = None, *,
               now: datetime | None = None, runtime: Runtime | None = None) -> None:
    """Take an unclaimed task: one conditional UPDATE, so two claimers cannot both win.

    A claim is when work on the task starts: it logs a ``started`` event (``now``: the runtime's clock; the
    system clock when not given), which the exported logs take as the activity's start. Only a running case's
    tasks can be claimed (``_task_of_running_case``). With ``runtime`` a claim by the person who did the task's
    four-eyes partner step is a ``ConflictError`` (they could never complete it: ``four_eyes_conflict``).
    """
    task = _task_of_running_case(session, task_id, "claimed")
    if groups is not None and task.lane not in groups:
        raise PermissionDenied(f"{user} is not in group {task.lane}")
    if runtime is not None and (conflict := four_eyes_conflict(session, runtime, task, user)):
        raise ConflictError(str(conflict)) from conflict
    result = session.execute(update(OpenTask).where(OpenTask.id == task_id, OpenTask.assignee.is_(None))
                             .values(assignee=user).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        now_held = session.execute(select(OpenTask.assignee).where(OpenTask.id == task_id)).first()
        if now_held is None:  # completed (or ended by a timer) while this claim waited for the case
            raise _gone(session, task_id)
        if now_held.assignee != user:
            raise TaskHeld(task_id, now_held.assignee)
        return  # one's own task again: nothing new starts
    _task_event(session, task, "started", user, now)


def unclaim_task(session: Session, task_id: str, user: str, may_unclaim_others: bool = False, *,
                 now: datetime | None = None) -> None:
    """Give a claimed task back to its lane's queue; logs ``unclaimed`` (work on it stops until the next claim).
    Only a running case's tasks (``_task_of_running_case``)."""
    task = _task_of_running_case(session, task_id, "unclaimed")
    if task.assignee is None:
        return
    if task.assignee != user and not may_unclaim_others:
        raise PermissionDenied(f"task {task_id} is claimed by {task.assignee}")
    holder, task.assignee = task.assignee, None
    _task_event(session, task, "unclaimed", user, now, {"assignee": holder})


def assign_task(session: Session, task_id: str, assignee: str, by: str, *, now: datetime | None = None,
                runtime: Runtime | None = None) -> None:
    """A supervisor gives a task to a person (whoever held it before); logs ``assigned`` (user: the assignee),
    which the exported logs take as the start of the assignee's work. Only a running case's tasks
    (``_task_of_running_case``). With ``runtime``, not to the person who did its four-eyes partner step
    (``ConflictError``, as ``claim_task``)."""
    task = _task_of_running_case(session, task_id, "assigned")
    if task.assignee == assignee:
        return
    if runtime is not None and (conflict := four_eyes_conflict(session, runtime, task, assignee)):
        raise ConflictError(str(conflict)) from conflict
    holder, task.assignee = task.assignee, assignee
    _task_event(session, task, "assigned", assignee, now, {"by": by, "previous": holder})


def release_claims(session: Session, username: str, keep_lanes: tuple[str, ...], by: str, *,
                   now: datetime | None = None) -> list[OpenTask]:
    """Put the user's claimed tasks of lanes outside ``keep_lanes`` back in their lanes' queues (the user left
    the group or was deactivated); each logs ``unclaimed``. Tasks assigned to the user personally by a
    supervisor are released too when their lane is not kept: nobody outside a lane works on its tasks."""
    query = select(OpenTask).where(OpenTask.assignee == username).order_by(OpenTask.id)
    released = [task for task in session.scalars(query) if task.lane not in keep_lanes]
    for task in released:
        task.assignee = None
        _task_event(session, task, "unclaimed", by, now, {"assignee": username, "reason": "membership"})
    session.flush()
    return released


def set_follow_up(session: Session, task_id: str, when: datetime | None) -> None:
    """Set (or with None clear) the task's follow-up date (跟进日期): when to look at it again."""
    get_task(session, task_id).follow_up_at = when


# built once (see ``store``): a completion's own reads
_REQUESTS = cast(Table, CompletionRequest.__table__)
_OPEN_TASKS = cast(Table, OpenTask.__table__)
_CASES = cast(Table, CaseRow.__table__)
_SNAPSHOT_CASES = _CASES.alias("snapshot_cases")
# One round trip: the task's case row, locked as ``load_case`` locks it (writers of a case queue here), the task's
# claim and lane, and whether the request id was used before. No row: the task is not open (``_not_open``).
# ``snapshot_revision`` is the case's revision as the statement's snapshot saw it, ``locked_revision`` that of the
# locked row. On PostgreSQL (READ COMMITTED) a lock that had to wait returns the case row as the writer left it, but
# the joined open task and request columns as they were before that writer: when the two revisions differ, those are
# read again (``_TASK_AFTER_LOCK``). On SQLite the transaction holds the write lock from BEGIN: they always agree.
_CASE_OF_OPEN_TASK = (
    select(CaseRow, _OPEN_TASKS.c.assignee, _OPEN_TASKS.c.lane, _REQUESTS.c.task_id.label("earlier_task_id"),
           CaseRow.revision.label("locked_revision"),
           select(_SNAPSHOT_CASES.c.revision).where(_SNAPSHOT_CASES.c.id == CaseRow.id).scalar_subquery()
           .label("snapshot_revision"))
    .join_from(CaseRow, _OPEN_TASKS, _OPEN_TASKS.c.case_id == CaseRow.id)
    .outerjoin(_REQUESTS, _REQUESTS.c.request_id == bindparam("request_id"))
    .where(_OPEN_TASKS.c.id == bindparam("task_id"))
    .with_for_update(of=CaseRow))
# With the case row locked, a new statement sees what the writers before us committed: the task (no row: it is no
# longer open) and whether the request id was used meanwhile.
_TASK_AFTER_LOCK = (
    select(_OPEN_TASKS.c.assignee, _OPEN_TASKS.c.lane,
           select(_REQUESTS.c.task_id).where(_REQUESTS.c.request_id == bindparam("request_id"))
           .scalar_subquery().label("earlier_task_id"))
    .where(_OPEN_TASKS.c.id == bindparam("task_id")))
_EARLIER_REQUEST = (select(_REQUESTS.c.task_id, _REQUESTS.c.user, _CASES.c.case_number)
                    .join_from(_REQUESTS, _CASES, _CASES.c.id == _REQUESTS.c.case_id)
                    .where(_REQUESTS.c.request_id == bindparam("request_id")))


@dataclass
class Completion:
    case_number: str
    task_id: str
    repeated: bool


def complete_task(session: Session, runtime: Runtime, task_id: str, data: dict[str, Any], user: str,
                  request_id: str, groups: tuple[str, ...] | None = None) -> Completion:
    """Complete a task with form data (validated on the server). A repeated request id returns the first answer.

    Every file the data names (``attachments/<id>``) must be a document of the task's case, or the user's own upload
    not yet attached (``documents.check_references``); otherwise ``FormValidationError`` at the field and nothing
    changes. The forms' made-up sample references (``attachments/examples/…``: no document) pass only for callers
    without ``groups`` (the demo, generated histories and tests, which answer with the forms' sample answers and
    skip the lane check too), never for a person's completion (web form, portal, API: with groups)."""
    locked = _lock_case_of_open_task(session, task_id, request_id)
    if locked is None:
        return _not_open(session, task_id, user, request_id)
    row, assignee, lane = locked
    if assignee not in (None, user):  # a conflict with a colleague, as when claiming it (409), not a lack of rights
        raise TaskHeld(task_id, assignee)
    if groups is not None and lane not in groups and assignee != user:
        raise PermissionDenied(f"{user} is not in group {lane}")
    if row.status != "running":
        raise CaseError(f"case {row.case_number} is {row.status}")
    from .documents import check_references  # not at the top: runner.documents imports runner.pii, which imports us

    refused = check_references(session, data, row.id, user, samples=groups is None)
    if refused:
        raise FormValidationError(refused)
    loaded = load_locked_row(session, runtime, row)
    try:
        loaded.case.complete_task(task_id, data, user, started=assignee == user)  # claimed: its start is logged
    except CaseError as err:
        raise ConflictError(str(err)) from err
    # with the idempotency row (PostgreSQL: in the statement of the case row); its open-task sync also deletes the
    # task's draft (暂存)
    save_case(session, runtime, loaded, completion={"request_id": request_id, "task_id": task_id, "user": user,
                                                    "completed_at": runtime.clock.now()})
    return Completion(loaded.row.case_number, task_id, repeated=False)


def _lock_case_of_open_task(session: Session, task_id: str, request_id: str) -> tuple[CaseRow, str | None,
                                                                                    str | None] | None:
    """The task's case row, locked, with the task's assignee and lane as the writers before us left them; None when
    the task is not open or the request id was used (then ``_not_open`` says which)."""
    params = {"request_id": request_id, "task_id": task_id}
    found = session.execute(_CASE_OF_OPEN_TASK, params).first()
    if found is None:
        return None
    row = found[0]
    task: Any = found
    if found.snapshot_revision != found.locked_revision:  # the lock waited for a writer: read what it left
        task = session.execute(_TASK_AFTER_LOCK, params).first()
    if task is None or task.earlier_task_id is not None:
        return None
    return row, task.assignee, task.lane


def _completed_by(session: Session, task_id: str) -> str | None:
    return session.scalar(select(Event.user).where(Event.task_id == task_id, Event.lifecycle == "completed"))


def completed_with(session: Session, task_id: str) -> dict[str, Any]:
    """The form data a task was completed with (its ``completed`` event's), {} if none: what a repeated completion
    is compared with by callers that refuse a request id sent again with other data (the REST API)."""
    data = session.scalar(select(Event.data).where(Event.task_id == task_id, Event.lifecycle == "completed")
                          .order_by(Event.id).limit(1))
    return data if isinstance(data, dict) else {}


def _not_open(session: Session, task_id: str, user: str, request_id: str) -> Completion:
    """A completion whose task is not open or whose request id was used: the first answer again, else why not."""
    earlier = session.execute(_EARLIER_REQUEST, {"request_id": request_id}).first()
    if earlier is not None:
        if earlier.task_id != task_id or earlier.user != user:
            raise ConflictError(f"request id {request_id} was used for another completion")
        return Completion(str(earlier.case_number), task_id, repeated=True)
    # completed (or ended by a timer) by someone else first: a conflict, not a bad id
    done_by = _completed_by(session, task_id)
    if done_by is not None:
        raise TaskGone(task_id, done_by)
    case = session.execute(select(CaseRow.case_number, CaseRow.status).join(Event, Event.case_id == CaseRow.id)
                           .where(Event.task_id == task_id).limit(1)).first()
    if case is not None and case.status != "running":  # withdrawn by a cancellation (or the case ended)
        raise CaseError(f"case {case.case_number} is {case.status}: task {task_id} is no longer open")
    if case is not None:
        raise ConflictError(f"task {task_id} is no longer open")
    raise NotFoundError(f"no open task {task_id}")


# -- incidents and history ---------------------------------------------------------------------------------------


def list_incidents(session: Session, open_only: bool = True) -> list[Incident]:
    query = select(Incident).order_by(Incident.id)
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    return list(session.scalars(query))


@dataclass
class IncidentRow:
    """An incident with the number of its case, as lists show it."""

    incident: Incident
    case_number: str


def incidents_with_cases(session: Session, open_only: bool = True, case_number: str | None = None
                         ) -> list[IncidentRow]:
    """Incidents (open ones by default), oldest first, with their case numbers; optionally of one case."""
    query = select(Incident, CaseRow.case_number).join(CaseRow, CaseRow.id == Incident.case_id).order_by(Incident.id)
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    if case_number is not None:
        query = query.where(CaseRow.case_number == case_number)
    return [IncidentRow(incident, number) for incident, number in session.execute(query)]


@dataclass
class RetryFailure:
    """A task that failed again when an incident was retried: it is retried at ``retry_at`` (a pending retry job),
    or its retries are spent and it is incident ``incident_id``."""

    element_id: str
    message: str
    retry_at: datetime | None
    incident_id: int | None


@dataclass
class RetryOutcome:
    """What retrying an incident did: ran through (``failures`` empty), or what failed again."""

    incident_id: int
    case_number: str
    element_id: str
    failures: list[RetryFailure]

    @property
    def ok(self) -> bool:
        return not self.failures


def retry_incident(session: Session, runtime: Runtime, incident_id: int, user: str) -> RetryOutcome:
    """Run the failed task again now. The incident is resolved only if the task runs through; if it fails again the
    incident stays open, with the new error, while the task goes through its automatic retries again (the worker
    resolves it when one of them runs through; when they are spent, it stays the open incident of that task). The
    outcome says which, so the operator learns at once whether the retry helped. Who retried is a ``retried`` event
    of the task in the case's log, and a line on ``baozhuang.admin``; the incident counts the failed run."""
    incident = session.get(Incident, incident_id)
    if incident is None or incident.resolved_at is not None:
        raise NotFoundError(f"no open incident {incident_id}")
    number = session.scalar(select(CaseRow.case_number).where(CaseRow.id == incident.case_id))
    loaded = _load_running(session, runtime, str(number))
    session.execute(update(Job).where(Job.kind == "retry", Job.case_id == incident.case_id,
                                      Job.task_id == incident.task_id).values(attempts=0, status="done"))
    loaded.case.retry(incident.task_id, user)
    failed = list(loaded.case.failures)  # ``save_case`` turns them into retry jobs or incidents
    save_case(session, runtime, loaded)
    again = next((failure for failure in failed if failure.task_id == incident.task_id), None)
    if again is None:
        incident.resolved_at = runtime.clock.now()
    else:
        incident.message, incident.attempts = again.message, incident.attempts + 1
    admin_log.info("admin=%s action=retry_incident incident=%d case=%s outcome=%s", user, incident_id, number,
                   "failed_again" if again is not None else "ran_through")
    return RetryOutcome(incident_id, str(number), incident.element_id, [
        _failed_again(session, loaded.row.id, failure.task_id, failure.element_id, failure.message)
        for failure in failed])


def _failed_again(session: Session, case_id: int, task_id: str, element_id: str, message: str) -> RetryFailure:
    """What became of a task that failed again: its pending retry job, else the open incident it now is."""
    retry_at = session.scalar(select(Job.due_at).where(Job.kind == "retry", Job.case_id == case_id,
                                                       Job.task_id == task_id, Job.status == "pending"))
    incident_id = None if retry_at is not None else session.scalar(
        select(Incident.id).where(Incident.case_id == case_id, Incident.task_id == task_id,
                                  Incident.resolved_at.is_(None)).order_by(Incident.id.desc()).limit(1))
    return RetryFailure(element_id, message, retry_at, incident_id)


# -- notifications the worker gave up on -------------------------------------------------------------------------

admin_log = logging.getLogger("baozhuang.admin")
"""Who sent failed notifications again: one line each, like the user administration's (``runner.user_admin``)."""


@dataclass
class FailedMessageRow:
    """A failed outbox message as the supervisors' lists show it, with its recipient: the role it is for, the
    case's customer when that role is ``customer`` (named as the task lists name them) and a phone number its
    parameters carry, masked (``runner.pii``: nobody gets it in full here)."""

    message: OutboxMessage
    customer_name: str | None
    phone: str | None


def failed_messages(session: Session, case_number: str | None = None) -> list[FailedMessageRow]:
    """The failed notifications, oldest first (of one case when given), with their recipients."""
    messages = outbox_admin.failed_messages(session, case_number)
    numbers = {message.case_number for message in messages if message.to_role == "customer" and message.case_number}
    names = {number: name for number, name in session.execute(
        select(CaseRow.case_number, CaseRow.customer_name).where(CaseRow.case_number.in_(numbers)))} if numbers else {}
    return [FailedMessageRow(message, names.get(message.case_number or "") if message.to_role == "customer" else None,
                             _masked_phone(message.payload.get("params"))) for message in messages]


def _masked_phone(params: Any) -> str | None:
    """The first value under a key ``runner.pii`` counts as a phone number, at any depth, masked; None if none."""
    from . import pii  # it imports this module

    phones = {name for name, kind in pii.DEFAULT_PII_FIELDS.items() if kind == "phone"}
    pending = [params]
    while pending:
        node = pending.pop(0)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if key in phones and isinstance(value, str) and value:
                return str(pii.mask_value(value, "phone"))
            pending.append(value)
    return None


def send_message_again(session: Session, runtime: Runtime, message_id: int, user: str) -> None:
    """Make one failed notification pending again (``outbox_admin.send_again``: fresh attempts, due now, under the
    same idempotency key); the worker delivers it at its next pass. Logged on ``baozhuang.admin``.

    Raises:
        NotFoundError: There is no such message.
        ConflictError: It is not failed (any more): sent again by someone else meanwhile, or delivered. Nothing
            is changed.
    """
    if outbox_admin.send_again(session, runtime.clock.now(), [message_id]) == 0:  # a conditional UPDATE: no race
        status = outbox_admin.status_of(session, message_id)
        if status is None:
            raise NotFoundError(f"no outbox message {message_id}")
        raise ConflictError(f"outbox message {message_id} is {status}, not failed: it was sent again already "
                            "(nothing was changed)")
    admin_log.info("admin=%s action=send_message_again message=%d", user, message_id)


def send_failed_messages_again(session: Session, runtime: Runtime, user: str, ids: Sequence[int] = ()) -> int:
    """Make the given failed notifications, else every one, pending again (see ``send_message_again``); how many.
    Ids of messages that are not failed are left alone (the caller compares the count). Logged with the user."""
    count = outbox_admin.send_again(session, runtime.clock.now(), ids)
    admin_log.info("admin=%s action=send_message_again message=%s count=%d", user,
                   ",".join(str(number) for number in sorted(set(ids))) if ids else "all", count)
    return count


def get_case(session: Session, case_number: str) -> CaseRow:
    row = session.scalar(select(CaseRow).where(CaseRow.case_number == case_number))
    if row is None:
        raise NotFoundError(f"no case {case_number}")
    return row


def case_tasks(session: Session, case_number: str) -> list[OpenTask]:
    """The case's open tasks, oldest first."""
    return list(session.scalars(select(OpenTask).where(OpenTask.case_number == case_number)
                                .order_by(OpenTask.created_at, OpenTask.id)))


def case_history(session: Session, case_number: str) -> list[Event]:
    if session.scalar(select(CaseRow.id).where(CaseRow.case_number == case_number)) is None:
        raise NotFoundError(f"no case {case_number}")
    return list(session.scalars(select(Event).where(Event.case_number == case_number).order_by(Event.id)))


def case_data(session: Session, runtime: Runtime, case_number: str) -> dict[str, Any]:
    """The case's current data (application, decisions, task results), read from the stored engine state
    without locking or changing anything. Personal fields are in it: show it through ``runner.pii``."""
    return stored_case(session, runtime, get_case(session, case_number)).data


def stored_case(session: Session, runtime: Runtime, row: CaseRow) -> EngineCase:
    """The engine case restored from the row's stored state, to read (no lock; nothing is saved): the diagram's
    colours, ``case_queries.waiting_steps``."""
    from .store import case_services

    return EngineCase(runtime.bundle_for_case(session, row), case_services(session, runtime), row.case_number,
                      state=row.state)



# -- the case diagram (read-only) ----------------------------------------------------------------------------------

MAIN_PROCESS_FILE = "baozhuang.bpmn"


@dataclass
class DiagramState:
    """What the case diagram colours: BPMN element ids completed so far (first completion order), active now
    (open tasks, then intermediate events the case waits at) and overdue (open tasks past their due date)."""

    completed: list[str]
    active: list[str]
    overdue: list[str]
    failed: list[str] = field(default_factory=list)
    """Engine tasks in ERROR (a failed service task waiting for its retry or an incident); one inside a called process
    is shown on the call activity drawn on the main diagram, as open tasks are."""


def case_diagram(session: Session, case_number: str) -> str:
    """The BPMN XML of the main process file of the version the case runs."""
    row = get_case(session, case_number)
    version = session.get(ProcessVersion, row.version_id)
    text = version.files.get(MAIN_PROCESS_FILE) if version is not None else None
    if not isinstance(text, str):
        raise NotFoundError(f"case {case_number}: its version has no {MAIN_PROCESS_FILE}")
    return text


def case_diagram_state(session: Session, runtime: Runtime, case_number: str) -> DiagramState:
    """Completed ids from the event log, active and overdue ids from the open tasks and the case's waiting events
    (intermediate catch events, and what ``case_queries.waiting_steps`` lists: receive tasks, a timer when nothing
    else holds the case; read from the stored engine state, restored once; nothing is changed or locked). A task of
    a called process (the 督办 of escalation.bpmn) is not drawn on the main diagram: the call activity drawn there
    that called it (时限督办) is active (and overdue) with it."""
    from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import IntermediateCatchEvent
    from SpiffWorkflow.util.task import TaskState

    from .case import element_id

    row = get_case(session, case_number)
    completed = session.scalars(select(Event.element_id).where(
        Event.case_number == case_number, Event.lifecycle == "completed", Event.element_id.not_in(("", "case")))
        .order_by(Event.id))
    tasks = case_tasks(session, case_number)
    now = runtime.clock.now()
    stored = stored_case(session, runtime, row) if row.status in ("running", "suspended") else None
    workflow = stored.workflow if stored is not None else None
    shown = _drawn_elements_of_tasks(session, row, workflow, tasks) if workflow is not None else {}
    active = list(dict.fromkeys(bpmn_id for task in tasks for bpmn_id in shown.get(task.id, [task.element_id])))
    if stored is not None:
        for waiting in stored.workflow.get_tasks(state=TaskState.WAITING):
            bpmn_id = element_id(waiting)
            if isinstance(waiting.task_spec, IntermediateCatchEvent) and bpmn_id and bpmn_id not in active:
                active.append(bpmn_id)
        from .case_queries import waiting_in  # case_queries reads through this module

        active.extend(wait.element_id for wait in waiting_in(session, row, stored) if wait.element_id not in active)
    overdue = list(dict.fromkeys(bpmn_id for task in tasks if task.due_at is not None and task.due_at < now
                                 for bpmn_id in shown.get(task.id, [task.element_id])))
    failed: list[str] = []
    if workflow is not None:
        errors = workflow.get_tasks(state=TaskState.ERROR)
        nested = [task for task in errors if task.workflow.parent_task_id is not None]
        drawn = _drawn_element_ids(session, row) if nested else frozenset()
        failed = list(dict.fromkeys(bpmn_id for task in errors
                                    for bpmn_id in _drawn_chain(workflow, task, drawn) if bpmn_id))
    return DiagramState(list(dict.fromkeys(completed)), active, overdue, failed)


def _drawn_elements_of_tasks(session: Session, row: CaseRow, workflow: Any,
                             tasks: list[OpenTask]) -> dict[str, list[str]]:
    """For each open task inside a called process or subprocess: its element id, then the nearest element that
    contains it (the calling call activity, the subprocess, up to the main process) drawn on the main diagram."""

    found = {task.id: workflow.get_task_from_id(UUID(task.id)) for task in tasks}
    nested = {task_id: task for task_id, task in found.items()
              if task is not None and task.workflow.parent_task_id is not None}
    if not nested:
        return {}
    drawn = _drawn_element_ids(session, row)
    return {task_id: _drawn_chain(workflow, task, drawn) for task_id, task in nested.items()}


def _drawn_chain(workflow: Any, task: Any, drawn: frozenset[str]) -> list[str]:
    """The task's element id, then (for a task inside a called process or subprocess) the nearest element containing
    it that the main diagram draws (``drawn``)."""
    from .case import element_id

    own = element_id(task) or ""
    if task.workflow.parent_task_id is None:
        return [own]
    container = task
    while (bpmn_id := element_id(container)) not in drawn and container.workflow.parent_task_id is not None:
        container = workflow.get_task_from_id(container.workflow.parent_task_id)
    return list(dict.fromkeys([own, bpmn_id or own]))


def _drawn_element_ids(session: Session, row: CaseRow) -> frozenset[str]:
    """The ids of the elements with a shape on the main diagram of the case's version."""
    from lxml import etree

    try:
        root = etree.fromstring(case_diagram(session, row.case_number).encode("utf-8"),
                                etree.XMLParser(resolve_entities=False, no_network=True))
    except (NotFoundError, etree.XMLSyntaxError):
        return frozenset()
    return frozenset(shape.get("bpmnElement", "") for shape in root.iter("{*}BPMNShape"))
