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
- (``runner.hit_policy_checks``) a table the engine cannot run as DMN 1.3 defines its hit policy: PRIORITY or
  OUTPUT ORDER without any output listing its values, an aggregation of several outputs; under COLLECT SUM a
  literal output that is no number;
- in a UNIQUE table, two rules with the same input entries (a row added, the old one left in): a case meeting them
  would match both (``runner.decision_engine`` fails it at run time); in an ANY table, two such rules with other
  outputs. Overlapping ranges are not looked for;
- a string literal in an input entry that the column's value can never equal (``"lv_residental"``): outside the
  input's declared allowed values (``<inputValues><text>in ["a", "b"]</text></inputValues>``, written as an input
  entry is), or, for a column reading a name only decision tables set (``category``), not among the literals their
  outputs give (``customer_category.dmn``). A name anything else may set (the start data, a sample, a script, a
  task's form data, a service task's result, a message) is not judged. The rule would never match: every case of
  that value would find no rule, or another one.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .decision_engine import feel_unary_tests
from .hit_policies import MULTIPLE_HIT, hit_policy_of
from .process_folder import BPMN_NS, SAMPLES_DIR, SPIFF_NS, Problem
from .script_engine import RESERVED_NAMES

COLUMN_TYPES: dict[str, tuple[type, ...]] = {"number": (int, float), "string": (str,), "boolean": (bool,),
                                             "integer": (int,), "long": (int,), "double": (int, float)}
"""Python types per output ``typeRef``: DMN's own and the ones Camunda Modeler writes (integer, long, double)."""
WHOLE_NUMBER_TYPES = ("integer", "long")
TYPE_NAMES = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
RUNNER_START_KEYS = ("case_number", "applied_at", "regime", "application")
"""Keys ``runner.services`` puts into every case's start data (``application`` and ``regime`` from the request, the
others its own)."""
IDENTIFIER = re.compile(r"[^\W\d]\w*")  # Python identifiers, Chinese ones too
QUESTION_MARK = re.compile(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)')  # outside quotes, as DMNEngine.evaluate
FUNCTIONS = set(RESERVED_NAMES) | {name for name in dir(builtins) if callable(getattr(builtins, name))}


def folder_data_names(root: Path, bpmn_trees: dict[Path, Any], dmn_trees: dict[Path, Any]) -> set[str]:
    """Every name a case's data could hold, generously: start keys, sample keys, any identifier in a BPMN
    attribute or text (task ids receive form data; scripts, result and message variables set keys), DMN output
    names and input expressions."""
    names = set(RUNNER_START_KEYS) | sample_keys(root)
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


def sample_keys(root: Path) -> set[str]:
    """The top-level keys of the folder's sample applications (a case starts with them)."""
    keys: set[str] = set()
    for path in sorted((root / SAMPLES_DIR).glob("*.json")):
        try:
            sample = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(sample, dict):
            keys.update(str(key) for key in sample)
    return keys


DATA_ELEMENTS = {f"{{{BPMN_NS}}}{tag}" for tag in ("dataInput", "dataOutput", "dataObject", "dataObjectReference",
                                                     "dataStoreReference", "property")}


def names_set_outside_tables(root: Path, bpmn_trees: dict[Path, Any], scripts: Iterable[str]) -> set[str]:
    """Every name of case data that something other than a decision table may set: the runner's start keys, the
    samples' keys, every BPMN element id (a task's form data is stored under it), data element names, service task
    result variables, any bare name an extension element holds (message and event variables), and every name a
    script assigns."""
    names = set(RUNNER_START_KEYS) | sample_keys(root)
    for tree in bpmn_trees.values():
        for element in tree.iter(f"{{{BPMN_NS}}}*"):
            names.update(value for value in (element.get("id"), element.get("name") if element.tag in DATA_ELEMENTS
                                             else None) if value)
        for element in tree.iter(f"{{{SPIFF_NS}}}*"):
            text = (element.text or "").strip()
            if IDENTIFIER.fullmatch(text):
                names.add(text)
            if element.get("resultVariable"):
                names.add(element.get("resultVariable"))
    for script in scripts:
        try:
            parsed = ast.parse(script)
        except SyntaxError:
            continue  # reported as not compiling
        names.update(node.id for node in ast.walk(parsed) if isinstance(node, ast.Name)
                     and isinstance(node.ctx, (ast.Store, ast.Del)))
    return names


@dataclass(frozen=True)
class ColumnValues:
    """The values the decision tables give one name of case data: every literal of its output columns."""

    values: tuple[Any, ...]
    files: tuple[str, ...]


def produced_values(dmn_trees: dict[Path, Any], set_elsewhere: set[str]) -> dict[str, ColumnValues]:
    """For each name only decision tables set (not in ``set_elsewhere``), every value their outputs give; a name
    one of whose output entries is an expression (or collected into a list) is left out: its values are not known."""
    found: dict[str, tuple[list[Any], list[str]]] = {}
    unknown = set(set_elsewhere)
    for path, tree in sorted(dmn_trees.items()):
        for table in tree.iter("{*}decisionTable"):
            collect = hit_policy_of(table) in MULTIPLE_HIT  # each output a list (or an aggregate) of values
            for index, output in enumerate(table.findall("{*}output")):
                name = (output.get("name") or "").strip()
                if not name or name in unknown:
                    continue
                if collect:
                    unknown.add(name)
                    continue
                values, files = found.setdefault(name, ([], []))
                files.append(path.name)
                for rule in table.iterfind("{*}rule"):
                    entries = rule.findall("{*}outputEntry")
                    text = (entries[index].findtext("{*}text") or "").strip() if index < len(entries) else ""
                    try:
                        values.append(ast.literal_eval(text) if text else "")  # an empty cell gives ""
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        unknown.add(name)
                        break
    return {name: ColumnValues(tuple(values), tuple(dict.fromkeys(files))) for name, (values, files) in found.items()
            if name not in unknown}


def unknown_input_literals(file: str, table: Any, produced: dict[str, ColumnValues] | None) -> Iterator[Problem]:
    """String literals of input entries that their column's value can never equal: outside the input's declared
    ``inputValues``, or (``produced``: ``produced_values``; None: not judged) not among the values the decision
    tables setting the column's name give."""
    for index, column in enumerate(table.findall("{*}input")):
        expression = (column.findtext("{*}inputExpression/{*}text") or "").strip()
        declared = (column.findtext("{*}inputValues/{*}text") or "").strip()
        given = produced.get(expression) if produced is not None and not declared else None
        if not declared and given is None:
            continue
        for rule in table.iterfind("{*}rule"):
            entries = rule.findall("{*}inputEntry")
            entry = entries[index].find("{*}text") if index < len(entries) else None
            if entry is None:
                continue
            where = f"input entry {entries[index].get('id', '?')} ({expression})"
            for literal in compared_strings(entry.text or ""):
                shown = json.dumps(literal, ensure_ascii=False)
                if declared and _allowed(literal, declared) is False:
                    yield Problem(file, entry.sourceline, rule.get("id", "-"),
                                  f"{where}: {shown} is not among the column's allowed values (inputValues: "
                                  f"{declared})")
                elif given is not None and literal not in given.values:
                    yield Problem(file, entry.sourceline, rule.get("id", "-"),
                                  f"{where}: {shown} is no value {expression} can have: "
                                  f"{_values_in_words(expression, given, literal)}")


def _values_in_words(name: str, given: ColumnValues, literal: str) -> str:
    """``only customer_category.dmn sets category, to "hv_important", … (did you mean "lv_residential"?)``."""
    distinct = sorted([value for index, value in enumerate(given.values) if value not in given.values[:index]],
                      key=lambda value: (not isinstance(value, str), str(value)))
    shown = ", ".join(json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
                      for value in distinct)
    strings = [value for value in distinct if isinstance(value, str)]
    close = difflib.get_close_matches(literal, strings, n=1)
    hint = f" (did you mean {json.dumps(close[0], ensure_ascii=False)}?)" if close else ""
    return f"only {', '.join(given.files)} sets {name}, to {shown}{hint}"


INPUT = "dmninputexpr"
"""The name the column's value stands under in an input entry read as an expression (as ``DMNEngine`` names it)."""


def compared_strings(text: str) -> list[str]:
    """The string literals an input entry compares its column's value with, read as the engine reads the cell
    (``"a"``, ``!= "a"``, ``in ["a", "b"]``, ``? in ("a", "b")``, FEEL's ``"a","b"`` and ``not("a")``); not those
    inside calls or other values."""
    text = text.strip()
    if text in ("", "-"):
        return []
    feel = feel_unary_tests(text, INPUT)
    if feel is not None:
        expression = feel
    elif QUESTION_MARK.search(text):
        expression = QUESTION_MARK.sub(INPUT, text)
    elif _parses(text):
        expression = f"({INPUT}) == ({text})"
    else:
        expression = f"{INPUT} {text}"
    try:
        parsed = ast.parse(expression, mode="eval")
    except SyntaxError:
        return []  # reported as not compiling
    return [literal for node in ast.walk(parsed) if isinstance(node, ast.Compare) for literal in _compared(node)]


def _parses(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
        return True
    except SyntaxError:
        return False


def _compared(node: ast.Compare) -> Iterator[str]:
    operands = [node.left, *node.comparators]
    for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
        pairs = [(left, right), (right, left)] if isinstance(op, (ast.Eq, ast.NotEq)) else [(left, right)]
        for this, other in pairs:
            if not (isinstance(this, ast.Name) and this.id == INPUT):
                continue
            if isinstance(op, (ast.Eq, ast.NotEq)):
                yield from _string(other)
            elif isinstance(op, (ast.In, ast.NotIn)) and isinstance(other, (ast.List, ast.Tuple, ast.Set)):
                for element in other.elts:
                    yield from _string(element)


def _string(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value


def check_output_entry(file: str, rule_id: str, entry: Any, output: Any, known_names: set[str] | None,
                       whole_days: set[str] | None = None) -> Iterator[Problem]:
    """One output entry (its ``text`` element) against its output column (the ``output`` element); ``whole_days``:
    the output names the model uses as a number of working days (``working_days_outputs``)."""
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
        if type_ref in WHOLE_NUMBER_TYPES and isinstance(value, float):
            yield Problem(file, line, rule_id, f"{where}: {text[:80]} is not a whole number, as typeRef {type_ref} "
                                               "asks")
        else:
            yield Problem(file, line, rule_id, f"{where}: {text[:80]} is {kind}, not a {type_ref}")
        return
    if whole_days is not None and (output.get("name") or "").strip() in whole_days and isinstance(value, float) \
            and not value.is_integer():
        yield Problem(file, line, rule_id, f"{where}: {text[:80]} is not a whole number of working days: the model "
                                           f"counts working days with working_deadline, which would take "
                                           f"{int(value)}; write a whole number")
        return
    allowed = (output.findtext("{*}outputValues/{*}text") or "").strip()
    if allowed and _allowed(value, allowed) is False:
        yield Problem(file, line, rule_id, f"{where}: {text[:80]} is not among the column's allowed values "
                                           f"(outputValues: {allowed})")


def working_days_outputs(expressions: Iterable[str]) -> set[str]:
    """The case data names (``limits.acceptance`` for ``limits["acceptance"]``, or a bare name) that expressions
    pass as the number of days of ``working_deadline``, which counts whole days (``int(days)``)."""
    names: set[str] = set()
    for text in expressions:
        try:
            parsed = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            continue
        for node in ast.walk(parsed):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "working_deadline" and node.args):
                continue
            for read in ast.walk(node.args[0]):
                if (isinstance(read, ast.Subscript) and isinstance(read.value, ast.Name)
                        and isinstance(read.slice, ast.Constant) and isinstance(read.slice.value, str)):
                    names.add(f"{read.value.id}.{read.slice.value}")
                elif isinstance(read, ast.Name):
                    names.add(read.id)
    return names


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
    """Whether ``value`` passes the unary test, read as the engine reads an input entry; None if it cannot tell.
    A list of literals separated by commas (``"a", "b"``, as DMN modelers write allowed values) is a choice."""
    if QUESTION_MARK.search(test):
        expression = QUESTION_MARK.sub("v", test)
    else:
        try:
            parsed = ast.parse(test, mode="eval").body
            choice = isinstance(parsed, ast.Tuple) and all(isinstance(item, ast.Constant) for item in parsed.elts)
            expression = f"v in ({test})" if choice else f"(v) == ({test})"
        except SyntaxError:
            expression = f"v {test}"
    try:
        return bool(eval(expression, {"__builtins__": {}}, {"v": value}))  # literals only: no builtins, no data
    except Exception:
        return None


def duplicate_rules(file: str, table: Any) -> Iterator[Problem]:
    """Rules of a UNIQUE table whose input entries are the same as an earlier rule's, and rules of an ANY table
    that are so and give other outputs (ANY requires the matching rules to agree)."""
    policy = hit_policy_of(table)
    if policy not in ("UNIQUE", "ANY"):
        return
    seen: dict[tuple[str, ...], Any] = {}
    for rule in table.iterfind("{*}rule"):
        key = tuple(_normalized(entry.findtext("{*}text") or "") for entry in rule.iterfind("{*}inputEntry"))
        first = seen.setdefault(key, rule)
        if first is rule:
            continue
        if policy == "UNIQUE":
            yield Problem(file, rule.sourceline, rule.get("id", "-"),
                          f"same input entries as {first.get('id', '-')} (line {first.sourceline}): the UNIQUE "
                          "table would match both; delete one or tell them apart")
        elif _outputs(rule) != _outputs(first):
            yield Problem(file, rule.sourceline, rule.get("id", "-"),
                          f"same input entries as {first.get('id', '-')} (line {first.sourceline}) but other "
                          "outputs: the ANY table requires matching rules to give the same outputs; a case "
                          "meeting them would stop at its business rule task")


def _outputs(rule: Any) -> tuple[str, ...]:
    return tuple(_normalized(entry.findtext("{*}text") or "") for entry in rule.iterfind("{*}outputEntry"))


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


MAX_COMBINATIONS = 10_000
"""Tables whose known columns combine to more cases than this are not searched for gaps."""


def column_domains(dmn_trees: dict[Path, Any], produced: dict[str, ColumnValues]) -> dict[str, tuple[Any, ...]]:
    """Every value some input columns can hold, where the folder says: a name only decision tables set (their
    outputs' literals, ``produced_values``), and ``regime`` (the regimes ``time_limits.dmn`` has rules for: a case
    of another regime is refused at its start, ``runner.start_data``)."""
    domains = {name: tuple(dict.fromkeys(given.values)) for name, given in produced.items()}
    regimes: dict[str, None] = {}
    for path, tree in dmn_trees.items():
        if path.name != "time_limits.dmn":
            continue
        for table in tree.iter("{*}decisionTable"):
            for index, column in enumerate(table.findall("{*}input")):
                if (column.findtext("{*}inputExpression/{*}text") or "").strip() != "regime":
                    continue
                for rule in table.iterfind("{*}rule"):
                    entries = rule.findall("{*}inputEntry")
                    if index < len(entries):
                        regimes.update(dict.fromkeys(compared_strings(entries[index].findtext("{*}text") or "")))
    if regimes:
        domains["regime"] = tuple(regimes)
    return domains


def uncovered_cases(file: str, table: Any, domains: dict[str, tuple[Any, ...]]) -> Iterator[Problem]:
    """The combinations of known column values (``column_domains``) that no rule of a table can match: a case of
    one would stop at its business rule task (no rule matches). Columns of unknown values match anything here, so
    only certain gaps are reported. Multiple-hit tables (COLLECT, RULE ORDER, OUTPUT ORDER) may match nothing."""
    if hit_policy_of(table) in MULTIPLE_HIT:
        return
    columns = [(index, expression) for index, column in enumerate(table.findall("{*}input"))
               if (expression := (column.findtext("{*}inputExpression/{*}text") or "").strip()) in domains]
    if not columns:
        return
    combinations: list[tuple[Any, ...]] = [()]
    for _, expression in columns:
        combinations = [(*combination, value) for combination in combinations for value in domains[expression]]
        if len(combinations) > MAX_COMBINATIONS:
            return
    rules = [[(entries[index].findtext("{*}text") or "") if index < len(entries) else ""
              for index, _ in columns] for rule in table.iterfind("{*}rule")
             if (entries := rule.findall("{*}inputEntry")) is not None]
    missing = [combination for combination in combinations
               if not any(all(_may_match(value, entry) for value, entry in zip(combination, cells, strict=True))
                          for cells in rules)]
    if not missing:
        return
    decision = table.getparent()
    shown = "; ".join(", ".join(f"{expression} = {json.dumps(value, ensure_ascii=False)}"
                                for (_, expression), value in zip(columns, combination, strict=True))
                      for combination in missing[:6])
    more = f" (and {len(missing) - 6} more)" if len(missing) > 6 else ""
    yield Problem(file, decision.sourceline, decision.get("id", "-"),
                  f"no rule matches {shown}{more}: a case of it would stop at the business rule task; add rules for "
                  "it")


def _may_match(value: Any, entry: str) -> bool:
    """Whether an input entry may match the value (True when it cannot tell: it reads other data)."""
    text = entry.strip()
    if text in ("", "-"):
        return True
    expression = feel_unary_tests(text, "v")
    if expression is None:
        if QUESTION_MARK.search(text):
            expression = QUESTION_MARK.sub("v", text)
        else:
            expression = f"(v) == ({text})" if _parses(text) else f"v {text}"
    try:
        return bool(eval(expression, {"__builtins__": {}}, {"v": value}))  # literals only: no builtins, no data
    except Exception:
        return True


FEEL_RANGE = re.compile(r"^\s*(?P<open>[\[\](])\s*(?P<low>[^.\s][^\s]*?)\s*\.\.\s*(?P<high>[^\s]+?)\s*"
                        r"(?P<close>[\[\])])\s*$")


def feel_range_hint(text: str) -> str:
    """For a FEEL range (``[12..160]``, ``(8000..40000]``, ``]0..10[``), which cells (Python) cannot hold: the
    test that reads the same, ``; FEEL ranges are not read here (cells are Python): write 12 <= ? <= 160``."""
    found = FEEL_RANGE.match(text)
    if found is None:
        return ""
    low = "<=" if found["open"] == "[" else "<"
    high = "<=" if found["close"] == "]" else "<"
    return (f"; FEEL ranges are not read here (cells are Python): write {found['low']} {low} ? {high} "
            f"{found['high']}")
