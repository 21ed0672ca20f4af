"""Checks the user-task forms in processes/forms/ against docs/process-model.md and processes/forms/README.md."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from runner.forms import FORMAT_CHECKER

ROOT = Path(__file__).resolve().parents[1]
FORMS = ROOT / "processes" / "forms"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
CJK = re.compile(r"[\u4e00-\u9fff]")

TASK_IDS = [
    "apply",
    "accept_application", "supply_materials", "submit_property_proof", "verify_property_proof",
    "site_survey", "draft_plan", "review_plan", "approve_high_risk", "sign_plan",
    "submit_design", "review_design", "request_interim_check", "interim_check", "rectify_interim_defects",
    "report_completion", "completion_check", "rectify_defects", "draft_contract", "sign_contract",
    "handle_plan_expiry", "grid_works", "install_meter", "archive_documents", "supervise_breach",
    "followup_call", "customer_survey", "assign_rectification", "perform_rectification", "second_followup",
    "handle_dissatisfaction",
]

# Fields that BPMN gateways read: (task, field) -> (allowed values, happy-path default).
DECISIONS: dict[tuple[str, str], tuple[set[Any], Any]] = {
    ("accept_application", "decision"): ({"accept", "need_more", "reject"}, "accept"),
    ("accept_application", "one_certificate"): ({True, False}, False),
    ("accept_application", "commitment_signed"): ({True, False}, False),
    ("accept_application", "contract_signed"): ({True, False}, True),
    ("review_plan", "decision"): ({"approve", "revise"}, "approve"),
    ("approve_high_risk", "decision"): ({"approve", "revise", "reject"}, "approve"),
    ("review_design", "result"): ({"pass", "fail"}, "pass"),
    ("interim_check", "result"): ({"pass", "fail"}, "pass"),
    ("completion_check", "result"): ({"pass", "fail"}, "pass"),
    ("handle_plan_expiry", "decision"): ({"renew", "terminate"}, "renew"),
    ("verify_property_proof", "verified"): ({True, False}, True),
    ("sign_plan", "signed"): ({True, False}, True),
    ("sign_contract", "signed"): ({True, False}, True),
    ("followup_call", "reached"): ({True, False}, True),
    ("followup_call", "satisfaction"): ({"satisfied", "basically_satisfied", "dissatisfied"}, "satisfied"),
    ("customer_survey", "satisfaction"): ({"satisfied", "basically_satisfied", "dissatisfied"}, "satisfied"),
    ("second_followup", "reached"): ({True, False}, True),
    ("second_followup", "satisfaction"): ({"satisfied", "basically_satisfied", "dissatisfied"}, "satisfied"),
    ("perform_rectification", "rectified"): ({True, False}, True),
}
REQUIRED_WHEN_REACHED = {("followup_call", "satisfaction"), ("second_followup", "satisfaction")}
"""A call's rating is required when the customer was reached, and refused when not (processes/followup.bpmn)."""
SATISFACTION_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
MATERIAL_CODES = {
    "identity", "property_proof", "business_licence", "application_letter", "load_list", "site_plan",
    "project_approval", "power_of_attorney", "government_approval", "design_qualification", "completion_documents",
}
APPLICATION_FIELDS = {
    "customer_name", "customer_type", "enterprise_size", "id_type", "id_number", "phone", "address", "industry",
    "declared_capacity_kw", "equipment", "important_customer", "special_load", "dual_supply", "has_property_proof",
    "provided_materials", "requested_date", "commitment_signed",
}


# ---------------------------------------------------------------- helpers
def load(task_id: str, kind: str = "schema") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FORMS / f"{task_id}.{kind}.json").read_text(encoding="utf-8"))
    return data


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)  # the runner's formats


def is_valid(schema: dict[str, Any], instance: Any) -> bool:
    return validator(schema).is_valid(instance)


def has_sample(schema: dict[str, Any]) -> bool:
    return bool(schema.get("examples")) or "default" in schema


def sample(schema: dict[str, Any]) -> Any:
    """A field's sample answer: its first `examples` value, else its `default` (as `runner.forms.default_instance`)."""
    return copy.deepcopy(schema["examples"][0] if schema.get("examples") else schema["default"])


def build_defaults(schema: dict[str, Any], path: str = "$") -> Any:
    """The instance that `baozhuang try` submits: every sample answer, recursively through objects.

    A required property without a sample answer (and without nested ones) fails the test.
    """
    if has_sample(schema):
        return sample(schema)
    if schema.get("type") == "object":
        out = {}
        for name, sub in schema.get("properties", {}).items():
            if has_sample(sub) or sub.get("type") == "object":
                out[name] = build_defaults(sub, f"{path}.{name}")
            elif name in schema.get("required", []):
                raise AssertionError(f"required field {path}.{name} has no sample answer")
        return out
    raise AssertionError(f"{path}: no sample answer")


def walk(schema: dict[str, Any], path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every field schema: the root, object properties and array items (not if/then branches)."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


def choice_values(schema: dict[str, Any]) -> list[Any]:
    return [option["const"] for option in schema.get("oneOf", []) if "const" in option]


def types_of(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type", [])
    return set(t) if isinstance(t, list) else {t}


def happy(task_id: str) -> dict[str, Any]:
    instance = build_defaults(load(task_id))
    assert isinstance(instance, dict)
    return instance


all_tasks = pytest.mark.parametrize("task_id", TASK_IDS)


# ---------------------------------------------------------------- every form
@all_tasks
def test_both_files_exist(task_id: str) -> None:
    assert (FORMS / f"{task_id}.schema.json").is_file()
    assert (FORMS / f"{task_id}.uischema.json").is_file()


def test_no_stray_form_files() -> None:
    stems = {p.name.split(".")[0] for p in FORMS.glob("*.json")}
    assert stems == set(TASK_IDS)


@all_tasks
def test_schema_is_valid_draft_2020_12(task_id: str) -> None:
    schema = load(task_id)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT_2020_12
    assert schema["type"] == "object"
    assert schema["required"], "every form requires at least one field"
    assert set(schema["required"]) <= set(schema["properties"])


@all_tasks
def test_objects_are_closed_and_never_use_typename(task_id: str) -> None:
    for path, sub in walk(load(task_id)):
        assert not path.endswith(".typename")
        if "object" in types_of(sub):
            assert sub.get("additionalProperties") is False, path
            assert set(sub.get("required", [])) <= set(sub.get("properties", {})), path


@all_tasks
def test_chinese_title_and_description_everywhere(task_id: str) -> None:
    for path, sub in walk(load(task_id)):
        assert CJK.search(sub.get("title", "")), f"{path}: Chinese title"
        assert CJK.search(sub.get("description", "")), f"{path}: Chinese description"
        for option in sub.get("oneOf", []):
            assert "const" in option, f"{path}: choices are const/title pairs"
            # Units such as "10 kV" are the only labels allowed without Chinese characters.
            assert CJK.search(option["title"]) or re.fullmatch(r"[\d.]+ k?V", option["title"]), path


@all_tasks
def test_every_field_is_bounded(task_id: str) -> None:
    for path, sub in walk(load(task_id)):
        types = types_of(sub)
        if "string" in types and "oneOf" not in sub:
            assert "maxLength" in sub, f"{path}: maxLength"
            if sub.get("format") == "date":
                assert "pattern" in sub, f"{path}: date needs a pattern (formats are not always asserted)"
        if types & {"number", "integer"} and "oneOf" not in sub:
            assert "maximum" in sub and ("minimum" in sub or "exclusiveMinimum" in sub), path
        if "array" in types:
            assert "maxItems" in sub, f"{path}: maxItems"


@all_tasks
def test_required_fields_have_valid_happy_path_defaults(task_id: str) -> None:
    schema = load(task_id)
    for path, sub in walk(schema):
        if "object" in types_of(sub):
            for name in sub.get("required", []):
                assert has_sample(sub["properties"][name]), f"{path}.{name}: required without sample answer"
    instance = happy(task_id)
    assert set(schema["required"]) <= set(instance)
    errors = [e.message for e in validator(schema).iter_errors(instance)]
    assert not errors, errors
    # Every default and example on its own is valid for its field (covers optional fields and array items).
    for path, sub in walk(schema):
        values = ([sub["default"]] if "default" in sub else []) + sub.get("examples", [])
        for value in values if path != "$" else []:
            assert is_valid({**sub, "$schema": DRAFT_2020_12}, value), path


@all_tasks
def test_uischema_order_and_help(task_id: str) -> None:
    schema, ui = load(task_id), load(task_id, "uischema")

    def check(obj: dict[str, Any], ui_obj: dict[str, Any], path: str) -> None:
        fields = list(obj["properties"])
        order = ui_obj["ui:order"]
        assert len(order) == len(set(order)), f"{path}: duplicate in ui:order"
        assert set(order) - {"*"} <= set(fields), f"{path}: ui:order names unknown fields"
        assert "*" in order or set(order) == set(fields), f"{path}: ui:order misses {set(fields) - set(order)}"
        for key in ui_obj:
            assert key.startswith("ui:") or key in fields, f"{path}: ui entry for unknown field {key}"
        for name, sub in obj["properties"].items():
            field_ui = ui_obj.get(name, {})
            assert CJK.search(field_ui.get("ui:help", "")), f"{path}.{name}: Chinese ui:help"
            types = types_of(sub)
            if types & {"string", "number", "integer"} and "oneOf" not in sub:
                assert field_ui.get("ui:placeholder"), f"{path}.{name}: ui:placeholder"
            if sub.get("format") == "date":
                assert field_ui.get("ui:widget") == "date", f"{path}.{name}"
            items = sub.get("items", {})
            if "array" in types and sub.get("uniqueItems") and "oneOf" in items:
                assert field_ui.get("ui:widget") == "checkboxes", f"{path}.{name}: checklist"
            if "array" in types and items.get("format") == "uri-reference":
                assert field_ui.get("ui:widget") == "files", f"{path}.{name}: upload"
            if name in {"decision", "result", "satisfaction", "verified", "signed"}:
                assert field_ui.get("ui:widget") == "radio", f"{path}.{name}: decision"
            if name in {"remarks", "comments", "defects", "reason"}:
                assert field_ui.get("ui:widget") == "textarea", f"{path}.{name}: remarks"
            if items.get("type") == "object":
                check(items, field_ui["items"], f"{path}.{name}[]")

    check(schema, ui, task_id)


@all_tasks
def test_untouched_optional_arrays_are_valid(task_id: str) -> None:
    """RJSF submits [] for an array field the user never touched: that must not block an optional field."""
    schema = load(task_id)
    for name, sub in schema["properties"].items():
        if "array" in types_of(sub) and name not in schema["required"]:
            assert is_valid(schema, {**happy(task_id), name: []}), name


# ---------------------------------------------------------------- bad input
@all_tasks
def test_unknown_field_and_typename_rejected(task_id: str) -> None:
    schema = load(task_id)
    assert not is_valid(schema, {**happy(task_id), "unexpected_field": "x"})
    assert not is_valid(schema, {**happy(task_id), "typename": "x"})


@all_tasks
def test_missing_required_rejected(task_id: str) -> None:
    schema = load(task_id)
    for name in schema["required"]:
        instance = happy(task_id)
        del instance[name]
        assert not is_valid(schema, instance), name


@all_tasks
def test_oversize_strings_rejected(task_id: str) -> None:
    schema = load(task_id)
    checked = 0
    for name, sub in schema["properties"].items():
        target = sub["items"] if sub.get("type") == "array" and sub["items"].get("type") == "string" else sub
        if "maxLength" not in target:
            continue
        value = "字" * (target["maxLength"] + 1)
        assert not is_valid(schema, {**happy(task_id), name: [value] if target is not sub else value}), name
        checked += 1
    assert checked, "every form has at least one free-text field"


@all_tasks
def test_wrong_choice_and_wrong_type_rejected(task_id: str) -> None:
    schema = load(task_id)
    for name, sub in schema["properties"].items():
        if "oneOf" in sub:
            assert not is_valid(schema, {**happy(task_id), name: "__not_an_option__"}), name
        if "oneOf" in sub.get("items", {}):
            assert not is_valid(schema, {**happy(task_id), name: ["__not_an_option__"]}), name
        if types_of(sub) & {"number", "integer"}:
            assert not is_valid(schema, {**happy(task_id), name: "12"}), name
            if "maximum" in sub:
                assert not is_valid(schema, {**happy(task_id), name: sub["maximum"] + 1}), name
        if sub.get("format") == "date":
            for bad in ("2026/12/31", "2026-13-01", "31.12.2026", "2026-12-31T00:00:00+08:00"):
                assert not is_valid(schema, {**happy(task_id), name: bad}), (name, bad)


# ---------------------------------------------------------------- the contract
@pytest.mark.parametrize(("task_field", "expected"), DECISIONS.items(), ids=[f"{t}.{f}" for t, f in DECISIONS])
def test_decision_fields_match_contract(task_field: tuple[str, str], expected: tuple[set[Any], Any]) -> None:
    task_id, field = task_field
    values, default = expected
    schema = load(task_id)
    sub = schema["properties"][field]
    if task_field in REQUIRED_WHEN_REACHED:
        answer = happy(task_id)
        assert is_valid(schema, answer) and not is_valid(schema, {k: v for k, v in answer.items() if k != field})
        assert not is_valid(schema, {**answer, "reached": False})
        unreached = {k: v for k, v in answer.items() if k not in (field, "issues")}
        assert is_valid(schema, {**unreached, "reached": False})
    else:
        assert field in schema["required"]
    assert set(choice_values(sub)) == values
    assert all(CJK.search(o["title"]) for o in sub["oneOf"]), "labels in Chinese"
    assert sample(sub) == default
    assert "default" not in sub, "a decision opens unselected (docs/decisions.md)"
    assert load(task_id, "uischema")[field]["ui:widget"] == "radio"


def test_satisfaction_labels() -> None:
    for task_id in ("followup_call", "customer_survey", "second_followup"):
        options = load(task_id)["properties"]["satisfaction"]["oneOf"]
        assert {o["const"]: o["title"] for o in options} == SATISFACTION_LABELS


def test_site_survey_fields() -> None:
    schema = load("site_survey")
    props = schema["properties"]
    assert {"feeder_margin_kva", "safety_checklist"} <= set(schema["required"])
    assert props["feeder_margin_kva"]["type"] == "number" and props["feeder_margin_kva"]["minimum"] == 0
    assert not is_valid(schema, {**happy("site_survey"), "feeder_margin_kva": -1})
    checklist = props["safety_checklist"]
    assert checklist["uniqueItems"] is True
    assert not is_valid(schema, {**happy("site_survey"), "safety_checklist": sample(checklist)[:-1]})
    assert not is_valid(schema, {**happy("site_survey"), "safety_checklist": sample(checklist)[:1] * 2})
    assert props["photos"]["items"]["format"] == "uri-reference"


def test_assign_rectification_fields() -> None:
    schema = load("assign_rectification")
    assert {"responsible_person", "deadline"} <= set(schema["required"])
    assert schema["properties"]["deadline"]["format"] == "date"
    assert happy("assign_rectification")["deadline"] == "2030-12-31"  # a sample deadline must not pass (followup.bpmn)
    assert not is_valid(schema, {**happy("assign_rectification"), "responsible_person": "   "})


def test_draft_plan_fields() -> None:
    schema = load("draft_plan")
    assert {"supply_voltage_kv", "supply_points", "transformer_kva", "metering_scheme", "property_boundary",
            "plan_text"} <= set(schema["required"])
    assert not is_valid(schema, {**happy("draft_plan"), "supply_voltage_kv": 11})


def test_install_meter_and_archive_fields() -> None:
    meter = load("install_meter")
    assert {"meter_number", "ct_ratio", "safety_checklist", "quality_checklist"} <= set(meter["required"])
    assert {"photos", "installed_equipment"} <= set(meter["properties"])
    for ok in ("100/5", "1500/1", "direct"):
        assert is_valid(meter, {**happy("install_meter"), "ct_ratio": ok}), ok
    for bad in ("100:5", "100/3", "直接"):
        assert not is_valid(meter, {**happy("install_meter"), "ct_ratio": bad}), bad
    row = {"item": "meter", "model": "DTZY666", "serial_number": "3300000000000001", "quantity": 1}
    assert is_valid(meter, {**happy("install_meter"), "installed_equipment": [row]})
    assert not is_valid(meter, {**happy("install_meter"), "installed_equipment": [{**row, "typename": "x"}]})
    assert not is_valid(meter, {**happy("install_meter"), "installed_equipment": [{**row, "quantity": 0}]})
    archive = load("archive_documents")
    assert {"archive_checklist", "archive_number"} <= set(archive["required"])
    assert not is_valid(archive, {**happy("archive_documents"), "archive_number": "DA 2026/1"})


@pytest.mark.parametrize(
    ("task_id", "change", "valid"),
    [
        ("accept_application", {"decision": "reject"}, False),
        ("accept_application", {"decision": "reject", "reject_reason": "不在供电营业区"}, True),
        ("accept_application", {"decision": "need_more"}, False),
        ("accept_application", {"decision": "need_more", "missing_materials": []}, False),
        ("accept_application", {"decision": "need_more", "missing_materials": ["property_proof"]}, True),
        ("accept_application", {"one_certificate": True}, False),
        ("accept_application", {"one_certificate": True, "commitment_signed": True}, True),
        ("verify_property_proof", {"verified": False}, False),
        ("verify_property_proof", {"verified": False, "reason": "地址不一致"}, True),
        ("review_plan", {"decision": "revise"}, False),
        ("review_plan", {"decision": "revise", "comments": "补充计量方案"}, True),
        ("approve_high_risk", {"decision": "reject", "comments": "  "}, False),
        ("completion_check", {"result": "fail"}, False),
        ("completion_check", {"result": "fail", "defects": "接地电阻超标", "quality_checklist": []}, True),
        ("completion_check", {"quality_checklist": ["grounding_ok"]}, False),
        ("interim_check", {"safety_checklist": []}, False),
        ("handle_plan_expiry", {"decision": "terminate"}, False),
        ("handle_plan_expiry", {"decision": "terminate", "reason": "客户放弃"}, True),
        ("followup_call", {"satisfaction": "dissatisfied"}, False),
        ("followup_call", {"satisfaction": "dissatisfied", "comments": "太慢", "issues": []}, False),
        ("followup_call", {"satisfaction": "dissatisfied", "comments": "太慢", "issues": ["timeliness"]}, True),
        ("customer_survey", {"satisfaction": "dissatisfied", "comments": "装表拖了一周"}, False),
        ("customer_survey", {"satisfaction": "dissatisfied", "comments": "装表拖了一周", "issues": ["timeliness"]},
         True),
        ("customer_survey", {"satisfaction": "satisfied", "contact_method": "phone"}, False),
        ("second_followup", {"satisfaction": "dissatisfied", "comments": "太慢"}, False),
        ("supervise_breach", {"action": "customer_delay"}, False),
        ("supervise_breach", {"action": "customer_delay", "customer_caused": True}, True),
        ("perform_rectification", {"rectified": False}, False),
    ],
)
def test_conditional_rules(task_id: str, change: dict[str, Any], valid: bool) -> None:
    assert is_valid(load(task_id), {**happy(task_id), **change}) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("attachments/2026-000123/site_survey/3f2a9c.jpg", True),
        ("attachments/a.pdf", True),
        ("attachments/../secrets.txt", False),
        ("attachments/.hidden", False),
        ("data:image/png;base64,iVBORw0KGgo=", False),
        ("https://example.com/a.jpg", False),
        ("javascript:alert(1)", False),
        ("attachments/a b.jpg", False),
    ],
)
def test_upload_references(value: str, valid: bool) -> None:
    schema = load("site_survey")
    assert is_valid(schema, {**happy("site_survey"), "photos": [value]}) is valid


# ---------------------------------------------------------------- the application (start form)
def test_apply_has_the_application_fields() -> None:
    schema = load("apply")
    assert APPLICATION_FIELDS <= set(schema["properties"])
    assert APPLICATION_FIELDS <= set(schema["required"])
    props = schema["properties"]
    assert set(choice_values(props["customer_type"])) == {"residential", "non_residential"}
    assert set(choice_values(props["enterprise_size"])) == {"small_micro", "other", None}
    assert set(choice_values(props["provided_materials"]["items"])) == MATERIAL_CODES
    assert props["requested_date"]["format"] == "date"
    item = props["equipment"]["items"]
    assert set(item["required"]) == {"name", "count", "unit_kw", "demand_factor", "power_factor"}


@pytest.mark.parametrize(
    ("id_type", "id_number", "valid"),
    [
        ("id_card", "110101199003071233", True),
        ("id_card", "11010119900307109X", True),
        ("id_card", "11010119900307109x", True),
        ("id_card", "110101199003071234", False),  # the check digit should be 3
        ("id_card", "110101199002311233", False),  # 31 February
        ("id_card", "110101190002291233", False),  # 1900 was no leap year
        ("id_card", "11010119900307123X", False),  # X where 3 belongs
        ("id_card", "11010119900307123", False),
        ("id_card", "110101199013071233", False),
        ("id_card", "E12345678", False),
        ("household_register", "110101199003071233", True),
        ("household_register", "110101199003071234", False),
        ("passport", "E12345678", True),
        ("passport", "E1234", True),
        ("passport", "E-12345678", False),
        ("hk_macao_permit", "H12345678", True),
        ("hk_macao_permit", "12345678", False),
        ("social_credit_code", "91310000MA1FL4XQ3K", True),
        ("social_credit_code", "91310000MA1FL4XQ3I", False),
        ("foreign_permanent_id", "USA110079123456", True),
    ],
)
def test_apply_id_number_by_type(id_type: str, id_number: str, valid: bool) -> None:
    assert is_valid(load("apply"), {**happy("apply"), "id_type": id_type, "id_number": id_number}) is valid


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({"phone": "13912345678"}, True),
        ({"phone": "12345678901"}, False),
        ({"phone": "+8613912345678"}, False),
        ({"phone": "021-12345678"}, False),
        ({"declared_capacity_kw": 0}, False),
        ({"enterprise_size": None, "customer_type": "residential"}, True),
        ({"provided_materials": ["identity", "identity"]}, False),
        ({"provided_materials": ["id_card"]}, False),
        ({"equipment": []}, True),
        ({"equipment": [{"name": "电机", "count": 1, "unit_kw": 5, "demand_factor": 1.5, "power_factor": 0.8}]}, False),
        ({"equipment": [{"name": "电机", "count": 1, "unit_kw": 5, "demand_factor": 0.8, "power_factor": 1.2}]}, False),
        ({"equipment": [{"name": "电机", "count": 0, "unit_kw": 5, "demand_factor": 0.8, "power_factor": 0.8}]}, False),
        ({"equipment": [{"name": "电机", "count": 1, "unit_kw": 5, "demand_factor": 0.8}]}, False),
        ({"requested_date": "2026-02-30"}, False),
    ],
)
def test_apply_bounds(change: dict[str, Any], valid: bool) -> None:
    assert is_valid(load("apply"), {**happy("apply"), **change}) is valid


# ---------------------------------------------------------------- the BPMN, once it exists
def _user_tasks() -> list[tuple[str, str, dict[str, str]]]:
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
          "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
    found = []
    for bpmn in sorted((ROOT / "processes").glob("*.bpmn")):
        for task in ET.parse(bpmn).getroot().iterfind(".//bpmn:userTask", ns):
            props = {p.get("name", ""): p.get("value", "")
                     for p in task.iterfind(".//spiffworkflow:property", ns)}
            found.append((bpmn.name, task.get("id", ""), props))
    return found


def test_bpmn_user_tasks_reference_these_forms() -> None:
    tasks = _user_tasks()
    if not tasks:
        pytest.skip("no BPMN with user tasks yet")
    for bpmn, task_id, props in tasks:
        assert task_id in TASK_IDS, f"{bpmn}: user task {task_id} has no form here"
        assert props.get("formJsonSchemaFilename") == f"{task_id}.schema.json", (bpmn, task_id)
        assert props.get("formUiSchemaFilename") == f"{task_id}.uischema.json", (bpmn, task_id)
