"""`baozhuang validate`: the real model passes; each kind of broken copy fails naming file and element."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from runner.cli import main
from tests.conftest import PROCESSES, ROOT


def run_validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", str(path)])
    return result.exit_code, result.output


def test_the_shipped_model_is_valid() -> None:
    code, output = run_validate(PROCESSES)
    assert code == 0, output
    assert "valid" in output


def test_console_script_is_installed_and_validates() -> None:
    script = Path(sys.executable).parent / "baozhuang"
    completed = subprocess.run([str(script), "validate", str(PROCESSES)], capture_output=True, text=True, cwd=ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def replace_in(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"^\S+:\d+: \S+: ", line)]


def assert_names(output: str, file_name: str, element: str) -> None:
    lines = problem_lines(output)
    assert any(file_name in line and f": {element}: " in line for line in lines), output


def test_missing_form_file_names_the_task(process_copy: Path) -> None:
    (process_copy / "forms" / "review_plan.schema.json").unlink()
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "baozhuang.bpmn", "review_plan")


def test_invalid_form_schema_names_the_task(process_copy: Path) -> None:
    (process_copy / "forms" / "site_survey.schema.json").write_text('{"type": "no-such-type"}', encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "site_survey.schema.json", "site_survey")


def test_unregistered_operator_names_the_service_task(process_copy: Path) -> None:
    replace_in(process_copy / "baozhuang.bpmn", 'id="capacity_assessment"', 'id="capacity_guess"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "baozhuang.bpmn", "assess_capacity")
    assert "capacity_guess" in output


def test_condition_that_does_not_compile_names_the_flow(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    match = re.search(r'<bpmn:sequenceFlow id="([^"]+)"[^>]*>\s*<bpmn:conditionExpression[^>]*>([^<]+)<', text)
    assert match, "the model has conditional flows"
    flow_id, condition = match.group(1), match.group(2)
    bpmn.write_text(text.replace(condition, condition + " ==", 1), encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "baozhuang.bpmn", flow_id)


def test_duration_timer_is_refused(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    match = re.search(r'<bpmn:boundaryEvent id="([^"]+)"(?:(?!</bpmn:boundaryEvent>).)*?<bpmn:timeDate', text, re.S)
    assert match
    start = text.index("<bpmn:timeDate", match.start())
    end = text.index("</bpmn:timeDate>", start) + len("</bpmn:timeDate>")
    text = text[:start] + '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P3D"</bpmn:timeDuration>' + text[end:]
    bpmn.write_text(text, encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "baozhuang.bpmn", match.group(1))


def test_user_task_outside_every_lane_is_refused(process_copy: Path) -> None:
    replace_in(process_copy / "baozhuang.bpmn", "<bpmn:flowNodeRef>install_meter</bpmn:flowNodeRef>", "")
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "baozhuang.bpmn", "install_meter")


def test_malformed_xml_names_the_line(process_copy: Path) -> None:
    bpmn = process_copy / "followup.bpmn"
    lines = bpmn.read_text(encoding="utf-8").splitlines()
    lines.insert(5, "<bpmn:broken")
    bpmn.write_text("\n".join(lines), encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    assert re.search(r"followup\.bpmn:\d+: -: invalid XML", output), output


def test_dmn_cell_that_does_not_compile_names_the_rule(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    text = dmn.read_text(encoding="utf-8")
    match = re.search(r'<rule id="([^"]+)">.*?<outputEntry id="[^"]+">\s*<text>([^<]+)</text>', text, re.S)
    assert match
    start = text.index("<text>", text.index("<outputEntry", match.start())) + len("<text>")
    dmn.write_text(text[:start] + "3 + (" + text[start:], encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "time_limits.dmn", match.group(1))


@pytest.mark.parametrize("missing", ["not-a-folder"])
def test_missing_folder_is_an_error(tmp_path: Path, missing: str) -> None:
    code, output = run_validate(tmp_path / missing)
    assert code == 1
    assert f"error: {tmp_path / missing}: no such folder (give the process folder" in output


BROKEN_REFERENCES = {
    # name: (file, text to break, broken text, element expected, message expected)
    "targetRef": ("baozhuang.bpmn", 'sourceRef="site_survey" targetRef="assess_risk"',
                  'sourceRef="site_survey" targetRef="nowhere"',
                  "flow_site_survey_to_assess_risk", "targetRef 'nowhere' does not exist"),
    "sourceRef": ("baozhuang.bpmn", 'sourceRef="site_survey" targetRef="assess_risk"',
                  'sourceRef="nowhere" targetRef="assess_risk"',
                  "flow_site_survey_to_assess_risk", "sourceRef 'nowhere' does not exist"),
    "default": ("baozhuang.bpmn", 'default="flow_gw_acceptance_to_supply_materials"', 'default="flow_missing"',
                "gw_acceptance", "default flow 'flow_missing' does not exist"),
    "attachedToRef": ("baozhuang.bpmn", 'attachedToRef="accept_application"', 'attachedToRef="nowhere"',
                      "timer_acceptance", "attachedToRef 'nowhere' does not exist"),
    "calledElement": ("baozhuang.bpmn", 'calledElement="baozhuang_sla_escalation"', 'calledElement="nowhere"',
                      "escalate_acceptance", "calledElement 'nowhere' names no process of this folder"),
}


def break_reference(folder: Path, name: str) -> str:
    """Apply one broken reference; return the expected ``file:line`` of the element that holds it."""
    file_name, old, new, _element, _message = BROKEN_REFERENCES[name]
    path = folder / file_name
    replace_in(path, old, new)
    text = path.read_text(encoding="utf-8")
    return f"{path}:{text[:text.index(new)].count(chr(10)) + 1}"


@pytest.mark.parametrize("name", sorted(BROKEN_REFERENCES))
def test_dangling_reference_names_the_line_and_the_attribute(process_copy: Path, name: str) -> None:
    location = break_reference(process_copy, name)
    _file, _old, _new, element, message = BROKEN_REFERENCES[name]
    code, output = run_validate(process_copy)
    assert code == 1
    lines = problem_lines(output)
    assert len(lines) == 1 and lines[0].startswith(f"{location}: {element}: {message}"), output


def test_default_flow_that_leaves_another_element_is_refused(process_copy: Path) -> None:
    replace_in(process_copy / "baozhuang.bpmn", 'default="flow_gw_acceptance_to_supply_materials"',
               'default="flow_site_survey_to_assess_risk"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert_names(output, "baozhuang.bpmn", "gw_acceptance")
    assert "default flow 'flow_site_survey_to_assess_risk' does not leave this element" in output


def test_try_reports_a_dangling_reference_like_validate(process_copy: Path) -> None:
    location = break_reference(process_copy, "targetRef")
    result = CliRunner().invoke(main, ["try", "--category", "lv_other", "--processes", str(process_copy)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{location}: flow_site_survey_to_assess_risk: targetRef 'nowhere' does not exist"]


# -- DMN cells that compile but would go wrong in a case ------------------------------------------------------------

PLAN_REPLY_CELL = '<outputEntry id="rule_2_output_2"><text>8</text>'
PLAN_REPLY = "output entry rule_2_output_2 (limits.plan_reply, typeRef='number')"


def cell_line(path: Path, marker: str) -> int:
    return next(number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if marker in line)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ('"8 days"', f'{PLAN_REPLY}: "8 days" is a string, not a number'),
        ("abc", f'{PLAN_REPLY}: abc is no value: no case data of this folder has that name (a string needs quotes: '
                '"abc")'),
        ("True", f"{PLAN_REPLY}: True is a boolean, not a number"),
        ("", f'{PLAN_REPLY}: an empty output entry gives the empty string "", not a number (write None for no '
             "value)"),
        ("-", f"{PLAN_REPLY}: '-' is no value in an output entry (cells are Python): write None for no value"),
        ("now", f"{PLAN_REPLY}: now is a function, not a value"),
        ("8 days", "output entry rule_2_output_2 does not compile: '8 days'"),
    ],
    ids=["quoted-text", "bare-name", "boolean", "empty", "dash", "function", "no-python"],
)
def test_output_entry_that_does_not_fit_its_column(process_copy: Path, cell: str, message: str) -> None:
    dmn = process_copy / "time_limits.dmn"
    line = cell_line(dmn, PLAN_REPLY_CELL)
    replace_in(dmn, PLAN_REPLY_CELL, f'<outputEntry id="rule_2_output_2"><text>{cell}</text>')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [f"{dmn}:{line}: rule_2: {message}"]


@pytest.mark.parametrize("cell", ["None", "8.0", "1", "regime"], ids=["no-value", "decimal", "one", "data-name"])
def test_output_entries_that_may_fit_are_accepted(process_copy: Path, cell: str) -> None:
    """None is "no value"; a name the case data may hold could be a number; 8.0 is a whole number of days (8.5 is
    refused: tests/test_validate_review.py): only certain mistakes are errors. (The
    static checks alone: without samples/ no case is tried; a sample reaching a None limit fails at its timer, see
    tests/test_validate_samples.py.)"""
    shutil.rmtree(process_copy / "samples")
    replace_in(process_copy / "time_limits.dmn", PLAN_REPLY_CELL, f'<outputEntry id="rule_2_output_2"><text>{cell}'
                                                                  "</text>")
    code, output = run_validate(process_copy)
    assert code == 0, output


def test_output_entry_outside_the_allowed_values(process_copy: Path) -> None:
    """A column may declare its allowed values (DMN outputValues, written as an input entry is): the time limits
    declare ``>= 1``, which refuses a zero or negative limit."""
    dmn = process_copy / "time_limits.dmn"
    assert '<outputValues id="output_2_values"><text>&gt;= 1</text></outputValues>' in dmn.read_text(encoding="utf-8")
    line = cell_line(dmn, PLAN_REPLY_CELL)
    replace_in(dmn, PLAN_REPLY_CELL, '<outputEntry id="rule_2_output_2"><text>-8</text>')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{line}: rule_2: {PLAN_REPLY}: -8 is not among the column's allowed values (outputValues: >= 1)"]


def test_unique_table_with_two_rules_of_the_same_inputs_names_both(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    text = dmn.read_text(encoding="utf-8")
    rule = re.search(r'<rule id="rule_2">.*?</rule>', text, re.S)
    assert rule
    copied = rule.group(0).replace("rule_2", "rule_17").replace('<text>"statute"</text>', '<text> "statute" </text>')
    dmn.write_text(text.replace("</decisionTable>", copied + "\n    </decisionTable>"), encoding="utf-8")
    first, added = cell_line(dmn, '<rule id="rule_2">'), cell_line(dmn, '<rule id="rule_17">')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{added}: rule_17: same input entries as rule_2 (line {first}): the UNIQUE table would match both; "
        "delete one or tell them apart"]


def test_collect_table_may_have_rules_of_the_same_inputs(process_copy: Path) -> None:
    dmn = process_copy / "required_materials.dmn"
    text = dmn.read_text(encoding="utf-8")
    rule = re.search(r'<rule id="([^"]+)">.*?</rule>', text, re.S)
    assert rule
    copied = rule.group(0).replace(rule.group(1), "rule_copied")
    dmn.write_text(text.replace("</decisionTable>", copied + "\n    </decisionTable>"), encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 0, output


# -- every flow node and sequence flow is drawn on the diagram ------------------------------------------------------

BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DRAWINGS = f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge"


def element_line(path: Path, element_id: str) -> int:
    """The line of the BPMN element (not its drawing) with this id."""
    return cell_line(path, f' id="{element_id}"')


def remove_drawings(path: Path, element_ids: set[str]) -> list[Any]:
    """Delete the BPMNShapes and BPMNEdges of these elements from every plane; return them."""
    tree = etree.parse(str(path))
    removed = [drawing for drawing in tree.iter(*DRAWINGS) if drawing.get("bpmnElement") in element_ids]
    for drawing in removed:
        drawing.getparent().remove(drawing)
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    return removed


def test_a_task_without_a_shape_is_refused(process_copy: Path) -> None:
    """site_survey lies inside the expanded subprocess plan_stage: its shape is on the process's plane."""
    bpmn = process_copy / "baozhuang.bpmn"
    assert len(remove_drawings(bpmn, {"site_survey"})) == 1
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{bpmn}:{element_line(bpmn, "site_survey")}: site_survey: 「现场勘查」 has no shape on the diagram '
        '(bpmndi:BPMNShape bpmnElement="site_survey"): draw it in the modeler']


def test_a_sequence_flow_without_an_edge_is_refused(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    flow = "flow_site_survey_to_assess_risk"
    assert len(remove_drawings(bpmn, {flow})) == 1
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{element_line(bpmn, flow)}: {flow}: sequence flow has no edge on the diagram "
        f'(bpmndi:BPMNEdge bpmnElement="{flow}"): draw it in the modeler']


def test_a_process_without_a_diagram_is_one_problem(process_copy: Path) -> None:
    bpmn = process_copy / "escalation.bpmn"
    tree = etree.parse(str(bpmn))
    for diagram in tree.iterfind(f"{{{BPMNDI}}}BPMNDiagram"):
        diagram.getparent().remove(diagram)
    tree.write(str(bpmn), xml_declaration=True, encoding="UTF-8")
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{element_line(bpmn, 'baozhuang_sla_escalation')}: baozhuang_sla_escalation: 「时限督办」 has no "
        "diagram (no bpmndi:BPMNPlane shows it and none of its elements is drawn): draw it in the modeler"]


def test_a_collapsed_subprocess_drawn_on_its_own_plane_is_valid(process_copy: Path) -> None:
    """The modeler draws a collapsed subprocess's content on a separate BPMNDiagram whose plane shows the
    subprocess: that counts as drawn. Without that plane each of its elements is a problem."""
    bpmn = process_copy / "followup.bpmn"
    tree = etree.parse(str(bpmn))
    subprocess_ = tree.find(".//{*}subProcess[@id='collect_feedback']")
    inner = {el.get("id") for el in subprocess_.iter() if el is not subprocess_ and el.get("id")}
    drawings = [drawing for drawing in tree.iter(*DRAWINGS) if drawing.get("bpmnElement") in inner]
    assert len(drawings) > 5
    tree.find(f".//{{{BPMNDI}}}BPMNShape[@bpmnElement='collect_feedback']").set("isExpanded", "false")
    diagram = etree.SubElement(tree.getroot(), f"{{{BPMNDI}}}BPMNDiagram", id="diagram_collect_feedback")
    plane = etree.SubElement(diagram, f"{{{BPMNDI}}}BPMNPlane", id="plane_collect_feedback",
                             bpmnElement="collect_feedback")
    plane.extend(drawings)  # moves them off the process's plane
    tree.write(str(bpmn), xml_declaration=True, encoding="UTF-8")
    code, output = run_validate(process_copy)
    assert code == 0, output

    tree.getroot().remove(diagram)
    tree.write(str(bpmn), xml_declaration=True, encoding="UTF-8")
    code, output = run_validate(process_copy)
    assert code == 1
    undrawn = {line.split(": ")[1] for line in problem_lines(output)}
    flows = {el.get("id") for el in subprocess_.iter("{*}sequenceFlow")}
    assert undrawn == {drawing.get("bpmnElement") for drawing in drawings} and flows < undrawn, output


# -- XSD errors name the element and say what is wrong in plain words -----------------------------------------------


def test_a_flow_without_target_ref_names_the_flow(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'sourceRef="site_survey" targetRef="assess_risk"', 'sourceRef="site_survey"')
    flow = "flow_site_survey_to_assess_risk"
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [f"{bpmn}:{element_line(bpmn, flow)}: {flow}: sequence flow has no targetRef"]


def test_every_schema_error_of_a_file_is_reported(process_copy: Path) -> None:
    """SpiffWorkflow's parser stops at one XSD error; validate names each, at its element."""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'sourceRef="site_survey" targetRef="assess_risk"', 'targetRef="assess_risk"')
    replace_in(bpmn, '<bpmn:userTask id="site_survey" name="现场勘查">',
               '<bpmn:userTask id="site_survey" name="现场勘查" colour="red">')
    flow = "flow_site_survey_to_assess_risk"
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{element_line(bpmn, 'site_survey')}: site_survey: user task, attribute colour: The attribute "
        "'colour' is not allowed",
        f"{bpmn}:{element_line(bpmn, flow)}: {flow}: sequence flow has no sourceRef"]


LIMIT_KEYS = ("acceptance, archive, completion_check, contract, design_review, energize, followup, interim_check, "
              "plan_reply, supervision, whole_case")


def test_a_timer_reading_a_time_limit_no_table_gives_is_named(process_copy: Path) -> None:
    """``limits["plan_replyy"]``: SpiffWorkflow would fail only when a case reaches the timer (a KeyError)."""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'working_deadline(limits["plan_reply"], timeline.get("plan_refused", timeline["accepted"]))',
               'working_deadline(limits["plan_replyy"], timeline["accepted"])')
    timer_line = cell_line(bpmn, '<bpmn:boundaryEvent id="timer_plan_reply"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{bpmn}:{timer_line}: timer_plan_reply: reads limits["plan_replyy"], which no decision table gives '
        f"(time_limits.dmn writes {LIMIT_KEYS})"]


def test_a_key_a_script_adds_to_a_decision_result_may_be_read(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'working_deadline(limits["plan_reply"], timeline.get("plan_refused", timeline["accepted"]))',
               'working_deadline(limits.get("plan_reply_extra", 3), timeline["accepted"])')
    code, output = run_validate(process_copy)
    assert code == 1 and 'reads limits["plan_reply_extra"]' in output  # .get is a read too
    replace_in(bpmn, "<spiffworkflow:calledDecisionId>time_limits</spiffworkflow:calledDecisionId>",
               "<spiffworkflow:calledDecisionId>time_limits</spiffworkflow:calledDecisionId>\n"
               '<spiffworkflow:postScript>limits["plan_reply_extra"] = 3</spiffworkflow:postScript>')
    code, output = run_validate(process_copy)
    assert code == 0, output
