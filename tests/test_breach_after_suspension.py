"""A 督办 states the deadline the late step really had: after a suspension moved the step's time limit (services.
_pause_deadlines records the pause in the case's ``sla_pauses``), the breach's deadline (``sla_deadline`` in the
model's breach scripts) is the moved one at which the timer fired, not the one first computed."""

from __future__ import annotations

from datetime import datetime

from runner.clock import SHANGHAI
from tests.db import advance_to, fire_due_timers, open_task
from tests.test_sup2_sla_suspend_cancel import set_status, suspended_over_the_plan_deadline
from tests.webui_helpers import Web, start_case, text_of, web_fixture  # noqa: F401


def test_the_supervision_states_the_deadline_moved_by_the_suspension(web: Web) -> None:
    number = suspended_over_the_plan_deadline(web)  # plan reply due Thu 24 Dec, suspended 10–28 Dec
    set_status(web, number, "running")  # 12 working days paused: the deadline moves to Tue 12 Jan 2027
    assert open_task(web.db, number, "site_survey").due_at == datetime(2027, 1, 12, 23, 59, 59, tzinfo=SHANGHAI)
    web.db.clock.advance_to(datetime(2027, 1, 13, 9, 0, tzinfo=SHANGHAI))
    assert fire_due_timers(web.db, number) >= 1
    supervision = open_task(web.db, number, "supervise_breach")
    text = text_of(web.client("supervisor").get(f"/tasks/{supervision.id}"))
    assert "到期时间 2027-01-12 23:59" in text and "2026-12-24" not in text, text[:600]


def test_without_a_suspension_the_supervision_states_the_first_deadline(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    web.db.clock.advance_to(datetime(2026, 12, 25, 9, 0, tzinfo=SHANGHAI))
    assert fire_due_timers(web.db, number) >= 1
    supervision = open_task(web.db, number, "supervise_breach")
    assert "到期时间 2026-12-24 23:59" in text_of(web.client("supervisor").get(f"/tasks/{supervision.id}"))
