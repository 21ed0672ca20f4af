"""A decision table's input expression that fails on a sample's case (``capacity["instaled_kw"]``): named once, at
the input expression's line, instead of "Rule failed on row 1" once per sample (``runner.validation``).

The engine evaluates an input expression together with each rule's cell, so its error names the first rule and the
cell (``Error evaluating expression 'capacity["instaled_kw"]< 10'. Rule failed on row 1``); every sample reaching
the table fails the same way. Here each input expression of the failed table is evaluated alone on the task's data:
the one that fails is the problem, with the error and, for a missing key of a dict, the keys it has.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from typing import Any

from .process_folder import Problem

MAX_KEYS_SHOWN = 10
INPUT_FAILS = "input expression "
"""How a sample problem found here begins after ``sample <name>: ``: such problems of several samples are one."""


def failing_input(task: Any, engine: Any, decision: Any) -> tuple[int, str, str] | None:
    """(line, element id, message) of the first input expression of the task's table that fails on its data;
    ``decision``: the lxml ``decision`` element of the table."""
    script_engine = task.workflow.script_engine
    for column in getattr(engine.decision_table, "inputs", []):
        expression = getattr(column, "expression", None)
        if not isinstance(expression, str):
            continue
        try:
            _evaluate(task, script_engine, expression)
        except Exception as cause:  # the input's own error: the one every rule's cell met
            element = decision.find(f".//{{*}}input[@id='{column.id}']")
            expression_element = element.find("{*}inputExpression") if element is not None else None
            text = expression_element.find("{*}text") if expression_element is not None else None
            line = (text if text is not None else element if element is not None else decision).sourceline
            element_id = (expression_element.get("id") if expression_element is not None else None) or column.id
            return line, element_id, (f"{INPUT_FAILS}{expression.strip()} fails: {type(cause).__name__}: {cause}"
                                      f"{_missing_key_hint(task, script_engine, expression, cause)}: every rule "
                                      "reads it, so no case passes the table")
    return None


def _evaluate(task: Any, script_engine: Any, expression: str) -> Any:
    """An expression on the task's data, raising its own error (the script engine's ``evaluate`` wraps it and keeps
    only its type's name)."""
    environment = getattr(script_engine, "environment", None)
    if environment is None:
        return script_engine.evaluate(task, expression)
    return environment.evaluate(expression, task.data, None)


def _missing_key_hint(task: Any, script_engine: Any, expression: str, cause: BaseException) -> str:
    """`` (capacity has installed_kw, …; did you mean "installed_kw"?)`` for a ``KeyError`` of ``name["key"]``."""
    if not isinstance(cause, KeyError) or not cause.args or not isinstance(cause.args[0], str):
        return ""
    key = cause.args[0]
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == key):
            continue
        owner = ast.unparse(node.value)
        try:
            value = _evaluate(task, script_engine, owner)
        except Exception:
            continue
        if isinstance(value, dict):
            keys = sorted(str(name) for name in value)
            close = difflib.get_close_matches(key, keys, n=1)
            if close:
                return f' (did you mean "{close[0]}"?)'
            more = ", …" if len(keys) > MAX_KEYS_SHOWN else ""
            return f" ({owner} has {', '.join(keys[:MAX_KEYS_SHOWN]) or 'no keys'}{more})"
    return ""


def merge_samples(problems: Iterable[Problem]) -> list[Problem]:
    """Problems of an input expression (``failing_input``) met by several samples, as one naming them all."""
    merged: list[Problem] = []
    seen: dict[tuple[str, int, str, str], int] = {}
    names: dict[int, list[str]] = {}
    for problem in problems:
        sample, separator, rest = problem.message.partition(": ")
        if not (separator and sample.startswith("sample ") and rest.startswith(INPUT_FAILS)):
            merged.append(problem)
            continue
        key = (problem.file, problem.line, problem.element, rest)
        if key in seen:
            names[seen[key]].append(sample.removeprefix("sample "))
            continue
        seen[key] = len(merged)
        names[len(merged)] = [sample.removeprefix("sample ")]
        merged.append(problem)
    for index, samples in names.items():
        problem = merged[index]
        said = f"sample {samples[0]}" if len(samples) == 1 else f"samples {', '.join(samples)}"
        merged[index] = Problem(problem.file, problem.line, problem.element,
                                f"{said}: {problem.message.partition(': ')[2]}")
    return merged
