"""`baozhuang try`: every category completes, and the paths differ as DOMAIN.md §1 says they should."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.process_folder import ProcessBundle, load_process_folder
from runner.trial import TrialOptions, TrialResult, run_trial
from tests.conftest import PROCESSES
from tests.paths import RoundTripDriver

PLAN_STEPS = {"site_survey", "draft_plan", "review_plan", "sign_plan"}
CUSTOMER_WORKS = {"report_completion", "completion_check"}
IMPORTANT_ONLY = {"submit_design", "review_design", "request_interim_check", "interim_check"}
ALWAYS = {"accept_application", "install_meter", "archive_documents", "followup_call", "compute_kpis"}
#: The two-step routes sign the contract at acceptance (without it they take the contract steps: test_customer_refusals)
SIGNED_AT_ACCEPTANCE = {"accept_application": {"decision": "accept", "contract_signed": True}}


def trial(bundle: ProcessBundle, category: str, **options: Any) -> TrialResult:
    result = run_trial(bundle, TrialOptions(category=category, **options))
    assert result.completed, result.visited[-10:]
    return result


def test_lv_residential_is_two_steps(bundle: ProcessBundle) -> None:
    result = trial(bundle, "lv_residential", answers=SIGNED_AT_ACCEPTANCE)
    visited = set(result.visited)
    assert ALWAYS <= visited
    assert not visited & (PLAN_STEPS | CUSTOMER_WORKS | IMPORTANT_ONLY | {"draft_contract"})
    assert result.summary["category"] == "lv_residential"
    assert result.kpis["steps"] == 2


def test_lv_smallmicro_is_two_steps_with_zero_investment_grid_works(bundle: ProcessBundle) -> None:
    result = trial(bundle, "lv_smallmicro", answers=SIGNED_AT_ACCEPTANCE)
    visited = set(result.visited)
    assert "grid_works" in visited
    assert not visited & (PLAN_STEPS | CUSTOMER_WORKS | IMPORTANT_ONLY)
    assert result.summary["fees"]["zero_investment"] is True
    assert result.kpis["steps"] == 2


def test_lv_other_adds_survey_and_plan(bundle: ProcessBundle) -> None:
    result = trial(bundle, "lv_other")
    visited = set(result.visited)
    assert PLAN_STEPS <= visited
    assert not visited & (CUSTOMER_WORKS | IMPORTANT_ONLY)
    assert result.kpis["steps"] == 3


def test_hv_ordinary_adds_completion_check_and_contract(bundle: ProcessBundle) -> None:
    result = trial(bundle, "hv_ordinary")
    visited = set(result.visited)
    assert PLAN_STEPS | CUSTOMER_WORKS | {"draft_contract", "sign_contract"} <= visited
    assert not visited & IMPORTANT_ONLY
    assert result.kpis["steps"] == 4
    order = result.visited
    assert order.index("accept_application") < order.index("site_survey") < order.index("sign_plan")
    assert order.index("completion_check") < order.index("install_meter") < order.index("archive_documents")


def test_hv_important_adds_design_review_and_interim_check(bundle: ProcessBundle) -> None:
    result = trial(bundle, "hv_important")
    visited = result.visited
    assert IMPORTANT_ONLY | CUSTOMER_WORKS <= set(visited)
    assert visited.index("review_design") < visited.index("interim_check") < visited.index("completion_check")
    assert result.kpis["steps"] > 4


def test_dual_supply_has_longer_plan_limit_and_a_reliability_fee(bundle: ProcessBundle) -> None:
    single = trial(bundle, "hv_ordinary")
    dual = trial(bundle, "hv_ordinary", dual_supply=True, answers={"draft_plan": {"supply_points": 2}})
    assert dual.summary["limits"]["plan_reply"] > single.summary["limits"]["plan_reply"]
    assert dual.summary["limits"]["plan_reply"] == 45  # 《供电监管办法》: HV dual supply
    assert single.summary["limits"]["plan_reply"] == 20
    assert dual.summary["fees"]["total"] > 0
    assert "wait_payment" in dual.visited


def test_regime_changes_the_limits(bundle: ProcessBundle) -> None:
    statute = trial(bundle, "hv_ordinary", regime="statute")
    internal = trial(bundle, "hv_ordinary", regime="sgcc_internal")
    assert statute.summary["limits"]["plan_reply"] == 20
    assert internal.summary["limits"]["plan_reply"] == 15


def test_failed_completion_check_loops_through_rectification(bundle: ProcessBundle) -> None:
    fail_then_pass = [
        {"result": "fail", "defects": "接地电阻不合格"},
        {"result": "pass"},
    ]
    driver_answers = {"completion_check": fail_then_pass}
    result = run_trial(bundle, TrialOptions(category="hv_ordinary", answers=driver_answers))
    assert result.completed
    assert result.visited.count("completion_check") == 2
    assert "rectify_defects" in result.visited


def test_a_late_survey_breaches_the_plan_limit_and_reaches_the_supervisor(bundle: ProcessBundle) -> None:
    on_time = trial(bundle, "hv_ordinary")
    late = trial(bundle, "hv_ordinary", delays={"site_survey": 24 * 40})
    assert "supervise_breach" not in on_time.visited
    assert "supervise_breach" in late.visited


def test_each_late_design_review_within_one_stage_entry_reaches_the_supervisor(bundle: ProcessBundle) -> None:
    """The design is reviewed late twice inside one entry into ``customer_works``: BPMN's non-interrupting boundary
    event fires each time (``RearmingBoundaryEvent``), so there are two 督办, not one."""
    reject_then_pass = [{"result": "fail", "defects": "接线图缺失"}, {"result": "pass"}]
    answers = {"review_design": reject_then_pass}
    once = trial(bundle, "hv_important", answers={"review_design": [{"result": "pass"}]},
                 delays={"review_design": 24 * 30})
    twice = trial(bundle, "hv_important", answers=answers, delays={"review_design": [24 * 30, 24 * 30]})
    on_time = trial(bundle, "hv_important", answers=answers)
    assert twice.visited.count("review_design") == 2
    assert once.visited.count("catch_sla_design_review") == 1
    assert twice.visited.count("catch_sla_design_review") == 2
    assert twice.visited.count("supervise_breach") == once.visited.count("supervise_breach") + 1
    assert "catch_sla_design_review" not in on_time.visited
    restored = RoundTripDriver(bundle, TrialOptions(category="hv_important", answers=answers,
                                                    delays={"review_design": [24 * 30, 24 * 30]}))
    assert restored.run().visited == twice.visited  # the armed event survives a save and restore


def test_cli_try_takes_a_delay_per_visit(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"review_design": [{"result": "fail", "defects": "接线图缺失"}, {"result": "pass"}]}),
                       encoding="utf-8")
    result = CliRunner().invoke(main, ["try", "--category", "hv_important", "--answers", str(answers),
                                       "--delay", "review_design=720,720", "--processes", str(PROCESSES)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["visited"].count("supervise_breach") >= 2
    bad = CliRunner().invoke(main, ["try", "--category", "hv_important", "--delay", "review_design=720,soon",
                                    "--processes", str(PROCESSES)])
    assert bad.exit_code == 2 and "ELEMENT=HOURS" in bad.output


@pytest.mark.parametrize(
    ("category", "dual"),
    [("lv_residential", False), ("lv_smallmicro", False), ("lv_other", False), ("hv_ordinary", True),
     ("hv_important", False)],
)
def test_serialize_restore_round_trip_at_every_user_task(bundle: ProcessBundle, category: str, dual: bool) -> None:
    driver = RoundTripDriver(bundle, TrialOptions(category=category, dual_supply=dual))
    result = driver.run()
    assert result.completed
    assert driver.round_trips >= 4


def test_cli_try_prints_json_and_exits_zero(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"review_plan": [{"decision": "revise", "comments": "补充负荷计算"},
                                                   {"decision": "approve"}]}), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["try", "--category", "lv_other", "--answers", str(answers), "--processes", str(PROCESSES)]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["completed"] is True
    assert printed["visited"].count("draft_plan") == 2
    assert printed["summary"]["category"] == "lv_other"
    assert {"steps", "working_days", "calendar_days"} <= set(printed["kpis"])


def test_cli_try_reports_bad_answers_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text('{"review_plan": ', encoding="utf-8")
    result = CliRunner().invoke(main, ["try", "--category", "lv_other", "--answers", str(answers)])
    assert result.exit_code == 1
    assert "answers.json:1" in result.output


def test_cli_try_reports_invalid_form_answer(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"review_plan": {"decision": "maybe"}}), encoding="utf-8")
    result = CliRunner().invoke(main, ["try", "--category", "lv_other", "--answers", str(answers),
                                       "--processes", str(PROCESSES)])
    assert result.exit_code == 1
    assert "decision" in result.output


def test_timers_follow_the_case_clock_not_the_wall_clock(process_copy: Path) -> None:
    """A case whose clock lies years in the past must not see its deadlines fire just because real time passed."""
    sample = process_copy / "samples" / "hv_ordinary.json"
    data = json.loads(sample.read_text(encoding="utf-8"))
    data["applied_at"] = "2020-03-02T09:00:00+08:00"
    sample.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = run_trial(load_process_folder(process_copy), TrialOptions(category="hv_ordinary"))
    assert result.completed
    assert result.started_at.startswith("2020-03-02")
    assert "supervise_breach" not in result.visited


def broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of processes/ with one text replaced once in one file (an analyst's mistake)."""
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def test_cli_try_names_the_engine_task_that_failed_instead_of_calling_the_case_stuck(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "fee_rates.dmn", '<outputEntry id="rule_1_output_1"><text>0</text>',
                         '<outputEntry id="rule_1_output_1"><text>undefined_name_xyz</text>')
    result = CliRunner().invoke(main, ["try", "--category", "lv_smallmicro", "--processes", str(folder)])
    assert result.exit_code == 1
    assert result.output.startswith("error: decide_fee_rates failed: Error evaluating expression 'undefined_name_xyz'")
    assert "stuck" not in result.output


def test_cli_try_does_not_report_completed_when_a_timer_expression_failed(tmp_path: Path) -> None:
    timer = '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">'  # the first is timer_acceptance's
    folder = broken_copy(tmp_path, "baozhuang.bpmn", f"{timer}working_deadline(", f"{timer}working_deadlin(")
    result = CliRunner().invoke(main, ["try", "--category", "lv_residential", "--processes", str(folder)])
    assert result.exit_code == 1 and "failed:" in result.output and "working_deadlin" in result.output
    assert '"completed": true' not in result.output


@pytest.mark.parametrize("args", [
    ["--delay", "site_servey=5"],
    ["--first", "customer_survy"],
])
def test_cli_try_refuses_options_naming_no_element(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["try", "--category", "lv_other", *args])
    assert result.exit_code == 1 and "no element or message of the process is called" in result.output
    assert "did you mean" in result.output


def test_cli_try_refuses_answers_for_no_element(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"acept_application": {"decision": "reject"}}), encoding="utf-8")
    result = CliRunner().invoke(main, ["try", "--category", "lv_other", "--answers", str(answers)])
    assert result.exit_code == 1
    assert result.output == ("error: answers: no element or message of the process is called 'acept_application' "
                             "(did you mean 'accept_application'?)\n")


def test_a_failed_expression_names_the_error_underneath(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "baozhuang.bpmn", 'type="bool" value="has_property_proof"',
                         'type="bool" value="1/0"')
    result = CliRunner().invoke(main, ["try", "--category", "lv_residential", "--processes", str(folder)])
    assert result.output == ("error: check_materials failed: Error evaluating expression '1/0'. "
                             "(ZeroDivisionError: division by zero)\n")
