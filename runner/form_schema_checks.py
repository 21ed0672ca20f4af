"""A form's schema and UI schema checked at the line of what is wrong (``runner.validation.check_form_file``).

- An invalid JSON Schema is named at the keyword's line with its path (``properties.decision.type: "strng" is no
  JSON Schema type (did you mean "string"?)``), not at line 1 in the validator's words.
- ``required`` naming no property of its object: no answer could ever be complete (the form cannot show the field),
  and every sample reaching the task would say only that its answer does not fit; once, at the name's line.
- A UI schema's ``ui:order`` entry, or a UI key, naming no field of the form (a typo such as ``contract_signd``):
  the renderer ignores it silently, so the field's help text and widget are lost (and RJSF refuses a ``ui:order``
  missing a field); at its line, with a did-you-mean.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .form_field_checks import INDIRECT_FIELDS

Path_ = tuple[str | int, ...]
JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
WHITESPACE = re.compile(r"[ \t\n\r]*")
SCALAR = re.compile(r'-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null')
SAME_INSTANCE = ("allOf", "anyOf", "oneOf")
CONDITIONAL = ("if", "then", "else")


def json_positions(text: str) -> dict[Path_, int]:
    """The offset in a JSON text of every value by its path (an object member's key, an array item's value); {}
    when the text is no JSON (reported on its own)."""
    positions: dict[Path_, int] = {}
    decoder = json.JSONDecoder()

    def value(index: int, path: Path_) -> int:
        index = WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        positions.setdefault(path, index)
        char = text[index:index + 1]
        if char == "{":
            index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
            if text[index:index + 1] == "}":
                return index + 1
            while True:
                start = index
                key, index = decoder.raw_decode(text, index)
                positions[(*path, str(key))] = start
                index = WHITESPACE.match(text, index).end() + 1  # type: ignore[union-attr]  # the colon
                index = value(index, (*path, str(key)))
                index = WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
                if text[index] == "}":
                    return index + 1
                index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]  # after the comma
        if char == "[":
            index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
            if text[index:index + 1] == "]":
                return index + 1
            item = 0
            while True:
                index = value(index, (*path, item))
                index = WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
                if text[index] == "]":
                    return index + 1
                index += 1
                item += 1
        if char == '"':
            end: int = decoder.raw_decode(text, index)[1]
            return end
        scalar = SCALAR.match(text, index)
        if scalar is None:
            return decoder.raw_decode(text, index)[1]
        return scalar.end()

    try:
        value(0, ())
    except (ValueError, IndexError, AttributeError):
        return {}
    return positions


def line_at(text: str, path: Path_, positions: dict[Path_, int] | None = None) -> int:
    """The line of the value at ``path`` (or of its nearest ancestor that exists); 1 for the whole text."""
    found = positions if positions is not None else json_positions(text)
    for end in range(len(path), 0, -1):
        if path[:end] in found:
            return text.count("\n", 0, found[path[:end]]) + 1
    return 1


def shown_path(path: Path_) -> str:
    return ".".join(str(part) for part in path) or "(the whole schema)"


def schema_error(content: dict[str, Any], text: str) -> tuple[int, str] | None:
    """(line, message) of the first error that makes a form's schema no valid JSON Schema; None when it is one."""
    try:
        Draft202012Validator.check_schema(content)
    except SchemaError as err:
        path: Path_ = tuple(err.path)
        message = err.message
        if path and path[-1] == "type" and isinstance(err.instance, str) and err.instance not in JSON_TYPES:
            close = difflib.get_close_matches(err.instance, JSON_TYPES, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            message = f'"{err.instance}" is no JSON Schema type{hint}; the types are {", ".join(JSON_TYPES)}'
        return line_at(text, path), f"invalid JSON Schema: {shown_path(path)}: {message}"
    return None


def object_fields(schema: dict[str, Any]) -> set[str] | None:
    """The property names an object schema knows, its ``allOf``/``anyOf``/``oneOf`` and ``if``/``then``/``else``
    parts included; None when fields may come from elsewhere (``$ref``, ``patternProperties`` …)."""
    if any(key in schema for key in INDIRECT_FIELDS):
        return None
    properties = schema.get("properties")
    fields = set(properties) if isinstance(properties, dict) else set()
    for part in _parts(schema):
        found = object_fields(part)
        if found is None:
            return None
        fields |= found
    return fields


def _parts(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The subschemas that apply to the same value as ``schema`` (its combinators and conditions)."""
    for key in CONDITIONAL:
        if isinstance(schema.get(key), dict):
            yield schema[key]
    for key in SAME_INSTANCE:
        if isinstance(schema.get(key), list):
            yield from (part for part in schema[key] if isinstance(part, dict))


def _parts_with_paths(schema: dict[str, Any], path: Path_) -> Iterator[tuple[dict[str, Any], Path_]]:
    yield schema, path
    for key in CONDITIONAL:
        if isinstance(schema.get(key), dict):
            yield from _parts_with_paths(schema[key], (*path, key))
    for key in SAME_INSTANCE:
        if isinstance(schema.get(key), list):
            for index, part in enumerate(schema[key]):
                if isinstance(part, dict):
                    yield from _parts_with_paths(part, (*path, key, index))


def unknown_required(schema: dict[str, Any], text: str) -> Iterator[tuple[int, str]]:
    """(line, message) for each ``required`` name that is no property of its object (nested objects and array
    items too)."""
    positions = json_positions(text)
    for obj, path in _objects(schema, ()):
        fields = object_fields(obj)
        if not fields:
            continue  # an object of any fields, or of fields from elsewhere
        for part, part_path in _parts_with_paths(obj, path):
            required = part.get("required")
            if not isinstance(required, list):
                continue
            for index, name in enumerate(required):
                if not isinstance(name, str) or name in fields:
                    continue
                close = difflib.get_close_matches(name, sorted(fields), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                where = f" of {shown_path(path)}" if path else ""
                yield (line_at(text, (*part_path, "required", index), positions),
                       f'required names "{name}"{hint}, which is no property{where} (its properties: '
                       f"{', '.join(sorted(fields)) or 'none'}): no answer could ever be complete; correct the "
                       "name, or add the property")


def _objects(schema: dict[str, Any], path: Path_) -> Iterator[tuple[dict[str, Any], Path_]]:
    """The schema and every object schema nested in its properties and array items, with their paths."""
    yield schema, path
    for part, part_path in _parts_with_paths(schema, path):
        properties = part.get("properties")
        if isinstance(properties, dict):
            for name, field in properties.items():
                if isinstance(field, dict):
                    yield from _nested(field, (*part_path, "properties", name))


def _nested(field: dict[str, Any], path: Path_) -> Iterator[tuple[dict[str, Any], Path_]]:
    if isinstance(field.get("properties"), dict):
        yield from _objects(field, path)
    elif isinstance(field.get("items"), dict):
        yield from _nested(field["items"], (*path, "items"))


def unknown_ui_fields(ui: dict[str, Any], schema: dict[str, Any], text: str) -> Iterator[tuple[int, str]]:
    """(line, message) for each ``ui:order`` entry and UI key naming no field of the form (``*`` stands for the
    fields not listed); nested objects and array items (``items``) too."""
    yield from _ui_level(ui, schema, (), text, json_positions(text))


def _ui_level(ui: dict[str, Any], schema: dict[str, Any], path: Path_, text: str, positions: dict[Path_, int]
              ) -> Iterator[tuple[int, str]]:
    fields = object_fields(schema)
    if fields is None:
        return
    where = f" of {shown_path(path)}" if path else ""
    order = ui.get("ui:order")
    if isinstance(order, list):
        for index, name in enumerate(order):
            if isinstance(name, str) and name != "*" and name not in fields:
                yield (line_at(text, (*path, "ui:order", index), positions),
                       f'ui:order names "{name}"{_hint(name, fields)}, which is no field{where} of the form '
                       f"(its fields: {', '.join(sorted(fields)) or 'none'}): correct the name, or remove it")
    for key, value in ui.items():
        if key.startswith("ui:"):
            continue
        if key not in fields:
            yield (line_at(text, (*path, key), positions),
                   f'UI settings for "{key}"{_hint(key, fields)}, which is no field{where} of the form (its '
                   f"fields: {', '.join(sorted(fields)) or 'none'}): the form would show none of them (help text, "
                   "widget …); correct the name")
            continue
        field = _field(schema, key)
        if not isinstance(value, dict) or field is None:
            continue
        if isinstance(field.get("properties"), dict):
            yield from _ui_level(value, field, (*path, key), text, positions)
        elif isinstance(field.get("items"), dict) and isinstance(value.get("items"), dict) \
                and isinstance(field["items"].get("properties"), dict):
            yield from _ui_level(value["items"], field["items"], (*path, key, "items"), text, positions)


def _field(schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    for part, _ in _parts_with_paths(schema, ()):
        properties = part.get("properties")
        if isinstance(properties, dict) and isinstance(properties.get(name), dict):
            found: dict[str, Any] = properties[name]
            return found
    return None


def _hint(name: str, fields: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(fields), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""
