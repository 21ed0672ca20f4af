"""The use cases of ``runner.services`` on SQLite and PostgreSQL: start, task lists, claims, completions, messages,
case status — each refusal leaving the database as it was."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from runner import services
from runner.case import CaseError
from runner.clock import SHANGHAI
from runner.forms import FormValidationError
from runner.instructions import render_instructions
from runner.models import Case as CaseRow
from runner.models import CompletionRequest, Event, Job, OpenTask
from runner.services import PermissionDenied, TaskFilter
from runner.start_data import validate_start_data
from runner.store import ConflictError, NotFoundError, latest_version, load_case, save_case
from tests.db import (
    Db,
    advance_to,
    case_row,
    complete,
    events,
    fire_due_timers,
    open_task,
    open_tasks,
    sample,
    shared_bundle,
    start,
)

AM = ("account_manager",)


def snapshot(db: Db, case_number: str) -> tuple[Any, ...]:
    """What a refused request must leave unchanged: the case row's revision, status and state, the open tasks (with
    their assignees), the events and the completion requests."""
    row = case_row(db, case_number)
    tasks = [(task.id, task.assignee) for task in open_tasks(db, case_number)]
    requests = db.count(CompletionRequest, CompletionRequest.case_id == row.id)
    return row.revision, row.status, row.state, tasks, len(events(db, case_number)), requests


def tasks_of(db: Db, flt: TaskFilter, page: int = 1, page_size: int = 50) -> services.TaskPage:
    with db.reading() as session:
        return services.list_tasks(session, db.runtime, flt, page, page_size)


def numbers(page: services.TaskPage) -> set[str]:
    return {task.case_number for task in page.items}


# -- start -------------------------------------------------------------------------------------------------------


def test_start_case_opens_the_acceptance_task_for_account_managers(db: Db) -> None:
    number = start(db, "hv_ordinary", customer_name="示例科技有限公司")
    row = case_row(db, number)
    assert (row.status, row.revision, row.category) == ("running", 1, "hv_ordinary")
    assert row.customer_name == "示例科技有限公司"
    [task] = open_tasks(db, number)
    assert (task.element_id, task.lane, task.assignee, task.category) == ("accept_application", "account_manager",
                                                                         None, "hv_ordinary")
    assert task.due_at is not None and task.due_at > db.clock.now()
    assert task.form_schema == "accept_application.schema.json"


def test_start_case_refuses_an_unknown_regime_and_writes_nothing(db: Db) -> None:
    data = {**sample("hv_ordinary"), "regime": "moon_law"}
    data.pop("case_number")
    with pytest.raises(FormValidationError) as raised, db.transaction() as session:
        services.start_case(session, db.runtime, data, "portal")
    assert [path for path, _ in raised.value.errors] == ["regime"]
    assert "moon_law" in str(raised.value) and "statute" in str(raised.value)
    assert (db.count(CaseRow), db.count(Event), db.count(OpenTask), db.count(Job)) == (0, 0, 0, 0)


BAD_APPLICATIONS = [
    pytest.param({"declared_capacity_kw": "lots"}, "application.declared_capacity_kw", id="wrong-type"),
    pytest.param({"customer_type": "alien"}, "application.customer_type", id="not-in-enum"),
    pytest.param({"favourite_colour": "red"}, "application.favourite_colour", id="unknown-field"),
]


@pytest.mark.parametrize(("change", "path"), BAD_APPLICATIONS)
def test_start_case_refuses_an_application_failing_the_start_form(db: Db, change: dict[str, Any], path: str) -> None:
    with db.reading() as session:
        assert db.runtime.bundle(latest_version(session)).start_form == "apply.schema.json"
    data = sample("hv_ordinary")
    data.pop("case_number")
    data["application"] = {**data["application"], **change}
    with pytest.raises(FormValidationError) as raised, db.transaction() as session:
        services.start_case(session, db.runtime, data, "portal")
    assert path in [p for p, _ in raised.value.errors], raised.value.errors
    assert (db.count(CaseRow), db.count(Event), db.count(OpenTask), db.count(Job)) == (0, 0, 0, 0)


def test_every_sample_application_fits_the_start_form() -> None:
    bundle = shared_bundle()
    assert bundle.start_form == "apply.schema.json"
    for category in ("lv_residential", "lv_smallmicro", "lv_other", "hv_ordinary", "hv_important"):
        validate_start_data(bundle, sample(category))
    validate_start_data(bundle, sample("hv_ordinary", dual_supply=True))


# -- task lists --------------------------------------------------------------------------------------------------


@pytest.fixture()
def three_cases(db: Db) -> dict[str, str]:
    """Three cases started a day apart; the HV one is accepted and waits for the site survey."""
    cases = {}
    for key, category, name in (("residential", "lv_residential", "Zhang San 张三"),
                                ("acme", "hv_ordinary", "ACME 示例科技有限公司"),
                                ("restaurant", "lv_other", "示例餐饮管理有限公司")):
        cases[key] = start(db, category, customer_name=name)
        db.clock.advance(timedelta(days=1))
    complete(db, cases["acme"], "accept_application", user="am.1")
    return cases


def test_group_lists_unclaimed_tasks_of_its_lanes_and_mine_lists_claimed_ones(db: Db,
                                                                              three_cases: dict[str, str]) -> None:
    residential = open_task(db, three_cases["residential"], "accept_application")
    assert numbers(tasks_of(db, TaskFilter("am.1", AM))) == {three_cases["residential"], three_cases["restaurant"]}
    assert numbers(tasks_of(db, TaskFilter("sv.1", ("surveyor",)))) == {three_cases["acme"]}
    assert tasks_of(db, TaskFilter("nobody", ())).total == 0

    with db.transaction() as session:
        services.claim_task(session, residential.id, "am.1", AM)
    assert numbers(tasks_of(db, TaskFilter("am.1", AM, mine_only=True))) == {three_cases["residential"]}
    assert numbers(tasks_of(db, TaskFilter("am.1", AM))) == {three_cases["residential"], three_cases["restaurant"]}
    assert numbers(tasks_of(db, TaskFilter("am.2", AM))) == {three_cases["restaurant"]}  # claimed by someone else
    assert tasks_of(db, TaskFilter("am.2", AM, mine_only=True)).total == 0


def test_list_filters_by_category_and_element(db: Db, three_cases: dict[str, str]) -> None:
    everyone = ("account_manager", "surveyor")
    assert numbers(tasks_of(db, TaskFilter("x", everyone, category="lv_residential"))) == {three_cases["residential"]}
    assert numbers(tasks_of(db, TaskFilter("x", everyone, element_id="site_survey"))) == {three_cases["acme"]}
    assert numbers(tasks_of(db, TaskFilter("x", everyone, element_id="accept_application",
                                           category="hv_ordinary"))) == set()


def test_overdue_and_due_today_follow_the_case_clock(db: Db, three_cases: dict[str, str]) -> None:
    everyone = ("account_manager", "surveyor")

    def ids(overdue: bool = False, due_today: bool = False) -> set[str]:
        flt = TaskFilter("x", everyone, overdue=overdue, due_today=due_today)
        return {task.id for task in tasks_of(db, flt).items}

    residential = open_task(db, three_cases["residential"], "accept_application")
    restaurant = open_task(db, three_cases["restaurant"], "accept_application")
    survey = open_task(db, three_cases["acme"], "site_survey")
    assert residential.due_at is not None and restaurant.due_at is not None and survey.due_at is not None
    now = db.clock.now()
    assert residential.due_at < now < restaurant.due_at < survey.due_at
    assert restaurant.due_at.astimezone(SHANGHAI).date() > now.date()
    assert ids(overdue=True) == {residential.id}
    assert ids(due_today=True) == set()

    db.clock.advance_to(restaurant.due_at - timedelta(hours=3))  # the deadline's day, before it
    assert ids(due_today=True) == {restaurant.id}
    assert ids(overdue=True) == {residential.id}

    db.clock.advance_to(restaurant.due_at + timedelta(seconds=1))
    assert ids(overdue=True) == {residential.id, restaurant.id}
    assert ids(due_today=True) == set()


def test_search_by_customer_name_ignores_case_and_by_case_number(db: Db, three_cases: dict[str, str]) -> None:
    everyone = ("account_manager", "surveyor")
    assert numbers(tasks_of(db, TaskFilter("x", everyone, search="acme"))) == {three_cases["acme"]}
    assert numbers(tasks_of(db, TaskFilter("x", everyone, search="  zhang SAN "))) == {three_cases["residential"]}
    assert numbers(tasks_of(db, TaskFilter("x", everyone, search="示例"))) == {three_cases["acme"],
                                                                             three_cases["restaurant"]}
    assert numbers(tasks_of(db, TaskFilter("x", everyone, search=three_cases["restaurant"].lower()))) == {
        three_cases["restaurant"]}
    assert tasks_of(db, TaskFilter("x", everyone, search="100%_")).total == 0  # LIKE wildcards are escaped
    assert tasks_of(db, TaskFilter("x", everyone, search="nobody")).total == 0


def test_pages_are_ordered_by_due_date_and_carry_the_total(db: Db) -> None:
    started = []
    for _ in range(5):
        started.append(start(db, "lv_residential"))
        db.clock.advance(timedelta(days=1))
    pages = [tasks_of(db, TaskFilter("am.1", AM), page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [len(p.items) for p in pages] == [2, 2, 1, 0]
    assert [(p.total, p.page, p.page_size) for p in pages] == [(5, n, 2) for n in (1, 2, 3, 4)]
    listed = [task for p in pages for task in p.items]
    assert sorted(task.case_number for task in listed) == sorted(started)  # every task once
    keys = [(task.due_at, task.id) for task in listed]
    assert keys == sorted(keys)  # earliest due first; ties in a stable order
    assert listed[0].case_number == started[0]
    assert len({task.due_at for task in listed}) >= 3  # the cases really have different deadlines


# -- claims ------------------------------------------------------------------------------------------------------


def run_together(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads; each result is its return value or the exception it raised."""
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except Exception as err:  # the test inspects it
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def test_two_claimers_exactly_one_wins(db: Db) -> None:
    task = open_task(db, start(db), "accept_application")
    barrier = threading.Barrier(2, timeout=30)
    users = ("am.1", "am.2")

    def claim(i: int) -> str:
        barrier.wait()
        with db.transaction() as session:
            services.claim_task(session, task.id, users[i], AM)
        return users[i]

    results = run_together(2, claim)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], ConflictError) and winners[0] in str(losers[0])
    assert open_task(db, task.case_number, "accept_application").assignee == winners[0]


def test_claim_unclaim_and_assign(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    with db.transaction() as session:
        services.claim_task(session, task.id, "am.1", AM)
    with db.transaction() as session:
        services.claim_task(session, task.id, "am.1", AM)  # claiming one's own task again is fine
    with pytest.raises(ConflictError, match="am.1"), db.transaction() as session:
        services.claim_task(session, task.id, "am.2", AM)
    with pytest.raises(PermissionDenied), db.transaction() as session:
        services.claim_task(session, task.id, "sv.1", ("surveyor",))
    with pytest.raises(PermissionDenied), db.transaction() as session:
        services.unclaim_task(session, task.id, "am.2")
    with pytest.raises(ConflictError, match="claimed by am.1"), db.transaction() as session:  # only am.1 may
        services.complete_task(session, db.runtime, task.id, {}, "am.2", "r-1")
    assert open_task(db, number, "accept_application").assignee == "am.1"

    with db.transaction() as session:
        services.unclaim_task(session, task.id, "am.1")
    assert open_task(db, number, "accept_application").assignee is None
    with db.transaction() as session:
        services.assign_task(session, task.id, "am.3", by="supervisor.1")
    assert open_task(db, number, "accept_application").assignee == "am.3"
    with db.transaction() as session:
        services.unclaim_task(session, task.id, "supervisor.1", may_unclaim_others=True)
    assert open_task(db, number, "accept_application").assignee is None
    with pytest.raises(NotFoundError), db.transaction() as session:
        services.claim_task(session, str(uuid.uuid4()), "am.1")


# -- completions -------------------------------------------------------------------------------------------------

OVERSIZE = "长" * 100_000  # 300 KB of UTF-8


BAD_FORMS = [
    pytest.param({"decision": "accept", "one_certificate": False, "commitment_signed": False,
                  "contract_signed": False, "favourite_colour": "red"}, "favourite_colour", id="unknown-field"),
    pytest.param({"decision": "accept", "one_certificate": "no", "commitment_signed": False,
                  "contract_signed": False}, "one_certificate", id="wrong-type"),
    pytest.param({"decision": "accept", "one_certificate": False, "commitment_signed": False,
                  "contract_signed": False, "typename": "x"}, "reserved key name", id="typename"),
    pytest.param({"decision": "accept", "one_certificate": False, "commitment_signed": False,
                  "contract_signed": False, "missing_materials": [{"typename": "BpmnEvent"}]},
                 "missing_materials[0].typename", id="nested-typename"),
    pytest.param({"decision": "accept", "one_certificate": False, "commitment_signed": False,
                  "contract_signed": False, "remarks": OVERSIZE}, "larger than", id="oversize"),
    pytest.param({"decision": "reject", "one_certificate": False, "commitment_signed": False,
                  "contract_signed": False}, "reject_reason", id="conditional-required"),
]


@pytest.mark.parametrize(("data", "mentions"), BAD_FORMS)
def test_complete_validates_on_the_server_and_changes_nothing(db: Db, data: dict[str, Any], mentions: str) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    before = snapshot(db, number)
    with pytest.raises(FormValidationError) as raised, db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, data, "am.1", "request-1")
    assert mentions in str(raised.value)
    assert snapshot(db, number) == before
    # the refused request id was not spent
    assert complete(db, number, "accept_application", user="am.1", request_id="request-1").repeated is False


def test_complete_is_idempotent_per_request_id(db: Db) -> None:
    number = start(db)
    accept = open_task(db, number, "accept_application")
    first = complete(db, number, "accept_application", user="am.1", request_id="req-accept")
    assert first.repeated is False and first.case_number == number
    after_first = snapshot(db, number)

    with db.transaction() as session:
        again = services.complete_task(session, db.runtime, accept.id, {"anything": 1}, "am.1", "req-accept")
    assert (again.repeated, again.case_number, again.task_id) == (True, number, accept.id)
    assert snapshot(db, number) == after_first

    survey = open_task(db, number, "site_survey")
    with pytest.raises(ConflictError, match="req-accept"), db.transaction() as session:
        services.complete_task(session, db.runtime, survey.id, {}, "am.1", "req-accept")
    with pytest.raises(ConflictError), db.transaction() as session:  # same task, other user
        services.complete_task(session, db.runtime, accept.id, {}, "am.2", "req-accept")
    assert snapshot(db, number) == after_first


def test_four_eyes_holds_across_transactions(db: Db) -> None:
    number = start(db)
    advance_to(db, number, "draft_plan", user="sv.1")
    complete(db, number, "draft_plan", user="alice")  # committed: the next transaction starts from the log
    before = snapshot(db, number)
    with pytest.raises((CaseError, ConflictError), match="four-eyes") as raised, db.transaction() as session:
        services.complete_task(session, db.runtime, open_task(db, number, "review_plan").id, {"decision": "approve"},
                               "alice", "r-review")
    assert "draft_plan" in str(raised.value)
    assert snapshot(db, number) == before
    complete(db, number, "review_plan", {"decision": "approve"}, user="bob")
    assert "review_plan" not in {t.element_id for t in open_tasks(db, number)}


def test_a_revised_plan_is_judged_against_its_latest_drafter(db: Db) -> None:
    number = start(db)
    advance_to(db, number, "draft_plan", user="sv.1")
    complete(db, number, "draft_plan", user="alice")
    complete(db, number, "review_plan", {"decision": "revise", "comments": "补充负荷计算"}, user="bob")
    complete(db, number, "draft_plan", user="bob")
    with pytest.raises((CaseError, ConflictError), match="four-eyes"):
        complete(db, number, "review_plan", {"decision": "approve"}, user="bob")
    complete(db, number, "review_plan", {"decision": "approve"}, user="alice")


def test_two_concurrent_completions_one_wins_the_other_conflicts(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    barrier = threading.Barrier(2, timeout=30)
    users = ("am.1", "am.2")

    def work(i: int) -> str:
        runtime = db.new_runtime()  # two processes, each with its own parsed version
        data = {"decision": "accept", "one_certificate": False, "commitment_signed": False,
                "contract_signed": False, "remarks": f"accepted by {users[i]}"}
        barrier.wait()  # both start together; the case row lock (FOR UPDATE / BEGIN IMMEDIATE) queues the second,
        with db.transaction() as session:  # which then finds the task completed: a conflict, not a lost update
            services.complete_task(session, runtime, task.id, data, users[i], f"req-{users[i]}")
        return users[i]

    results = run_together(2, work)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], ConflictError), repr(losers[0])

    row = case_row(db, number)
    assert row.revision == 2  # started, then exactly one completion
    with db.reading() as session:
        data = load_case(session, db.runtime, number).case.data
        requests = list(session.scalars(select(CompletionRequest.user)))
    assert data["accept_application"]["remarks"] == f"accepted by {winners[0]}"
    assert requests == [winners[0]]
    completions = [e for e in events(db, number) if e.task_id == task.id and e.lifecycle == "completed"]
    assert [e.user for e in completions] == [winners[0]]
    assert "site_survey" in {t.element_id for t in open_tasks(db, number)}


def test_saving_a_stale_copy_of_a_case_is_a_conflict(db: Db) -> None:
    """The revision check behind the row lock: a writer holding an old copy cannot overwrite a newer state."""
    number = start(db)
    with db.transaction() as session:
        stale = load_case(session, db.runtime, number)
    complete(db, number, "accept_application", user="am.1")
    before = case_row(db, number).revision
    with pytest.raises(ConflictError, match="changed by someone else"), db.transaction() as session:
        stale.row = session.get(CaseRow, stale.row.id)  # the current row; the stale state and revision stay
        save_case(session, db.runtime, stale)
    assert case_row(db, number).revision == before


def test_completing_a_task_that_is_gone_is_a_conflict(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    complete(db, number, "accept_application", user="am.1")
    with pytest.raises(ConflictError, match="am.1"), db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, {}, "am.2", "another-request")
    with pytest.raises(NotFoundError), db.transaction() as session:
        services.complete_task(session, db.runtime, str(uuid.uuid4()), {}, "am.2", "third-request")


# -- messages and case status ------------------------------------------------------------------------------------


def test_a_message_the_case_does_not_wait_for_is_refused(db: Db) -> None:
    number = start(db)
    before = snapshot(db, number)
    with pytest.raises(CaseError, match="payment_confirmed") as raised, db.transaction() as session:
        services.send_message(session, db.runtime, number, "payment_confirmed", {"amount": 1})
    assert str(raised.value) == f"case {number} is not waiting for message 'payment_confirmed'; " \
                                "it waits for no message now"
    with pytest.raises(CaseError) as unknown, db.transaction() as session:
        services.send_message(session, db.runtime, number, "no_such_msg", {})
    assert str(unknown.value).startswith(f"the process of case {number} has no message 'no_such_msg' (its messages: ")
    assert "payment_confirmed" in str(unknown.value) and "meter_online" in str(unknown.value)
    assert snapshot(db, number) == before
    with pytest.raises(NotFoundError), db.transaction() as session:
        services.send_message(session, db.runtime, "YK-NO-SUCH-CASE", "payment_confirmed", {})


def test_a_suspended_case_keeps_its_tasks_but_takes_no_work_until_resumed(db: Db) -> None:
    number = start(db)
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "suspended", "supervisor.1")
    assert case_row(db, number).status == "suspended"
    before = snapshot(db, number)
    assert [task for task, _ in before[3]] == [open_task(db, number, "accept_application").id]
    with pytest.raises(CaseError, match="suspended"):
        complete(db, number, "accept_application", user="am.1")
    with pytest.raises(CaseError, match="suspended"), db.transaction() as session:
        services.send_message(session, db.runtime, number, "payment_confirmed", {})
    with pytest.raises(CaseError), db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "suspended", "supervisor.1")
    assert snapshot(db, number) == before

    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "running", "supervisor.1")
    assert case_row(db, number).status == "running"
    complete(db, number, "accept_application", user="am.1")
    assert "site_survey" in {t.element_id for t in open_tasks(db, number)}
    assert [e.lifecycle for e in events(db, number) if e.element_id == "case"] == ["suspended", "running"]


def test_a_cancelled_case_ends_for_good(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    row = case_row(db, number)
    assert db.count(Job, Job.case_id == row.id, Job.status == "pending") > 0  # the acceptance time limit
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "cancelled", "supervisor.1")
    assert case_row(db, number).status == "cancelled"
    assert open_tasks(db, number) == []
    assert db.count(Job, Job.case_id == row.id, Job.status == "pending") == 0
    assert events(db, number)[-1].lifecycle == "cancelled" and events(db, number)[-1].user == "supervisor.1"
    for status in ("running", "suspended", "cancelled"):
        with pytest.raises(CaseError, match="cancelled"), db.transaction() as session:
            services.set_case_status(session, db.runtime, number, status, "supervisor.1")
    with pytest.raises(CaseError, match=f"case {number} is cancelled: task {task.id} is no longer open"), \
            db.transaction() as session:  # says why (the API: 409 case_state), not only "no longer open"
        services.complete_task(session, db.runtime, task.id, {}, "am.1", "late")
    with db.transaction() as session:  # the stored state still loads
        assert load_case(session, db.runtime, number).case.ready_tasks() == []


def test_the_tasks_of_a_suspended_or_cancelled_case_cannot_be_claimed_released_or_assigned(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    with db.transaction() as session:
        services.claim_task(session, task.id, "am.1", AM)
        services.set_case_status(session, db.runtime, number, "suspended", "supervisor.1")
    before = snapshot(db, number)
    refusals: list[tuple[str, Any]] = [
        ("claimed", lambda session: services.claim_task(session, task.id, "am.1", AM)),
        ("claimed", lambda session: services.claim_task(session, task.id, "am.2", AM)),
        ("unclaimed", lambda session: services.unclaim_task(session, task.id, "am.1")),
        ("assigned", lambda session: services.assign_task(session, task.id, "am.3", by="supervisor.1"))]
    for verb, refused in refusals:
        with pytest.raises(ConflictError) as raised, db.transaction() as session:
            refused(session)
        assert str(raised.value) == f"case {number} is suspended: task {task.id} cannot be {verb}"
    assert snapshot(db, number) == before  # no started, unclaimed or assigned event either

    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "cancelled", "supervisor.1")
    for verb, refused in refusals:  # its tasks are closed now: still a conflict, not an unknown task
        with pytest.raises(ConflictError) as raised, db.transaction() as session:
            refused(session)
        assert str(raised.value) == f"case {number} is cancelled: task {task.id} cannot be {verb}"


def _lock_waiters(db: Db) -> int:
    with db.engine.connect() as connection:
        return int(connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
            or 0)


def test_a_claim_waiting_for_a_suspension_is_refused(db: Db) -> None:
    """A claim that comes while the case is being suspended waits for it (PostgreSQL: the share lock on the case
    row, seen waiting before the suspension commits; SQLite: BEGIN IMMEDIATE), then sees the suspension."""
    number = start(db)
    task = open_task(db, number, "accept_application")
    suspending = threading.Event()

    def suspend() -> None:
        with db.transaction() as session:
            services.set_case_status(session, db.runtime, number, "suspended", "supervisor.1")
            session.flush()
            suspending.set()
            give_up = time.monotonic() + 30  # only keeps a broken test from hanging
            while db.kind == "postgresql" and _lock_waiters(db) < 1 and time.monotonic() < give_up:
                time.sleep(0.02)

    def claim() -> None:
        assert suspending.wait(30)
        with db.transaction() as session:
            services.claim_task(session, task.id, "am.1", AM)

    results = run_together(2, lambda i: (suspend, claim)[i]())
    assert results[0] is None and isinstance(results[1], ConflictError), results
    assert str(results[1]) == f"case {number} is suspended: task {task.id} cannot be claimed"
    assert [e.lifecycle for e in events(db, number) if e.task_id == task.id] == ["enabled"]
    assert open_task(db, number, "accept_application").assignee is None


def test_claims_only_touch_the_open_task_row(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    revision = case_row(db, number).revision
    with db.transaction() as session:
        services.claim_task(session, task.id, "am.1", AM)
        services.set_follow_up(session, task.id, db.clock.now() + timedelta(days=1))
    assert case_row(db, number).revision == revision
    claimed = open_task(db, number, "accept_application")
    assert (claimed.assignee, claimed.follow_up_at) == ("am.1", db.clock.now() + timedelta(days=1))


def test_a_claimed_task_is_started_once_unclaimed_ones_start_at_completion(db: Db) -> None:
    claimed, unclaimed = start(db, "lv_other"), start(db, "lv_other")
    task = open_task(db, claimed, "accept_application")
    with db.transaction() as session:
        services.claim_task(session, task.id, "am.1", AM)
    complete(db, claimed, "accept_application", user="am.1")
    complete(db, unclaimed, "accept_application", user="am.1")
    for number in (claimed, unclaimed):
        lifecycles = [e.lifecycle for e in events(db, number) if e.element_id == "accept_application"]
        assert lifecycles == ["enabled", "started", "completed"], (number, lifecycles)


def test_a_task_opening_after_its_stages_deadline_passed_is_due_at_that_deadline(db: Db) -> None:
    number = start(db, "lv_other")
    advance_to(db, number, "draft_plan")  # inside the plan stage, whose reply deadline is timer_plan_reply
    due = open_task(db, number, "draft_plan").due_at
    assert due is not None
    db.clock.advance(timedelta(days=90))
    assert fire_due_timers(db, number) >= 1  # the stage's deadline passed: 督办 starts, the stage goes on
    complete(db, number, "draft_plan")
    assert open_task(db, number, "review_plan").due_at == due  # overdue since then, not "no limit"


def test_the_escalation_says_which_step_is_late_since_when_and_whose_it_is(db: Db) -> None:
    number = start(db, "lv_other")
    db.clock.advance(timedelta(days=10))  # past the acceptance deadline; nobody accepted
    assert fire_due_timers(db, number) >= 1
    task = open_task(db, number, "supervise_breach")
    with db.reading() as session:
        text = services.task_form(session, db.runtime, task.id).documentation
    assert text is not None and "{{" not in text
    assert text.startswith("环节「业务受理」已超出时限：时限 ") and "责任岗位 客户经理。" in text
    assert re.search(r"到期时间 \d{4}-\d{2}-\d{2} \d{2}:\d{2}，", text), text  # local time, no seconds or offset


def test_instructions_render_data_leave_missing_values_empty_and_keep_broken_templates() -> None:
    breach = {"breach": {"deadline": "2026-12-01"}}
    assert render_instructions("到期 {{ breach.deadline }}", breach) == "到期 2026-12-01"
    assert render_instructions("到期 {{ breach.deadline }}。", {}) == "到期 。"
    assert render_instructions("{{ breach.__class__.__mro__ }}", {"breach": {}}) == ""  # sandboxed: nothing leaks
    assert render_instructions("坏模板 {{ ", {}) == "坏模板 {{ "
    assert render_instructions("普通说明", {"x": 1}) == "普通说明"


def test_instructions_show_times_in_shanghai_minutes_and_roles_by_name() -> None:
    def show(template: str, value: object) -> str:
        return render_instructions(template, {"v": value})

    assert show("{{ v | local_time }}", "2026-12-08T23:59:59+08:00") == "2026-12-08 23:59"
    assert show("{{ v | local_time }}", "2026-12-08T15:59:59+00:00") == "2026-12-08 23:59"  # converted to Shanghai
    assert show("{{ v | local_time }}", "2026-12-08T09:30:00") == "2026-12-08 09:30"  # naive: Shanghai time
    assert show("{{ v | local_time }}", datetime(2026, 12, 8, 1, 0, tzinfo=UTC)) == "2026-12-08 09:00"
    assert show("{{ v | local_time }}", "2026-12-08") == "2026-12-08"  # a date alone: as it is
    assert show("{{ v | local_time }}", "尽快") == "尽快"
    assert show("{{ v | local_time }}", 3) == "3"
    assert render_instructions("[{{ missing | local_time }}]", {}) == "[]"
    assert show("{{ v | role_name }}", "inspector") == "检验人员"
    assert show("{{ v | role_name }}", "account_manager") == "客户经理"
    assert show("{{ v | role_name }}", "night_watch") == "night_watch"  # unknown: as it is
    assert render_instructions("[{{ missing | role_name }}]", {}) == "[]"
