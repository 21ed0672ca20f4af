"""Domain fixes in the process model (DOMAIN.md): the high-reliability fee on the contracted capacity, acceptance
only with the materials or by 一证受理, the 回访 clock from archiving, plan extensions asked in time, no 三零 route for
important customers or special loads, and a rectification that is dated and escalated when it did not help."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runner.forms import FormValidationError, validate_form_data
from runner.instructions import render_instructions
from runner.process_folder import ProcessBundle
from runner.trial import TrialDriver, TrialError, TrialOptions, TrialResult
from runner.workdays import WorkingCalendar
from tests.db import complete, open_task, start
from tests.trials import trial
from tests.webui_helpers import Web, task_of, text_of, web_fixture  # noqa: F401

NO_PROOF = {"has_property_proof": False, "provided_materials": ["identity", "business_licence"]}
ACCEPT = {"decision": "accept", "one_certificate": False, "commitment_signed": False}
ONE_CERTIFICATE = {"decision": "accept", "one_certificate": True, "commitment_signed": True}
DISSATISFIED = {"reached": True, "satisfaction": "dissatisfied", "issues": ["timeliness"], "comments": "装表太慢"}


def among(result: TrialResult, *elements: str) -> list[str]:
    return [element for element in result.visited if element in elements]


# -- 1. 高可靠性供电费 on the contracted capacity -----------------------------------------------------------------


def test_the_high_reliability_fee_is_charged_on_the_transformer_rating_not_the_computed_load(
        bundle: ProcessBundle) -> None:
    # the plan keeps the suggested rating and grants the dual supply: the fee follows the approved plan (decisions
    # 84, 103)
    _, result = trial(bundle, "hv_ordinary", dual_supply=True,
                      answers={"draft_plan": {"transformer_kva": 1000, "supply_points": 2}})
    capacity, fees = result.summary["capacity"], result.summary["fees"]
    assert capacity["transformer_kva"] == 1000 and capacity["apparent_kva"] < 1000
    assert fees["items"][0]["amount"] == 200 * 1000 == fees["total"]
    assert fees["items"][0]["basis"] == "200 元/kVA × 1000 kVA"


# -- 2. acceptance with materials missing ------------------------------------------------------------------------


# The form refuses such a 受理 first (x-completion-checks: tests/test_completion_checks.py); the flow keeps the rule
# too (gw_acceptance_ok), tried here without the form's check (``unchecked_bundle``).


def test_an_acceptance_without_property_proof_and_commitment_is_refused_and_one_certificate_follows_up_the_proof(
        unchecked_bundle: ProcessBundle) -> None:
    driver, result = trial(unchecked_bundle, "lv_other", NO_PROOF,
                           answers={"accept_application": [ACCEPT, ONE_CERTIFICATE]})
    assert among(result, "accept_application", "refuse_acceptance", "submit_property_proof",
                 "verify_property_proof", "archive_documents") == [
        "accept_application", "refuse_acceptance", "accept_application", "submit_property_proof",
        "verify_property_proof", "archive_documents"]
    refusal = driver.case.data["acceptance_refusal"]
    assert refusal["missing"] == ["用电地址产权证明"] and refusal["one_certificate_possible"] is True
    timeline = result.summary["timeline"]
    assert timeline["accepted"] > refusal["refused_at"]  # the refused 受理 was no acceptance


def test_one_certificate_does_not_cover_other_missing_materials(unchecked_bundle: ProcessBundle) -> None:
    need_more = {"decision": "need_more", "missing_materials": ["business_licence"]}
    _, result = trial(unchecked_bundle, "lv_other", {"provided_materials": ["identity", "property_proof"]},
                      answers={"accept_application": [ONE_CERTIFICATE, need_more, ACCEPT],
                               "supply_materials": {"provided_materials": ["business_licence"]}})
    assert among(result, "accept_application", "refuse_acceptance", "supply_materials", "submit_property_proof") == [
        "accept_application", "refuse_acceptance", "accept_application", "supply_materials", "accept_application"]


def test_the_reopened_acceptance_says_what_is_missing(unchecked_bundle: ProcessBundle) -> None:
    driver = TrialDriver(unchecked_bundle, TrialOptions(category="lv_other", answers={"accept_application": ACCEPT}))
    driver.start_data["application"] = {**driver.start_data["application"], **NO_PROOF}
    driver.case.start(driver.start_data)
    task = driver.case.ready_tasks()[0]
    first = render_instructions(task.documentation or "", driver.case.data)
    assert "未被接受" not in first
    driver.answer(task)
    again = driver.case.ready_tasks()[0]
    assert again.element_id == "accept_application" and again.id != task.id
    text = render_instructions(again.documentation or "", driver.case.data)
    assert "上次提交的“受理”未被接受：尚缺用电地址产权证明" in text and "一证受理" in text


def test_staff_see_the_refusal_on_the_form_itself(web: Web) -> None:
    number = start(web.db, "lv_other", **NO_PROOF)
    task = task_of(web.db, number, "accept_application")
    manager = web.client("account_manager")
    html = manager.get(f"/tasks/{task}").get_data(as_text=True)
    found = re.search(r'name="request_id" value="([0-9a-f]{32})"', html)
    assert found
    refused = manager.post(f"/tasks/{task}", {"request_id": found[1], "decision": "accept", "one_certificate": "false",
                                              "commitment_signed": "false", "contract_signed": "false"})
    assert refused.status_code == 400, text_of(refused)  # as any refused answer on the web form
    assert "资料不全，不能受理" in text_of(refused) and "尚缺：用电地址产权证明" in text_of(refused)
    assert task_of(web.db, number, "accept_application") == task  # nothing happened: the same task is open
    complete(web.db, number, "accept_application", ONE_CERTIFICATE | {"contract_signed": False},
             user="account_manager.1")
    assert open_task(web.db, number, "submit_property_proof").lane == "customer"


# -- 4. the 回访 clock starts when the follow-up can ---------------------------------------------------------------


def test_archiving_within_its_limit_does_not_make_the_followup_late(bundle: ProcessBundle) -> None:
    driver, result = trial(bundle, "hv_ordinary", delays={"archive_documents": 120})
    timeline, limits = result.summary["timeline"], result.summary["limits"]
    calendar = WorkingCalendar.default()
    assert calendar.working_days_between(timeline["energized"], timeline["archived"]) > limits["followup"]
    assert "escalate_archive" not in result.visited  # archiving was on time ...
    assert "escalate_followup" not in result.visited  # ... so the follow-up, which starts after it, is too
    assert not [m for m in driver.outbox.messages if m.get("template") == "sla_breach"]


# -- 5. plan extensions asked at least 10 days before expiry -------------------------------------------------------

LATE_PLAN = {"report_completion": 24 * 400}


@pytest.mark.parametrize(("requested_on", "granted"), [("2027-11-27", False), ("2027-11-17", False),
                                                       ("2027-11-16", True)])
def test_an_extension_is_granted_only_when_asked_ten_days_before_expiry(
        bundle: ProcessBundle, requested_on: str, granted: bool) -> None:
    driver, result = trial(bundle, "hv_ordinary", delays=LATE_PLAN, answers={
        "handle_plan_expiry": {"decision": "renew", "extension_requested_on": requested_on}})
    extension = driver.case.data["plan_extension"]
    assert extension["latest"] == "2027-11-16" and extension["granted"] is granted
    assert ("end_plan_expired" in result.visited) is not granted
    assert result.summary["plan_expires_at"].startswith("2028-11-26" if granted else "2027-11-26")


def test_renewing_needs_the_date_of_the_request(bundle: ProcessBundle) -> None:
    schema = bundle.form("handle_plan_expiry.schema.json")
    with pytest.raises(FormValidationError):
        validate_form_data(schema, {"decision": "renew"})
    validate_form_data(schema, {"decision": "renew", "extension_requested_on": "2027-11-01"})
    validate_form_data(schema, {"decision": "terminate", "reason": "客户放弃"})


# -- 7. important small/micro customers do not get the 三零 route --------------------------------------------------


@pytest.mark.parametrize("flag", ["important_customer", "special_load"])
def test_an_important_or_special_small_micro_customer_gets_design_review_and_interim_check(
        bundle: ProcessBundle, flag: str) -> None:
    materials = ["identity", "property_proof", "business_licence", "government_approval"]
    _, result = trial(bundle, "lv_smallmicro", {flag: True, "provided_materials": materials},
                      answers={"accept_application": {"contract_signed": False}})
    assert result.summary["category"] == "lv_other"
    route = result.summary["route"]
    assert route["design_review"] and route["interim_check"] and route["survey"] and not route["grid_works"]
    assert {"site_survey", "review_design", "interim_check", "completion_check"} <= set(result.visited)
    assert ("government_approval" in result.summary["materials"]["required"]) is (flag == "important_customer")


# -- 9. rectification: a deadline not in the past, and escalation when it did not help ------------------------------


def test_a_past_rectification_deadline_is_refused_on_the_form(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="lv_residential",
                                              answers={"followup_call": DISSATISFIED,
                                                       "assign_rectification": {"deadline": "2020-01-01"}}))
    with pytest.raises(TrialError, match="deadline: 整改期限不得早于今天"):
        driver.run()
    assert [task.element_id for task in driver.case.ready_tasks()] == ["assign_rectification"]  # still to do


def test_a_past_rectification_deadline_is_sent_back_by_the_flow_too(unchecked_bundle: ProcessBundle) -> None:
    deadlines = [{"deadline": "2020-01-01"}, {"deadline": "2026-12-31"}]
    driver, result = trial(unchecked_bundle, "lv_residential", answers={"followup_call": DISSATISFIED,
                                                              "assign_rectification": deadlines})
    assert among(result, "assign_rectification", "perform_rectification", "notify_rectification_overdue") == [
        "assign_rectification", "assign_rectification", "perform_rectification"]
    assert driver.case.data["followup"]["rectification_deadline"] == "2026-12-31"


@pytest.mark.parametrize(("second", "rectified", "escalated"), [
    ({"reached": True, "satisfaction": "dissatisfied", "issues": ["attitude"], "comments": "仍未解决"}, True, True),
    ({"reached": True, "satisfaction": "basically_satisfied"}, False, True),
    ({"reached": True, "satisfaction": "satisfied"}, True, False),
])
def test_a_customer_still_dissatisfied_or_not_rectified_goes_to_the_supervisor(
        bundle: ProcessBundle, second: dict[str, Any], rectified: bool, escalated: bool) -> None:
    perform = {"rectified": True} if rectified else {"rectified": False, "reason": "需更换表箱，物资未到"}
    _, result = trial(bundle, "lv_residential", answers={
        "followup_call": DISSATISFIED, "perform_rectification": perform, "second_followup": second})
    assert ("handle_dissatisfaction" in result.visited) is escalated
    followup = result.summary["followup"]
    assert followup.get("escalated", False) is escalated
    if escalated:
        assert followup["escalation_outcome"] == "resolved"
