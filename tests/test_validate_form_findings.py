"""`baozhuang validate` names form mistakes once, at their own line: a condition comparing a field with a value its
form never gives (runner/form_value_checks.py), a schema keyword typo, a `required` name that is no property and a
UI schema entry naming no field (runner/form_schema_checks.py)."""

from __future__ import annotations

from pathlib import Path

from tests.test_validate import cell_line, element_line, problem_lines, replace_in, run_validate

APPROVE = 'review_plan["decision"] == "approve"'


def test_a_condition_comparing_with_a_value_the_form_never_gives_is_named_once_at_the_flow(
        process_copy: Path) -> None:
    """Before: four `samples/<x>.json:1: -: … the case is stuck after [...]` lines, far from the cause."""
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, APPROVE, APPROVE.replace('"approve"', '"approved"'))
    code, output = run_validate(process_copy)
    assert code == 1
    flow = "flow_gw_review_to_gw_high_risk"
    assert problem_lines(output) == [
        f'{bpmn}:{element_line(bpmn, flow)}: {flow}: compares review_plan["decision"] with "approved" (did you mean '
        '"approve"?), a value the form review_plan.schema.json never gives field "decision" (its values: "approve", '
        '"revise"): the comparison is never true; correct the value here or add it to the form']


def test_a_boolean_field_compared_with_a_string_is_named(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'sign_plan["signed"]', 'sign_plan["signed"] == "true"')
    code, output = run_validate(process_copy)
    assert code == 1
    lines = problem_lines(output)
    assert len(lines) == 1 and 'compares sign_plan["signed"] with "true"' in lines[0], output
    assert "(its values: True, False)" in lines[0]


def test_a_type_typo_in_a_form_schema_is_named_at_its_line_with_the_field_path(process_copy: Path) -> None:
    schema = process_copy / "forms" / "review_plan.schema.json"
    line = cell_line(schema, '"type": "string"')
    replace_in(schema, '"type": "string"', '"type": "strng"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{schema}:{line}: review_plan: invalid JSON Schema: properties.decision.type: "strng" is no JSON Schema '
        'type (did you mean "string"?); the types are array, boolean, integer, null, number, object, string']


def test_required_naming_no_property_is_named_once_at_its_line(process_copy: Path) -> None:
    """Before: `the form's default answer does not fit the form` once per sample reaching review_plan."""
    schema = process_copy / "forms" / "review_plan.schema.json"
    replace_in(schema, '"required": [\n    "decision"\n  ]', '"required": [\n    "decision",\n    "comment"\n  ]')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{schema}:{cell_line(schema, chr(34) + "comment" + chr(34))}: review_plan: required names "comment" (did '
        'you mean "comments"?), which is no property (its properties: comments, decision): no answer could ever be '
        "complete; correct the name, or add the property"]


def test_a_ui_order_entry_naming_no_field_is_named(process_copy: Path) -> None:
    ui = process_copy / "forms" / "accept_application.uischema.json"
    line = cell_line(ui, '"contract_signed",')
    replace_in(ui, '"contract_signed",', '"contract_signd",')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{ui}:{line}: accept_application: ui:order names "contract_signd" (did you mean "contract_signed"?), which '
        "is no field of the form (its fields: commitment_signed, contract_signed, decision, missing_materials, "
        "one_certificate, reject_reason, remarks): correct the name, or remove it"]


def test_ui_settings_for_no_field_are_named_in_nested_items_too(process_copy: Path) -> None:
    review = process_copy / "forms" / "review_plan.uischema.json"
    replace_in(review, '\n  "comments": {', '\n  "comment": {')
    apply = process_copy / "forms" / "apply.uischema.json"
    replace_in(apply, '\n      "name": {', '\n      "nme": {')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{review}:{cell_line(review, chr(34) + "comment" + chr(34) + ": {")}: review_plan: UI settings for '
        '"comment" (did you mean "comments"?), which is no field of the form (its fields: comments, decision): the '
        "form would show none of them (help text, widget …); correct the name",
        f'{apply}:{cell_line(apply, chr(34) + "nme" + chr(34))}: start_application: UI settings for "nme" (did you '
        'mean "name"?), which is no field of equipment.items of the form (its fields: count, demand_factor, name, '
        "power_factor, unit_kw): the form would show none of them (help text, widget …); correct the name"]
