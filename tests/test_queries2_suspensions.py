"""Resuming a case and the pages that say its deadlines are paused read the moment it was suspended through one
query (``runner.suspensions.suspended_since``): after two suspensions, both take the later one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from runner import case_queries, services, suspensions
from runner.clock import SHANGHAI
from tests.db import Db, advance_to, events, open_task, start


def set_status(db: Db, number: str, status: str) -> None:
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, status, "supervisor", reason="测试")


def suspended_twice(db: Db) -> str:
    """A case at 现场勘查, suspended on Thu 10 Dec, resumed on Mon 14 Dec, suspended again on Wed 16 Dec; the clock
    then stands at Mon 28 Dec."""
    number = start(db)
    advance_to(db, number, "site_survey")
    for day, status in ((10, "suspended"), (14, "running"), (16, "suspended")):
        db.clock.advance_to(datetime(2026, 12, day, 9, 0, tzinfo=SHANGHAI))
        set_status(db, number, status)
    db.clock.advance_to(datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI))
    return number


def test_the_pages_and_resuming_take_the_latest_suspension(db: Db) -> None:
    number = suspended_twice(db)
    second = datetime(2026, 12, 16, 9, 0, tzinfo=SHANGHAI)
    with db.reading() as session:
        assert case_queries.suspended_since(session, [number, "YK-NONE"]) == {number: second}
    due_before = open_task(db, number, "site_survey").due_at
    set_status(db, number, "running")
    paused = db.runtime.calendar.working_days_between(second, db.clock.now())
    resumed = [event for event in events(db, number) if event.element_id == "case" and event.lifecycle == "running"]
    assert resumed[-1].data["paused_working_days"] == paused == 8  # 17–18, 21–25 and 28 Dec (from 10 Dec: 12)
    assert open_task(db, number, "site_survey").due_at == db.runtime.calendar.postponed(due_before, paused)
    with db.reading() as session:
        assert case_queries.suspended_since(session, [number]) == {}  # running again: nothing paused


def test_resuming_reads_the_suspension_through_the_shared_query(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    number = suspended_twice(db)
    asked: list[Any] = []
    shared = suspensions.suspended_since

    def spy(session: Any, case_numbers: Any) -> Any:
        asked.append(list(case_numbers))
        return shared(session, case_numbers)

    monkeypatch.setattr(suspensions, "suspended_since", spy)
    set_status(db, number, "running")
    assert asked == [[number]]
    assert case_queries.suspended_since is shared  # the pages ask the same function
