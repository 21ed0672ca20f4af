"""A process analyst's mistakes that ``baozhuang validate`` (and so ``deploy``) used to let through, or reported far
from where they are: a DMN hit policy the engine does not run as the standard says, a form field misspelt in a
gateway condition (or read the FEEL way, ``review_plan.decision``), ``=`` written for ``==``, a missing form file
without the way out, a diagram shape left behind for an element that is no longer there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_validate import cell_line, problem_lines, replace_in, run_validate

APPROVE = 'review_plan["decision"] == "approve"'
APPROVE_FLOW = '<bpmn:sequenceFlow id="flow_gw_review_to_gw_high_risk"'


# -- hit policies -------------------------------------------------------------------------------------------------


# ANY, PRIORITY, RULE ORDER, OUTPUT ORDER and COLLECT aggregations are run as DMN 1.3 defines them now; what the
# engine still cannot run is refused at the table: tests/test_dmn2_validate.py.


def test_first_is_run_as_written_and_accepted(process_copy: Path) -> None:
    replace_in(process_copy / "time_limits.dmn", 'hitPolicy="UNIQUE"', 'hitPolicy="FIRST"')
    code, output = run_validate(process_copy)
    assert code == 0, output


# -- form fields read by expressions ------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ['review_plan["decison"] == "approve"',
                                       'review_plan.get("decison") == "approve"'], ids=["subscript", "get"])
def test_a_misspelt_form_field_is_refused_at_the_flow(process_copy: Path, condition: str) -> None:
    """Before, the subscript was found only by the samples, at the gateway and once per sample, as a KeyError;
    with ``.get`` the condition was never true and every approved plan went back to drafting, unreported."""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, APPROVE, condition)
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{bpmn}:{cell_line(bpmn, APPROVE_FLOW)}: flow_gw_review_to_gw_high_risk: reads review_plan["decison"] (did '
        'you mean "decision"?), but the form review_plan.schema.json has no field "decison" (its fields: comments, '
        "decision): correct the name here or add the field to the form"]


def test_a_form_field_read_the_feel_way_is_refused(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, APPROVE, 'review_plan.decision == "approve"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{cell_line(bpmn, APPROVE_FLOW)}: flow_gw_review_to_gw_high_risk: reads review_plan.decision: a "
        "task's form data is a dict (expressions are Python, not FEEL); write review_plan[\"decision\"]"]


def test_a_field_the_form_gains_may_be_read(process_copy: Path) -> None:
    """The check follows the form: a field added to the form (here inside an ``allOf``'s ``then``) is known."""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, APPROVE, 'review_plan.get("urgent", False) or review_plan["decision"] == "approve"')
    replace_in(process_copy / "forms" / "review_plan.schema.json", '"then": {',
               '"then": {\n        "properties": {"urgent": {"type": "boolean"}},')
    code, output = run_validate(process_copy)
    assert code == 0, output


# -- FEEL's = and missing form files ------------------------------------------------------------------------------


def test_a_single_equals_sign_says_to_compare_with_two(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, APPROVE, 'review_plan["decision"] = "approve"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{cell_line(bpmn, APPROVE_FLOW)}: flow_gw_review_to_gw_high_risk: expression does not compile: "
        """invalid syntax: 'review_plan["decision"] = "approve"'; expressions are Python, not FEEL: compare with == """
        "(a single = assigns)"]


def test_other_syntax_errors_get_no_feel_hint(process_copy: Path) -> None:
    replace_in(process_copy / "baozhuang.bpmn", APPROVE, 'review_plan["decision"] == = "approve"')
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem.endswith("""invalid syntax: 'review_plan["decision"] == = "approve"'"""), problem


def test_a_missing_form_file_says_what_to_do(process_copy: Path) -> None:
    (process_copy / "forms" / "review_plan.uischema.json").unlink()
    bpmn = process_copy / "baozhuang.bpmn"
    line = cell_line(bpmn, '<bpmn:userTask id="review_plan"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{line}: review_plan: form file "
        f"{process_copy / 'forms' / 'review_plan.uischema.json'} does not exist: add the form's UI schema there "
        "(forms/README.md), or name an existing file in the task's formUiSchemaFilename property"]


# -- the diagram --------------------------------------------------------------------------------------------------


def test_an_edge_left_behind_by_a_deleted_flow_is_refused(process_copy: Path) -> None:
    """A step put between 编制供电方案 and 审核供电方案 in a text editor, the old flow deleted but not its edge: the
    engine does not mind, bpmn.io opens the file with an unresolved-reference warning."""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, '<bpmn:sequenceFlow id="flow_draft_plan_to_review_plan" sourceRef="draft_plan" '
               'targetRef="review_plan" />', '<bpmn:sequenceFlow id="flow_draft_plan_to_check_plan" '
               'sourceRef="draft_plan" targetRef="check_plan" />\n'
               '<bpmn:sequenceFlow id="flow_check_plan_to_review_plan" sourceRef="check_plan" '
               'targetRef="review_plan" />')
    replace_in(bpmn, "<bpmn:outgoing>flow_draft_plan_to_review_plan</",
               "<bpmn:outgoing>flow_draft_plan_to_check_plan</")
    replace_in(bpmn, "<bpmn:incoming>flow_draft_plan_to_review_plan</",
               "<bpmn:incoming>flow_check_plan_to_review_plan</")
    replace_in(bpmn, '<bpmn:userTask id="review_plan"', '<bpmn:scriptTask id="check_plan" name="记录方案">'
               "<bpmn:incoming>flow_draft_plan_to_check_plan</bpmn:incoming>"
               "<bpmn:outgoing>flow_check_plan_to_review_plan</bpmn:outgoing>"
               "<bpmn:script>pass</bpmn:script></bpmn:scriptTask>\n"
               '<bpmn:userTask id="review_plan"')
    replace_in(bpmn, "<bpmn:flowNodeRef>review_plan</", "<bpmn:flowNodeRef>check_plan</bpmn:flowNodeRef>"
               "<bpmn:flowNodeRef>review_plan</")
    replace_in(bpmn, '<bpmndi:BPMNEdge id="flow_draft_plan_to_review_plan_di"',
               '<bpmndi:BPMNShape id="check_plan_di" bpmnElement="check_plan"><dc:Bounds x="3763" y="1490" '
               'width="100" height="80" /></bpmndi:BPMNShape>'
               '<bpmndi:BPMNEdge id="a_di" bpmnElement="flow_draft_plan_to_check_plan"><di:waypoint x="3813" '
               'y="1430" /><di:waypoint x="3813" y="1490" /></bpmndi:BPMNEdge>'
               '<bpmndi:BPMNEdge id="b_di" bpmnElement="flow_check_plan_to_review_plan"><di:waypoint x="3863" '
               'y="1530" /><di:waypoint x="3913" y="1530" /></bpmndi:BPMNEdge>\n'
               '<bpmndi:BPMNEdge id="flow_draft_plan_to_review_plan_di"')
    edge = cell_line(bpmn, '<bpmndi:BPMNEdge id="flow_draft_plan_to_review_plan_di"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{bpmn}:{edge}: flow_draft_plan_to_review_plan_di: bpmndi:BPMNEdge draws "flow_draft_plan_to_review_plan", '
        "which is no element of this file (deleted, or its id changed): delete this edge, or point bpmnElement at "
        "the element's new id"]


def test_a_renamed_flow_is_reported_as_undrawn_first(process_copy: Path) -> None:
    """An id changed by mistake: what it breaks is the problem (here the flow has no edge); its old edge is not
    reported besides, since putting the id back mends both."""
    bpmn = process_copy / "baozhuang.bpmn"
    for old in ('<bpmn:sequenceFlow id="flow_review_plan_to_gw_review"',
                "<bpmn:incoming>flow_review_plan_to_gw_review</", "<bpmn:outgoing>flow_review_plan_to_gw_review</"):
        replace_in(bpmn, old, old.replace("flow_review_plan_to_gw_review", "flow_review_done"))
    code, output = run_validate(process_copy)
    assert code == 1
    flow = cell_line(bpmn, '<bpmn:sequenceFlow id="flow_review_done"')
    assert problem_lines(output) == [
        f"{bpmn}:{flow}: flow_review_done: sequence flow has no edge on the diagram (bpmndi:BPMNEdge "
        'bpmnElement="flow_review_done"): draw it in the modeler']


# -- XML a hand edit breaks ---------------------------------------------------------------------------------------


def test_an_element_left_open_says_which_start_tag_and_what_to_do(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    opened = cell_line(bpmn, '<bpmn:userTask id="review_plan"')
    replace_in(bpmn, '<bpmn:userTask id="review_plan" name="审核供电方案">',
               '<bpmn:userTask id="review_plan" name="审核供电方案"><bpmn:foo>')
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    closing = next(number for number, text in enumerate(bpmn.read_text(encoding="utf-8").splitlines(), 1)
                   if number > opened and "</bpmn:userTask>" in text)
    assert problem.startswith(f"{bpmn}:{closing}: -: invalid XML: Opening and ending tag mismatch: "), problem
    assert problem.endswith(f": the end tag </bpmn:userTask> on this line does not match the start tag <bpmn:foo> of "
                            f"line {opened}; end <bpmn:foo> before it, or correct the end tag's name"), problem


def test_a_lost_closing_quote_says_so(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'name="审核供电方案">', 'name="审核供电方案>')
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert ": -: invalid XML: Unescaped '<' not allowed in attributes values" in problem, problem
    assert problem.endswith(": an attribute value is not closed: its closing quote is missing, on this line or one "
                            'just above (e.g. name="审核供电方案>)'), problem


# -- DMN files edited by hand -------------------------------------------------------------------------------------


def test_a_rule_id_used_twice_in_a_dmn_file_is_named(process_copy: Path) -> None:
    """Before: ``time_limits.dmn:67: -: Element '{https://www.omg.org/spec/DMN/20191111/MODEL/}rule', attribute
    'id': 'rule_1' is not a valid value of the atomic type 'xs:ID'..`` (the parser's first XSD error only)."""
    dmn = process_copy / "time_limits.dmn"
    first, second = cell_line(dmn, '<rule id="rule_1">'), cell_line(dmn, '<rule id="rule_2">')
    replace_in(dmn, '<rule id="rule_2">', '<rule id="rule_1">')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [f"{dmn}:{second}: rule_1: id rule_1 is used twice (also at line {first})"]


def test_a_misspelt_hit_policy_lists_the_policies_readably(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, 'hitPolicy="UNIQUE"', 'hitPolicy="UNIQE"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{cell_line(dmn, '<decisionTable')}: table_time_limits: dmn:decisionTable, attribute hitPolicy: "
        "[facet 'enumeration'] The value 'UNIQE' is not an element of the set {'UNIQUE', 'FIRST', 'PRIORITY', 'ANY', "
        "'COLLECT', 'RULE ORDER', 'OUTPUT ORDER'}"]


def test_a_cell_without_an_id_is_named_at_its_line(process_copy: Path) -> None:
    """Before: ``baozhuang.bpmn:0: decide_time_limits: KeyError('id').``"""
    dmn = process_copy / "time_limits.dmn"
    line = cell_line(dmn, '<inputEntry id="rule_2_input_1">')
    replace_in(dmn, '<inputEntry id="rule_2_input_1">', "<inputEntry>")
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{line}: rule_2: inputEntry without an id: the engine reads "
        "every inputEntry by its id; give it one, unique in the file"]
