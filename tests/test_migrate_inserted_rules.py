"""``baozhuang migrate`` and business rule tasks the new version inserts before a case's position.

A new DMN step on a flow the case already took is evaluated on the case's data (after its pre-script, on a copy),
as an inserted service task is run dry: it does not stop the case when it gives what the case holds or only fills
values the case left empty (written into the case and listed under ``filled``), and it refuses the case, naming
the step and the values it would change, when it would decide otherwise than the case holds. On SQLite and
PostgreSQL, through ``runner.migration`` and the real CLI.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from runner import migration
from runner.process_folder import load_process_folder
from runner.store import load_case
from tests.db import Db, advance_to, case_row, drive_case_to_end, events, run_cli, start
from tests.test_migr_78fef2c import DAY, PROCESSES, advance, old_case_at, old_folder, redeploy_today
from tests.test_migration import _replace_once, deploy_folder, deployed_files

STEP = "复核收费标准 (recheck_fee_rates)"


def rule_dmn(decision: str, outputs: list[tuple[str, str, str]]) -> str:
    """A DMN file of one decision whose single rule (any category) gives ``outputs`` (name, typeRef, value)."""
    columns = "\n".join(f'      <output id="output_{n}" label="{name}" name="{name}" typeRef="{kind}" />'
                        for n, (name, kind, _value) in enumerate(outputs, start=1))
    cells = "\n".join(f'        <outputEntry id="rule_1_output_{n}"><text>{value}</text></outputEntry>'
                      for n, (_name, _kind, value) in enumerate(outputs, start=1))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="definitions_{decision}" name="{decision}" \
namespace="http://baozhuang.example/dmn">
  <decision id="{decision}" name="{decision}">
    <decisionTable id="table_{decision}" hitPolicy="UNIQUE">
      <input id="input_1" label="客户类别">
        <inputExpression id="input_expression_1" typeRef="string"><text>category</text></inputExpression>
      </input>
{columns}
      <rule id="rule_1">
        <inputEntry id="rule_1_input_1"><text>-</text></inputEntry>
{cells}
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def with_inserted_rule(source: Path, target: Path, decision: str, dmn: str | None = None,
                       prescript: str | None = None) -> Path:
    """``source`` plus a business rule task ``recheck_fee_rates`` (复核收费标准) calling ``decision`` between
    计算业务费用 and 汇总风险要素, which every case past acceptance went through; ``dmn`` is the decision's file
    (none: an existing decision)."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    script = f"\n        <spiffworkflow:preScript>{prescript}</spiffworkflow:preScript>" if prescript else ""
    text = _replace_once(text, "<bpmn:flowNodeRef>calculate_fees</bpmn:flowNodeRef>",
                         "<bpmn:flowNodeRef>calculate_fees</bpmn:flowNodeRef>\n"
                         "        <bpmn:flowNodeRef>recheck_fee_rates</bpmn:flowNodeRef>")
    text = _replace_once(
        text, "<bpmn:outgoing>flow_calculate_fees_to_collect_risk_inputs</bpmn:outgoing>\n    </bpmn:serviceTask>",
        "<bpmn:outgoing>flow_calculate_fees_to_recheck_fee_rates</bpmn:outgoing>\n    </bpmn:serviceTask>\n"
        '    <bpmn:businessRuleTask id="recheck_fee_rates" name="复核收费标准">\n'
        "      <bpmn:extensionElements>\n"
        f"        <spiffworkflow:calledDecisionId>{decision}</spiffworkflow:calledDecisionId>{script}\n"
        "      </bpmn:extensionElements>\n"
        "      <bpmn:incoming>flow_calculate_fees_to_recheck_fee_rates</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_recheck_fee_rates_to_collect_risk_inputs</bpmn:outgoing>\n"
        "    </bpmn:businessRuleTask>")
    text = _replace_once(text, "<bpmn:incoming>flow_calculate_fees_to_collect_risk_inputs</bpmn:incoming>",
                         "<bpmn:incoming>flow_recheck_fee_rates_to_collect_risk_inputs</bpmn:incoming>")
    text = _replace_once(
        text, '<bpmn:sequenceFlow id="flow_calculate_fees_to_collect_risk_inputs" sourceRef="calculate_fees" '
        'targetRef="collect_risk_inputs" />',
        '<bpmn:sequenceFlow id="flow_calculate_fees_to_recheck_fee_rates" sourceRef="calculate_fees" '
        'targetRef="recheck_fee_rates" />\n'
        '    <bpmn:sequenceFlow id="flow_recheck_fee_rates_to_collect_risk_inputs" sourceRef="recheck_fee_rates" '
        'targetRef="collect_risk_inputs" />')
    text = _replace_once(
        text,
        '<bpmndi:BPMNEdge id="flow_calculate_fees_to_collect_risk_inputs_di" '
        'bpmnElement="flow_calculate_fees_to_collect_risk_inputs">\n'
        '        <di:waypoint x="2627" y="130" />\n        <di:waypoint x="2677" y="130" />\n'
        "      </bpmndi:BPMNEdge>",
        '<bpmndi:BPMNShape id="recheck_fee_rates_di" bpmnElement="recheck_fee_rates">\n'
        '        <dc:Bounds x="2577" y="200" width="100" height="80" />\n      </bpmndi:BPMNShape>\n'
        '      <bpmndi:BPMNEdge id="flow_calculate_fees_to_recheck_fee_rates_di" '
        'bpmnElement="flow_calculate_fees_to_recheck_fee_rates">\n'
        '        <di:waypoint x="2577" y="170" />\n        <di:waypoint x="2627" y="200" />\n'
        "      </bpmndi:BPMNEdge>\n"
        '      <bpmndi:BPMNEdge id="flow_recheck_fee_rates_to_collect_risk_inputs_di" '
        'bpmnElement="flow_recheck_fee_rates_to_collect_risk_inputs">\n'
        '        <di:waypoint x="2677" y="240" />\n        <di:waypoint x="2727" y="170" />\n'
        "      </bpmndi:BPMNEdge>")
    bpmn.write_text(text, encoding="utf-8")
    if dmn is not None:
        (target / f"{decision}.dmn").write_text(dmn, encoding="utf-8")
    return target


def moved_event(db: Db, number: str) -> dict[str, object]:
    [moved] = [event for event in events(db, number) if event.lifecycle == "migrated"]
    assert isinstance(moved.data, dict)
    return moved.data


def test_an_inserted_decision_that_decides_as_the_case_did_moves_it(db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary", dual_supply=True)
    advance_to(db, number, "site_survey")
    new = deploy_folder(db, with_inserted_rule(deployed_files(db, tmp_path / "v1"), tmp_path / "v2", "fee_rates"))

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id))

    assert outcome.result == "migrated", outcome.reason
    assert case_row(db, number).version_id == new.id
    assert "filled" not in moved_event(db, number)  # the same rates: nothing to fill in


def test_an_inserted_decision_that_fills_an_empty_value_moves_the_case_and_says_what_it_filled(
        db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary")
    advance_to(db, number, "site_survey")
    dmn = rule_dmn("fee_review", [("fee_review.level", "string", '"standard"'),
                                  ("fee_review.reviewed", "boolean", "True")])
    new = deploy_folder(db, with_inserted_rule(deployed_files(db, tmp_path / "v1"), tmp_path / "v2", "fee_review",
                                               dmn))

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id))

    assert outcome.result == "migrated", outcome.reason
    assert moved_event(db, number)["filled"] == {"fee_review": {"level": "standard", "reviewed": True}}
    result = drive_case_to_end(db, number)
    assert result.completed and "recheck_fee_rates" not in result.visited  # passed already: not run again
    assert result.data["fee_review"] == {"level": "standard", "reviewed": True}


def test_an_inserted_decision_that_would_change_a_value_refuses_the_case_naming_step_and_values(
        db: Db, tmp_path: Path) -> None:
    dual = start(db, "hv_ordinary", dual_supply=True)
    advance_to(db, dual, "site_survey")
    waiting = start(db, "hv_ordinary")  # not past the new step yet: it will decide there
    before = case_row(db, dual)
    dmn = rule_dmn("fee_override", [("fee_rates.high_reliability_per_kva", "number", "999")])
    new = deploy_folder(db, with_inserted_rule(deployed_files(db, tmp_path / "v1"), tmp_path / "v2",
                                               "fee_override", dmn))

    result = run_cli(db, tmp_path / "instance", "migrate", "--to", str(new.id))

    assert result.exit_code == 0 and "migrated 1, refused 1, failed 0" in result.output, result.output
    lines = {line.split(":", 1)[0]: line for line in result.output.splitlines()}
    assert lines[waiting].startswith(f"{waiting}: migrated"), lines[waiting]
    refusal = lines[dual]
    assert refusal.startswith(f"{dual}: refused: 计算业务费用 (calculate_fees, completed): its outgoing sequence "
                              f"flows changed (new target: {STEP}"), refusal
    assert (f"the case went past {STEP}, which the target version inserted here; run on the case's data, "
            f"{STEP} would change fee_rates.high_reliability_per_kva to `999` (the case has `200`)") in refusal
    after = case_row(db, dual)
    assert (after.version_id, after.revision, after.state) == (before.version_id, before.revision, before.state)


def test_an_inserted_decision_whose_pre_script_changes_a_value_refuses_the_case(db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary")
    advance_to(db, number, "site_survey")
    with db.reading() as session:
        voltage = load_case(session, db.runtime, number).case.workflow.last_task.data["supply_voltage_kv"]
    new = deploy_folder(db, with_inserted_rule(deployed_files(db, tmp_path / "v1"), tmp_path / "v2", "fee_rates",
                                               prescript="supply_voltage_kv = 35"))

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id))

    assert outcome.result == "refused"
    assert (f"{STEP} would change supply_voltage_kv to `35` (the case has `{voltage}`); fee_rates."
            "high_reliability_per_kva to `170` (the case has `200`)") in outcome.reason, outcome.reason


def test_an_inserted_decision_that_fails_on_the_case_refuses_it_saying_why(db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary", customer_name="无类别测试客户")
    advance_to(db, number, "site_survey")
    # the samples decide (deploy runs them); this case's data match no rule of the table
    unknown = "category = 'unknown' if application['customer_name'] == '无类别测试客户' else category"
    new = deploy_folder(db, with_inserted_rule(deployed_files(db, tmp_path / "v1"), tmp_path / "v2", "fee_rates",
                                               prescript=unknown))

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id))

    assert outcome.result == "refused"
    assert f"{STEP} cannot be rerun on the case's data to compare (" in outcome.reason, outcome.reason
    assert case_row(db, number).version_id == db.version_id


# -- the previous release's cases: the plan's fee steps ------------------------------------------------------------


def test_a_case_past_the_plan_is_refused_naming_what_the_plan_fee_steps_would_change(db: Db, tmp_path: Path) -> None:
    """按方案确定收费标准 (a business rule task with a pre-script) and 按方案核定费用 were inserted after 供电方案答复:
    a case of the previous release waiting at 确认供电方案 is refused, now saying which value each would change."""
    deploy_folder(db, old_folder(tmp_path / "old"))
    at_signing = start(db, "hv_ordinary")
    advance(db, at_signing, "sign_plan")
    redeploy_today(db)

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(db.version_id), case_numbers=[at_signing])

    assert outcome.result == "refused"
    assert ("the case went past 按方案确定收费标准 (decide_plan_fee_rates), 按方案核定费用 (recalculate_fees), "
            "which the target version inserted here; run on the case's data, 按方案核定费用 (recalculate_fees) "
            'would change fees.costed_on to `"plan"` (the case has `"application"`)') in outcome.reason, outcome.reason


def test_the_plan_fee_rates_step_alone_is_checked_on_the_case_s_plan(tmp_path: Path) -> None:
    """Without a database: today's model with 按方案核定费用 taken out, so that only the inserted business rule task
    is between 供电方案答复 and 确认供电方案. A plan at the voltage the case was decided at changes nothing; a plan
    at another voltage would change the case's voltage and rates, which the refusal names."""
    old = load_process_folder(old_folder(tmp_path / "old"))
    today = load_process_folder(without_recalculation(PROCESSES, tmp_path / "today"))
    survey = {"survey_date": DAY}  # the old form's sample date is after the case's clock
    same = old_case_at(old, "sign_plan", {"site_survey": survey, "draft_plan": {"supply_voltage_kv": 10}})
    assert migration.plan_migration(same.workflow, old, today).problems == []
    other = old_case_at(old, "sign_plan", {"site_survey": survey, "draft_plan": {"supply_voltage_kv": 35}})
    [problem] = migration.plan_migration(other.workflow, old, today).problems
    assert ("按方案确定收费标准 (decide_plan_fee_rates) would change supply_voltage_kv to `35` (the case has `10`); "
            "fee_rates.high_reliability_per_kva to `170` (the case has `200`)") in problem, problem


def without_recalculation(source: Path, target: Path) -> Path:
    """``source`` with 按方案核定费用 (recalculate_fees) taken out: 按方案确定收费标准 leads to 确认供电方案."""
    shutil.copytree(source, target)
    bpmn = target / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    start = text.index('    <bpmn:serviceTask id="recalculate_fees"')
    end = text.index("</bpmn:serviceTask>", start) + len("</bpmn:serviceTask>\n")
    text = text[:start] + text[end:]
    text = _replace_once(text, "        <bpmn:flowNodeRef>recalculate_fees</bpmn:flowNodeRef>\n", "")
    text = _replace_once(text, "<bpmn:outgoing>flow_decide_plan_fee_rates_to_recalculate_fees</bpmn:outgoing>",
                         "<bpmn:outgoing>flow_recalculate_fees_to_sign_plan</bpmn:outgoing>")
    text = _replace_once(
        text, '    <bpmn:sequenceFlow id="flow_decide_plan_fee_rates_to_recalculate_fees" '
        'sourceRef="decide_plan_fee_rates" targetRef="recalculate_fees" />\n', "")
    text = _replace_once(text, 'sourceRef="recalculate_fees" targetRef="sign_plan"',
                         'sourceRef="decide_plan_fee_rates" targetRef="sign_plan"')
    for element in ("recalculate_fees_di", "flow_decide_plan_fee_rates_to_recalculate_fees_di"):
        start = text.index(f'id="{element}"')
        start = text.rindex("<bpmndi:", 0, start)
        closing = "</bpmndi:BPMNShape>" if "BPMNShape" in text[start:start + 20] else "</bpmndi:BPMNEdge>"
        end = text.index(closing, start) + len(closing)
        text = text[:start] + text[end:].lstrip("\n ")
    bpmn.write_text(text, encoding="utf-8")
    return target
