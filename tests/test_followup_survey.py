"""回访 through two channels at once: the customer's own survey on the portal races the follow-up agent's call.

Whichever answers first ends the stage ``collect_feedback`` (a terminate end event inside it) and the other task is
withdrawn; a silent customer holds nothing up, because the agent's call is open from the same moment. The follow-up
time limit and its reminder sit on the stage, so a customer's answer meets the limit too, and a 督办 started by a
breach outlives the stage.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from runner import drafts, portal, services
from runner.cli import main
from runner.clock import parse_iso
from runner.models import Job
from runner.process_folder import ProcessBundle
from runner.store import ConflictError
from runner.trial import TrialDriver, TrialOptions
from tests.conftest import PROCESSES
from tests.db import CaseDriver, Db, case_row, complete, events, fire_due_timers, open_task, open_tasks, visited
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Web, start_case, task_of, text_of, web_fixture  # noqa: F401

DISSATISFIED = {"satisfaction": "dissatisfied", "issues": ["timeliness", "information"],
                "comments": "装表等了一周，没人通知"}


def run(bundle: ProcessBundle, **options: Any) -> TrialDriver:
    driver = TrialDriver(bundle, TrialOptions(category="lv_residential", **options))
    result = driver.run()
    assert result.completed, result.visited[-10:]
    return driver


# -- the model, in memory ------------------------------------------------------------------------------------------


def test_by_default_the_agent_calls_and_the_survey_is_withdrawn(bundle: ProcessBundle) -> None:
    driver = run(bundle)
    assert "followup_call" in driver.case.visited and "customer_survey" not in driver.case.visited
    assert driver.case.data["followup"]["channel"] == "agent"
    assert any(m["template"] == "followup_survey" and m["to_role"] == "customer" for m in driver.outbox.messages)


def test_a_customer_who_answers_first_ends_the_stage_without_a_call(bundle: ProcessBundle) -> None:
    driver = run(bundle, first=("customer_survey",))
    assert "customer_survey" in driver.case.visited and "followup_call" not in driver.case.visited
    followup = driver.case.data["followup"]
    assert followup["channel"] == "customer" and followup["satisfaction"] == "satisfied"
    assert followup["needs_rectification"] is False


def test_a_dissatisfied_customer_answer_starts_rectification_and_a_second_call(bundle: ProcessBundle) -> None:
    driver = run(bundle, first=("customer_survey",), answers={"customer_survey": DISSATISFIED})
    order = driver.case.visited
    assert {"assign_rectification", "perform_rectification", "second_followup"} <= set(order)
    assert order.index("customer_survey") < order.index("assign_rectification")
    assert driver.case.data["followup"]["needs_rectification"] is True
    assert driver.case.data["customer_survey"]["issues"] == ["timeliness", "information"]


def test_the_time_limit_is_on_the_stage_and_its_breach_outlives_it(bundle: ProcessBundle) -> None:
    """Nobody answers for a week: the 督办 starts, then the call ends the stage and the 督办 is still done."""
    driver = run(bundle, delays={"followup_call": 24 * 7.0})
    order = driver.case.visited
    assert "escalate_followup" in order and "notify_followup_reminder" in order
    assert order.index("supervise_breach") > order.index("followup_call")  # answered after the stage had ended


# -- durable: open tasks, deadlines, timer jobs ---------------------------------------------------------------------


def _at_feedback(db: Db, category: str = "lv_residential") -> str:
    """A new case driven (clock standing still, messages delivered) until both 回访 tasks are open."""
    number = start_case(db, category)
    driver = CaseDriver(db, number, hours_per_task=0.0)
    for _ in range(200):
        if "followup_call" in {task.element_id for task in open_tasks(db, number)}:
            return number
        assert driver.step(), visited(db, number)[-5:]
    raise AssertionError(f"{number} never reached 回访")


def test_both_tasks_open_with_the_stage_deadline_not_the_reminder(db: Db) -> None:
    number = _at_feedback(db)
    call, survey = open_task(db, number, "followup_call"), open_task(db, number, "customer_survey")
    assert call.lane == "followup_agent" and survey.lane == "customer"
    with db.reading() as session:
        jobs = {job.element_id: job for job in session.scalars(select(Job).where(
            Job.kind == "timer", Job.status == "pending", Job.case_id == case_row(db, number).id))}
    assert {"timer_followup", "timer_followup_reminder"} <= set(jobs)
    assert jobs["timer_followup_reminder"].due_at < jobs["timer_followup"].due_at
    assert call.due_at == jobs["timer_followup"].due_at
    assert survey.due_at is None  # the utility's limit does not bind the customer
    enabled = [e for e in events(db, number) if e.element_id == "followup_call" and e.lifecycle == "enabled"]
    assert parse_iso(str(enabled[-1].data["due_at"])) == jobs["timer_followup"].due_at


def test_the_customer_answer_withdraws_the_call_and_its_timers(db: Db) -> None:
    number = _at_feedback(db)
    call_id = open_task(db, number, "followup_call").id
    with db.transaction() as session:  # the agent had begun typing the call's result
        drafts.save_draft(session, call_id, "followup_agent.1", {"comments": "客户未接"}, db.clock.now())
    complete(db, number, "customer_survey", DISSATISFIED, user=portal.customer_user(number))
    assert all(task.element_id not in ("followup_call", "customer_survey") for task in open_tasks(db, number))
    assert open_task(db, number, "assign_rectification").lane == "supervisor"
    cancelled = [e for e in events(db, number) if e.element_id == "followup_call" and e.lifecycle == "cancelled"]
    assert len(cancelled) == 1
    with db.reading() as session:
        stage_jobs = session.scalars(select(Job).where(
            Job.case_id == case_row(db, number).id,
            Job.element_id.in_(["timer_followup", "timer_followup_reminder"]))).all()
    assert stage_jobs and {job.status for job in stage_jobs} == {"cancelled"}
    with db.reading() as session:
        assert drafts.load_draft(session, call_id, "followup_agent.1") is None  # the withdrawn task's draft went
    with db.transaction() as session, pytest.raises(ConflictError):  # the agent was a moment too late
        services.complete_task(session, db.runtime, call_id, {"contact_method": "phone", "reached": True,
                                                              "satisfaction": "satisfied"},
                               "followup_agent.1", uuid.uuid4().hex)
    assert "followup_call" not in visited(db, number)


def test_a_silent_customer_holds_nothing_up(db: Db) -> None:
    number = _at_feedback(db)
    complete(db, number, "followup_call", user="followup_agent.1")
    assert case_row(db, number).status == "completed"
    assert [e.lifecycle for e in events(db, number) if e.element_id == "customer_survey"] == ["enabled", "cancelled"]


def test_a_breach_before_anyone_answers_is_escalated_and_survives_the_answer(db: Db) -> None:
    number = _at_feedback(db)
    deadline = open_task(db, number, "followup_call").due_at
    assert deadline is not None
    db.clock.advance_to(deadline + timedelta(seconds=1))
    assert fire_due_timers(db, number) >= 1
    breach = open_task(db, number, "supervise_breach")
    complete(db, number, "customer_survey", user=portal.customer_user(number))
    assert open_task(db, number, "supervise_breach").id == breach.id  # the 督办 goes on after the stage ended
    assert case_row(db, number).status == "running"
    complete(db, number, "supervise_breach", user="supervisor.1")
    assert case_row(db, number).status == "completed"


# -- the portal ------------------------------------------------------------------------------------------------------


def test_the_customer_answers_the_survey_on_the_portal(web: Web) -> None:
    number = _at_feedback(web.db)
    give_code(web.db, number)
    task = task_of(web.db, number, "customer_survey")
    client = signed_in(web, number)
    progress = client.get("/portal/case")
    assert "回访评价" in text_of(progress) and "前办理" not in text_of(progress)  # no deadline for the customer
    assert f"/portal/case/tasks/{task}" in progress.get_data(as_text=True)
    form = client.get(f"/portal/case/tasks/{task}")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and 'name="satisfaction"' in html and "不满意的方面" in html
    request_id = re.search(r'name="request_id" value="([0-9a-f]{32})"', html)
    assert request_id
    refused = client.post(f"/portal/case/tasks/{task}", {"satisfaction": "dissatisfied",
                                                         "request_id": uuid.uuid4().hex})
    assert refused.status_code == 400 and "提交未成功" in text_of(refused)  # dissatisfied needs what and why
    assert task_of(web.db, number, "customer_survey") == task
    answered = client.post(f"/portal/case/tasks/{task}", MultiDict([
        ("satisfaction", "dissatisfied"), ("issues", "timeliness"), ("issues", "information"),
        ("comments", DISSATISFIED["comments"]), ("request_id", request_id[1])]))
    assert answered.status_code == 302, text_of(answered)
    done = [e for e in events(web.db, number) if e.element_id == "customer_survey" and e.lifecycle == "completed"]
    assert [e.user for e in done] == [portal.customer_user(number)]
    assert "followup_call" not in {t.element_id for t in open_tasks(web.db, number)}
    assert "assign_rectification" in {t.element_id for t in open_tasks(web.db, number)}
    again = client.get(f"/portal/case/tasks/{task}")
    assert again.status_code == 404  # answered once; the link is no longer open


def test_try_first_lets_the_customer_answer_before_the_call() -> None:
    result = CliRunner().invoke(main, ["try", "--category", "lv_residential", "--first", "customer_survey",
                                       "--processes", str(PROCESSES)])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert "customer_survey" in outcome["visited"] and "followup_call" not in outcome["visited"]
    assert outcome["summary"]["followup"]["channel"] == "customer"
