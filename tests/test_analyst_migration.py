"""``baozhuang migrate`` as a process analyst meets it: a reminder timer attached to a step is said as such, not as
the engine's rewiring of the gateway before it; a case moved while it waits for a message says which, as a case
at a task names the task. (Refusals, deadlines and counts in general: tests/test_migration*.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

from runner import migration
from runner.process_folder import ProcessBundle, load_process_folder
from tests.db import Db, advance_to, case_row, complete, run_cli, start
from tests.test_migration import case_at, deploy_folder, deployed_files, timer_values

REMINDER = """
      <bpmn:boundaryEvent id="timer_draft_plan_reminder" name="编制提醒" attachedToRef="draft_plan"
          cancelActivity="false">
        <bpmn:outgoing>flow_reminder_to_end</bpmn:outgoing>
        <bpmn:timerEventDefinition id="ted_timer_draft_plan_reminder">
          <bpmn:timeDate xsi:type="bpmn:tFormalExpression">working_deadline(2)</bpmn:timeDate>
        </bpmn:timerEventDefinition>
      </bpmn:boundaryEvent>
      <bpmn:endEvent id="end_draft_reminder" name="已提醒">
        <bpmn:incoming>flow_reminder_to_end</bpmn:incoming>
      </bpmn:endEvent>
      <bpmn:sequenceFlow id="flow_reminder_to_end" sourceRef="timer_draft_plan_reminder"
          targetRef="end_draft_reminder" />
"""
REMINDER_DI = """
      <bpmndi:BPMNShape id="timer_draft_plan_reminder_di" bpmnElement="timer_draft_plan_reminder">
        <dc:Bounds x="3795" y="1412" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_draft_reminder_di" bpmnElement="end_draft_reminder">
        <dc:Bounds x="3795" y="1460" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="flow_reminder_to_end_di" bpmnElement="flow_reminder_to_end">
        <di:waypoint x="3813" y="1448" /><di:waypoint x="3813" y="1460" />
      </bpmndi:BPMNEdge>
"""


def with_draft_reminder(source: Path, target: Path) -> Path:
    """``source`` with a non-interrupting reminder timer attached to 编制供电方案, drawn and in its lane."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    for old, new in (("<bpmn:outgoing>flow_draft_plan_to_review_plan</bpmn:outgoing>\n      </bpmn:userTask>",
                      "<bpmn:outgoing>flow_draft_plan_to_review_plan</bpmn:outgoing>\n      </bpmn:userTask>"
                      + REMINDER),
                     ("<bpmn:flowNodeRef>draft_plan</bpmn:flowNodeRef>",
                      "<bpmn:flowNodeRef>draft_plan</bpmn:flowNodeRef><bpmn:flowNodeRef>timer_draft_plan_reminder"
                      "</bpmn:flowNodeRef><bpmn:flowNodeRef>end_draft_reminder</bpmn:flowNodeRef>"),
                     ('      <bpmndi:BPMNShape id="review_plan_di"',
                      REMINDER_DI + '      <bpmndi:BPMNShape id="review_plan_di"')):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    bpmn.write_text(text, encoding="utf-8")
    return target


def test_a_reminder_attached_to_a_step_is_said_so(bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    """Before: ``exclusive gateway gw_draft_merge (completed): it has a new outgoing flow to the boundary events of
    编制供电方案 (draft_plan) (no condition); its flow to 编制供电方案 (draft_plan) is gone; its default flow now goes
    to the boundary events of …`` — a gateway the analyst never touched, rewired."""
    target = load_process_folder(with_draft_reminder(folder, tmp_path / "v2"))
    reminder = "编制提醒 (timer_draft_plan_reminder)"
    gateway = ("exclusive gateway gw_draft_merge (completed): boundary events were attached to the step it leads "
               f"to, 编制供电方案 (draft_plan): {reminder}")
    at_step = migration.plan_migration(case_at(bundle, "draft_plan").workflow, bundle, target).problems
    assert at_step == [gateway]
    past = migration.plan_migration(case_at(bundle, "review_plan").workflow, bundle, target).problems
    assert past == [gateway, "编制供电方案 (draft_plan, completed): its incoming sequence flows changed (boundary "
                             f"events were attached: {reminder})"]
    before = migration.plan_migration(case_at(bundle, "site_survey").workflow, bundle, target).problems
    assert before == []  # a case that has not reached the merge yet moves and will get the reminder


def test_a_case_waiting_for_a_message_says_so_when_it_moves(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_residential")
    advance_to(db, number, "install_meter")
    complete(db, number, "install_meter")
    timers = timer_values(db, number)
    assert timers  # the 装表接电 limit is running while the meter is awaited
    renamed = deployed_files(db, tmp_path / "v2")
    bpmn = renamed / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    assert text.count('name="装表接电"') == 3  # the lane, the stage and the task
    bpmn.write_text(text.replace('name="装表接电"', 'name="装表送电"'), encoding="utf-8")
    new = deploy_folder(db, renamed)
    dry = run_cli(db, tmp_path / "instance", "migrate", "--to", str(new.id), "--dry-run", catch_exceptions=False)
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[0].endswith(f"-> {new.id} ({new.version_hash[:12]}); waiting for message "
                                               "meter_online"), dry.output
    assert case_row(db, number).version_id == db.version_id
    done = run_cli(db, tmp_path / "instance", "migrate", "--to", str(new.id), catch_exceptions=False)
    assert done.exit_code == 0 and "; waiting for message meter_online" in done.output, done.output
    assert case_row(db, number).version_id == new.id
    assert timer_values(db, number) == timers  # same timers, same deadlines


def test_a_renamed_lane_is_a_label_and_moves_every_case(bundle: ProcessBundle, folder: Path, tmp_path: Path) -> None:
    """Before: a lane given another name (its id, so its role, unchanged) refused every case past any of its steps,
    ``记录具备装表条件 (record_energize_ready, completed): it moved to lane 装表接电班 (was 装表接电) | …``, and a
    renamed stage the case was in (``装表接电 (energize_stage, in progress): its name changed …``) too."""
    shutil.copytree(folder, tmp_path / "v2")
    bpmn = tmp_path / "v2" / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    for old, new in (('<bpmn:lane id="lane_installer" name="装表接电">',
                      '<bpmn:lane id="lane_installer" name="装表接电班">'),
                     ('<bpmn:subProcess id="energize_stage" name="装表接电"',
                      '<bpmn:subProcess id="energize_stage" name="装表送电"')):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    bpmn.write_text(text, encoding="utf-8")
    target = load_process_folder(tmp_path / "v2")
    case = case_at(bundle, "install_meter")
    assert migration.plan_migration(case.workflow, bundle, target).problems == []
    moved_role = load_process_folder(_with_lane_role(folder, tmp_path / "v3"))
    assert migration.plan_migration(case.workflow, bundle, moved_role).problems == [
        "装表接电 (install_meter, open): it moved to role archivist (was installer)"]


def _with_lane_role(source: Path, target: Path) -> Path:
    """``source`` with 装表接电 (install_meter) moved to the archivist's lane: a change of role still refuses."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    text = text.replace("<bpmn:flowNodeRef>install_meter</bpmn:flowNodeRef>", "", 1)
    text = text.replace('<bpmn:lane id="lane_archivist" name="归档">',
                        '<bpmn:lane id="lane_archivist" name="归档">\n'
                        "<bpmn:flowNodeRef>install_meter</bpmn:flowNodeRef>", 1)
    bpmn.write_text(text, encoding="utf-8")
    return target
