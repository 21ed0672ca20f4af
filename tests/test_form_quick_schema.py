"""``runner.forms.quick_schema``: the rewritten schema that decides validity faster must accept exactly what the
form's own schema accepts, and ``validate_form_data`` must still word its errors from the form's own schema."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from runner.forms import VALUES, FormValidationError, default_instance, quick_schema, validate_form_data
from tests.form_mutations import mutated, schema_values

FORMS = Path(__file__).resolve().parent.parent / "processes" / "forms"
SCHEMAS = sorted(FORMS.glob("*.schema.json"))
ODD_VALUES: list[Any] = [None, True, False, 0, 1, 1.0, -1, 2.5, "", "x", " ", "accept", [], {}, "2026-02-30",
                         "１２３", "a\n"]


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: path.name.removesuffix(".schema.json"))
def test_quick_schema_accepts_exactly_what_the_form_accepts(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    full = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    quick = Draft202012Validator(quick_schema(schema), format_checker=Draft202012Validator.FORMAT_CHECKER)
    rng = random.Random(path.name)
    base = default_instance(schema)
    pool = [*schema_values(schema), *ODD_VALUES]
    verdicts = {True: 0, False: 0}
    for _ in range(400):
        instance = mutated(base, pool, rng, added_keys=("unknown_field",))
        verdict = full.is_valid(instance)
        assert quick.is_valid(instance) is verdict, instance
        verdicts[verdict] += 1
    if any(isinstance(value, dict) and "oneOf" in value for value in _subschemas(schema)):
        assert quick_schema(schema) != schema  # the forms' labelled choices are rewritten
    assert verdicts[False] > 0  # the mutations reach invalid data too


def _subschemas(value: Any) -> list[Any]:
    """The schema and every schema (and list of schemas) in it, not looking into data such as ``const`` values."""
    found = [value]
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in VALUES:
                found.extend(_subschemas(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_subschemas(item))
    return found


def labelled(*values: Any) -> dict[str, Any]:
    return {"oneOf": [{"const": value, "title": f"选项{index}"} for index, value in enumerate(values)]}


def test_labelled_values_become_an_enum() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", **labelled("x", "y")},
                                               "b": {"type": "array", "items": labelled(1, True, None)}}}
    quick = quick_schema(schema)
    assert quick["properties"]["a"] == {"type": "string", "enum": ["x", "y"]}
    assert quick["properties"]["b"]["items"] == {"enum": [1, True, None]}  # 1 and True differ in JSON Schema
    assert schema["properties"]["a"]["oneOf"]  # the form's own schema is left alone


@pytest.mark.parametrize("schema", [
    labelled(1, 1.0),  # equal values: "exactly one" fails where "any" passes
    labelled({"k": [1]}, {"k": [1.0]}),
    {"oneOf": [{"const": "x", "title": "甲"}, {"const": "y", "minLength": 2}]},  # a branch that checks more
    {**labelled("x", "y"), "enum": ["x"]},  # an enum already there
    {"$defs": {"choice": labelled("x", "y")}, "$ref": "#/$defs/choice"},  # references into the schema
    {"const": labelled("x", "y")},  # data, not a schema
    {"type": "string"},
])
def test_left_alone(schema: dict[str, Any]) -> None:
    kept = copy.deepcopy(schema)
    assert quick_schema(schema) is schema and schema == kept


def test_equal_labelled_values_stay_a_one_of() -> None:
    schema = labelled(1, 1.0)
    assert not Draft202012Validator(quick_schema(schema)).is_valid(1)  # both match: not "exactly one"


def test_errors_are_still_worded_by_the_form() -> None:
    schema = json.loads((FORMS / "accept_application.schema.json").read_text(encoding="utf-8"))
    data = {**default_instance(schema), "decision": "maybe"}
    with pytest.raises(FormValidationError) as raised:
        validate_form_data(schema, data)
    assert [error.validator for error in Draft202012Validator(schema).iter_errors(data)] == ["oneOf"]
    # the full validator's oneOf error (not the quick schema's enum), worded with the form's labels
    assert raised.value.errors == [("decision", "'maybe' is not one of 'accept' (受理), 'need_more' (需补充资料), "
                                                "'reject' (不予受理)")]
    validate_form_data(schema, default_instance(schema))  # and valid data pass
