"""Why ``baozhuang migrate`` refuses a case, in the analyst's words: each refused step by its name, id and state,
and what the target version changed in modeler terms (form file, script, condition, DMN decision, timer, lane,
flows), never the engine's attribute names.

The versions are copies of ``processes/`` with one edit each; the cases are driven in memory (the decision reads
no database; ``tests/test_migration.py`` checks the same words through the command line on both databases).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from runner import migration
from runner.process_folder import ProcessBundle, load_process_folder
from tests.test_migration import (
    case_at,
    dropped,
    with_double_check,
    with_edited_site_survey_form,
    with_new_site_survey_form,
    with_signoff_after_sign_plan,
)


def edited(source: Path, target: Path, filename: str, old: str, new: str) -> ProcessBundle:
    """``source`` with one text replaced (exactly once) in one of its files, loaded."""
    shutil.copytree(source, target)
    path = target / filename
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return load_process_folder(target)


def problems(bundle: ProcessBundle, at: str, target: ProcessBundle) -> list[str]:
    """The refusal of an lv_other case driven to ``at`` on ``bundle``, moved to ``target``."""
    return migration.plan_migration(case_at(bundle, at).workflow, bundle, target).problems


def test_a_changed_form_of_a_completed_task_names_the_file_and_its_new_field(
        bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    same_file = load_process_folder(with_edited_site_survey_form(folder, tmp_path / "edited"))
    assert problems(bundle, "review_plan", same_file) == [
        "现场勘查 (site_survey, completed): its form site_survey.schema.json changed (new field: photo_count)"]

    other_file = load_process_folder(with_new_site_survey_form(folder, tmp_path / "other"))
    assert problems(bundle, "review_plan", other_file) == [
        "现场勘查 (site_survey, completed): its form changed: now file site_survey_v2.schema.json "
        "(was site_survey.schema.json; new field: photo_count)"]


def test_a_changed_script_quotes_the_first_line_that_differs(bundle: ProcessBundle, folder: Path,
                                                             tmp_path: Path) -> None:
    script = edited(folder, tmp_path / "v2", "baozhuang.bpmn",
                    'provided_materials = list(application["provided_materials"])',
                    'provided_materials = sorted(application["provided_materials"])')
    assert problems(bundle, "review_plan", script) == [
        '立案初始化 (init_case, completed): its script changed (line 2: '
        '`provided_materials = sorted(application["provided_materials…` '
        '(was `provided_materials = list(application["provided_materials"])`))']


def test_a_changed_gateway_condition_names_the_flow_and_both_expressions(bundle: ProcessBundle, folder: Path,
                                                                         tmp_path: Path) -> None:
    condition = edited(folder, tmp_path / "v2", "baozhuang.bpmn", 'review_plan["decision"] == "approve"',
                       'review_plan["decision"] in ("approve", "approved")')
    assert problems(bundle, "sign_plan", condition) == [
        "审核结论？ (gw_review, completed): the condition of its flow to 高风险？ (gw_high_risk) changed: "
        '`review_plan["decision"] in ("approve", "approved")` (was `review_plan["decision"] == "approve"`)']


def test_a_changed_decision_table_names_the_dmn_decision_the_output_and_both_values(
        bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    table = edited(folder, tmp_path / "v2", "fee_rates.dmn", '<outputEntry id="rule_2_output_1"><text>0</text>',
                   '<outputEntry id="rule_2_output_1"><text>1</text>')  # rule 2: lv_residential and lv_other
    assert problems(bundle, "review_plan", table) == [
        '确定收费标准 (decide_fee_rates, completed): its decision table (DMN decision "fee_rates") now gives '
        "fee_rates.high_reliability_per_kva 1 (the case got 0)"]


def time_limits_with(folder: Path, target: Path, rule: int, old: str, new: str) -> ProcessBundle:
    """``folder`` with the plan-reply limit (output 2) of one rule of time_limits.dmn changed."""
    cell = f'<outputEntry id="rule_{rule}_output_2"><text>'
    return edited(folder, target, "time_limits.dmn", f"{cell}{old}</text>", f"{cell}{new}</text>")


def test_a_time_limit_changed_for_another_category_does_not_refuse_the_case(bundle: ProcessBundle, folder: Path,
                                                                           tmp_path: Path) -> None:
    residential = time_limits_with(folder, tmp_path / "v2", 1, "3", "2")  # statute, lv_residential
    assert problems(bundle, "review_plan", residential) == []  # an lv_other case: it got rule 2, unchanged
    assert problems(bundle, "accept_application", residential) == []


def test_a_time_limit_changed_for_the_cases_category_names_the_output_and_both_values(
        bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    other = time_limits_with(folder, tmp_path / "v2", 2, "8", "6")  # statute, lv_smallmicro and lv_other
    assert problems(bundle, "review_plan", other) == [
        '确定办理时限 (decide_time_limits, completed): its decision table (DMN decision "time_limits") now gives '
        "limits.plan_reply 6 (the case got 8)"]


def test_a_new_table_that_fails_on_the_cases_data_refuses_it_saying_so(bundle: ProcessBundle, folder: Path,
                                                                       tmp_path: Path) -> None:
    broken = time_limits_with(folder, tmp_path / "v2", 2, "8", "8 / 0")
    assert problems(bundle, "review_plan", broken) == [
        '确定办理时限 (decide_time_limits, completed): its decision table (DMN decision "time_limits") changed: '
        "rule 2 changed, and this case's result under it cannot be rechecked: the new table fails on this case's "
        "data (ZeroDivisionError: division by zero (Error evaluating expression '8 / 0'))"]


def test_a_changed_table_of_a_decision_with_scripts_refuses_the_case_as_its_inputs_are_not_known(
        bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    # assess_risk's pre- and post-scripts reshape its result: the data it decided on cannot be told from its data
    risk = edited(folder, tmp_path / "v2", "risk_rules.dmn", '<outputEntry id="rule_1_output_2"><text>"medium"',
                  '<outputEntry id="rule_1_output_2"><text>"high"')
    assert problems(bundle, "review_plan", risk) == [
        '风险评估 (assess_risk, completed): its decision table (DMN decision "risk_rules") changed: rule 1 changed, '
        "and this case's result under it cannot be rechecked: the task has a pre- or post-script, so the data it "
        "decided on are not known"]


def test_a_business_rule_task_calling_another_decision_names_both(bundle: ProcessBundle, folder: Path,
                                                                   tmp_path: Path) -> None:
    called = ('<bpmn:businessRuleTask id="decide_fee_rates" name="确定收费标准">\n      <bpmn:extensionElements>\n'
              "        <spiffworkflow:calledDecisionId>{}</spiffworkflow:calledDecisionId>")  # not the plan's call
    other = edited(folder, tmp_path / "v2", "baozhuang.bpmn", called.format("fee_rates"), called.format("risk_rules"))
    assert problems(bundle, "review_plan", other) == [
        '确定收费标准 (decide_fee_rates, completed): it now calls DMN decision "risk_rules" (was "fee_rates")']


def test_a_changed_timer_of_a_waiting_boundary_event_quotes_the_new_expression(bundle: ProcessBundle, folder: Path,
                                                                               tmp_path: Path) -> None:
    timer = edited(folder, tmp_path / "v2", "baozhuang.bpmn",
                   'Expression">working_deadline(limits["plan_reply"], timeline.get("plan_refused", '
                   'timeline["accepted"]))',
                   'Expression">working_deadline(limits["plan_reply"] + 1, timeline.get("plan_refused", '
                   'timeline["accepted"]))')
    assert problems(bundle, "review_plan", timer) == [
        "时限：供电方案答复 (timer_plan_reply, waiting): its timer expression changed: "
        '`working_deadline(limits["plan_reply"] + 1, timeline.get("pl…` '
        '(was `working_deadline(limits["plan_reply"], timeline.get("plan_r…`)']


def test_a_step_moved_to_another_lane_names_both_lanes_and_roles(bundle: ProcessBundle, folder: Path,
                                                                 tmp_path: Path) -> None:
    moved = tmp_path / "v2"
    shutil.copytree(folder, moved)
    bpmn = moved / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8").replace("        <bpmn:flowNodeRef>site_survey</bpmn:flowNodeRef>\n", "")
    text = text.replace('<bpmn:lane id="lane_plan_reviewer" name="方案审核">',
                        '<bpmn:lane id="lane_plan_reviewer" name="方案审核">\n'
                        "        <bpmn:flowNodeRef>site_survey</bpmn:flowNodeRef>", 1)
    bpmn.write_text(text, encoding="utf-8")
    assert problems(bundle, "review_plan", load_process_folder(moved)) == [
        "现场勘查 (site_survey, completed): it moved to lane 方案审核 (role plan_reviewer; was lane 勘查, "
        "role surveyor)"]


def test_a_removed_step_the_case_is_at_is_named_open(bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    with_step = load_process_folder(with_double_check(folder, tmp_path / "v2"))
    assert problems(with_step, "double_check_plan", bundle) == [  # in process order
        "审核供电方案 (review_plan, completed): its outgoing sequence flows changed (new target: 审核结论？ "
        "(gw_review); no longer to: 复核供电方案 (double_check_plan))",
        "复核供电方案 (double_check_plan, open): it is not in the target version (removed there, or its id changed)",
    ]


def test_a_changed_outgoing_flow_of_a_completed_step_names_the_new_and_the_old_target(
        bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    signoff = load_process_folder(with_signoff_after_sign_plan(folder, tmp_path / "v2"))
    assert problems(bundle, "draft_contract", signoff) == [  # the unnamed merge's clause would say it again
        "客户签署？ (gw_plan_signed, completed): it has a new outgoing flow to 主管签批 (supervisor_signoff) "
        '(condition `sign_plan["signed"]`); its flow to gw_plan_merge (condition `sign_plan["signed"]`) is gone',
    ]


def test_a_subprocess_missing_in_the_target_names_its_step_running_or_finished(bundle: ProcessBundle) -> None:
    without_stage = dataclasses.replace(bundle, subprocess_specs={
        name: spec for name, spec in bundle.subprocess_specs.items() if name != "plan_stage"})
    assert problems(bundle, "review_plan", without_stage) == [
        "供电方案答复 (plan_stage, in progress): this subprocess does not exist in the target version"]
    finished = dropped(case_at(bundle, "sign_plan"), bundle)  # the stage is over: only its summary is left
    assert migration.plan_migration(finished, bundle, without_stage).problems == [
        "供电方案答复 (plan_stage, completed): this subprocess does not exist in the target version"]


def test_a_case_refused_for_several_steps_separates_them(bundle: ProcessBundle, folder: Path,
                                                         tmp_path: Path) -> None:
    with_step = load_process_folder(with_double_check(folder, tmp_path / "v2"))
    case = case_at(bundle, "sign_plan")
    reason = " | ".join(migration.plan_migration(case.workflow, bundle, with_step).problems)
    assert reason == (  # in process order
        "审核供电方案 (review_plan, completed): its outgoing sequence flows changed (new target: 复核供电方案 "
        "(double_check_plan); no longer to: 审核结论？ (gw_review)) | 审核结论？ (gw_review, completed): its incoming "
        "sequence flows changed (new source: 复核供电方案 (double_check_plan); no longer from: 审核供电方案 "
        "(review_plan))")
