"""An event-based gateway (the payment or two days, whichever comes first) in a stored case, with the real worker:
the gateway's deadline becomes a timer job, the worker's pass takes the timer's path once, a message in time takes
the other path and leaves nothing for the worker, and a message after the deadline, before the worker came, is
refused with the reason and changes nothing (the worker's pass then takes the timer's path). On SQLite and
PostgreSQL (the ``db`` fixture); ``tests/test_event_based_gateway.py`` covers the in-memory case and the simulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from runner import services
from runner.case import CaseError
from runner.models import Case as CaseRow
from runner.models import Job
from runner.store import deploy
from runner.worker import Worker
from tests.db import Db, complete, events, open_tasks, visited

FOLDER = Path(__file__).resolve().parent / "data" / "payment_gateway"


def billed_case(db: Db) -> str:
    """A case of the payment race, deployed as a version of its own, whose bill is sent: it waits at the gateway."""
    with db.transaction() as session:
        version, _created = deploy(session, db.runtime, FOLDER, "analyst")
        number = services.start_case(session, db.runtime, {"application": {}}, "account_manager.1",
                                     version_id=version.id)
    complete(db, number, "send_bill", {}, user="account_manager.1")
    return number


def timer_jobs(db: Db, number: str) -> list[tuple[str, datetime]]:
    """The case's timer jobs: (status, due time)."""
    with db.reading() as session:
        rows = session.scalars(select(Job).join(CaseRow, CaseRow.id == Job.case_id).where(
            CaseRow.case_number == number, Job.kind == "timer").order_by(Job.id))
        return [(job.status, job.due_at) for job in rows]


def open_elements(db: Db, number: str) -> list[str]:
    return [task.element_id for task in open_tasks(db, number)]


def worker(db: Db) -> Worker:
    return Worker(db.sessions, db.runtime, worker_id="test-worker")


def deliver(db: Db, number: str) -> None:
    with db.transaction() as session:
        services.send_message(session, db.runtime, number, "payment_confirmed", {"amount": 120}, "payments")


def test_the_worker_fires_the_gateway_deadline_once(db: Db) -> None:
    number = billed_case(db)
    deadline = db.clock.now() + timedelta(days=2)
    assert timer_jobs(db, number) == [("pending", deadline)]
    db.clock.advance(timedelta(days=1))
    assert worker(db).run_once().jobs == {}
    assert open_elements(db, number) == []
    db.clock.advance(timedelta(days=1, seconds=1))
    assert worker(db).run_once().jobs == {"done": 1}
    assert open_elements(db, number) == ["chase"]
    assert worker(db).run_once().jobs == {}  # nothing fires twice
    assert [e.element_id for e in events(db, number) if e.lifecycle == "fired"] == ["wait_payment"]
    with pytest.raises(CaseError, match="not waiting for message 'payment_confirmed'"):
        deliver(db, number)
    assert open_elements(db, number) == ["chase"] and "paid" not in visited(db, number)


def test_a_payment_in_time_takes_the_connect_path_and_leaves_no_timer(db: Db) -> None:
    number = billed_case(db)
    db.clock.advance(timedelta(days=1))
    deliver(db, number)
    assert open_elements(db, number) == ["connect"]
    assert [status for status, _due in timer_jobs(db, number)] == ["cancelled"]
    db.clock.advance(timedelta(days=3))
    assert worker(db).run_once().jobs == {}
    assert open_elements(db, number) == ["connect"]
    assert "paid" in visited(db, number) and "two_days" not in visited(db, number)


def test_a_payment_after_the_deadline_is_refused_and_the_worker_takes_the_timer_path(db: Db) -> None:
    number = billed_case(db)
    before = len(events(db, number))
    db.clock.advance(timedelta(days=3))
    with pytest.raises(CaseError, match="two days came first"):
        deliver(db, number)
    assert len(events(db, number)) == before and open_elements(db, number) == []  # the refusal changed nothing
    assert worker(db).run_once().jobs == {"done": 1}
    assert open_elements(db, number) == ["chase"] and "paid" not in visited(db, number)
