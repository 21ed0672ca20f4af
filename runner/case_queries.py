"""Read-only views of cases for the REST API: a filtered case list, a case's progress step by step, and the
case numbers of incidents. Plain functions over a session like ``runner.services``; nothing here changes data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .models import Case as CaseRow
from .models import Event, Incident
from .services import CASE_NUMBER_SHAPE, case_tasks, get_case

CASE_STATUSES = ("running", "completed", "cancelled", "suspended")
MAX_PAGE_SIZE = 200


@dataclass
class CaseFilter:
    status: str | None = None
    category: str | None = None
    search: str | None = None
    """A case number (exact, any case), or a fragment of the customer name."""


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
        conditions.append(or_(CaseRow.case_number == text.upper(), name_match)
                          if CASE_NUMBER_SHAPE.match(text.upper()) else name_match)
    limit = min(max(limit, 1), MAX_PAGE_SIZE)
    items = session.scalars(select(CaseRow).where(*conditions).order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
                            .offset(max(offset, 0)).limit(limit)).all()
    total = session.scalar(select(func.count()).select_from(CaseRow).where(*conditions)) or 0
    return CasePage(list(items), int(total))


@dataclass
class ProgressStep:
    """One step of a case: done (with when and by whom) or active (an open task, with its due date)."""

    element_id: str
    name: str
    state: str  # done|active
    lane: str | None
    completed_at: datetime | None = None
    due_at: datetime | None = None
    assignee: str | None = None


@dataclass
class Progress:
    case: CaseRow
    steps: list[ProgressStep]


def case_progress(session: Session, case_number: str) -> Progress:
    """The named steps the case completed, in order (a step done twice shows twice), then its open tasks."""
    row = get_case(session, case_number)
    completed = session.scalars(select(Event).where(
        Event.case_number == case_number, Event.lifecycle == "completed", Event.element_id.not_in(("", "case")),
        Event.activity != Event.element_id).order_by(Event.id))
    steps = [ProgressStep(event.element_id, event.activity, "done", event.role, completed_at=event.at)
             for event in completed]
    steps += [ProgressStep(task.element_id, task.name, "active", task.lane, due_at=task.due_at,
                           assignee=task.assignee) for task in case_tasks(session, case_number)]
    return Progress(row, steps)


def incident_case_numbers(session: Session, incidents: list[Incident]) -> dict[int, str]:
    """Case id → case number for the cases of these incidents."""
    ids = {incident.case_id for incident in incidents}
    if not ids:
        return {}
    return dict(session.execute(select(CaseRow.id, CaseRow.case_number).where(CaseRow.id.in_(ids))).tuples().all())
