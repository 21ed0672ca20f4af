"""Expressions that read a user task's form data by a field its form does not have (``review_plan["decison"]``,
``review_plan.get("decison")``) or as an attribute (``review_plan.decision``, FEEL style): part of ``baozhuang
validate`` (``runner.validation``), reported at the expression's line with the form's fields."""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .process_folder import FORMS_DIR, NS, NotUtf8Error, Problem, read_utf8

HUMAN_TASK_TAGS = ("userTask", "manualTask", "task")


def form_fields(trees: dict[Path, Any], root: Path, scripts: list[str]) -> dict[str, tuple[set[str], str]]:
    """The fields of each user task's form, by task id, with the form file's name: what the task's data (stored
    under its id) can hold. Left out: a task whose form admits other fields (no ``additionalProperties: false``) or
    cannot be read (reported on its own), and a name some script assigns (the data is then not only the form's)."""
    assigned = {node.id for text in scripts for node in _parsed_nodes(text, "exec")
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    forms: dict[str, tuple[set[str], str]] = {}
    for tree in trees.values():
        for tag in HUMAN_TASK_TAGS:
            for task in tree.iterfind(f".//bpmn:{tag}", NS):
                task_id = task.get("id")
                name = next((prop.get("value") for prop in task.iterfind(
                    "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
                    if prop.get("name") == "formJsonSchemaFilename"), None)
                if not task_id or not name or task_id in assigned:
                    continue
                try:
                    schema = json.loads(read_utf8(root / FORMS_DIR / name))
                except (OSError, NotUtf8Error, json.JSONDecodeError):
                    continue
                fields = _schema_fields(schema) if isinstance(schema, dict) else None
                if fields is not None and schema.get("additionalProperties") is False:
                    forms[task_id] = (fields, name)
    return forms


INDIRECT_FIELDS = ("$ref", "$dynamicRef", "patternProperties", "dependentSchemas", "unevaluatedProperties")
"""Schema keywords through which an object may get fields not listed in ``properties``: such a form is not judged."""


def _schema_fields(schema: dict[str, Any]) -> set[str] | None:
    """The top-level property names of an object schema, those its ``allOf``/``anyOf``/``oneOf`` and
    ``if``/``then``/``else`` parts add included; None when fields may come from elsewhere (``INDIRECT_FIELDS``)."""
    if any(key in schema for key in INDIRECT_FIELDS):
        return None
    fields = set(schema.get("properties") or {}) if isinstance(schema.get("properties"), dict) else set()
    parts = [schema.get(key) for key in ("if", "then", "else")]
    parts += [part for key in ("allOf", "anyOf", "oneOf") if isinstance(schema.get(key), list) for part in schema[key]]
    for part in parts:
        if isinstance(part, dict):
            found = _schema_fields(part)
            if found is None:
                return None
            fields |= found
    return fields


DICT_METHODS = frozenset(dir(dict))


def unknown_form_fields(file: str, found: Iterator[tuple[Any, str, str]],
                        forms: dict[str, tuple[set[str], str]]) -> Iterator[Problem]:
    """An expression reading a field of a user task's data (``review_plan["decison"]``, ``.get("decison")``) that
    the task's form does not have, or reading a field as an attribute (``review_plan.decision``, as FEEL writes it):
    every case taking that path would fail there, or, through ``.get``, never see the answer."""
    for element, mode, text in found:
        line = element.sourceline if element is not None else 0
        element_id = element.get("id", "-") if element is not None else "-"
        reported: set[tuple[str, str]] = set()
        for node in _parsed_nodes(text, mode):
            task_id, key, attribute = _form_read(node, forms)
            if task_id is None or key is None or (task_id, key) in reported:
                continue
            reported.add((task_id, key))
            fields, form = forms[task_id]
            if attribute:
                yield Problem(file, line, element_id,
                              f'reads {task_id}.{key}: a task\'s form data is a dict (expressions are Python, not '
                              f'FEEL); write {task_id}["{key}"]')
                continue
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            yield Problem(file, line, element_id,
                          f'reads {task_id}["{key}"]{hint}, but the form {form} has no field "{key}" (its fields: '
                          f"{', '.join(sorted(fields)) or 'none'}): correct the name here or add the field to the "
                          "form")


def _form_read(node: ast.AST, forms: dict[str, tuple[set[str], str]]) -> tuple[str | None, str | None, bool]:
    """(task id, field, read as an attribute) when ``node`` reads a field its task's form lacks, else Nones."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in forms:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value not in forms[node.value.id][0]:
            return node.value.id, key.value, False
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in forms:
        task_id, name = node.value.id, node.attr
        if name == "get" or name in DICT_METHODS:
            return None, None, False
        return task_id, name, True
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name) and node.func.value.id in forms and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
            and node.args[0].value not in forms[node.func.value.id][0]):
        return node.func.value.id, node.args[0].value, False
    return None, None, False


def _parsed_nodes(text: str, mode: str) -> list[ast.AST]:
    """Every node of an expression or script; none when it does not compile (reported on its own)."""
    try:
        return list(ast.walk(ast.parse(text.strip() if mode == "eval" else text, mode=mode)))
    except SyntaxError:
        return []
