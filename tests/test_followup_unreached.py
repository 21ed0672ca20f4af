"""回访 that does not reach the customer: no rating is recorded, the agent calls again the next working day (at most
3 calls), and the customer's own survey stays open meanwhile; after the third unreached call the follow-up closes
as 未能联系 — neither satisfied nor dissatisfied, no rectification. The second call after a rectification works alike.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from handlers.common import SHANGHAI
from runner import portal
from runner.case import HumanTask
from runner.decisions import evaluate, load_decisions
from runner.forms import FormValidationError, validate_form_data
from runner.models import Job
from runner.process_folder import ProcessBundle
from runner.trial import TrialDriver, TrialOptions
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES
from tests.db import case_row, complete, events, fire_due_timers, open_task, open_tasks
from tests.test_followup_survey import DISSATISFIED, _at_feedback
from tests.webui_helpers import Web, task_of, text_of, web_fixture  # noqa: F401

UNREACHED = {"contact_method": "phone", "reached": False, "comments": "客户电话无人接听"}
REACHED = {"contact_method": "phone", "reached": True, "satisfaction": "satisfied"}


class ExplicitDriver(TrialDriver):
    """A trial that notes when each task is taken up; the customer never answers the portal survey (``unanswered``:
    the trial would otherwise answer it as soon as it is the only task)."""

    answered_at: dict[str, list[datetime]]

    def answer(self, task: HumanTask) -> None:
        """Note when each task is taken up (the moment it became ready, or the clock of the step before)."""
        if not hasattr(self, "answered_at"):
            self.answered_at = {}
        self.answered_at.setdefault(task.element_id, []).append(self.clock.now())
        super().answer(task)


def run(bundle: ProcessBundle, answers: dict[str, Any], **options: Any) -> ExplicitDriver:
    options.setdefault("unanswered", ("customer_survey",))
    driver = ExplicitDriver(bundle, TrialOptions(category="lv_residential", answers=answers, **options))
    result = driver.run()
    assert result.completed, result.visited[-10:]
    return driver


# -- the forms -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["followup_call", "second_followup"])
def test_an_unreached_customer_gives_no_rating_and_a_reached_one_must(bundle: ProcessBundle, form: str) -> None:
    schema = bundle.form(f"{form}.schema.json")
    validate_form_data(schema, UNREACHED)
    validate_form_data(schema, REACHED)
    with pytest.raises(FormValidationError) as rated:
        validate_form_data(schema, {**UNREACHED, "satisfaction": "satisfied"})
    assert [path for path, _ in rated.value.errors] == ["satisfaction"]
    with pytest.raises(FormValidationError) as issues:
        validate_form_data(schema, {**UNREACHED, "issues": ["timeliness"]})
    assert [path for path, _ in issues.value.errors] == ["issues"]
    with pytest.raises(FormValidationError) as unrated:
        validate_form_data(schema, {"contact_method": "phone", "reached": True})
    assert unrated.value.errors == [("satisfaction", "'satisfaction' is a required property")]


def test_the_outcome_table_rates_no_unreached_customer() -> None:
    engines = load_decisions(PROCESSES)
    unreached = evaluate(engines["followup_outcome"], {"followup": {"channel": "agent", "reached": False,
                                                                     "satisfaction": None}})
    assert unreached.matched_rules == ["rule_4"] and unreached.outputs == {"needs_rectification": False}
    answered = evaluate(engines["followup_outcome"], {"followup": {"channel": "agent", "reached": True,
                                                                    "satisfaction": "dissatisfied"}})
    assert answered.outputs == {"needs_rectification": True}


# -- the model, in memory --------------------------------------------------------------------------------------------


def test_an_unreached_call_is_tried_again_the_next_working_day(bundle: ProcessBundle) -> None:
    driver = run(bundle, {"followup_call": [UNREACHED, REACHED]})
    order = driver.case.visited
    assert order.count("followup_call") == 2 and order.count("timer_call_retry") == 1
    assert "end_call_unreached" not in order
    followup = driver.case.data["followup"]
    assert followup["channel"] == "agent" and followup["reached"] is True and followup["satisfaction"] == "satisfied"
    assert followup["attempts"] == 2
    first, retry = (moment.astimezone(SHANGHAI) for moment in driver.answered_at["followup_call"])
    first_done = first + timedelta(hours=driver.options.hours_per_task)
    calendar = WorkingCalendar.default()
    assert retry.date() == calendar.add_working_days(first_done.date(), 1)  # the next working day …
    assert retry.strftime("%H:%M") == "09:00"  # … when the office is open (the timer fired a second before)


def test_three_unreached_calls_close_the_follow_up_as_unreached(bundle: ProcessBundle) -> None:
    driver = run(bundle, {"followup_call": [UNREACHED]})
    order = driver.case.visited
    assert order.count("followup_call") == 3 and order.count("timer_call_retry") == 2
    assert "end_call_unreached" in order and "end_call_done" not in order
    assert "customer_survey" not in order  # withdrawn when the stage closed
    assert "assign_rectification" not in order
    followup = driver.case.data["followup"]
    assert followup["reached"] is False and followup["satisfaction"] is None and followup["attempts"] == 3
    assert followup["needs_rectification"] is False


def test_the_customer_survey_stays_open_while_the_agent_retries(bundle: ProcessBundle) -> None:
    driver = ExplicitDriver(bundle, TrialOptions(category="lv_residential",
                                                 answers={"followup_call": [UNREACHED]}))
    driver.case.start(driver.start_data)
    for _ in range(500):
        ready = {task.element_id for task in driver.case.ready_tasks()}
        if "followup_call" in ready:
            break
        assert driver.step()
    driver.answer(next(t for t in driver.case.ready_tasks() if t.element_id == "followup_call"))
    assert {task.element_id for task in driver.case.ready_tasks()} == {"customer_survey"}
    assert [timer.element_id for timer in driver.case.pending_timers()
            if timer.element_id == "timer_call_retry"] == ["timer_call_retry"]
    survey = next(t for t in driver.case.ready_tasks() if t.element_id == "customer_survey")
    driver.case.complete_task(survey.id, DISSATISFIED, portal.customer_user("x"))
    assert "timer_call_retry" not in {timer.element_id for timer in driver.case.pending_timers()}
    assert driver.case.data["followup"]["channel"] == "customer"
    assert {task.element_id for task in driver.case.ready_tasks()} == {"assign_rectification"}


def test_an_unreached_second_call_is_tried_again_and_then_closed_as_unreached(bundle: ProcessBundle) -> None:
    dissatisfied = {"contact_method": "phone", "reached": True, **DISSATISFIED}
    driver = run(bundle, {"followup_call": [dissatisfied], "second_followup": [UNREACHED]})
    order = driver.case.visited
    assert order.count("second_followup") == 3 and order.count("timer_second_call_retry") == 2
    assert "end_second_call_unreached" in order and "escalate_second_followup" not in order
    followup = driver.case.data["followup"]
    assert followup["satisfaction"] == "dissatisfied" and followup["needs_rectification"] is True
    assert followup["second_reached"] is False and followup["second_satisfaction"] is None
    assert followup["second_attempts"] == 3

    driver = run(bundle, {"followup_call": [dissatisfied], "second_followup": [UNREACHED, REACHED]})
    assert driver.case.visited.count("second_followup") == 2
    assert "end_second_call_unreached" not in driver.case.visited
    followup = driver.case.data["followup"]
    assert followup["second_reached"] is True and followup["second_satisfaction"] == "satisfied"


# -- durable, through the web form -----------------------------------------------------------------------------------


def _request_id(html: str) -> str:
    found = re.search(r'name="request_id" value="([0-9a-f]{32})"', html)
    assert found, "no request id on the page"
    return found[1]


def test_the_agent_records_an_unreached_call_and_gets_the_call_again_next_working_day(web: Web) -> None:
    number = _at_feedback(web.db)
    call = task_of(web.db, number, "followup_call")
    agent = web.client("followup_agent")
    form = agent.get(f"/tasks/{call}")
    assert form.status_code == 200
    html = form.get_data(as_text=True)  # a rating can be taken back; whether the customer was reached cannot
    assert '<input type="radio" name="satisfaction" value="">' in html
    assert '<input type="radio" name="reached" value="">' not in html
    refused = agent.post(f"/tasks/{call}", {"request_id": _request_id(html),
                                            "contact_method": "phone", "reached": "false",
                                            "satisfaction": "satisfied"})
    assert refused.status_code == 400 and "与其他填写内容不一致" in text_of(refused)
    assert '<input type="radio" name="satisfaction" value="">' in refused.get_data(as_text=True)
    assert task_of(web.db, number, "followup_call") == call
    unrated = agent.post(f"/tasks/{call}", {"request_id": _request_id(refused.get_data(as_text=True)),
                                            "contact_method": "phone", "reached": "true"})
    assert unrated.status_code == 400 and "此项为必填项" in text_of(unrated)

    done = agent.post(f"/tasks/{call}", {"request_id": _request_id(unrated.get_data(as_text=True)),
                                         "contact_method": "phone", "reached": "false", "satisfaction": "",
                                         "comments": "客户电话关机"})  # the rating taken back: 不选
    assert done.status_code == 302, text_of(done)
    assert {task.element_id for task in open_tasks(web.db, number)} == {"customer_survey"}  # the survey stays open
    with web.db.reading() as session:
        retry = session.scalars(select(Job).where(Job.case_id == case_row(web.db, number).id, Job.kind == "timer",
                                                  Job.status == "pending", Job.element_id == "timer_call_retry")).one()
    due = retry.due_at
    assert isinstance(due, datetime) and due > web.db.clock.now()
    assert fire_due_timers(web.db, number) == 0  # not before the next working day
    web.db.clock.advance_to(due + timedelta(seconds=1))
    assert fire_due_timers(web.db, number) >= 1
    again = open_task(web.db, number, "followup_call")
    assert again.id != call and again.lane == "followup_agent"
    complete(web.db, number, "followup_call", dict(REACHED), user="followup_agent.1")
    assert case_row(web.db, number).status == "completed"
    assert [e.lifecycle for e in events(web.db, number) if e.element_id == "customer_survey"] == [
        "enabled", "cancelled"]
