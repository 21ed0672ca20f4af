"""Staff and integrator findings in the service layer and the API: a suspension pauses the SLA clock, a start's
request id with other data is a 409, the event log leaves out gateways, and a case number is found by its start."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from runner import services, task_list
from runner.clock import to_iso
from runner.models import Case as CaseRow
from runner.models import Job
from runner.services import TaskFilter
from runner.store import load_case
from tests.api_helpers import Api, api_fixture, error_of  # noqa: F401  (the api fixture)
from tests.db import Db, advance_to, events, fire_due_timers, open_task, sample, start

SUSPENDED_BY = "supervisor.1"


def set_status(db: Db, number: str, status: str, reason: str | None = None) -> None:
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, status, SUSPENDED_BY, reason)


def waiting_timers(db: Db, number: str) -> dict[str, datetime]:
    """Element id → deadline of the case's waiting timers, from its stored state (a new runtime: nothing kept)."""
    with db.reading() as session:
        return {timer.element_id: timer.deadline
                for timer in load_case(session, db.new_runtime(), number).case.pending_timers()}


def timer_jobs(db: Db, number: str) -> dict[str, datetime]:
    """Element id → due time of the case's pending timer jobs (what the worker fires by)."""
    with db.reading() as session:
        rows = session.execute(select(Job.element_id, Job.due_at).join(CaseRow, CaseRow.id == Job.case_id).where(
            CaseRow.case_number == number, Job.kind == "timer", Job.status == "pending")).all()
    return {str(element): due for element, due in rows}


# -- 1. a suspension pauses the deadlines ------------------------------------------------------------------------


def test_a_suspension_moves_the_waiting_deadlines_by_the_working_days_it_lasted(db: Db) -> None:
    number = start(db, "hv_ordinary")
    deadline = waiting_timers(db, number)["timer_acceptance"]
    assert open_task(db, number, "accept_application").due_at == deadline
    suspended_at = db.clock.now()
    set_status(db, number, "suspended", "客户原因：资料待补")
    db.clock.advance(timedelta(days=30))  # far past the acceptance deadline
    resumed_at = db.clock.now()
    set_status(db, number, "running")

    paused = db.runtime.calendar.working_days_between(suspended_at, resumed_at)
    assert paused >= 20  # 30 calendar days of working days
    expected = datetime.combine(db.runtime.calendar.add_working_days(deadline, paused), deadline.timetz())
    assert waiting_timers(db, number)["timer_acceptance"] == expected
    assert expected > resumed_at  # as much time left as when it was suspended: no 超时上报 at once
    assert open_task(db, number, "accept_application").due_at == expected  # the lists' due date follows
    assert timer_jobs(db, number)["timer_acceptance"] == expected  # and the worker's job
    assert fire_due_timers(db, number) == 0
    assert "supervise_breach" not in {event.element_id for event in events(db, number)}
    [resumed] = [event for event in events(db, number) if event.lifecycle == "running"]
    assert resumed.data == {"paused_working_days": paused, "deadlines_moved": [
        {"element_id": "timer_acceptance", "name": "时限：业务受理", "from": to_iso(deadline), "to": to_iso(expected)}]}
    # the clock runs again: the deadline fires when the moved time comes
    db.clock.advance_to(expected + timedelta(seconds=1))
    assert fire_due_timers(db, number) == 1
    # a deadline inside a called process (the 督办's own, escalation.bpmn) pauses too
    supervision = waiting_timers(db, number)["timer_supervision"]
    assert open_task(db, number, "supervise_breach").due_at == supervision
    suspended_at = db.clock.now()
    set_status(db, number, "suspended")
    db.clock.advance(timedelta(days=7))
    set_status(db, number, "running")
    paused = db.runtime.calendar.working_days_between(suspended_at, db.clock.now())
    moved = datetime.combine(db.runtime.calendar.add_working_days(supervision, paused), supervision.timetz())
    assert waiting_timers(db, number)["timer_supervision"] == moved
    assert open_task(db, number, "supervise_breach").due_at == moved
    assert timer_jobs(db, number)["timer_supervision"] == moved


def test_a_deadline_passed_before_the_suspension_is_not_made_on_time(db: Db) -> None:
    number = start(db, "hv_ordinary")
    deadline = waiting_timers(db, number)["timer_acceptance"]
    db.clock.advance_to(deadline + timedelta(hours=1))  # overdue; the worker has not come by yet
    set_status(db, number, "suspended", "客户原因")
    db.clock.advance(timedelta(days=10))
    set_status(db, number, "running")

    assert waiting_timers(db, number)["timer_acceptance"] == deadline
    assert open_task(db, number, "accept_application").due_at == deadline
    assert fire_due_timers(db, number) == 1  # at once
    [resumed] = [event for event in events(db, number) if event.lifecycle == "running"]
    assert "deadlines_moved" not in (resumed.data or {})


def test_a_suspension_within_the_day_moves_nothing(db: Db) -> None:
    number = start(db, "hv_ordinary")
    before = waiting_timers(db, number)
    set_status(db, number, "suspended")
    db.clock.advance(timedelta(hours=3))
    set_status(db, number, "running")
    assert waiting_timers(db, number) == before
    [resumed] = [event for event in events(db, number) if event.lifecycle == "running"]
    assert resumed.data is None


def test_the_customers_own_dates_are_not_moved(db: Db) -> None:
    number = start(db, "hv_important")
    advance_to(db, number, "submit_design")  # the plan's expiry and its reminder wait: the customer's dates
    before = waiting_timers(db, number)
    assert {"timer_plan_expiry", "timer_plan_expiry_reminder"} <= set(before)
    set_status(db, number, "suspended")
    db.clock.advance(timedelta(days=14))
    set_status(db, number, "running")
    after = waiting_timers(db, number)
    for element in ("timer_plan_expiry", "timer_plan_expiry_reminder"):
        assert after[element] == before[element]


def test_a_second_suspension_moves_the_deadline_again_from_where_the_first_left_it(db: Db) -> None:
    number = start(db, "hv_ordinary")
    calendar = db.runtime.calendar
    deadline = waiting_timers(db, number)["timer_acceptance"]
    for days in (7, 3):
        suspended_at = db.clock.now()
        set_status(db, number, "suspended")
        db.clock.advance(timedelta(days=days))
        set_status(db, number, "running")
        paused = calendar.working_days_between(suspended_at, db.clock.now())
        deadline = datetime.combine(calendar.add_working_days(deadline, paused), deadline.timetz())
        assert waiting_timers(db, number)["timer_acceptance"] == deadline
        assert timer_jobs(db, number)["timer_acceptance"] == deadline


# -- 2. a start's request id with other data ---------------------------------------------------------------------


def application(category: str = "lv_residential", **fields: Any) -> dict[str, Any]:
    data = sample(category)
    return {"application": {**data["application"], **fields}, "regime": data["regime"]}


def test_a_request_id_sent_again_with_other_data_is_a_409_and_starts_nothing(api: Api) -> None:
    body = {**application(customer_name="王五"), "request_id": "crm-4712-a"}
    first = api.post("/applications", "account_manager", json=body)
    assert first.status_code == 201, first.get_json()
    number = first.get_json()["case_number"]

    other = api.post("/applications", "account_manager", json={**body, **application(customer_name="赵六")})
    assert other.status_code == 409
    message = error_of(other)["message"]
    assert "crm-4712-a" in message and number in message and "other data" in message
    other_regime = api.post("/applications", "account_manager", json={**body, "regime": "state_grid"})
    assert other_regime.status_code == 409
    # the same data in another key order is the same request: answered with its case
    reordered = {"request_id": body["request_id"], "regime": body["regime"],
                 "application": dict(reversed(list(body["application"].items())))}
    again = api.post("/applications", "account_manager", json=reordered)
    assert again.status_code == 201 and again.get_json() == {"case_number": number}
    assert api.db.count(CaseRow) == 1


def test_a_start_recorded_without_a_digest_is_answered_as_before(db: Db) -> None:
    data = {**sample("lv_residential")}
    data.pop("case_number", None)
    with db.transaction() as session:
        number = services.start_case(session, db.runtime, data, "api", request_id="old-start-1", requested_by="x")
        session.execute(text("UPDATE start_requests SET request_digest = NULL"))  # a row from before 0012
    with db.transaction() as session:
        earlier = services.earlier_start(session, "old-start-1", services.start_digest({"other": 1}))
    assert earlier is not None and (earlier.case_number, earlier.same_data) == (number, None)


# -- 9. the event log names steps, not gateways ------------------------------------------------------------------


def test_the_event_log_leaves_out_unnamed_gateways_as_the_case_page_does(api: Api) -> None:
    number = start(api.db, "hv_ordinary")
    advance_to(api.db, number, "sign_plan")
    logged = events(api.db, number)
    assert any(event.element_id.startswith("gw_") and event.activity == event.element_id for event in logged)

    history = api.get(f"/cases/{number}/history", "archivist").get_json()["events"]
    assert history and not any(event["activity"] == event["element_id"] for event in history)
    shown = {event.id for event in logged
             if not (event.element_id != "case" and event.activity == event.element_id)}
    assert [event["id"] for event in history] == sorted(shown)


# -- 11. a case number by its start ------------------------------------------------------------------------------


def test_a_case_number_is_found_by_its_start_in_any_letter_case(api: Api) -> None:
    db = api.db
    day = [start(db, "hv_ordinary", case_number=f"YK20261128{n:06d}") for n in (1, 2)]
    other_day = start(db, "hv_ordinary", case_number="YK20261129000001")
    for query in ("YK20261128", "yk20261128", "Yk2026112800000"):
        team = api.get(f"/tasks?scope=team&q={query}", "supervisor").get_json()
        assert sorted(item["case_number"] for item in team["items"]) == day and team["total"] == 2, query
        cases = api.get(f"/cases?q={query}", "supervisor").get_json()
        assert sorted(item["case_number"] for item in cases["items"]) == day and cases["total"] == 2, query
    whole = api.get(f"/tasks?scope=team&q={other_day.lower()}", "supervisor").get_json()
    assert [item["case_number"] for item in whole["items"]] == [other_day]
    assert api.get("/tasks?scope=team&q=YK20261130", "supervisor").get_json()["total"] == 0


def test_a_case_number_prefix_pages_and_counts_in_the_database(db: Db) -> None:
    numbers = [start(db, "hv_ordinary", case_number=f"DEMO-{n:05d}") for n in range(11, 16)]
    start(db, "hv_ordinary", case_number="DEMO-00021")
    flt = TaskFilter(user="supervisor.1", groups=("account_manager",), include_claimed=True, search="demo-0001")
    with db.reading() as session:
        first = services.list_tasks(session, db.runtime, flt, page=1, page_size=2)
        second = services.list_tasks(session, db.runtime, flt, page=3, page_size=2)
        middle = services.list_tasks(session, db.runtime, flt, page=2, page_size=2)
        steps = services.task_steps(session, db.runtime, flt)
    assert (first.total, len(first.items), len(middle.items), len(second.items)) == (5, 2, 2, 1)
    assert [step.count for step in steps] == [5]
    assert sorted(task.case_number for task in first.items + middle.items + second.items) == numbers


def test_the_case_number_search_reads_the_case_number_index(db: Db) -> None:
    flt = TaskFilter(user="supervisor.1", groups=("account_manager", "surveyor"), search="yk20261128")
    with db.reading() as session:
        where = task_list._task_query(flt, db.clock.now(), True, db.kind)
        query = select(services.OpenTask.id).where(where)
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN QUERY PLAN " if db.kind == "sqlite" else "EXPLAIN "
        if db.kind == "postgresql":
            session.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table: can the index serve it?
        plan = " ".join(str(row[-1]) for row in session.execute(text(explain + str(compiled))))
    assert "ix_open_tasks_case_number" in plan, plan
