"""``runner.forms.compiled_check``: the compiled validity check a task completion decides with must say valid
exactly when jsonschema's ``FormValidator`` (with the forms' format checker) says so, for every form and for each
keyword it compiles; a schema using anything else is left to jsonschema."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from runner import forms
from runner.forms import (
    FORMAT_CHECKER,
    FormValidationError,
    FormValidator,
    compiled_check,
    default_instance,
    quick_schema,
    validate_form_data,
)
from tests.form_mutations import mutated, schema_values

ROOT = Path(__file__).resolve().parent.parent / "processes"
SCHEMAS = sorted(ROOT.rglob("*.schema.json"))
PROBES: list[Any] = [None, True, False, 0, 1, -1, 1.0, 0.0, 2.5, -0.5, 10**20, math.nan, math.inf, -math.inf,
                     Decimal("1.5"), "", "x", "1", "accept", " ", "a\n", "１２３", "2026-02-30", "2026-02-28",
                     "11010519491231002X", "110105194912310021", "x" * 300, [], [1], [1, 1], [1, True], [0, False],
                     [1, 1.0], ["a", "b"], [{"a": 1}, {"a": 1.0}], [[1], [True]], {}, {"a": 1}, {"a": None},
                     {"typename": "x"}, {"unknown_field": "x"}]


def _full(schema: Any) -> Any:
    return FormValidator(schema, format_checker=FORMAT_CHECKER)


def _agree(schema: Any, instances: list[Any]) -> dict[bool, int]:
    """Assert the compiled check and jsonschema agree on every instance; count the verdicts."""
    check = compiled_check(schema)
    assert check is not None, schema
    validator = _full(schema)
    verdicts = {True: 0, False: 0}
    for instance in instances:
        verdict = validator.is_valid(instance)
        assert check(instance) is verdict, (schema, instance)
        verdicts[verdict] += 1
    return verdicts


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_form_compiles_and_agrees_with_jsonschema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(str(path.relative_to(ROOT)))
    base = default_instance(schema)
    pool = [*schema_values(schema), *PROBES]
    instances = [base, *[mutated(base, pool, rng) for _ in range(500)]]
    for quick in (schema, quick_schema(schema)):  # the form's own schema and what ``_validators`` compiles
        verdicts = _agree(quick, instances)
        assert verdicts[False] > 0
    assert _full(schema).is_valid(base)  # the sample answer passes: the valid path is exercised too


KEYWORD_SCHEMAS: list[Any] = [
    True, False, {}, {"title": "only annotations", "x-unknown": 1, "then": {"type": "string"}},
    {"type": "integer"}, {"type": "number"}, {"type": ["string", "null"]}, {"type": "boolean"}, {"type": "array"},
    {"type": "object"}, {"type": "null"}, {"type": []},
    {"enum": [1, "x", None, [1], {"a": 1}]}, {"enum": [True]}, {"enum": [1.0]}, {"enum": []},
    {"const": 1}, {"const": True}, {"const": [1, {"a": 1}]}, {"const": None}, {"const": math.nan},
    {"properties": {"a": {"type": "string"}, "b": False}}, {"required": ["a"]}, {"required": []},
    {"properties": {"a": {}}, "additionalProperties": False},
    {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
    {"additionalProperties": True}, {"additionalProperties": 0}, {"additionalProperties": []},
    {"additionalProperties": {}},
    {"items": {"type": "integer"}}, {"items": False}, {"items": True},
    {"minItems": 1}, {"maxItems": 1}, {"uniqueItems": True}, {"uniqueItems": False},
    {"pattern": "^[0-9]+$"}, {"pattern": "b"}, {"minLength": 1}, {"maxLength": 2},
    {"minimum": 0}, {"maximum": 1.5}, {"exclusiveMinimum": 0}, {"exclusiveMaximum": 1},
    {"format": "date"}, {"format": "cn-resident-id"}, {"format": "uri-reference"}, {"format": "no-such-format"},
    {"allOf": [{"type": "number"}, {"minimum": 1}]}, {"anyOf": [{"type": "string"}, {"minimum": 1}]},
    {"oneOf": [{"type": "number"}, {"type": "integer"}]}, {"oneOf": [{"const": 1}, {"const": 1.0}]},
    {"oneOf": [{"type": "string"}, {"type": "null"}]}, {"not": {"type": "string"}},
    {"if": {"type": "integer"}, "then": {"minimum": 5}, "else": {"type": "string"}},
    {"if": {"type": "integer"}, "then": {"minimum": 5}}, {"if": {"type": "integer"}, "else": False},
    {"if": False}, {"x-load-plausibility": {"residential_max_kw": 160, "max_ratio": 10}},
    {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string"},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "array", "items": {"enum": [1, 2]},
                                                             "uniqueItems": True, "maxItems": 2}}},
]


@pytest.mark.parametrize("schema", KEYWORD_SCHEMAS, ids=repr)
def test_each_compiled_keyword_agrees_with_jsonschema(schema: Any) -> None:
    nested = [{"a": probe} for probe in PROBES] + [{"a": probe, "b": probe} for probe in PROBES]
    _agree(schema, [*PROBES, *nested, *([probe] for probe in PROBES), *([probe, probe] for probe in PROBES)])


def test_load_plausibility_is_checked() -> None:
    schema = json.loads((ROOT / "forms" / "apply.schema.json").read_text(encoding="utf-8"))
    assert forms.LOAD_PLAUSIBILITY in json.dumps(schema)
    base = default_instance(schema)
    odd = {**base, "declared_capacity_kw": 10**6}
    assert _agree(schema, [base, odd]) == {True: 1, False: 1}


@pytest.mark.parametrize("schema", [
    {"$defs": {"x": {"type": "string"}}, "$ref": "#/$defs/x"},
    {"$id": "https://example.com/x", "type": "string"},
    {"patternProperties": {"^a": {"type": "string"}}},
    {"properties": {"a": {}}, "patternProperties": {"^a": {}}, "additionalProperties": False},
    {"prefixItems": [{"type": "string"}], "items": False},
    {"items": {"$schema": "http://json-schema.org/draft-04/schema#", "type": "string"}},
    {"type": "no-such-type"}, {"pattern": "("}, {"pattern": 1}, {"minLength": 1.5}, {"minimum": "1"},
    {"contains": {"type": "string"}}, {"multipleOf": 2}, {"minProperties": 1}, {"dependentRequired": {"a": ["b"]}},
    {"unevaluatedProperties": False}, {"required": "a"}, {"enum": "abc"}, {"items": 1},
    {"properties": {"a": {"if": True, "then": 1}}},
])
def test_other_keywords_are_left_to_jsonschema(schema: Any) -> None:
    assert compiled_check(schema) is None
    _validator, quick = forms._validators(schema)
    assert isinstance(getattr(quick, "__self__", None), FormValidator)  # jsonschema's own ``is_valid``


def test_the_type_checks_compiled_inline_are_draft_2020_12s() -> None:
    """``compiled_check`` tests strings, arrays and objects with ``isinstance`` (as Draft 2020-12's type checker
    does); numbers and integers go through the checker itself."""
    assert FormValidator.TYPE_CHECKER is Draft202012Validator.TYPE_CHECKER
    for probe in PROBES:
        assert FormValidator.TYPE_CHECKER.is_type(probe, "string") is isinstance(probe, str)
        assert FormValidator.TYPE_CHECKER.is_type(probe, "array") is isinstance(probe, list)
        assert FormValidator.TYPE_CHECKER.is_type(probe, "object") is isinstance(probe, dict)


def test_validate_form_data_decides_with_the_compiled_check() -> None:
    schema = json.loads((ROOT / "forms" / "accept_application.schema.json").read_text(encoding="utf-8"))
    _validator, quick = forms._validators(schema)
    assert not hasattr(quick, "__self__")  # compiled, not a jsonschema validator's bound ``is_valid``
    validate_form_data(schema, default_instance(schema))
    with pytest.raises(FormValidationError) as raised:
        validate_form_data(schema, {**default_instance(schema), "decision": "maybe"})
    assert [path for path, _message in raised.value.errors] == ["decision"]  # worded by the full validator


@pytest.mark.parametrize("data", [
    {"a": 1}, {"typename": 1}, {"a": {"b": [{"typename": "x"}]}}, {"a": "typename"}, {"a": ["typename"]},
    {"typename_x": 1, "x_typename": 2}, {"a": {"typename": {"typename": 1}}}, {"名字": "\u202e", "typename": None},
    {"a": "\ufffd"}, {"1": {"typename": []}},
])
def test_text_problems_with_the_callers_text_are_those_of_the_data(data: dict[str, Any]) -> None:
    """The reserved-key walk is skipped only when the JSON text holds no reserved key's string: same problems
    with the shared text, without it, and as the walk alone finds them."""
    text = json.dumps(data, ensure_ascii=False)
    problems = forms.text_problems(data, text)
    assert problems == forms.text_problems(data)
    keys = [path for path, message in problems if message == "reserved key name"]
    assert keys == forms.forbidden_key_paths(data)
    assert forms.size_problem(data, "form data", text) == forms.size_problem(data, "form data")
