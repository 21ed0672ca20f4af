"""Expressions that compare a form field with a value its form never gives (``review_plan["decision"] ==
"approved"`` where the field is one of "approve", "revise"): part of ``baozhuang validate`` (``runner.validation``).

Such a condition is never true (``!=``: always true), so a case takes another flow, or none: at an exclusive gateway
without a default it fails there, and ``validate``'s sample run would otherwise report only that a sample's case is
stuck, once per sample, far from the cause. Reported once, at the expression's element (the sequence flow) and
line, with the field's values and a did-you-mean. A field's values are known when its schema lists them (``enum``,
``const``, ``oneOf``/``anyOf`` of ``const``s) or it is a boolean; a task whose data some script assigns is not
judged (its data is not only the form's answer).
"""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .process_folder import Problem
from .range_checks import form_files, form_schemas


def field_values(field: Any) -> list[Any] | None:
    """Every value a form field's schema admits, when it lists them; None when it does not."""
    if not isinstance(field, dict):
        return None
    kinds = field.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    values: list[Any] | None = None
    if isinstance(field.get("enum"), list):
        values = list(field["enum"])
    elif "const" in field:
        values = [field["const"]]
    else:
        for key in ("oneOf", "anyOf"):
            branches = field.get(key)
            if isinstance(branches, list) and branches:
                listed = [field_values(branch) for branch in branches]
                if any(found is None for found in listed):
                    return None
                values = [value for found in listed if found is not None for value in found]
                break
    if values is None and kinds - {"null"} == {"boolean"}:
        values = [True, False]
    if values is not None and "null" in kinds:
        values.append(None)
    return values


def form_field_values(trees: dict[Path, Any], root: Path, scripts: list[str]
                      ) -> dict[str, tuple[dict[str, list[Any]], str]]:
    """Per name a form's answer is stored under (a task id, ``application``): the fields whose values the form
    lists, and the form's file name. Names a script assigns are left out."""
    assigned: set[str] = set()
    for text in scripts:
        try:
            assigned.update(node.id for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Name)
                            and isinstance(node.ctx, ast.Store))
        except SyntaxError:
            continue
    found: dict[str, tuple[dict[str, list[Any]], str]] = {}
    files = form_files(trees)
    for name, schema in form_schemas(trees, root).items():
        file = files[name]
        properties = schema.get("properties")
        if name in assigned or not isinstance(properties, dict):
            continue
        listed = {key: values for key, field in properties.items() if (values := field_values(field)) is not None}
        if listed:
            found[name] = (listed, file)
    return found


def impossible_comparisons(file: str, found: Iterator[tuple[Any, str, str]],
                           forms: dict[str, tuple[dict[str, list[Any]], str]]) -> Iterator[Problem]:
    """An expression comparing a form field (``task["f"]``, ``task.get("f")``) with a literal the form never gives
    it, with ``==``, ``!=``, ``in`` or ``not in``."""
    for element, mode, text in found:
        line = element.sourceline if element is not None else 0
        element_id = element.get("id", "-") if element is not None else "-"
        try:
            tree = ast.parse(text.strip() if mode == "eval" else text, mode=mode)
        except SyntaxError:
            continue  # reported as not compiling
        told: set[tuple[str, str, str]] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                for read, other in ((left, right), (right, left)):
                    for problem in _compared(read, op, other, forms, told):
                        yield Problem(file, line, element_id, problem)


def _compared(read: ast.expr, op: ast.cmpop, other: ast.expr, forms: dict[str, tuple[dict[str, list[Any]], str]],
              told: set[tuple[str, str, str]]) -> Iterator[str]:
    field = _form_read(read, forms)
    if field is None:
        return
    name, key, default = field
    if isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(other, ast.Constant):
        literals = [other.value]
    elif isinstance(op, (ast.In, ast.NotIn)) and read is not other and isinstance(other, (ast.List, ast.Tuple,
                                                                                          ast.Set)):
        literals = [item.value for item in other.elts if isinstance(item, ast.Constant)]
    else:
        return
    listed, form = forms[name]
    values = listed[key] + (default if default is not None else [])
    for literal in literals:
        shown = _shown(literal)
        if any(_same(literal, value) for value in values) or (name, key, shown) in told:
            continue
        told.add((name, key, shown))
        strings = [value for value in listed[key] if isinstance(value, str)]
        close = difflib.get_close_matches(literal, strings, n=1) if isinstance(literal, str) else []
        hint = f" (did you mean {_shown(close[0])}?)" if close else ""
        never = isinstance(op, (ast.Eq, ast.In))
        yield (f'compares {name}["{key}"] with {shown}{hint}, a value the form {form} never gives field "{key}" '
               f"(its values: {', '.join(_shown(value) for value in listed[key])}): the comparison is "
               f"{'never' if never else 'always'} true; correct the value here or add it to the form")


def _form_read(node: ast.expr, forms: dict[str, tuple[dict[str, list[Any]], str]]
               ) -> tuple[str, str, list[Any] | None] | None:
    """(name, field, the default ``.get`` gives when the field is absent, as a list) of a read of a listed form
    field; None for anything else."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in forms:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value in forms[node.value.id][0]:
            return node.value.id, key.value, None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name) and node.func.value.id in forms and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
            and node.args[0].value in forms[node.func.value.id][0]):
        if len(node.args) > 1:
            if not isinstance(node.args[1], ast.Constant):
                return None  # a default read from elsewhere: any value
            return node.func.value.id, node.args[0].value, [node.args[1].value]
        return node.func.value.id, node.args[0].value, [None]
    return None


def _same(one: Any, other: Any) -> bool:
    """Equal as Python compares, but a boolean is never the number 1 or 0 here."""
    return isinstance(one, bool) == isinstance(other, bool) and one == other


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
