"""`baozhuang validate` warns about a staff user task without a time limit (runner/sla_checks.py): no boundary timer
on it, on a stage holding it or on the call activity calling its process, and not marked timeLimit = none."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from handlers import build_registry
from runner.cli import main
from runner.process_folder import Problem
from runner.store import deploy
from runner.validation import folder_report
from tests.db import Db
from tests.test_validate import element_line, replace_in

UNTIMED = {("baozhuang.bpmn", "verify_property_proof"), ("baozhuang.bpmn", "handle_plan_expiry"),
           ("followup.bpmn", "assign_rectification"), ("followup.bpmn", "handle_dissatisfaction")}
"""The shipped staff tasks without a timer, on purpose: marked timeLimit = none in processes/."""
NO_LIMIT = '<spiffworkflow:property name="timeLimit" value="none" />'


def sla_warnings(folder: Path) -> list[Problem]:
    report = folder_report(folder, build_registry())
    assert report.problems == []
    return [warning for warning in report.warnings if "has no time limit" in warning.message]


def unmark(folder: Path) -> None:
    for file in {file for file, _task in UNTIMED}:
        path = folder / file
        text = path.read_text(encoding="utf-8")
        assert text.count(NO_LIMIT) == sum(1 for shipped, _task in UNTIMED if shipped == file)
        path.write_text(text.replace(NO_LIMIT, ""), encoding="utf-8")


def test_the_shipped_untimed_steps_are_marked_and_warned_about_unmarked(process_copy: Path) -> None:
    assert sla_warnings(process_copy) == []
    unmark(process_copy)
    assert {(Path(warning.file).name, warning.element) for warning in sla_warnings(process_copy)} == UNTIMED


def test_a_staff_task_without_a_timer_is_warned_about_with_its_lane(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    timer = 'id="timer_acceptance" name="时限：业务受理" attachedToRef="accept_application"'
    replace_in(bpmn, timer, timer.replace('"accept_application"', '"verify_property_proof"'))
    warnings = sla_warnings(process_copy)
    assert [str(warning) for warning in warnings] == [
        f"{bpmn}:{element_line(bpmn, 'accept_application')}: accept_application: 「业务受理」 in lane_account_manager "
        "has no time limit: no boundary timer on it, on a stage holding it or on the call activity calling its "
        "process, though every utility step has one (docs/process-model.md, Timers); add a non-interrupting timer "
        f"(working_deadline(limits[…], …)) and its 督办, or mark it as having none: {NO_LIMIT}"]


def test_a_step_in_a_timed_stage_or_the_customers_lane_is_not_warned_about(process_copy: Path) -> None:
    """site_survey has no timer of its own: 供电方案答复 (plan_stage) holds it and has timer_plan_reply."""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'attachedToRef="plan_stage"', 'attachedToRef="draft_plan"')
    warned = {warning.element for warning in sla_warnings(process_copy)}
    assert warned == {"site_survey", "review_plan", "approve_high_risk"}



def test_validate_prints_the_warnings_and_accepts_the_folder(process_copy: Path) -> None:
    unmark(process_copy)
    result = CliRunner().invoke(main, ["validate", str(process_copy)])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == len(UNTIMED) and all("has no time limit" in line for line in warned)
    assert result.stdout.strip() == f"{process_copy}: valid ({len(UNTIMED)} warning(s))"


def test_deploy_stores_the_folder_and_says_its_warnings(db: Db, process_copy: Path) -> None:
    unmark(process_copy)
    with db.transaction() as session:
        deployment = deploy(session, db.runtime, process_copy, "analyst")
    assert deployment.created
    assert sum("has no time limit" in line for line in deployment.warnings()) == len(UNTIMED)
