"""Review fixes of ``baozhuang migrate``: a merge gaining a flow moves a case whether or not its stage has finished,
reasons say what really changed (a second flow, not "another order" or a changed condition), a renamed open step
moves its case, refusals read in process order, and the errors name what to do.

The versions are copies of ``processes/`` with one edit each; the cases are driven in memory except where the
command line and the database are what is checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from runner import migration
from runner import migration_reasons as wording
from runner.process_folder import ProcessBundle, load_process_folder
from runner.trial import TrialDriver, TrialOptions
from tests.db import Db, advance_to, case_row, run_cli, start
from tests.test_migration import (
    _replace_once,
    case_at,
    deploy_folder,
    deployed_files,
    dropped,
    renamed,
    version_hash,
    with_double_check,
)

REDO_CONDITION = 'approve_high_risk["decision"] == "redo"'


def with_redo_flow(source: Path, target: Path) -> Path:
    """``source`` plus a second, conditional flow ``flow_redo`` from gw_high_risk_decision to gw_draft_merge."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    text = _replace_once(text, "<bpmn:incoming>flow_gw_high_risk_decision_to_gw_draft_merge</bpmn:incoming>",
                         "<bpmn:incoming>flow_gw_high_risk_decision_to_gw_draft_merge</bpmn:incoming>\n"
                         "        <bpmn:incoming>flow_redo</bpmn:incoming>")
    text = _replace_once(text, "<bpmn:outgoing>flow_gw_high_risk_decision_to_gw_draft_merge</bpmn:outgoing>",
                         "<bpmn:outgoing>flow_gw_high_risk_decision_to_gw_draft_merge</bpmn:outgoing>\n"
                         "        <bpmn:outgoing>flow_redo</bpmn:outgoing>")
    text = _replace_once(
        text, '<bpmn:sequenceFlow id="flow_gw_plan_approved_to_end_plan_stage"',
        '<bpmn:sequenceFlow id="flow_redo" name="重做" sourceRef="gw_high_risk_decision" targetRef="gw_draft_merge">\n'
        '        <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
        f'{REDO_CONDITION.replace(chr(34), "&quot;")}</bpmn:conditionExpression>\n      </bpmn:sequenceFlow>\n'
        '      <bpmn:sequenceFlow id="flow_gw_plan_approved_to_end_plan_stage"')
    bpmn.write_text(text, encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def redo(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> ProcessBundle:
    return load_process_folder(with_redo_flow(folder, tmp_path_factory.mktemp("redo") / "processes"))


def high_risk_case_at(bundle: ProcessBundle, element_id: str) -> Any:
    """An in-memory hv_important case (its plan goes through 高风险审批) driven until ``element_id`` is ready."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    driver.case.start(driver.start_data)
    while not any(task.element_id == element_id for task in driver.case.ready_tasks()):
        assert driver.step(), f"{element_id} never became ready"
    return driver.case


def test_a_merge_gaining_a_flow_moves_the_case_whether_its_stage_runs_or_has_finished(
        bundle: ProcessBundle, redo: ProcessBundle) -> None:
    running = case_at(bundle, "draft_plan")  # plan_stage running, gw_draft_merge completed
    assert migration.plan_migration(running.workflow, bundle, redo).problems == []
    finished = case_at(bundle, "sign_plan")  # plan_stage over without the high-risk decision
    assert migration.plan_migration(finished.workflow, bundle, redo).problems == []
    restored = dropped(finished, bundle)  # as a load gives it back: only the stage's summary is left
    assert not restored.subprocesses
    assert migration.plan_migration(restored, bundle, redo).problems == []


def test_a_second_flow_from_a_completed_gateway_is_a_new_flow_not_a_changed_condition(
        bundle: ProcessBundle, redo: ProcessBundle) -> None:
    case = high_risk_case_at(bundle, "sign_plan")  # it decided at gw_high_risk_decision
    expected = [f"审批结论？ (gw_high_risk_decision, completed): it has one more outgoing flow to gw_draft_merge "
                f"(condition `{REDO_CONDITION}`)"]
    assert migration.plan_migration(case.workflow, bundle, redo).problems == expected
    assert migration.plan_migration(dropped(case, bundle), bundle, redo).problems == expected


def test_a_merge_gaining_a_second_flow_from_the_same_gateway_says_so(bundle: ProcessBundle,
                                                                     redo: ProcessBundle) -> None:
    changes = migration.SpecChanges(bundle, redo)
    old = bundle.subprocess_specs["plan_stage"].task_specs["gw_draft_merge"]
    new = redo.subprocess_specs["plan_stage"].task_specs["gw_draft_merge"]
    assert changes.of(old, new) == {"inputs"}
    assert changes.explain(old, new, frozenset({"inputs"})) == [
        "its incoming sequence flows changed (now 2 flows from 审批结论？ (gw_high_risk_decision) (was 1))"]


def test_flows_listed_in_another_order_are_no_change(bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    target = shutil.copytree(folder, tmp_path / "v2")
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    incoming = ("        <bpmn:incoming>flow_assess_risk_to_gw_draft_merge</bpmn:incoming>\n"
                "        <bpmn:incoming>flow_gw_review_to_gw_draft_merge</bpmn:incoming>\n")
    bpmn.write_text(_replace_once(text, incoming, "".join(reversed(incoming.splitlines(keepends=True)))),
                    encoding="utf-8")
    reordered = load_process_folder(target)
    case = case_at(bundle, "sign_plan")
    assert migration.plan_migration(dropped(case, bundle), bundle, reordered).problems == []


def test_an_unnamed_gateway_is_named_by_its_kind(bundle: ProcessBundle) -> None:
    merge = bundle.subprocess_specs["plan_stage"].task_specs["gw_draft_merge"]
    assert wording.heading(merge, ["completed"]) == "exclusive gateway gw_draft_merge (completed)"
    assert wording.is_internal(merge)
    assert not wording.is_internal(bundle.subprocess_specs["plan_stage"].task_specs["gw_review"])  # named


def test_refused_steps_are_listed_in_process_order(bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    later = shutil.copytree(folder, tmp_path / "v2")
    text = (later / "baozhuang.bpmn").read_text(encoding="utf-8")
    text = _replace_once(text, 'provided_materials = list(application["provided_materials"])',
                         'provided_materials = sorted(application["provided_materials"])')  # init_case, early
    text = _replace_once(text, 'review_plan["decision"] == "approve"', 'review_plan["decision"] in ("approve",)')
    (later / "baozhuang.bpmn").write_text(text, encoding="utf-8")
    problems = migration.plan_migration(case_at(bundle, "sign_plan").workflow, bundle,
                                        load_process_folder(later)).problems
    assert [problem.split(" (")[0] for problem in problems] == ["立案初始化", "审核结论？"]


def test_a_renamed_open_step_moves_its_case(bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    relabelled = load_process_folder(renamed(folder, tmp_path / "v2", "review_plan", "审核供电方案",
                                             "技术审核供电方案"))
    assert migration.plan_migration(case_at(bundle, "review_plan").workflow, bundle, relabelled).problems == []


# -- the command line ----------------------------------------------------------------------------------------------


def test_version_and_case_errors_name_what_to_do(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_other")
    advance_to(db, number, "site_survey")
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))
    third = deploy_folder(db, renamed(deployed_files(db, tmp_path / "v1b"), tmp_path / "v3", "review_plan",
                                      "审核供电方案", "技术审核供电方案"))

    def run(*args: str) -> Any:
        return run_cli(db, tmp_path / "instance", *args, catch_exceptions=False)

    hints = [run("migrate", "--to", ref).output for ref in ("deadbeef", "99")]
    for ref, output in zip(("deadbeef", "99"), hints, strict=True):
        assert output.strip() == (f"error: no deployed version {ref!r} (give a version id, or at least 6 characters "
                                  "of its hash; `baozhuang versions` lists them)")

    missing = run("migrate", "--to", str(new.id), "--case", "NOPE-0001")
    assert missing.exit_code == 1
    assert missing.output.splitlines()[0] == "NOPE-0001: not found: no case has this number"
    assert missing.output.splitlines()[-1] == "migrated 0, refused 0, not found 1, failed 0"

    other = run("migrate", "--to", str(third.id), "--from", str(new.id), "--case", number)
    assert case_row(db, number).version_id == db.version_id
    first = f"{db.version_id} ({version_hash(db, db.version_id)[:12]})"
    assert other.output.splitlines()[0] == (f"{number}: refused: the case runs version {first}, not the --from "
                                            f"version {new.id} ({new.version_hash[:12]})")
