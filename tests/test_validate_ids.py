"""`baozhuang validate`: an id used twice in a BPMN file is one problem in plain words, at its second use, without
the follow-on problems of the references it makes ambiguous; `baozhuang try` says the same."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from runner.cli import main
from tests.test_validate import element_line, problem_lines, replace_in, run_validate

REVIEW_PLAN = '<bpmn:userTask id="review_plan" name="审核供电方案">'


def test_an_id_used_twice_is_one_problem_at_its_second_use(process_copy: Path) -> None:
    """review_plan renamed to draft_plan (already used): the XSD's words were "'draft_plan' is not a valid value of
    the atomic type 'xs:ID'", and the flows to and from review_plan followed as two more problems."""
    bpmn = process_copy / "baozhuang.bpmn"
    first, second = element_line(bpmn, "draft_plan"), element_line(bpmn, "review_plan")
    assert first < second
    replace_in(bpmn, REVIEW_PLAN, REVIEW_PLAN.replace("review_plan", "draft_plan"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [f"{bpmn}:{second}: draft_plan: id draft_plan is used twice (also at line {first})"]
    assert "xs:ID" not in output


def test_try_names_the_duplicate_the_same_way(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    first, second = element_line(bpmn, "draft_plan"), element_line(bpmn, "review_plan")
    replace_in(bpmn, REVIEW_PLAN, REVIEW_PLAN.replace("review_plan", "draft_plan"))
    result = CliRunner().invoke(main, ["try", "--category", "lv_other", "--processes", str(process_copy)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{bpmn}:{second}: draft_plan: id draft_plan is used twice (also at line {first})"]


def test_an_id_used_three_times_names_every_other_line(process_copy: Path) -> None:
    """A diagram shape given a task's id is a duplicate too: ids are unique across the file's XML."""
    bpmn = process_copy / "baozhuang.bpmn"
    first, second = element_line(bpmn, "draft_plan"), element_line(bpmn, "review_plan")
    replace_in(bpmn, REVIEW_PLAN, REVIEW_PLAN.replace("review_plan", "draft_plan"))
    replace_in(bpmn, 'id="draft_plan_di"', 'id="draft_plan"')
    shape = next(number for number, line in enumerate(bpmn.read_text(encoding="utf-8").splitlines(), 1)
                 if 'bpmnElement="draft_plan"' in line)
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{second}: draft_plan: id draft_plan is used 3 times (also at lines {first}, {shape})",
        f"{bpmn}:{shape}: draft_plan: id draft_plan is used 3 times (also at lines {first}, {second})"]


def test_an_id_that_is_no_xml_name_says_what_an_id_may_hold(process_copy: Path) -> None:
    bpmn = process_copy / "followup.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    start = text.index('<bpmn:sequenceFlow id="') + len('<bpmn:sequenceFlow id="')
    flow = text[start:text.index('"', start)]
    line = element_line(bpmn, flow)
    bpmn.write_text(text[:start] + "1" + text[start:], encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output)[0] == (
        f"{bpmn}:{line}: 1{flow}: id '1{flow}' is not a valid id: an XML name (letters, digits, '_', '-', '.'; no "
        "spaces; not starting with a digit)"), output
    assert "xs:ID" not in output


def test_parameters_of_one_name_in_several_service_tasks_are_no_duplicates(process_copy: Path) -> None:
    """``spiffworkflow:parameter`` ids name the operator's arguments (``category`` in every call): not XML ids."""
    text = (process_copy / "baozhuang.bpmn").read_text(encoding="utf-8")
    assert text.count('<spiffworkflow:parameter id="category"') > 1
    code, output = run_validate(process_copy)
    assert code == 0, output
