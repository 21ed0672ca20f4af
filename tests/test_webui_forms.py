"""The server-side form renderer on every form of processes/forms: what a browser would send back from a
rendered sample answer parses to the same data, which the schema accepts; messages land at their fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

from runner.forms import FormValidationError, default_instance, validate_form_data
from tests.db import PROCESSES
from webui import create_app
from webui.formrender import Field, attach_errors, initial_data, parse_submission, render_form

FORMS = sorted(path.name.removesuffix(".schema.json") for path in (PROCESSES / "forms").glob("*.schema.json"))


def load(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    forms = PROCESSES / "forms"
    return (json.loads((forms / f"{name}.schema.json").read_text(encoding="utf-8")),
            json.loads((forms / f"{name}.uischema.json").read_text(encoding="utf-8")))


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"})
    with app.test_request_context("/"):
        yield app


def browser_submission(fields: list[Field]) -> MultiDict[str, str]:
    """What a browser sends for the rendered inputs, untouched."""
    sent: list[tuple[str, str]] = []

    def add(field: Field) -> None:
        if field.widget in ("radio", "select"):
            sent.extend((field.name, c.value) for c in field.choices if c.selected)
            if field.widget == "select" and not any(c.selected for c in field.choices):
                sent.append((field.name, ""))
        elif field.widget == "checkboxes":
            sent.append((f"{field.name}.present", "1"))
            sent.extend((field.name, c.value) for c in field.choices if c.selected)
        elif field.widget == "checkbox":
            if field.value == "true":
                sent.append((field.name, "true"))
        elif field.widget == "rows":
            sent.append((f"{field.name}.rows", str(len(field.rows))))
            for row in field.rows:
                for cell in row:
                    add(cell)
        elif field.widget != "json":
            sent.append((field.name, field.value))

    for field in fields:
        add(field)
    return MultiDict(sent)


@pytest.mark.parametrize("name", FORMS)
def test_rendered_sample_answers_come_back_as_valid_data(app: Flask, name: str) -> None:
    schema, ui = load(name)
    defaults = default_instance(schema)  # the form filled in with the happy path's answers
    form = render_form(schema, ui, defaults)
    assert form.title == schema["title"]
    assert [field.name for field in form.fields][:len(ui["ui:order"])] == ui["ui:order"]
    assert all(field.label and field.label != field.name for field in form.fields)
    data = parse_submission(schema, ui, browser_submission(form.fields))
    validate_form_data(schema, data)
    assert data == {key: value for key, value in defaults.items() if value not in ([], None)}


@pytest.mark.parametrize("name", FORMS)
def test_every_field_gets_a_widget_it_can_edit(name: str) -> None:
    schema, ui = load(name)
    form = render_form(schema, ui, initial_data(schema))
    for field in form.fields:
        assert field.widget != "json", f"{name}.{field.name}"
        if field.widget in ("radio", "select", "checkboxes"):
            assert all(choice.title for choice in field.choices)


def test_messages_land_at_their_fields(app: Flask) -> None:
    schema, ui = load("accept_application")
    data = parse_submission(schema, ui, MultiDict([("decision", "need_more"), ("one_certificate", "true"),
                                                   ("commitment_signed", "false"), ("contract_signed", "maybe"),
                                                   ("missing_materials.present", "1")]))
    assert data["contract_signed"] == "maybe" and "missing_materials" not in data
    with pytest.raises(FormValidationError) as raised:
        validate_form_data(schema, data)
    form = render_form(schema, ui, data, raised.value.errors)
    errors = {field.name: field.errors for field in form.fields if field.errors}
    assert errors == {"commitment_signed": ["与其他填写内容不一致，请检查。"],
                      "contract_signed": ["请选择一个有效的选项。"],
                      "missing_materials": ["此项为必填项。"]}
    assert form.errors == []


def test_unplaceable_errors_are_form_errors(app: Flask) -> None:
    schema, ui = load("review_plan")
    form = render_form(schema, ui, {}, [("", "Additional properties are not allowed ('typename' was unexpected)")])
    assert form.errors == ["Additional properties are not allowed ('typename' was unexpected)"]
    fields = render_form(schema, ui, {}).fields
    assert attach_errors(fields, schema, [("nope[3].x", "is too long")]) == ["is too long"]


def test_numbers_and_blank_inputs(app: Flask) -> None:
    schema, ui = load("install_meter")
    data = parse_submission(schema, ui, MultiDict([
        ("initial_reading", " 12.50 "), ("meter_number", ""), ("installed_equipment[0].quantity", "2"),
        ("installed_equipment[0].model", "X1"), ("installed_equipment[3].model", ""), ("seal_numbers", "\n \n"),
    ]))
    assert data == {"initial_reading": 12.5, "installed_equipment": [{"quantity": 2, "model": "X1"}]}
    assert parse_submission(schema, ui, MultiDict([("initial_reading", "1e400")]))["initial_reading"] == "1e400"
    assert parse_submission(None, {}, MultiDict([("x", "1")])) == {}


@pytest.mark.parametrize(
    ("name", "change", "field", "message"),
    [
        ("accept_application", {"remarks": "请尽快安排😀\u202e测试"}, "remarks",
         "不能包含改变文字方向的不可见控制字符（U+202E）。"),
        ("apply", {"id_number": "110101199003071234"}, "id_number", "身份证号码校验位不符，请逐位核对。"),
        ("apply", {"id_number": "110101199002311233"}, "id_number", "身份证号码中的出生日期不存在，请核对。"),
        ("apply", {"id_type": "household_register", "id_number": "1101011990030712"}, "id_number",
         "居民身份证号码应为 18 位：17 位数字加 1 位校验码（0–9 或 X）。"),
    ],
)
def test_id_numbers_and_text_direction_controls_are_explained_at_their_fields(
        app: Flask, name: str, change: dict[str, Any], field: str, message: str) -> None:
    schema, ui = load(name)
    data = {**default_instance(schema), **change}
    with pytest.raises(FormValidationError) as raised:
        validate_form_data(schema, data)
    assert {path for path, _ in raised.value.errors} == {field}
    errors = {item.name: item.errors for item in render_form(schema, ui, data, raised.value.errors).fields
              if item.errors}
    assert message in errors[field] and set(errors) == {field}
