"""``baozhuang migrate``: moving running cases to another deployed version, on SQLite and PostgreSQL.

The versions are made here from copies of ``processes/``: one inserts a review step (复核供电方案) after
``review_plan``, one changes ``site_survey``'s form. A case waiting before the new step moves, keeps its SLA
deadlines and later does the step; a case past a changed step is refused, naming it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from runner import audit, migration, services
from runner.clock import parse_iso
from runner.models import Incident, Job, ProcessVersion
from runner.process_folder import ProcessBundle, load_process_folder
from runner.state import pack_state, unpack_state
from runner.state_codec import finished_steps
from runner.store import NotFoundError, Runtime, deploy, load_case
from runner.trial import TrialDriver, TrialOptions
from runner.workdays import WorkingCalendar
from tests.db import (
    CaseDriver,
    Db,
    advance_to,
    case_row,
    complete,
    drive_case_to_end,
    events,
    open_task,
    open_tasks,
    run_cli,
    start,
)
from tests.worker_helpers import run_retries_out

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
REFUSED_HINT = "refused cases carry on, unchanged, on the version they run"


# -- versions made from processes/ -------------------------------------------------------------------------------


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def with_double_check(source: Path, target: Path) -> Path:
    """``source`` plus a user task ``double_check_plan`` (复核供电方案, lane plan_reviewer) after ``review_plan``."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    text = _replace_once(text, "<bpmn:flowNodeRef>review_plan</bpmn:flowNodeRef>",
                         "<bpmn:flowNodeRef>review_plan</bpmn:flowNodeRef>\n"
                         "        <bpmn:flowNodeRef>double_check_plan</bpmn:flowNodeRef>")
    text = _replace_once(
        text, "<bpmn:outgoing>flow_review_plan_to_gw_review</bpmn:outgoing>\n      </bpmn:userTask>",
        "<bpmn:outgoing>flow_review_plan_to_double_check_plan</bpmn:outgoing>\n      </bpmn:userTask>\n"
        '      <bpmn:userTask id="double_check_plan" name="复核供电方案">\n'
        "        <bpmn:extensionElements>\n          <spiffworkflow:properties>\n"
        '            <spiffworkflow:property name="formJsonSchemaFilename" value="double_check_plan.schema.json" />\n'
        '            <spiffworkflow:property name="formUiSchemaFilename" value="double_check_plan.uischema.json" />\n'
        "          </spiffworkflow:properties>\n        </bpmn:extensionElements>\n"
        "        <bpmn:incoming>flow_review_plan_to_double_check_plan</bpmn:incoming>\n"
        "        <bpmn:outgoing>flow_double_check_plan_to_gw_review</bpmn:outgoing>\n      </bpmn:userTask>")
    text = _replace_once(text, "<bpmn:incoming>flow_review_plan_to_gw_review</bpmn:incoming>",
                         "<bpmn:incoming>flow_double_check_plan_to_gw_review</bpmn:incoming>")
    text = _replace_once(
        text, '<bpmn:sequenceFlow id="flow_review_plan_to_gw_review" sourceRef="review_plan" targetRef="gw_review" />',
        '<bpmn:sequenceFlow id="flow_review_plan_to_double_check_plan" sourceRef="review_plan" '
        'targetRef="double_check_plan" />\n'
        '      <bpmn:sequenceFlow id="flow_double_check_plan_to_gw_review" sourceRef="double_check_plan" '
        'targetRef="gw_review" />')
    text = _replace_once(
        text,
        '<bpmndi:BPMNEdge id="flow_review_plan_to_gw_review_di" bpmnElement="flow_review_plan_to_gw_review">\n'
        '        <di:waypoint x="4013" y="1530" />\n        <di:waypoint x="4063" y="1530" />\n'
        "      </bpmndi:BPMNEdge>",
        '<bpmndi:BPMNShape id="double_check_plan_di" bpmnElement="double_check_plan">\n'
        '        <dc:Bounds x="3913" y="1630" width="100" height="80" />\n      </bpmndi:BPMNShape>\n'
        '      <bpmndi:BPMNEdge id="flow_review_plan_to_double_check_plan_di" '
        'bpmnElement="flow_review_plan_to_double_check_plan">\n'
        '        <di:waypoint x="3963" y="1570" />\n        <di:waypoint x="3963" y="1630" />\n'
        "      </bpmndi:BPMNEdge>\n"
        '      <bpmndi:BPMNEdge id="flow_double_check_plan_to_gw_review_di" '
        'bpmnElement="flow_double_check_plan_to_gw_review">\n'
        '        <di:waypoint x="4013" y="1670" />\n        <di:waypoint x="4088" y="1670" />\n'
        '        <di:waypoint x="4088" y="1555" />\n      </bpmndi:BPMNEdge>')
    bpmn.write_text(text, encoding="utf-8")
    add_yes_form(target, "double_check_plan", "复核供电方案", "第二位方案审核人复核供电方案。", "confirmed", "复核无误")
    return target


def add_yes_form(target: Path, element: str, title: str, description: str, field: str, label: str) -> None:
    """A form of one yes/no field (true by default) for a new step, schema and UI schema."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "description": description,
        "type": "object", "additionalProperties": False, "required": [field],
        "properties": {field: {"title": label, "type": "boolean", "default": True}},
    }
    forms = target / "forms"
    (forms / f"{element}.schema.json").write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    (forms / f"{element}.uischema.json").write_text(json.dumps({"ui:order": [field]}), encoding="utf-8")


def with_signoff_after_sign_plan(source: Path, target: Path) -> Path:
    """``source`` plus a user task ``supervisor_signoff`` (主管签批, lane supervisor) between the signed plan
    (``gw_plan_signed``'s flow 已签署) and ``gw_plan_merge``: after the plan stage, an embedded subprocess whose tasks
    carry boundary timers, so a case inside it has the new step's place only predicted, below running tasks that
    ``migrate_workflow`` does not reset."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    text = _replace_once(text, "<bpmn:flowNodeRef>approve_high_risk</bpmn:flowNodeRef>",
                         "<bpmn:flowNodeRef>approve_high_risk</bpmn:flowNodeRef>\n"
                         "        <bpmn:flowNodeRef>supervisor_signoff</bpmn:flowNodeRef>")
    text = _replace_once(
        text, "<bpmn:outgoing>flow_gw_plan_signed_to_gw_plan_merge</bpmn:outgoing>\n"
        "      <bpmn:outgoing>flow_gw_plan_signed_to_gw_plan_loop</bpmn:outgoing>\n    </bpmn:exclusiveGateway>",
        "<bpmn:outgoing>flow_gw_plan_signed_to_supervisor_signoff</bpmn:outgoing>\n"
        "      <bpmn:outgoing>flow_gw_plan_signed_to_gw_plan_loop</bpmn:outgoing>\n    </bpmn:exclusiveGateway>\n"
        '    <bpmn:userTask id="supervisor_signoff" name="主管签批">\n'
        "      <bpmn:extensionElements>\n        <spiffworkflow:properties>\n"
        '          <spiffworkflow:property name="formJsonSchemaFilename" value="supervisor_signoff.schema.json" />\n'
        '          <spiffworkflow:property name="formUiSchemaFilename" value="supervisor_signoff.uischema.json" />\n'
        "        </spiffworkflow:properties>\n      </bpmn:extensionElements>\n"
        "      <bpmn:incoming>flow_gw_plan_signed_to_supervisor_signoff</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_gw_plan_signed_to_gw_plan_merge</bpmn:outgoing>\n    </bpmn:userTask>")
    text = _replace_once(
        text,
        '<bpmn:sequenceFlow id="flow_gw_plan_signed_to_gw_plan_merge" name="已签署" sourceRef="gw_plan_signed" '
        'targetRef="gw_plan_merge">',
        '<bpmn:sequenceFlow id="flow_gw_plan_signed_to_gw_plan_merge" sourceRef="supervisor_signoff" '
        'targetRef="gw_plan_merge" />\n'
        '    <bpmn:sequenceFlow id="flow_gw_plan_signed_to_supervisor_signoff" name="已签署" '
        'sourceRef="gw_plan_signed" targetRef="supervisor_signoff">')
    text = _replace_once(
        text, '<bpmndi:BPMNShape id="sign_plan_di" bpmnElement="sign_plan">',
        '<bpmndi:BPMNShape id="supervisor_signoff_di" bpmnElement="supervisor_signoff">\n'
        '        <dc:Bounds x="4940" y="760" width="100" height="80" />\n      </bpmndi:BPMNShape>\n'
        '      <bpmndi:BPMNEdge id="flow_gw_plan_signed_to_supervisor_signoff_di" '
        'bpmnElement="flow_gw_plan_signed_to_supervisor_signoff">\n'
        '        <di:waypoint x="4929" y="690" />\n        <di:waypoint x="4940" y="800" />\n'
        "      </bpmndi:BPMNEdge>\n"
        '      <bpmndi:BPMNShape id="sign_plan_di" bpmnElement="sign_plan">')
    bpmn.write_text(text, encoding="utf-8")
    add_yes_form(target, "supervisor_signoff", "主管签批", "营销主管对已签署的供电方案进行签批。", "approved", "同意")
    return target


def renamed(source: Path, target: Path, element_id: str, old_name: str, new_name: str) -> Path:
    """``source`` with one step's label changed (same id)."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    bpmn.write_text(_replace_once(bpmn.read_text(encoding="utf-8"), f'id="{element_id}" name="{old_name}"',
                                  f'id="{element_id}" name="{new_name}"'), encoding="utf-8")
    return target


def _site_survey_schema(target: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((target / "forms" / "site_survey.schema.json").read_text(encoding="utf-8"))
    schema["properties"]["photo_count"] = {"title": "现场照片数量", "type": "integer", "minimum": 0, "default": 3}
    return schema


def with_new_site_survey_form(source: Path, target: Path) -> Path:
    """``source`` with ``site_survey`` pointing at a new form file (its properties change)."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    bpmn.write_text(_replace_once(
        bpmn.read_text(encoding="utf-8"),
        '<spiffworkflow:property name="formJsonSchemaFilename" value="site_survey.schema.json" />',
        '<spiffworkflow:property name="formJsonSchemaFilename" value="site_survey_v2.schema.json" />',
    ), encoding="utf-8")
    (target / "forms" / "site_survey_v2.schema.json").write_text(
        json.dumps(_site_survey_schema(target), ensure_ascii=False, indent=2), encoding="utf-8")
    return target


def with_edited_site_survey_form(source: Path, target: Path) -> Path:
    """``source`` with the content of ``site_survey.schema.json`` changed (the BPMN is the same)."""
    shutil.copytree(source, target)
    schema = _site_survey_schema(target)
    (target / "forms" / "site_survey.schema.json").write_text(json.dumps(schema, ensure_ascii=False, indent=2),
                                                              encoding="utf-8")
    return target


def deployed_files(db: Db, target: Path) -> Path:
    """The files of the test database's deployed version, written to ``target`` (processes/ may have changed
    since the session deployed it)."""
    with db.reading() as session:
        version = session.get(ProcessVersion, db.version_id)
        assert version is not None
        files = dict(version.files)
    for relative, text in files.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text, encoding="utf-8")
    return target


def deploy_folder(db: Db, folder: Path) -> ProcessVersion:
    with db.transaction() as session:
        version, created = deploy(session, db.runtime, folder, "test", note=folder.name)
    assert created
    return version


# -- reading a case ----------------------------------------------------------------------------------------------


def timer_values(db: Db, number: str) -> dict[str, tuple[str, Any]]:
    """Waiting timers of the case: element id -> (task id, internal event_value)."""
    with db.reading() as session:
        workflow = load_case(session, db.runtime, number).case.workflow
    return {task.task_spec.bpmn_id: (str(task.id), task.internal_data.get("event_value"))
            for task in workflow.get_tasks(state=TaskState.WAITING) if "event_value" in task.internal_data}


def timer_jobs(db: Db, number: str) -> list[tuple[str | None, str | None, Any]]:
    row = case_row(db, number)
    with db.reading() as session:
        jobs = session.scalars(select(Job).where(Job.case_id == row.id, Job.kind == "timer",
                                                 Job.status == "pending").order_by(Job.id))
        return [(job.task_id, job.element_id, job.due_at) for job in jobs]


def snapshot(db: Db, number: str) -> tuple[Any, ...]:
    row = case_row(db, number)
    tasks = [(t.id, t.element_id, t.due_at, t.assignee) for t in open_tasks(db, number)]
    return row.revision, row.version_id, row.state, tasks, len(events(db, number)), timer_jobs(db, number)


def by_case(outcomes: list[migration.Outcome]) -> dict[str, migration.Outcome]:
    return {outcome.case_number: outcome for outcome in outcomes}


def calendar_with_days_off(days: list[date]) -> WorkingCalendar:
    """The working calendar with extra days off, as if the State Council had announced new holidays."""
    calendar = WorkingCalendar.default()
    year = days[0].year
    holidays, workdays = calendar.year_data(year) or (frozenset(), frozenset())
    return calendar.with_year(year, set(holidays) | set(days), workdays)


# -- the scenarios ---------------------------------------------------------------------------------------


def test_a_case_waiting_before_a_new_step_moves_keeps_its_deadlines_and_later_does_the_step(
        db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_other")
    advance_to(db, number, "review_plan")
    task_before = open_task(db, number, "review_plan")
    timers_before = timer_values(db, number)
    jobs_before = timer_jobs(db, number)
    revision = case_row(db, number).revision
    assert "timer_plan_reply" in timers_before and task_before.due_at is not None
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    # Holidays announced meanwhile: recomputing the plan-reply deadline now would give another date.
    deadline = parse_iso(timers_before["timer_plan_reply"][1])
    with db.reading() as session:
        data = load_case(session, db.runtime, number).case.data
    first = parse_iso(data["timeline"]["accepted"]).date()
    holidays = calendar_with_days_off([first + timedelta(days=n) for n in range(1, 8)])
    assert holidays.deadline(parse_iso(data["timeline"]["accepted"]), data["limits"]["plan_reply"]) != deadline
    runtime = Runtime(cache_dir=db.cache_dir, clock=db.clock, calendar=holidays)

    [outcome] = migration.migrate_cases(db.sessions, runtime, str(new.id))

    assert (outcome.result, outcome.open_tasks) == ("migrated", ["review_plan"]), outcome.reason
    row = case_row(db, number)
    assert (row.version_id, row.revision) == (new.id, revision + 1)
    task_after = open_task(db, number, "review_plan")
    assert (task_after.id, task_after.due_at, task_after.lane) == (task_before.id, task_before.due_at, "plan_reviewer")
    assert timer_values(db, number) == timers_before
    assert timer_jobs(db, number) == jobs_before
    with db.reading() as session:
        case = load_case(session, db.runtime, number).case
        assert case.due_date(task_after.id) == task_before.due_at
        assert [t.deadline for t in case.pending_timers()] == [deadline]
    migrated = [event for event in events(db, number) if event.lifecycle == "migrated"]
    assert [(e.element_id, e.data["from"], e.data["to"]) for e in migrated if e.data] == [
        ("case", db.version_id, new.id)]

    complete(db, number, "review_plan", user="plan_reviewer.1")
    assert open_task(db, number, "double_check_plan").lane == "plan_reviewer"
    result = drive_case_to_end(db, number)
    assert result.visited.index("double_check_plan") == result.visited.index("review_plan") + 1
    with db.reading() as session:
        assert audit.verify(session).ok


def test_a_case_past_a_changed_step_is_refused_naming_the_step(db: Db, tmp_path: Path) -> None:
    past = start(db, "lv_other")
    advance_to(db, past, "review_plan")
    at_step = start(db, "lv_other")
    advance_to(db, at_step, "site_survey")
    before_stage = start(db, "lv_other")
    unchanged = snapshot(db, past)
    new = deploy_folder(db, with_new_site_survey_form(deployed_files(db, tmp_path / "v1"), tmp_path / "v3"))

    outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, new.version_hash[:10]))

    assert outcomes[past].result == "refused"
    form_changed = ("its form changed: now file site_survey_v2.schema.json (was site_survey.schema.json; "
                    "new field: photo_count)")
    assert outcomes[past].reason == f"现场勘查 (site_survey, completed): {form_changed}", outcomes[past].reason
    assert outcomes[at_step].result == "refused"
    assert outcomes[at_step].reason == f"现场勘查 (site_survey, open): {form_changed}", outcomes[at_step].reason
    assert outcomes[before_stage].result == "migrated", outcomes[before_stage].reason
    assert snapshot(db, past) == unchanged
    assert not [event for event in events(db, past) if event.lifecycle == "migrated"]
    assert case_row(db, before_stage).version_id == new.id
    assert migration.counts(outcomes.values()) == {"migrated": 1, "refused": 2, "not found": 0, "failed": 0}


def test_a_dry_run_changes_nothing(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_other")
    advance_to(db, number, "review_plan")
    before = snapshot(db, number)
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id), dry_run=True)

    assert outcome.result == "migrated" and outcome.line(dry_run=True).startswith(f"{number}: would migrate")
    assert snapshot(db, number) == before


def test_a_case_that_fails_is_rolled_back_and_the_others_go_on(db: Db, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    broken, fine = start(db, "lv_other"), start(db, "lv_other")
    before = snapshot(db, broken)
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))
    apply = migration.apply_migration

    def apply_or_fail(case: Any, plan: migration.Plan, bundle: ProcessBundle) -> None:
        apply(case, plan, bundle)
        if case.case_number == broken:
            raise RuntimeError("disk full")

    monkeypatch.setattr(migration, "apply_migration", apply_or_fail)
    outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, str(new.id)))

    assert (outcomes[broken].result, outcomes[broken].reason) == ("failed", "RuntimeError: disk full")
    assert outcomes[fine].result == "migrated"
    assert snapshot(db, broken) == before
    assert case_row(db, fine).version_id == new.id


def test_the_command_line_reports_each_case_and_the_counts(db: Db, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    waiting = start(db, "lv_other")
    advance_to(db, waiting, "review_plan")
    fresh = start(db, "lv_other")
    past = start(db, "lv_other")
    drive_until(db, past, "sign_plan")
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))
    def run(*args: str) -> Any:
        return run_cli(db, tmp_path / "instance", *args, catch_exceptions=False)

    dry = run("migrate", "--to", new.version_hash[:8], "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[-2:] == ["dry run, nothing changed: would have migrated 2, refused 1, failed 0",
                                            REFUSED_HINT]
    assert case_row(db, waiting).version_id == db.version_id

    done = run("migrate", "--to", new.version_hash[:8], "--from", str(db.version_id))
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert f"{waiting}: migrated {db.version_id} (" in done.output
    assert f"{new.version_hash[:12]}); open tasks: 审核供电方案 (review_plan)" in done.output  # named, as refusals are
    [refusal] = [line for line in lines if line.startswith(f"{past}: refused: ")]
    assert refusal == (f"{past}: refused: 审核供电方案 (review_plan, completed): its outgoing sequence flows changed "
                       "(new target: 复核供电方案 (double_check_plan); no longer to: 审核结论？ (gw_review)) | "
                       "审核结论？ (gw_review, completed): its incoming sequence flows changed (new source: "
                       "复核供电方案 (double_check_plan); no longer from: 审核供电方案 (review_plan))")
    assert lines[-2:] == ["migrated 2, refused 1, failed 0", REFUSED_HINT]
    assert case_row(db, fresh).version_id == new.id

    again = run("migrate", "--to", str(new.id), "--case", waiting, "--case", "YK-NO-SUCH-CASE")
    assert again.exit_code == 1
    assert f"{waiting}: refused: the case already runs version {new.id}" in again.output
    assert "YK-NO-SUCH-CASE: not found: no case has this number" in again.output
    assert again.output.splitlines()[-2:] == ["migrated 0, refused 1, not found 1, failed 0", REFUSED_HINT]

    unknown = run("migrate", "--to", "feedfacefeedface")
    assert unknown.exit_code == 1 and "no deployed version" in unknown.output

    verify = run("audit", "verify")
    assert verify.exit_code == 0, verify.output
    old_hash = version_hash(db, db.version_id)
    logged = [(e.element_id, e.user, e.data) for e in events(db, waiting) if e.lifecycle == "migrated"]
    assert logged == [("case", "cli", {"from": db.version_id, "to": new.id, "from_hash": old_hash,
                                       "to_hash": new.version_hash})]


def drive_until(db: Db, number: str, element_id: str) -> None:
    """Step the case as ``drive_case_to_end`` does (four-eyes rules kept) until ``element_id`` is open."""
    driver = CaseDriver(db, number)
    while not any(task.element_id == element_id for task in open_tasks(db, number)):
        assert driver.step(), f"{number}: {element_id} never became open"


def version_hash(db: Db, version_id: int) -> str:
    with db.reading() as session:
        version = session.get(ProcessVersion, version_id)
        assert version is not None
        return version.version_hash


# -- deciding, in memory -----------------------------------------------------------------------------------------


def case_at(bundle: ProcessBundle, element_id: str) -> Any:
    """An in-memory lv_other case driven with form defaults until ``element_id`` is ready."""
    driver = TrialDriver(bundle, TrialOptions(category="lv_other"))
    driver.case.start(driver.start_data)
    while not any(task.element_id == element_id for task in driver.case.ready_tasks()):
        assert driver.step(), f"{element_id} never became ready"
    return driver.case


@pytest.fixture(scope="module")
def current_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of processes/ that the variants below are made from."""
    folder = tmp_path_factory.mktemp("current") / "processes"
    shutil.copytree(PROCESSES, folder)
    return folder


@pytest.fixture(scope="module")
def current(current_folder: Path) -> ProcessBundle:
    return load_process_folder(current_folder)


def test_a_changed_form_file_counts_as_a_change_of_its_task(current: ProcessBundle, current_folder: Path,
                                                            tmp_path: Path) -> None:
    edited = load_process_folder(with_edited_site_survey_form(current_folder, tmp_path / "edited"))
    case = case_at(current, "review_plan")
    plan = migration.plan_migration(case.workflow, current, edited)
    assert plan.problems == ["现场勘查 (site_survey, completed): its form site_survey.schema.json changed "
                             "(new field: photo_count)"]


def test_a_step_removed_while_the_case_is_at_it_is_refused(current: ProcessBundle, current_folder: Path,
                                                           tmp_path: Path) -> None:
    with_step = load_process_folder(with_double_check(current_folder, tmp_path / "v2"))
    case = case_at(with_step, "double_check_plan")
    plan = migration.plan_migration(case.workflow, with_step, current)
    assert plan.problems == [  # in process order
        "审核供电方案 (review_plan, completed): its outgoing sequence flows changed (new target: 审核结论？ "
        "(gw_review); no longer to: 复核供电方案 (double_check_plan))",
        "复核供电方案 (double_check_plan, open): it is not in the target version (removed there, or its id changed)"]


def test_a_diff_the_library_cannot_compute_is_a_refusal_naming_the_element(
        current: ProcessBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = case_at(current, "review_plan")
    spec = case.workflow.spec.task_specs["accept_application"]

    def broken(*_args: Any) -> Any:
        raise KeyError(spec)

    monkeypatch.setattr(migration, "diff_workflow", broken)
    plan = migration.plan_migration(case.workflow, current, current)
    assert plan.problems == ["the diff cannot be computed: element accept_application has no counterpart in the "
                             "target version's alignment"]


# -- finished subprocesses: the state keeps a summary of their steps, the check reads it ------------------------


def dropped(case: Any, bundle: ProcessBundle) -> Any:
    """The case's workflow as a load gives it back: packed and restored, its finished subprocesses dropped (from
    the live workflow too, as a save does)."""
    return unpack_state(pack_state(case.workflow), bundle.spec, bundle.subprocess_specs, case.engine)


def test_a_changed_step_of_a_dropped_subprocess_is_refused_as_before(current: ProcessBundle, current_folder: Path,
                                                                     tmp_path: Path) -> None:
    """The plan stage has finished: its tasks are gone from the restored case, and the summary names the same
    completed steps, so the refusal is the one the case with the whole subprocess gets."""
    with_step = load_process_folder(with_double_check(current_folder, tmp_path / "v2"))
    case = case_at(current, "sign_plan")
    assert [sub.spec.name for sub in case.workflow.subprocesses.values()] == ["plan_stage"]
    whole = migration.plan_migration(case.workflow, current, with_step).problems
    restored = dropped(case, current)
    assert not restored.subprocesses  # plan_stage is gone
    assert any(spec == "plan_stage" and "review_plan" in names for _caller, spec, names in finished_steps(restored))
    problems = migration.plan_migration(restored, current, with_step).problems
    assert problems == whole and ("审核供电方案 (review_plan, completed): its outgoing sequence flows changed (new "
                                  "target: 复核供电方案 (double_check_plan); no longer to: 审核结论？ (gw_review))"
                                  in problems), problems


def test_a_removed_step_of_a_dropped_subprocess_is_refused(current: ProcessBundle, current_folder: Path,
                                                           tmp_path: Path) -> None:
    with_step = load_process_folder(with_double_check(current_folder, tmp_path / "v2"))
    case = case_at(with_step, "sign_plan")
    whole = migration.plan_migration(case.workflow, with_step, current).problems
    restored = dropped(case, with_step)
    assert not restored.subprocesses
    problems = migration.plan_migration(restored, with_step, current).problems
    assert ("复核供电方案 (double_check_plan, completed): it is not in the target version (removed there, or its id "
            "changed)") in problems, problems
    assert problems == whole

    without_stage = dataclasses.replace(current, subprocess_specs={
        name: spec for name, spec in current.subprocess_specs.items() if name != "plan_stage"})
    problems = migration.plan_migration(restored, with_step, without_stage).problems
    assert ("供电方案答复 (plan_stage, completed): this subprocess does not exist in the target version"
            in problems), problems


def test_a_case_with_dropped_subprocesses_moves_keeping_its_summary(current: ProcessBundle, current_folder: Path,
                                                                    tmp_path: Path) -> None:
    """To a version that changes none of the finished stage's steps (a copy), the case moves; its summary stays
    and is checked against the new version's specs next time."""
    copy = load_process_folder(shutil.copytree(current_folder, tmp_path / "copy"))
    case = case_at(current, "sign_plan")
    case.workflow = dropped(case, current)
    before = finished_steps(case.workflow)
    assert before
    plan = migration.plan_migration(case.workflow, current, copy)
    assert plan.problems == []
    migration.apply_migration(case, plan, copy)
    assert finished_steps(case.workflow) == before and case.bundle is copy
    assert migration.plan_migration(case.workflow, copy, current).problems == []
    restored = dropped(case, copy)
    assert finished_steps(restored) == before
    assert migration.plan_migration(restored, copy, current).problems == []


def test_suspended_cases_are_reported_as_refused_so_the_counts_add_up(db: Db, tmp_path: Path) -> None:
    running, suspended = start(db, "lv_other"), start(db, "lv_other")
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, suspended, "suspended", "supervisor.1")
    before = snapshot(db, suspended)
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    for dry_run in (True, False):
        outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, str(new.id), dry_run=dry_run))
        assert set(outcomes) == {running, suspended}
        refused = outcomes[suspended]
        assert (refused.result, refused.reason) == ("refused", "the case is suspended; only running cases move")
        assert refused.line(dry_run) == f"{suspended}: refused: the case is suspended; only running cases move"
        assert migration.counts(outcomes.values()) == {"migrated": 1, "refused": 1, "not found": 0, "failed": 0}
    assert snapshot(db, suspended) == before
    assert case_row(db, running).version_id == new.id


# -- steps inserted or removed beyond running subprocesses and boundary timers -----------------------------------


def test_a_case_inside_the_plan_stage_later_does_a_step_inserted_after_the_stage(db: Db, tmp_path: Path) -> None:
    at_survey = start(db, "lv_other")
    advance_to(db, at_survey, "site_survey")
    at_review = start(db, "lv_other")
    advance_to(db, at_review, "review_plan")
    new = deploy_folder(db, with_signoff_after_sign_plan(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, str(new.id)))

    for number, at in ((at_survey, "site_survey"), (at_review, "review_plan")):
        assert (outcomes[number].result, outcomes[number].open_tasks) == ("migrated", [at]), outcomes[number].reason
        steps = drive_case_to_end(db, number).visited
        assert steps.index("supervisor_signoff") == steps.index("gw_plan_signed") + 1, steps


def test_a_case_moved_to_a_version_without_a_step_it_had_predicted_still_loads_and_ends(
        db: Db, tmp_path: Path) -> None:
    original = deployed_files(db, tmp_path / "v1")
    deploy_folder(db, with_signoff_after_sign_plan(original, tmp_path / "v2"))
    number = start(db, "lv_other")  # on the version with 主管签批
    advance_to(db, number, "site_survey")
    with db.transaction() as session:  # the analyst rolls back to the version without it
        deploy(session, db.runtime, original, "test")

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(db.version_id))

    assert (outcome.result, outcome.open_tasks) == ("migrated", ["site_survey"]), outcome.reason
    with db.reading() as session:  # restored from its row, not a kept live workflow
        assert load_case(session, db.new_runtime(), number).case.ready_tasks()[0].element_id == "site_survey"
    steps = drive_case_to_end(db, number).visited
    assert "supervisor_signoff" not in steps and steps.index("gw_plan_merge") == steps.index("gw_plan_signed") + 1


def test_a_merge_gaining_a_flow_the_case_did_not_take_does_not_refuse_it(db: Db, tmp_path: Path) -> None:
    direct = start(db, "lv_smallmicro")  # no survey: assess_risk_direct → gw_plan_merge
    advance_to(db, direct, "install_meter")
    signed = start(db, "lv_other")  # through gw_plan_signed → gw_plan_merge, which the new version re-wires
    advance_to(db, signed, "draft_contract")
    new = deploy_folder(db, with_signoff_after_sign_plan(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, str(new.id)))

    assert outcomes[direct].result == "migrated", outcomes[direct].reason
    assert "supervisor_signoff" not in drive_case_to_end(db, direct).visited
    assert outcomes[signed].result == "refused"
    # the flow it took, gw_plan_signed → gw_plan_merge, is gone at both ends: the gateway's clause says it for both
    assert outcomes[signed].reason == (
        "客户签署？ (gw_plan_signed, completed): it has a new outgoing flow to 主管签批 (supervisor_signoff) "
        '(condition `sign_plan["signed"]`); its flow to gw_plan_merge (condition `sign_plan["signed"]`) is gone')


def test_a_renamed_step_refuses_no_case_done_with_it_or_at_it(db: Db, tmp_path: Path) -> None:
    past = start(db, "lv_other")
    advance_to(db, past, "site_survey")
    at = start(db, "lv_other")
    new = deploy_folder(db, renamed(deployed_files(db, tmp_path / "v1"), tmp_path / "v2",
                                    "accept_application", "业务受理", "业务受理（线上）"))

    outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, str(new.id)))

    assert outcomes[past].result == "migrated", outcomes[past].reason
    assert outcomes[at].result == "migrated", outcomes[at].reason  # the open task takes the new name
    assert outcomes[at].open_task_names == ["业务受理（线上） (accept_application)"]
    assert open_task(db, at, "accept_application").name == "业务受理（线上）"


def test_a_timer_past_due_when_its_case_moves_is_logged_fired_and_its_job_ends_done(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_other")
    advance_to(db, number, "site_survey")
    [(task_id, _element, _due)] = [job for job in timer_jobs(db, number) if job[1] == "timer_plan_reply"]
    new = deploy_folder(db, with_signoff_after_sign_plan(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))
    db.clock.advance(timedelta(days=60))  # past the plan-reply deadline; no worker ran

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id))

    assert outcome.result == "migrated", outcome.reason
    fired = [event for event in events(db, number) if event.lifecycle == "fired"]
    assert [event.element_id for event in fired] == ["timer_plan_reply"]
    with db.reading() as session:
        assert session.scalar(select(Job.status).where(Job.task_id == task_id)) == "done"
    open_task(db, number, "supervise_breach")


def test_a_version_number_that_does_not_exist_is_an_error_not_a_hash_prefix(db: Db, tmp_path: Path) -> None:
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))
    for ref in (new.version_hash[:2], new.version_hash[:5], "9999"):
        with pytest.raises(NotFoundError, match="at least 6 characters"):
            migration.migrate_cases(db.sessions, db.runtime, ref)
    assert migration.resolve_version(db.sessions(), new.version_hash[:6]).id == new.id


def test_versions_lists_each_version_its_open_cases_and_the_current_one(db: Db, tmp_path: Path) -> None:
    start(db, "lv_other")
    new = deploy_folder(db, with_double_check(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    result = run_cli(db, tmp_path / "instance", "versions")

    assert result.exit_code == 0, result.output
    header, first, second = result.output.splitlines()
    assert header == "times: Asia/Shanghai"
    assert first.startswith(f"  {db.version_id:>4}  {case_row_hash(db, db.version_id)}") and "1 open cases" in first
    assert second.startswith(f"* {new.id:>4}  {new.version_hash[:12]}") and "0 open cases" in second


def case_row_hash(db: Db, version_id: int) -> str:
    return version_hash(db, version_id)[:12]


def test_a_moved_state_holding_the_old_versions_tasks_is_not_saved(db: Db, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    original = deployed_files(db, tmp_path / "v1")
    deploy_folder(db, with_signoff_after_sign_plan(original, tmp_path / "v2"))
    number = start(db, "lv_other")
    advance_to(db, number, "site_survey")
    with db.transaction() as session:
        deploy(session, db.runtime, original, "test")
    before = snapshot(db, number)
    monkeypatch.setattr(migration, "predict_stale_branches", lambda process: [])  # as the library alone leaves it

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(db.version_id))

    assert outcome.result == "failed"
    assert outcome.reason == ("after the move, these tasks still have the old version's definition: "
                              "supervisor_signoff (maybe)")  # predicted after the gateway
    assert snapshot(db, number) == before


def test_a_case_failed_on_a_broken_decision_is_repaired_by_moving_it_to_the_fixed_version(
        db: Db, tmp_path: Path) -> None:
    fixed = deployed_files(db, tmp_path / "v1")
    broken = tmp_path / "v2"
    shutil.copytree(fixed, broken, ignore=shutil.ignore_patterns("samples"))  # deployable: validate tries no sample
    table = broken / "fee_rates.dmn"
    table.write_text(_replace_once(table.read_text(encoding="utf-8"),
                                   '<outputEntry id="rule_1_output_1"><text>0</text>',
                                   '<outputEntry id="rule_1_output_1"><text>1 / 0</text>'),
                     encoding="utf-8")
    deploy_folder(db, broken)
    number = start(db, "lv_smallmicro")
    complete(db, number, "accept_application")  # decide_fee_rates fails, retries until an incident
    case_id = case_row(db, number).id
    run_retries_out(db, db.runtime, case_id, tmp_path)
    with db.reading() as session:
        [incident] = session.scalars(select(Incident).where(Incident.case_id == case_id)).all()
    assert incident.element_id == "decide_fee_rates" and incident.resolved_at is None
    with db.transaction() as session:  # the analyst fixes the table: the old files are current again
        deploy(session, db.runtime, fixed, "test")

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(db.version_id))

    assert outcome.result == "migrated", outcome.reason
    with db.reading() as session:
        assert session.get(Incident, incident.id).resolved_at is not None
        assert session.scalar(select(Job.status).where(Job.kind == "retry", Job.case_id == case_id)) == "done"
    [moved] = [event for event in events(db, number) if event.lifecycle == "migrated"]
    assert moved.data["resolved_incidents"] == [incident.id]
    assert "decide_fee_rates" in drive_case_to_end(db, number).visited


def with_time_limit(source: Path, target: Path, rule: int, old: str, new: str) -> Path:
    """``source`` with the plan-reply limit (output 2) of one rule of time_limits.dmn changed."""
    shutil.copytree(source, target)
    table = target / "time_limits.dmn"
    cell = f'<outputEntry id="rule_{rule}_output_2"><text>'
    table.write_text(_replace_once(table.read_text(encoding="utf-8"), f"{cell}{old}</text>", f"{cell}{new}</text>"),
                     encoding="utf-8")
    return target


def test_a_time_limit_changed_for_other_categories_moves_the_case_and_refuses_those_it_changes(
        db: Db, tmp_path: Path) -> None:
    residential = start(db, "lv_residential", id_number="110105199003070017")  # statute, lv_residential: rule 1
    advance_to(db, residential, "install_meter")
    other = start(db, "lv_other")  # statute, lv_other: rule 2, the one changed
    advance_to(db, other, "review_plan")
    unchanged = snapshot(db, other)
    new = deploy_folder(db, with_time_limit(deployed_files(db, tmp_path / "v1"), tmp_path / "v2", 2, "8", "6"))

    outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, str(new.id)))

    assert outcomes[residential].result == "migrated", outcomes[residential].reason
    assert outcomes[other].result == "refused"
    assert outcomes[other].reason == (
        '确定办理时限 (decide_time_limits, completed): its decision table (DMN decision "time_limits") now gives '
        "limits.plan_reply 6 (the case got 8)")
    assert snapshot(db, other) == unchanged
    assert case_row(db, residential).version_id == new.id
    with db.reading() as session:
        assert load_case(session, db.runtime, residential).case.data["limits"]["plan_reply"] == 3
    assert "install_meter" in drive_case_to_end(db, residential).visited  # it goes on, on the new version


def test_a_relabelled_step_of_a_dropped_subprocess_does_not_refuse_the_case(current: ProcessBundle,
                                                                            current_folder: Path,
                                                                            tmp_path: Path) -> None:
    relabelled = load_process_folder(renamed(current_folder, tmp_path / "v2", "review_plan", "审核供电方案",
                                             "审核供电方案（复核）"))
    case = case_at(current, "sign_plan")
    restored = dropped(case, current)  # the plan stage finished: only its summary of completed steps is left
    assert migration.plan_migration(case.workflow, current, relabelled).problems == []
    assert migration.plan_migration(restored, current, relabelled).problems == []


def test_versions_marks_a_rollback_and_lists_the_activations(db: Db, tmp_path: Path) -> None:
    original = deployed_files(db, tmp_path / "v1")
    new = deploy_folder(db, with_double_check(original, tmp_path / "v2"))
    db.clock.advance(timedelta(hours=2))
    with db.transaction() as session:  # the analyst rolls back, saying why
        deploy(session, db.runtime, original, "analyst", note="double check not agreed yet")

    listing = run_cli(db, tmp_path / "instance", "versions").output.splitlines()[1:]  # after "times: Asia/Shanghai"
    history = run_cli(db, tmp_path / "instance", "versions", "--history").output.splitlines()[1:]

    assert listing[0].startswith(f"* {db.version_id:>4}")
    assert listing[0].endswith(f"by analyst, was {new.id}: double check not agreed yet]"), listing[0]
    assert "current again" not in listing[1]
    assert history[0].startswith(f"{db.version_id:>4}  current again from ")  # a rollback
    assert history[0].endswith(f"by analyst, was {new.id}: double check not agreed yet")
    assert history[1].startswith(f"{new.id:>4}  current from ") and "by test" in history[1]
