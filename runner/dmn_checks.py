"""Checks of DMN decision tables that compile but would go wrong in a case (``runner.validation`` runs them).

Cells are Python, evaluated by SpiffWorkflow's DMN engine (``Rule.output_as_dict``): an output entry is
``eval``-ed on the task data, an empty one gives the empty string ``""`` and ``None`` is the way to write "no
value". Only what certainly fails or is certainly of the wrong type is reported:

- a literal output entry whose Python type does not fit its column's ``typeRef`` (``number``, ``string``,
  ``boolean``): ``"8 days"`` in a number column, ``5`` in a boolean one, an empty cell in a number or boolean column;
- a literal outside the column's allowed values, when the output declares them (``<outputValues><text>&gt;= 0
  </text></outputValues>``, written as an input entry is: ``>= 0``, ``0 <= ? <= 365``, ``in ["a", "b"]``);
- a bare name that no case can hold: not a key the runner starts a case with, not a sample key, not a name any BPMN
  file, DMN input or DMN output of the folder mentions (``abc`` meant as ``"abc"``), or a name of a function;
- in a UNIQUE table, two rules with the same input entries (a row added, the old one left in): a case meeting them
  would match both (``runner.decision_engine`` fails it at run time). Overlapping ranges are not looked for.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .process_folder import SAMPLES_DIR, Problem
from .script_engine import RESERVED_NAMES

COLUMN_TYPES: dict[str, tuple[type, ...]] = {"number": (int, float), "string": (str,), "boolean": (bool,)}
TYPE_NAMES = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
RUNNER_START_KEYS = ("case_number", "applied_at")
"""Keys ``runner.services`` puts into every case's start data besides the application's."""
IDENTIFIER = re.compile(r"[^\W\d]\w*")  # Python identifiers, Chinese ones too
QUESTION_MARK = re.compile(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)')  # outside quotes, as DMNEngine.evaluate
FUNCTIONS = set(RESERVED_NAMES) | {name for name in dir(builtins) if callable(getattr(builtins, name))}


def folder_data_names(root: Path, bpmn_trees: dict[Path, Any], dmn_trees: dict[Path, Any]) -> set[str]:
    """Every name a case's data could hold, generously: start keys, sample keys, any identifier in a BPMN
    attribute or text (task ids receive form data; scripts, result and message variables set keys), DMN output
    names and input expressions."""
    names = set(RUNNER_START_KEYS)
    for path in sorted((root / SAMPLES_DIR).glob("*.json")):
        try:
            sample = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(sample, dict):
            names.update(sample)
    for tree in bpmn_trees.values():
        for element in tree.iter():
            texts = [element.text or ""] if isinstance(element.tag, str) else []
            for text in [*texts, *element.attrib.values()]:
                names.update(IDENTIFIER.findall(text))
    for tree in dmn_trees.values():
        for element in tree.iter("{*}output"):
            names.update(IDENTIFIER.findall(element.get("name") or ""))
        for element in tree.iter("{*}inputExpression"):
            names.update(IDENTIFIER.findall(element.findtext("{*}text") or ""))
    return names


def check_output_entry(file: str, rule_id: str, entry: Any, output: Any, known_names: set[str] | None
                       ) -> Iterator[Problem]:
    """One output entry (its ``text`` element) against its output column (the ``output`` element)."""
    text = (entry.text or "").strip()
    type_ref = (output.get("typeRef") or "").strip().lower()
    column = output.get("name") or output.get("label") or output.get("id", "?")
    where = f"output entry {entry.getparent().get('id', '?')} ({column}, typeRef={type_ref or 'none'!r})"
    line = entry.sourceline
    if text == "-":
        yield Problem(file, line, rule_id, f"{where}: '-' is no value in an output entry (cells are Python): "
                                           "write None for no value")
        return
    if not text:
        if type_ref in ("number", "boolean"):
            yield Problem(file, line, rule_id, f'{where}: an empty output entry gives the empty string "", not '
                                               f"a {type_ref} (write None for no value)")
        return
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        yield from _check_name(file, line, rule_id, where, text, known_names)
        return
    if value is None:
        return
    expected = COLUMN_TYPES.get(type_ref)
    if expected is not None and not _fits(value, expected):
        kind = TYPE_NAMES.get(type(value), f"a {type(value).__name__}")
        yield Problem(file, line, rule_id, f"{where}: {text[:80]} is {kind}, not a {type_ref}")
        return
    allowed = (output.findtext("{*}outputValues/{*}text") or "").strip()
    if allowed and _allowed(value, allowed) is False:
        yield Problem(file, line, rule_id, f"{where}: {text[:80]} is not among the column's allowed values "
                                           f"(outputValues: {allowed})")


def _fits(value: Any, expected: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in expected  # a Python bool is an int, but never a number here
    return isinstance(value, expected)


def _check_name(file: str, line: int, rule_id: str, where: str, text: str, known_names: set[str] | None
                ) -> Iterator[Problem]:
    """A bare name is a value only if the case data holds it."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return  # reported as not compiling
    if not isinstance(node, ast.Name):
        return
    if node.id in RESERVED_NAMES or (known_names is not None and node.id in FUNCTIONS - known_names):
        yield Problem(file, line, rule_id, f"{where}: {node.id} is a function, not a value")
    elif known_names is not None and node.id not in known_names:
        yield Problem(file, line, rule_id, f"{where}: {node.id} is no value: no case data of this folder has that "
                                           f'name (a string needs quotes: "{node.id}")')


def _allowed(value: Any, test: str) -> bool | None:
    """Whether ``value`` passes the unary test, read as the engine reads an input entry; None if it cannot tell."""
    if QUESTION_MARK.search(test):
        expression = QUESTION_MARK.sub("v", test)
    else:
        try:
            ast.parse(test, mode="eval")
            expression = f"(v) == ({test})"
        except SyntaxError:
            expression = f"v {test}"
    try:
        return bool(eval(expression, {"__builtins__": {}}, {"v": value}))  # literals only: no builtins, no data
    except Exception:
        return None


def duplicate_rules(file: str, table: Any) -> Iterator[Problem]:
    """Rules of a UNIQUE table whose input entries are the same as an earlier rule's."""
    if (table.get("hitPolicy") or "UNIQUE").strip().upper() != "UNIQUE":
        return
    seen: dict[tuple[str, ...], Any] = {}
    for rule in table.iterfind("{*}rule"):
        key = tuple(_normalized(entry.findtext("{*}text") or "") for entry in rule.iterfind("{*}inputEntry"))
        first = seen.setdefault(key, rule)
        if first is not rule:
            yield Problem(file, rule.sourceline, rule.get("id", "-"),
                          f"same input entries as {first.get('id', '-')} (line {first.sourceline}): the UNIQUE "
                          "table would match both; delete one or tell them apart")


def _normalized(text: str) -> str:
    """An input entry as the engine reads it, spacing aside; ``-`` and empty both match anything."""
    text = text.strip()
    if text in ("", "-"):
        return "-"
    for form, candidate in enumerate((text, f"v {text}", QUESTION_MARK.sub("v", text))):
        try:
            return f"{form}:{ast.dump(ast.parse(candidate, mode='eval'))}"
        except SyntaxError:
            continue
    return text
