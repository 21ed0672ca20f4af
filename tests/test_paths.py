"""A path test for every outcome of every gateway of every BPMN file, driven like SpiffWorkflow's own tests.

Each scenario runs one case in memory (real handlers, real DMN, virtual clock), saving and restoring the workflow
at every user task (the round trip must leave it equal), and checks from the engine's task tree that the gateway
took the expected outgoing flow. A meta-test fails when a gateway flow in the model has no scenario here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from runner.process_folder import ProcessBundle
from runner.trial import TrialOptions
from tests.conftest import PROCESSES
from tests.paths import RoundTripDriver, gateway_flows

YEAR_HOURS = 24 * 400.0


@dataclass(frozen=True)
class Scenario:
    category: str
    dual: bool = False
    answers: dict[str, Any] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    unanswered: tuple[str, ...] = ()
    application: dict[str, Any] = field(default_factory=dict)
    """Fields of the sample application replaced (e.g. a property proof missing)."""
    unchecked: bool = False
    """Run without the forms' completion checks (``unchecked_bundle``): an outcome the flow keeps as its own guard
    for answers a form's check refuses before they reach it."""


NO_PROOF = {"has_property_proof": False, "provided_materials": ["identity"]}
ONE_CERTIFICATE = {"accept_application": {"decision": "accept", "one_certificate": True, "commitment_signed": True}}

DISSATISFIED = {"followup_call": {"satisfaction": "dissatisfied", "issues": ["timeliness"], "comments": "装表人员迟到"}}
DUAL_PLAN = {"draft_plan": {"supply_points": 2}}  # the plan grants the dual supply applied for (decision 103)
PLAN_REFUSED_ONCE = {"sign_plan": [{"signed": False, "remarks": "方案有异议"}, {"signed": True}]}

# (gateway, target) -> a scenario that must take that outcome
SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("gw_acceptance", "gw_acceptance_ok"): Scenario("lv_residential"),
    ("gw_acceptance_ok", "gw_split_proof"): Scenario("lv_residential"),
    ("gw_acceptance_ok", "refuse_acceptance"): Scenario(
        "lv_residential", application=NO_PROOF, unchecked=True,
        answers={"accept_application": [{"decision": "accept"}, ONE_CERTIFICATE["accept_application"]]}),
    ("gw_acceptance", "supply_materials"): Scenario("lv_residential", answers={"accept_application": [
        {"decision": "need_more", "missing_materials": ["property_proof"], "remarks": "请补充产权证明"},
        {"decision": "accept"}]}),
    ("gw_acceptance", "notify_rejection"): Scenario("lv_residential", answers={"accept_application": {
        "decision": "reject", "reject_reason": "地址不在供电营业区内"}}),
    ("gw_need_proof", "gw_proof_loop"): Scenario("lv_residential", answers=ONE_CERTIFICATE, application=NO_PROOF),
    ("gw_need_proof", "gw_proof_done"): Scenario("lv_residential"),
    ("gw_proof_verified", "gw_proof_done"): Scenario("lv_residential", answers=ONE_CERTIFICATE, application=NO_PROOF),
    ("gw_proof_verified", "gw_proof_loop"): Scenario("lv_residential", application=NO_PROOF, answers={
        **ONE_CERTIFICATE, "verify_property_proof": [{"verified": False, "reason": "证明模糊，请重新上传"},
                                                     {"verified": True}]}),
    ("gw_survey", "gw_plan_loop"): Scenario("lv_other"),
    ("gw_plan_revision", "site_survey"): Scenario("lv_other"),
    ("gw_plan_revision", "gw_draft_merge"): Scenario("lv_other", answers=PLAN_REFUSED_ONCE),
    ("gw_plan_signed", "gw_plan_merge"): Scenario("lv_other"),
    ("gw_plan_signed", "gw_plan_loop"): Scenario("lv_other", answers=PLAN_REFUSED_ONCE),
    ("gw_survey", "assess_risk_direct"): Scenario("lv_residential"),
    ("gw_review", "gw_high_risk"): Scenario("lv_other"),
    ("gw_review", "gw_draft_merge"): Scenario("lv_other", answers={"review_plan": [
        {"decision": "revise", "comments": "补充负荷计算"}, {"decision": "approve"}]}),
    ("gw_high_risk", "approve_high_risk"): Scenario("hv_important"),
    ("gw_high_risk", "gw_plan_approved"): Scenario("lv_other"),
    ("gw_high_risk_decision", "gw_plan_approved"): Scenario("hv_important"),
    ("gw_high_risk_decision", "end_plan_vetoed"): Scenario("hv_important", answers={"approve_high_risk": {
        "decision": "reject", "comments": "线路容量不足且存在安全隐患"}}),
    ("gw_high_risk_decision", "gw_draft_merge"): Scenario("hv_important", answers={"approve_high_risk": [
        {"decision": "revise", "comments": "改为双回路供电方案"}, {"decision": "approve"}]}),
    ("gw_customer_works", "gw_cw_merge"): Scenario("hv_ordinary"),
    ("gw_customer_works", "gw_cw_done"): Scenario("lv_other"),
    ("gw_design", "gw_design_loop"): Scenario("hv_important"),
    ("gw_design", "gw_design_done"): Scenario("hv_ordinary"),
    ("gw_design_result", "gw_design_done"): Scenario("hv_important"),
    ("gw_design_result", "gw_design_loop"): Scenario("hv_important", answers={"review_design": [
        {"result": "fail", "defects": "防雷接地设计不符合规范"}, {"result": "pass"}]}),
    ("gw_interim", "request_interim_check"): Scenario("hv_important"),
    ("gw_interim", "gw_interim_done"): Scenario("hv_ordinary"),
    ("gw_interim_result", "gw_interim_done"): Scenario("hv_important"),
    ("gw_interim_result", "rectify_interim_defects"): Scenario("hv_important", answers={"interim_check": [
        {"result": "fail", "defects": "电缆沟排水不畅", "quality_checklist": []}, {"result": "pass"}]}),
    ("gw_plan_expiry", "gw_cw_merge"): Scenario("hv_ordinary", delays={"report_completion": YEAR_HOURS}, answers={
        "handle_plan_expiry": {"decision": "renew", "reason": "客户已申请延期"}}),
    ("gw_plan_expiry", "notify_plan_expired"): Scenario("hv_ordinary", delays={"report_completion": YEAR_HOURS},
                                                        answers={"handle_plan_expiry": {
                                                            "decision": "terminate", "reason": "客户放弃"}}),
    ("gw_completion", "gw_completion_loop"): Scenario("hv_ordinary"),
    ("gw_completion", "gw_completion_done"): Scenario("lv_other"),
    ("gw_completion_result", "gw_completion_done"): Scenario("hv_ordinary"),
    ("gw_completion_result", "rectify_defects"): Scenario("hv_ordinary", answers={"completion_check": [
        {"result": "fail", "defects": "接地电阻不合格", "quality_checklist": []}, {"result": "pass"}]}),
    ("gw_contract", "gw_contract_loop"): Scenario("lv_other"),
    ("gw_contract_signed", "gw_contract_done"): Scenario("lv_other"),
    ("gw_contract_signed", "gw_contract_loop"): Scenario("lv_other", answers={"sign_contract": [
        {"signed": False, "remarks": "合同条款需修改"}, {"signed": True}]}),
    ("gw_contract", "gw_contract_done"): Scenario("lv_residential"),
    ("gw_payment", "open_payment"): Scenario("hv_ordinary", dual=True, answers=DUAL_PLAN),
    ("gw_payment_settled", "gw_payment_done"): Scenario("hv_ordinary", dual=True, answers=DUAL_PLAN),
    # two payments of half the fee (decision 85): the first leaves the rest outstanding
    ("gw_payment_settled", "gw_payment_loop"): Scenario("hv_ordinary", dual=True,
                                                        answers={**DUAL_PLAN,
                                                                 "payment_confirmed": {"amount": 63000}}),
    ("gw_payment", "gw_payment_done"): Scenario("lv_residential"),
    ("gw_grid", "grid_works"): Scenario("lv_smallmicro"),
    ("gw_grid", "gw_grid_done"): Scenario("lv_residential"),
    ("gw_needs_rectification", "gw_rectification_loop"): Scenario("lv_residential", answers=DISSATISFIED),
    ("gw_needs_rectification", "gw_followup_done"): Scenario("lv_residential"),
    ("gw_call_reached", "end_call_done"): Scenario("lv_residential"),
    ("gw_call_reached", "timer_call_retry"): Scenario("lv_residential", answers={"followup_call": [
        {"reached": False}, {"reached": True}]}, unanswered=("customer_survey",)),
    ("gw_call_reached", "end_call_unreached"): Scenario("lv_residential", answers={"followup_call": {
        "reached": False}}, unanswered=("customer_survey",)),
    ("gw_second_call_reached", "gw_second_outcome"): Scenario("lv_residential", answers=DISSATISFIED),
    ("gw_second_outcome", "gw_followup_done"): Scenario("lv_residential", answers=DISSATISFIED),
    ("gw_second_outcome", "handle_dissatisfaction"): Scenario("lv_residential", answers={**DISSATISFIED,
        "second_followup": {"satisfaction": "dissatisfied", "issues": ["attitude"], "comments": "仍不满意"}}),
    ("gw_rectification_deadline", "perform_rectification"): Scenario("lv_residential", answers=DISSATISFIED),
    ("gw_rectification_deadline", "gw_rectification_loop"): Scenario("lv_residential", unchecked=True, answers={
        **DISSATISFIED, "assign_rectification": [{"deadline": "2020-01-01"}, {"deadline": "2026-12-31"}]}),
    ("gw_second_call_reached", "timer_second_call_retry"): Scenario("lv_residential", answers={
        **DISSATISFIED, "second_followup": [{"reached": False}, {"reached": True}]}),
    ("gw_second_call_reached", "end_second_call_unreached"): Scenario("lv_residential", answers={
        **DISSATISFIED, "second_followup": {"reached": False}}),
}


def model_outcomes() -> set[tuple[str, str]]:
    return {(gateway, target) for path in PROCESSES.glob("*.bpmn")
            for gateway, flows in gateway_flows(path).items() for _flow, target in flows}


def test_every_gateway_outcome_has_a_scenario() -> None:
    outcomes = model_outcomes()
    assert outcomes, "the model has gateways"
    assert outcomes - set(SCENARIOS) == set(), "gateway outcomes without a path test"
    assert set(SCENARIOS) - outcomes == set(), "scenarios for outcomes the model no longer has"


@pytest.mark.parametrize(("gateway", "target"), sorted(SCENARIOS), ids=lambda value: str(value))
def test_gateway_outcome(bundle: ProcessBundle, gateway: str, target: str, request: pytest.FixtureRequest) -> None:
    scenario = SCENARIOS[(gateway, target)]
    if scenario.unchecked:
        bundle = request.getfixturevalue("unchecked_bundle")
    driver = RoundTripDriver(bundle, TrialOptions(category=scenario.category, dual_supply=scenario.dual,
                                                  answers=scenario.answers, delays=scenario.delays,
                                                  unanswered=scenario.unanswered))
    driver.start_data["application"] = {**driver.start_data["application"], **scenario.application}
    result = driver.run()
    assert result.completed, result.visited[-8:]
    taken = driver.taken()
    assert (gateway, target) in taken, sorted(t for g, t in taken if g == gateway)
    assert driver.round_trips >= 1
