"""What the task pages and the API say about open tasks before anyone acts, read for a whole list at once: the
tasks a person could never complete because of the four-eyes rule (they did the step its ``fourEyesWith`` names:
the check claims, assignments and completions make, ``services.four_eyes_conflict``), the members of a lane a task
cannot be given to for that reason, whether a due date rests on the rule-based holiday estimate (a year without
official calendar data, ``WorkingCalendar.is_estimated_between``), and the form a task was completed with (what a
form sent again with a used request id is compared with)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .case import FourEyesError
from .models import Case as CaseRow
from .models import Event, OpenTask
from .process_folder import spec_properties
from .services import four_eyes_conflict, four_eyes_holder
from .store import Runtime
from .workdays import WorkingCalendar


def four_eyes_blocked(session: Session, runtime: Runtime, tasks: Iterable[OpenTask],
                      user: str) -> dict[str, FourEyesError]:
    """Task id → why ``user`` could never complete it (they did its four-eyes partner step), for those tasks."""
    return {task.id: conflict for task in tasks
            if (conflict := four_eyes_conflict(session, runtime, task, user)) is not None}


def four_eyes_excluded(session: Session, runtime: Runtime, task: OpenTask,
                       usernames: Iterable[str]) -> dict[str, FourEyesError]:
    """Those of ``usernames`` the task cannot be assigned to (they did its four-eyes partner step), and why: the
    partner step's last doer, read once for the whole list."""
    holder = four_eyes_holder(session, runtime, task)
    return {holder.user: holder} if holder is not None and holder.user in set(usernames) else {}


def due_estimated(calendar: WorkingCalendar, task: OpenTask) -> bool:
    """Whether the task's due date was counted over a day of a year without official holiday data (the rule-based
    estimate: no 调休 make-up days), from the day the task opened to the due day."""
    return task.due_at is not None and calendar.is_estimated_between(task.created_at, task.due_at)


def completed_form(session: Session, runtime: Runtime, task_id: str
                   ) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
    """``(schema, ui_schema)`` of the form of a task no longer open (from its case's version; schema None for a
    step without a form), or None when the task was never completed."""
    found = session.execute(select(Event.case_id, Event.element_id)
                            .where(Event.task_id == task_id, Event.lifecycle == "completed").limit(1)).first()
    row = session.get(CaseRow, found.case_id) if found is not None else None
    if found is None or row is None:
        return None
    bundle = runtime.bundle_for_case(session, row)
    process = bundle.process_with(found.element_id)
    if process is None:
        return None, {}
    properties = spec_properties(process.task_specs[found.element_id])
    schema = properties.get("formJsonSchemaFilename")
    ui = properties.get("formUiSchemaFilename")
    return (bundle.form(schema) if schema else None), (bundle.form(ui) if ui else {})
