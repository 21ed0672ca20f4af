"""The case page's 时限执行情况 follows a suspension's pause: an open step's deadline is the moved one
(``deadlines_moved`` of the ``running`` event), so it is not shown overdue right after a resumption, and the event
log (API) carries the pause."""

from __future__ import annotations

from datetime import timedelta

from runner import services
from tests.api_helpers import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.db import events, open_task, start
from webui.cases.sla import sla_rows


def test_an_open_steps_deadline_is_the_one_a_resumption_moved(api: Api) -> None:
    db = api.db
    number = start(db, "hv_ordinary")
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "suspended", "supervisor.1", "客户原因")
    db.clock.advance(timedelta(days=30))
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "running", "supervisor.1")
    moved = open_task(db, number, "accept_application").due_at
    assert moved is not None and moved > db.clock.now()

    [row] = [row for row in sla_rows(events(db, number), {"accept_application"}, db.clock.now())
             if row.element_id == "accept_application"]
    assert (row.due_at, row.status) == (moved, "open")

    history = api.get(f"/cases/{number}/history", "supervisor").get_json()["events"]
    [resumed] = [event for event in history if event["lifecycle"] == "running"]
    assert resumed["details"]["paused_working_days"] >= 20
    assert resumed["details"]["deadlines_moved"][0]["element_id"] == "timer_acceptance"
