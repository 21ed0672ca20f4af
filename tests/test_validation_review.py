"""Review fixes of ``baozhuang validate``: a start tag left open is reported at its own line with its element id
(libxml2 gives up on the line after), and an error or escalation boundary event that nothing inside its activity
throws any more is a problem (left over when the steps that threw were deleted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.process_folder import ProcessFolderError, load_process_folder
from tests.test_validate import problem_lines, replace_in, run_validate

OPEN_TAG = '<bpmn:userTask id="site_survey" name="现场勘查">'


def line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                if text in line)


def test_a_start_tag_left_open_is_reported_at_its_line_naming_its_element(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    line = line_of(bpmn, OPEN_TAG)
    replace_in(bpmn, OPEN_TAG, OPEN_TAG[:-1])  # the closing ">" lost: the attributes run into the next line
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem.startswith(f"{bpmn}:{line}: site_survey: invalid XML: the start tag <bpmn:userTask> on this "
                              "line is not closed ("), problem
    with pytest.raises(ProcessFolderError) as raised:
        load_process_folder(process_copy)
    assert raised.value.problems[0].startswith(f"{bpmn}:{line}: site_survey: invalid XML: the start tag"), \
        raised.value.problems


def test_other_xml_errors_keep_the_line_lxml_gives(process_copy: Path) -> None:
    bpmn = process_copy / "followup.bpmn"
    replace_in(bpmn, "</bpmn:process>", "</bpmn:proces>")
    line = line_of(bpmn, "</bpmn:proces>")
    code, output = run_validate(process_copy)
    assert code == 1 and f"{bpmn}:{line}: -: invalid XML: " in output, output


def test_an_error_boundary_that_nothing_throws_to_is_a_problem(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    line = line_of(bpmn, '<bpmn:boundaryEvent id="catch_plan_rejected"')
    # the only thrower of plan_rejected, 方案否决 (end_plan_vetoed), becomes a plain end event
    replace_in(bpmn, '<bpmn:errorEventDefinition id="eed_end_plan_vetoed" errorRef="error_plan_rejected" />', "")
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{bpmn}:{line}: catch_plan_rejected: 「方案否决」 catches error "plan_rejected" from 「供电方案答复」, but '
        "nothing in it throws one: the path after it never runs; delete the boundary event and its path, or throw "
        "the error where it should be raised"]


def test_an_error_thrown_under_another_code_does_not_reach_the_boundary(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, '<bpmn:error id="error_plan_rejected" name="方案否决" errorCode="plan_rejected">',
               '<bpmn:error id="error_plan_rejected" name="方案否决" errorCode="plan_rejected">'
               '</bpmn:error>\n  <bpmn:error id="error_other" name="其他" errorCode="other">')
    replace_in(bpmn, 'errorRef="error_plan_rejected" />', 'errorRef="error_other" />')  # the thrower, first
    code, output = run_validate(process_copy)
    assert code == 1 and any(": catch_plan_rejected: " in line and 'catches error "plan_rejected"' in line
                             for line in problem_lines(output)), output


def test_the_escalations_the_shipped_model_throws_reach_their_boundaries(process_copy: Path) -> None:
    code, output = run_validate(process_copy)
    assert code == 0, output
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'escalationRef="escalation_sla_design_review" />', "/>")  # the thrower loses its reference
    code, output = run_validate(process_copy)
    expected = (': catch_sla_design_review: 「设计文件审核超时」 catches escalation "sla_design_review" '
                "from 「客户受电工程」")
    assert any(expected in line for line in problem_lines(output)), output
