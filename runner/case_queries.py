"""Read-only views of cases for the REST API and the web pages: a filtered case list, a case's progress step by
step, what a case waits for besides its open tasks (a message, a timer), the case numbers of incidents, step names,
the failed service tasks (retry pending, or an incident), and the application and steps' data with personal fields
masked (``case_data_view``). Plain functions over a session like ``runner.services``; nothing here changes data
except the access-log row a view in full writes (``runner.pii``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import pii
from .case import Case as EngineCase
from .case import message_waits
from .clock import parse_iso
from .models import Case as CaseRow
from .models import Event, Incident, Job
from .process_folder import ProcessBundle
from .services import PermissionDenied, case_data, case_history, case_tasks, get_case, stored_case
from .store import Runtime
from .suspensions import suspended_since as suspended_since  # the list and the pages ask it here
from .task_list import CASE_NUMBER_SHAPE, case_number_prefix

CASE_STATUSES = ("running", "completed", "cancelled", "suspended")
MAX_PAGE_SIZE = 200


@dataclass
class CaseFilter:
    status: str | None = None
    category: str | None = None
    search: str | None = None
    """A case number or its start (any letter case), or a fragment of the customer name."""


@dataclass
class CasePage:
    items: list[CaseRow]
    total: int


def list_cases(session: Session, flt: CaseFilter, limit: int = 50, offset: int = 0) -> CasePage:
    """Cases passing the filter, newest first, from ``offset``; and how many pass."""
    conditions: list[Any] = []
    if flt.status:
        conditions.append(CaseRow.status == flt.status)
    if flt.category:
        conditions.append(CaseRow.category == flt.category)
    text = (flt.search or "").strip()
    if text:
        name_match = func.lower(CaseRow.customer_name).contains(text.casefold(), autoescape=True)
        number_match = case_number_prefix(CaseRow.case_number, text, session.get_bind().dialect.name)
        conditions.append(or_(number_match, name_match) if CASE_NUMBER_SHAPE.match(text.upper()) else name_match)
    limit = min(max(limit, 1), MAX_PAGE_SIZE)
    items = session.scalars(select(CaseRow).where(*conditions).order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
                            .offset(max(offset, 0)).limit(limit)).all()
    total = session.scalar(select(func.count()).select_from(CaseRow).where(*conditions)) or 0
    return CasePage(list(items), int(total))


@dataclass
class ProgressStep:
    """One step of a case: done (with when and by whom) or active — an open task (with its due date and assignee),
    or an event the case waits at (``kind`` message or timer; ``WaitingStep``)."""

    element_id: str
    name: str
    state: str  # done|active
    lane: str | None
    completed_at: datetime | None = None
    due_at: datetime | None = None
    assignee: str | None = None
    kind: str = "task"  # task|message|timer
    waiting_for: str | None = None
    """The name of the message an active ``message`` step waits for (``payment_confirmed``)."""
    since: datetime | None = None
    """When an active ``message`` or ``timer`` step began to wait."""


@dataclass
class Progress:
    case: CaseRow
    steps: list[ProgressStep]


def case_progress(session: Session, case_number: str, runtime: Runtime | None = None) -> Progress:
    """The named steps the case completed, in order (a step done twice shows twice), then its open tasks, then
    (given the ``runtime`` to read the stored engine state with) the events it waits at (``waiting_steps``)."""
    row = get_case(session, case_number)
    completed = session.scalars(select(Event).where(
        Event.case_number == case_number, Event.lifecycle == "completed", Event.element_id.not_in(("", "case")),
        Event.activity != Event.element_id).order_by(Event.id))
    steps = [ProgressStep(event.element_id, event.activity, "done", event.role, completed_at=event.at)
             for event in completed]
    steps += [ProgressStep(task.element_id, task.name, "active", task.lane, due_at=task.due_at,
                           assignee=task.assignee) for task in case_tasks(session, case_number)]
    if runtime is not None:
        steps += [ProgressStep(wait.element_id, wait.name, "active", wait.lane, due_at=wait.until, kind=wait.kind,
                               waiting_for=wait.message, since=wait.since)
                  for wait in waiting_steps(session, runtime, case_number)]
    return Progress(row, steps)


# -- what a case waits for besides its open tasks ----------------------------------------------------------------


@dataclass
class WaitingStep:
    """An event a running or suspended case waits at: a message from another system or the customer (an
    intermediate message catch event or a receive task: ``payment_confirmed`` from billing, ``meter_online`` from
    the meter data system), or a timer when nothing else holds the case up."""

    element_id: str
    name: str
    """The BPMN name of the element (``缴费确认``); its id when it has none."""
    lane: str | None
    kind: str  # message|timer
    message: str | None = None
    since: datetime | None = None
    """When the step before it completed (the case has waited since); None when the log does not say."""
    until: datetime | None = None
    """A timer's deadline."""


def waiting_steps(session: Session, runtime: Runtime, case_number: str) -> list[WaitingStep]:
    """The messages the case waits for, in the engine's order; when it waits for no message and has no open task
    (nor a failed one), the timers it waits for, earliest first (``wait_timers``). Read from the stored engine state
    without locking or changing anything; a completed or cancelled case waits for nothing."""
    row = get_case(session, case_number)
    if row.status not in ("running", "suspended"):
        return []
    return waiting_in(session, row, stored_case(session, runtime, row))


def waiting_in(session: Session, row: CaseRow, case: EngineCase) -> list[WaitingStep]:
    """``waiting_steps`` of a running or suspended case already restored from its row (``stored_case``)."""
    case_number = row.case_number
    roles = case.bundle.roles
    waiting = case.workflow.get_tasks(state=TaskState.WAITING)
    found = [WaitingStep(catcher.bpmn_id or "", catcher.bpmn_name or catcher.bpmn_id or "",
                         roles.get(catcher.bpmn_id or ""), "message", name,
                         since=_completed_at(session, row.id, task.parent))
             for task in waiting for name, catcher in message_waits(task.task_spec)]
    held = bool(case_tasks(session, case_number)) or bool(case.workflow.get_tasks(state=TaskState.ERROR))
    if found or held:
        return found
    return wait_timers([WaitingStep(timer.element_id, timer.name or timer.element_id, roles.get(timer.element_id),
                                    "timer", until=timer.deadline,
                                    since=_completed_at(session, row.id, _parent_of(case, timer.task_id)))
                        for timer in case.pending_timers()])


def wait_timers(timers: list[WaitingStep]) -> list[WaitingStep]:
    """The timers to show as what a case waits for when nothing else holds it up: every pending one, earliest first
    (a plan's validity, a reminder), each step listed once."""
    shown: dict[str, WaitingStep] = {}
    for timer in sorted(timers, key=lambda timer: (timer.until is None, timer.until)):
        shown.setdefault(timer.element_id, timer)
    return list(shown.values())


def _parent_of(case: EngineCase, task_id: str) -> Any:
    """The engine task before the task with this id (what led the case to it)."""
    return case.workflow.get_task_from_id(UUID(task_id)).parent


def _completed_at(session: Session, case_id: int, task: Any) -> datetime | None:
    """When the engine task (the one before a waiting event) completed, from the event log."""
    if task is None:
        return None
    return session.scalar(select(Event.at).where(Event.case_id == case_id, Event.task_id == str(task.id),
                                                 Event.lifecycle == "completed").order_by(Event.id.desc()).limit(1))


def case_statuses(session: Session, case_numbers: Collection[str]) -> dict[str, str]:
    """Case number → status for these cases (a task list marks the tasks of suspended ones)."""
    if not case_numbers:
        return {}
    return dict(session.execute(select(CaseRow.case_number, CaseRow.status)
                                .where(CaseRow.case_number.in_(set(case_numbers)))).tuples().all())


def incident_case_numbers(session: Session, incidents: list[Incident]) -> dict[int, str]:
    """Case id → case number for the cases of these incidents."""
    ids = {incident.case_id for incident in incidents}
    if not ids:
        return {}
    return dict(session.execute(select(CaseRow.id, CaseRow.case_number).where(CaseRow.id.in_(ids))).tuples().all())


# -- failed service tasks, as the case page and the incident list show them --------------------------------------


def step_names(session: Session, case_ids: Collection[int], element_ids: Collection[str]) -> dict[tuple[int, str], str]:
    """(case id, element id) → the step's name, as the case's event rows carry it (``activity``; every failed run
    of a task is a ``failed`` event, so a failed step has one). Unnamed elements are left out."""
    if not case_ids or not element_ids:
        return {}
    rows = session.execute(select(Event.case_id, Event.element_id, Event.activity).distinct().where(
        Event.case_id.in_(set(case_ids)), Event.element_id.in_(set(element_ids)), Event.activity != Event.element_id))
    return {(case_id, element): name for case_id, element, name in rows if case_id is not None}


def step_name(session: Session, case_number: str, element_id: str) -> str:
    """The name of a step of a case (``容量评估``); its id when it has none."""
    case_id = session.scalar(select(CaseRow.id).where(CaseRow.case_number == case_number))
    if case_id is None:
        return element_id
    return step_names(session, [case_id], [element_id]).get((case_id, element_id), element_id)


@dataclass
class FailedTask:
    """A service task that failed and has not run through since: its step, its first and latest failed runs (the
    ``failed`` events of the task), its pending automatic retry (``retry_at``) and its open incident, if any."""

    case_id: int
    case_number: str
    case_status: str
    task_id: str
    element_id: str
    name: str
    message: str
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    retry_at: datetime | None
    incident: Incident | None


def failed_tasks(session: Session, case_number: str | None = None, incidents_only: bool = False) -> list[FailedTask]:
    """The failed service tasks (of one case when given) that wait for an automatic retry or are open incidents,
    oldest first. ``incidents_only``: those with an open incident (the supervisors' list)."""
    case_filter = [CaseRow.case_number == case_number] if case_number is not None else []
    incidents = session.execute(select(Incident, CaseRow.case_number, CaseRow.status)
                                .join(CaseRow, CaseRow.id == Incident.case_id)
                                .where(Incident.resolved_at.is_(None), *case_filter).order_by(Incident.id)).all()
    jobs = [] if incidents_only and not incidents else session.execute(
        select(Job, CaseRow.case_number, CaseRow.status).join(CaseRow, CaseRow.id == Job.case_id)
        .where(Job.kind == "retry", Job.status == "pending", *case_filter).order_by(Job.due_at, Job.id)).all()
    found: dict[tuple[int, str], FailedTask] = {}
    for incident, number, status in incidents:
        found.setdefault((incident.case_id, incident.task_id), FailedTask(
            incident.case_id, number, status, incident.task_id, incident.element_id, incident.element_id,
            incident.message, None, None, None, incident))
    for job, number, status in jobs:
        key = (job.case_id, job.task_id or "")
        if key in found:
            found[key].retry_at = job.due_at
        elif not incidents_only:
            found[key] = FailedTask(job.case_id, number, status, job.task_id or "", job.element_id or "",
                                    job.element_id or "", job.last_error or "", None, None, job.due_at, None)
    if not found:
        return []
    case_ids = {case_id for case_id, _task in found}
    runs = session.execute(select(Event.case_id, Event.task_id, func.min(Event.at), func.max(Event.at))
                           .where(Event.case_id.in_(case_ids), Event.task_id.in_({task for _case, task in found}),
                                  Event.lifecycle == "failed").group_by(Event.case_id, Event.task_id))
    for case_id, task_id, first, last in runs:
        if (case_id, task_id) in found:
            found[(case_id, task_id)].first_failed_at, found[(case_id, task_id)].last_failed_at = first, last
    names = step_names(session, case_ids, {failed.element_id for failed in found.values()})
    for failed in found.values():
        failed.name = names.get((failed.case_id, failed.element_id), failed.element_id)
        if failed.first_failed_at is None and failed.incident is not None:  # raised before failed events existed
            failed.first_failed_at = failed.incident.created_at
    return list(found.values())  # incidents by id, then the tasks waiting for a retry by when it is due


# -- the application and the steps' data, personal fields masked (the case page and the API) --------------------


def is_bookkeeping(event: Event) -> bool:
    """An event of an unnamed element (a gateway without a name, a flow): engine bookkeeping nobody needs to read,
    except where a case fired a deadline or failed (the log must show where the case stalled)."""
    return event.element_id != "case" and event.activity == event.element_id and \
        event.lifecycle not in ("fired", "failed", "retried")


def shows_data(event: Event) -> bool:
    """Whether the case page shows the event's data: an event its timeline lists (``is_bookkeeping`` not) with
    data (a task's results, a delivered message, an assignment, a step's due date, a migration …)."""
    return not is_bookkeeping(event) and isinstance(event.data, dict) and bool(event.data)


@dataclass
class CaseDataView:
    """A case's application and its events' data as one viewer may see them: personal fields masked unless they
    asked to see them in full and may (``revealed``, which logged the view)."""

    case: CaseRow
    bundle: ProcessBundle
    history: list[Event]
    """Every event of the case, oldest first."""
    application: dict[str, Any]
    events: list[Event]
    """The events whose data is shown (``shows_data``, of the lifecycles asked for), oldest first."""
    event_data: dict[int, dict[str, Any]]
    """Event id → its data (masked unless ``revealed``), for each of ``events``."""
    revealed: bool
    personal: bool
    """Whether the shown data holds personal values (what there is to reveal)."""


def case_data_view(session: Session, runtime: Runtime, case_number: str, viewer: str, roles: Collection[str], *,
                   reveal: bool = False, channel: str = "web",
                   lifecycles: Collection[str] | None = None) -> CaseDataView:
    """The case's application and the data of its events as ``viewer`` (with ``roles``) may see them; the personal
    fields (those the forms of the case's version mark, ``pii.pii_fields``) masked, or — ``reveal`` — in full,
    which writes ``data_access_log`` (``channel``: web|api) naming the personal values shown: ``id_number`` for
    the application's, ``<element id>.<path>`` for a step's. Only events the case page shows data for
    (``shows_data``), of ``lifecycles`` when given. ``NotFoundError`` for an unknown case; ``PermissionDenied`` when
    ``reveal`` is asked by someone who may not (``pii.may_unmask``). The caller commits the log row."""
    if reveal and not pii.may_unmask(roles):
        raise PermissionDenied(f"{viewer} may not see personal data in full (needs one of "
                               f"{', '.join(pii.UNMASK_ROLES)})")
    row = get_case(session, case_number)
    history = case_history(session, case_number)
    bundle = runtime.bundle_for_case(session, row)
    fields = pii.pii_fields(bundle.forms.values())
    application = case_data(session, runtime, case_number).get("application") or {}
    events = [event for event in history
              if shows_data(event) and (lifecycles is None or event.lifecycle in lifecycles)]
    shown: dict[str, Any] = {"application": application, **{str(event.id): event.data for event in events}}
    if reveal:
        paths = pii.pii_paths(application, fields)
        paths += sorted({f"{event.element_id}.{path}" for event in events
                         for path in pii.pii_paths(event.data, fields)})
        pii.log_unmasked_view(session, viewer, case_number, paths, channel, runtime.clock.now())
    visible = pii.mask_case_data(shown, roles, reveal=reveal, fields=fields)
    return CaseDataView(row, bundle, history, visible["application"], events,
                        {event.id: visible[str(event.id)] for event in events}, reveal,
                        bool(pii.pii_paths(shown, fields)))


HIGH_RELIABILITY_ITEM = "high_reliability"
"""The fee item ``handlers.fees.fee_calculation`` bills for dual (multi-circuit) supply, and only for it."""


@dataclass(frozen=True)
class DualSupply:
    """Whether the case has dual supply (双电源), and on what ground: ``plan`` once an approved supply plan decided
    it, else ``application`` (what the customer applied for)."""

    value: bool
    basis: str


def dual_supply(summary: dict[str, Any] | None) -> DualSupply | None:
    """The case's dual supply as its stored summary holds it (None when it holds neither ground).

    The application's flag (``summary["dual_supply"]``, ``store.summarize``) is what the customer asked for; the
    supply plan may grant otherwise (one source for an applicant of two, or two for an applicant of one), and from
    the plan on the case bills what the plan grants: after 供电方案答复, 按方案核定费用 costs the fees on the plan
    (``fees.costed_on == "plan"``) with dual supply when the plan has two or more sources
    (``draft_plan["supply_points"] >= 2``), which puts the high-reliability fee item in ``fees.items`` (at the
    plan's rate, 0 元 for the low-voltage categories). That item is the plan's decision as the case applies it:
    the summary of every case costed on a plan holds it, with no state to read (exports read summaries only)."""
    summary = summary or {}
    fees = summary.get("fees")
    if isinstance(fees, dict) and fees.get("costed_on") == "plan" and isinstance(fees.get("items"), list):
        granted = any(isinstance(item, dict) and item.get("code") == HIGH_RELIABILITY_ITEM for item in fees["items"])
        return DualSupply(granted, "plan")
    applied = summary.get("dual_supply")
    return DualSupply(applied, "application") if isinstance(applied, bool) else None


# -- the case page's header and summary: when the case was applied for and accepted, its latest 回访 rating -------


@dataclass(frozen=True)
class CaseMoments:
    """When the customer applied (``timeline.applied``: what the acceptance time limit counts from; the case's
    creation when the summary lacks it) and when the utility accepted the application (``timeline.accepted``, set
    when 业务受理 completes with 受理; None before that, and again when such an acceptance was refused)."""

    applied_at: datetime
    accepted_at: datetime | None


def case_moments(row: CaseRow) -> CaseMoments:
    """The case's ``CaseMoments`` from its stored summary."""
    timeline = (row.summary or {}).get("timeline")
    timeline = timeline if isinstance(timeline, dict) else {}
    return CaseMoments(_moment(timeline.get("applied")) or row.created_at, _moment(timeline.get("accepted")))


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


FOLLOWUP_RATING = "satisfaction"
"""The field of the 回访 forms (客户回访, the customer's 回访评价, 二次回访) that holds the customer's rating."""


@dataclass(frozen=True)
class FollowupResult:
    """The customer's latest 回访 rating: which step recorded it, the rating (the form's code), when, by whom (the
    agent's user name, or the portal's ``customer:<case>`` pseudo user) and the customer's comments."""

    element_id: str
    step: str
    satisfaction: str
    at: datetime
    user: str | None
    comments: str | None


def latest_followup(history: list[Event]) -> FollowupResult | None:
    """The last rating a 回访 step recorded (the completed event whose data holds a ``satisfaction``: a call that
    did not reach the customer records none); None before any."""
    for event in reversed(history):
        data = event.data
        if event.lifecycle != "completed" or not isinstance(data, dict):
            continue
        rating = data.get(FOLLOWUP_RATING)
        if isinstance(rating, str) and rating:
            comments = data.get("comments")
            return FollowupResult(event.element_id, event.activity, rating, event.at, event.user,
                                  comments.strip() or None if isinstance(comments, str) else None)
    return None
