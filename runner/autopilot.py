"""Drive stored cases forward with form defaults, a step per transaction: fixtures for tests (the
demo data of ``make run`` has its own driver, ``runner.demo_driver``, with office hours and the demo users).

Every step goes through the service layer in its own transaction, exactly as a user's click would.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import services
from .models import Case as CaseRow
from .models import OpenTask
from .sample_answers import answer_over_sample
from .store import Runtime, load_case


def users_for(lane: str | None, avoid: str | None) -> str:
    """A demo user of the lane, another one when ``avoid`` (a four-eyes drafter) is the first."""
    first = f"{lane or 'staff'}.1"
    return f"{lane or 'staff'}.2" if first == avoid else first


def step_case(sessions: sessionmaker[Session], runtime: Runtime, case_number: str,
              answers: dict[str, Any] | None = None) -> str | None:
    """Do the next thing the case waits for (complete its first open task, or deliver a waited-for message).

    Returns the element id handled, or None when the case waits for nothing a person or message can give.
    """
    answers = answers or {}
    with sessions.begin() as session:
        row = session.scalar(select(CaseRow).where(CaseRow.case_number == case_number))
        if row is None or row.status != "running":
            return None
        task = session.scalars(select(OpenTask).where(OpenTask.case_id == row.id).order_by(OpenTask.created_at,
                                                                                            OpenTask.id)).first()
        if task is not None:
            schema = runtime.bundle_for_case(session, row).form(task.form_schema) if task.form_schema else {}
            loaded = load_case(session, runtime, case_number)
            data = answer_over_sample(schema, answers.get(task.element_id, {}), runtime.clock.now().date(),
                                      loaded.case.sample_evaluator(task.id))
            ready = {t.id: t for t in loaded.case.ready_tasks()}
            four_eyes = ready[task.id].four_eyes_with if task.id in ready else None
            drafter = loaded.case.last_user_of(four_eyes) if four_eyes else None
            services.complete_task(session, runtime, task.id, data, users_for(task.lane, drafter),
                                   request_id=str(uuid.uuid4()))
            return task.element_id
        loaded = load_case(session, runtime, case_number)
        waiting = loaded.case.waiting_messages()
        if waiting:
            payload = answers.get(waiting[0], {"confirmed_at": runtime.clock.now().isoformat(timespec="seconds")})
            services.send_message(session, runtime, case_number, waiting[0], payload)
            return waiting[0]
    return None


def advance(sessions: sessionmaker[Session], runtime: Runtime, case_number: str, until: str | None = None,
            answers: dict[str, Any] | None = None, max_steps: int = 200) -> list[str]:
    """Step a case until ``until`` is the next open task (or the case waits for nothing); return what was done."""
    done: list[str] = []
    for _ in range(max_steps):
        if until is not None and _has_open_task(sessions, case_number, until):
            break
        handled = step_case(sessions, runtime, case_number, answers)
        if handled is None:
            break
        done.append(handled)
    return done


def _has_open_task(sessions: sessionmaker[Session], case_number: str, element_id: str) -> bool:
    with sessions.begin() as session:
        return session.scalar(select(OpenTask.id).where(OpenTask.case_number == case_number,
                                                        OpenTask.element_id == element_id)) is not None
