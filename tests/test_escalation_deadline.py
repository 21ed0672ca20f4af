"""The 督办 (``supervise_breach``) has a deadline of its own and a second escalation level (processes/escalation.bpmn).

The non-interrupting timer ``timer_supervision`` on the 督办 waits ``limits["supervision"]`` working days (the
``time_limits`` DMN, as every step's limit) from when the 督办 opens; the task's due date is that timer's deadline,
so the task list shows it and, once it passed, counts it as overdue. When it passes the worker fires it and the
escalation sends ``supervision_overdue`` to the supervisor group and to the account manager, once; the 督办 stays
open. A 督办 completed in time cancels the timer. Each test runs on SQLite and on PostgreSQL (the ``db`` fixture),
on the test database's virtual clock; the deadlines are checked against the working-day calendar the case uses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from runner import services
from runner.clock import SHANGHAI
from runner.delivery import registry_from_env
from runner.models import Job, OutboxMessage
from runner.workdays import WorkingCalendar
from runner.worker import Worker
from tests.db import Db, complete, events, fire_due_timers, open_task, start, visited
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from tests.worker_helpers import Receiver

WEDNESDAY = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
"""When the case is applied for; 业务受理 has 1 working day (lv_residential, statute)."""
ACCEPTANCE_DUE = datetime(2026, 12, 3, 23, 59, 59, tzinfo=SHANGHAI)
"""End of Thursday: the acceptance deadline. Its breach opens the 督办 at Friday 00:00:00."""
SUPERVISION_DUE = datetime(2026, 12, 7, 23, 59, 59, tzinfo=SHANGHAI)
"""End of Monday: 1 working day after Friday, the weekend of 5–6 December skipped."""
OVERDUE_TEMPLATE = "supervision_overdue"


def make_worker(db: Db, tmp_path: Path, webhook: str | None = None) -> Worker:
    environ = {"BAOZHUANG_WEBHOOK_URL": webhook} if webhook else {}
    return Worker(db.sessions, db.runtime, deliverers=registry_from_env(tmp_path / "instance", environ),
                  worker_id="test-worker")


def breach_acceptance_on_friday(db: Db, worker: Worker | None) -> str:
    """A case applied for on Wednesday whose 业务受理 nobody does: its timer fires at Friday 00:00:00 (by the
    worker's pass, or without one by the helper doing what the worker does) and the 督办 opens."""
    db.clock.advance_to(WEDNESDAY)
    number = start(db, "lv_residential")
    assert open_task(db, number, "accept_application").due_at == ACCEPTANCE_DUE
    db.clock.advance_to(ACCEPTANCE_DUE + timedelta(seconds=1))
    if worker is not None:
        assert worker.run_once().jobs == {"done": 1}
    else:
        assert fire_due_timers(db, number) == 1
    assert open_task(db, number, "supervise_breach").due_at == SUPERVISION_DUE
    return number


def overdue_messages(db: Db, number: str) -> list[OutboxMessage]:
    with db.reading() as session:
        return list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.case_number == number, OutboxMessage.template == OVERDUE_TEMPLATE).order_by(
            OutboxMessage.id)))


def supervision_timer_jobs(db: Db) -> list[str]:
    with db.reading() as session:
        return list(session.scalars(select(Job.status).where(Job.element_id == "timer_supervision")))


def fired_supervision_timers(db: Db, number: str) -> int:
    return sum(1 for event in events(db, number)
               if event.lifecycle == "fired" and event.element_id == "timer_supervision")


# -- the deadline ------------------------------------------------------------------------------------------------


def test_the_supervision_is_due_its_limit_in_working_days_after_it_opens(db: Db, calendar: WorkingCalendar) -> None:
    number = breach_acceptance_on_friday(db, None)

    friday = ACCEPTANCE_DUE + timedelta(seconds=1)
    assert [calendar.is_working_day(friday + timedelta(days=n)) for n in range(4)] == [True, False, False, True]
    with db.reading() as session:
        limit = services.case_data(session, db.runtime, number)["limits"]["supervision"]
    assert limit == 1  # the time_limits DMN's 督办 column
    assert calendar.deadline(friday, limit) == SUPERVISION_DUE
    enabled = [event for event in events(db, number)
               if event.element_id == "supervise_breach" and event.lifecycle == "enabled"]
    assert [event.data for event in enabled] == [{"due_at": "2026-12-07T23:59:59+08:00"}]  # the case page's SLA
    assert supervision_timer_jobs(db) == ["pending"]


def test_the_supervision_shows_its_due_date_and_is_overdue_after_it(web: Web) -> None:
    db = web.db
    number = breach_acceptance_on_friday(db, None)
    client = web.client("supervisor")

    page = client.get("/tasks/")
    assert number in page.get_data(as_text=True)
    text = text_of(page)
    assert "督办" in text and "无时限" not in text and "已超期 0" in text
    db.clock.advance_to(SUPERVISION_DUE - timedelta(hours=1))
    assert "今日到期 1" in text_of(client.get("/tasks/"))
    db.clock.advance_to(SUPERVISION_DUE + timedelta(minutes=1))
    overdue = client.get("/tasks/?due=overdue").get_data(as_text=True)
    assert number in overdue and "due-overdue" in overdue
    assert "已超期 1" in text_of(client.get("/tasks/"))

    assert fire_due_timers(db, number) == 1  # the worker's pass: the 督办 stays open, still overdue since Monday
    assert open_task(db, number, "supervise_breach").due_at == SUPERVISION_DUE
    assert number in client.get("/tasks/?due=overdue").get_data(as_text=True)


# -- the second level --------------------------------------------------------------------------------------------


def test_the_worker_sends_the_second_level_notification_once_when_the_deadline_passes(
        db: Db, tmp_path: Path) -> None:
    with Receiver() as receiver:
        worker = make_worker(db, tmp_path, webhook=receiver.url)
        number = breach_acceptance_on_friday(db, worker)
        supervision = open_task(db, number, "supervise_breach")

        db.clock.advance_to(SUPERVISION_DUE - timedelta(minutes=1))
        worker.run_once()
        assert overdue_messages(db, number) == [] and fired_supervision_timers(db, number) == 0

        db.clock.advance_to(SUPERVISION_DUE + timedelta(seconds=1))
        assert worker.run_once().jobs == {"done": 1}
        for days in (0, 1, 7):  # later passes, days later: nothing fires or is sent again
            db.clock.advance(timedelta(days=days))
            worker.run_once()

        messages = overdue_messages(db, number)
        assert sorted(str(message.to_role) for message in messages) == ["account_manager", "supervisor"]
        assert {message.status for message in messages} == {"delivered"}
        assert {message.payload["params"]["step"] for message in messages} == {"acceptance"}
        assert {message.payload["params"]["supervision_limit_days"] for message in messages} == {1}
        overdue_keys = {message.idempotency_key for message in messages}
        assert [key for key in receiver.arrivals if key in overdue_keys] == [m.idempotency_key for m in messages]
        assert fired_supervision_timers(db, number) == 1
        assert supervision_timer_jobs(db) == ["done"]
        assert open_task(db, number, "supervise_breach").id == supervision.id  # non-interrupting: still to do

        complete(db, number, "supervise_breach", user="supervisor.1")  # done late: the first level goes on
        assert "notify_breach" in visited(db, number)
        assert len(overdue_messages(db, number)) == 2


def test_a_supervision_done_in_time_cancels_its_timer_and_nothing_more_is_sent(db: Db, tmp_path: Path) -> None:
    worker = make_worker(db, tmp_path)
    number = breach_acceptance_on_friday(db, worker)
    db.clock.advance_to(SUPERVISION_DUE - timedelta(hours=12))  # Monday, in time

    complete(db, number, "supervise_breach", user="supervisor.1")
    assert supervision_timer_jobs(db) == ["cancelled"]

    db.clock.advance_to(SUPERVISION_DUE + timedelta(days=3))
    worker.run_once()
    assert overdue_messages(db, number) == []
    assert fired_supervision_timers(db, number) == 0
    assert "timer_supervision" not in visited(db, number) and "notify_breach" in visited(db, number)
    with db.reading() as session:
        first_level = session.scalars(select(OutboxMessage.to_role).where(
            OutboxMessage.case_number == number, OutboxMessage.template == "sla_breach")).all()
    assert first_level == ["account_manager"]  # the late step's role, as before
