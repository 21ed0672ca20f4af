"""`baozhuang validate` places what the parser or the samples found at the element's real line: a flow leaving a
gateway without a condition and not its default (runner/flow_checks.py), and a decision table's input expression
that fails on every sample (runner/decision_input_checks.py), once."""

from __future__ import annotations

from pathlib import Path

from tests.test_validate import cell_line, element_line, problem_lines, replace_in, run_validate

GATEWAY = '<bpmn:exclusiveGateway id="gw_review" name="审核结论？" default="flow_gw_review_to_gw_draft_merge">'


def test_a_gateway_flow_without_condition_nor_default_is_named_at_the_flow(process_copy: Path) -> None:
    """Before: `baozhuang.bpmn:0: …: Non-default exclusive outgoing sequence flow without condition.`"""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, GATEWAY, GATEWAY.replace(' default="flow_gw_review_to_gw_draft_merge"', ""))
    code, output = run_validate(process_copy)
    assert code == 1
    flow = "flow_gw_review_to_gw_draft_merge"
    assert problem_lines(output) == [
        f"{bpmn}:{element_line(bpmn, flow)}: {flow}: 「退回修改」 leaves 「审核结论？」 (gw_review) without a "
        f'condition and is not its default flow: give it a condition, or make it the default (default="{flow}" on '
        "the gateway; in the modeler: the wrench menu of the flow, Default flow)"]


def test_an_input_expression_that_fails_is_named_once_at_its_line(process_copy: Path) -> None:
    """Before: six `supply_voltage.dmn:3: decide_voltage: sample …: … Rule failed on row 1 …` lines."""
    dmn = process_copy / "supply_voltage.dmn"
    replace_in(dmn, '<text>capacity["installed_kw"]</text>', '<text>capacity["instaled_kw"]</text>')
    code, output = run_validate(process_copy)
    assert code == 1
    samples = sorted(path.stem for path in (process_copy / "samples").glob("*.json"))
    assert problem_lines(output) == [
        f'{dmn}:{cell_line(dmn, "instaled_kw")}: input_expression_1: samples {", ".join(samples)}: input expression '
        """capacity["instaled_kw"] fails: KeyError: 'instaled_kw' (did you mean "installed_kw"?): every rule reads """
        "it, so no case passes the table"]
