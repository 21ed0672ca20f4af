"""Numeric gaps of single-hit decision tables: values of a number column no rule matches (``runner.validation``).

A single-hit table (UNIQUE, FIRST, ANY, PRIORITY) fails a case that matches none of its rules
(``runner.decision_engine``). ``runner.dmn_checks.uncovered_cases`` finds the combinations of known string values
no rule has; this module finds the numbers: a column whose cells are comparisons with numbers (``< 10``, ``>= 10``,
``10 <= ? <= 160``, ``? > 5 and ? < 9``, FEEL lists such as ``< 3, > 9``) is cut at every number its cells name,
each piece (a point or an open interval between two such numbers) is tried with a value inside it, combined with
the values of the other columns, and the pieces no rule matches are reported, merged into intervals:
``no rule matches capacity["installed_kw"] in [10, 13) (e.g. 11.5)``. The cells of a number column are exact
(each piece matches a cell entirely or not at all); the values of other columns are those the folder knows
(``column_domains``) or, otherwise, the literals the column's own cells name, so a combination no cell names is
never claimed; a cell that reads other data is taken to match. A gap involving no number column is left to
``uncovered_cases``.

Severity (``Gap.error``): a gap inside the values the column can hold is an error: inside the ``minimum`` /
``maximum`` (or exclusive ones) of the form field the column reads (``application["declared_capacity_kw"]``: the
start form; ``review_plan["x"]``: that task's form), or, without such a field, between two numbers the column's
cells name (the table covers values on both sides, so values between are expected). A gap beyond every number the
column names, with no form saying the values can occur there (a negative capacity), is a warning. An integer column
(``typeRef`` integer/long on the input expression, or an ``integer`` form field) has no gaps between whole numbers.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .decision_engine import QUESTION_MARK, feel_unary_tests
from .form_field_checks import HUMAN_TASK_TAGS
from .hit_policies import MULTIPLE_HIT, hit_policy_of
from .process_folder import FORMS_DIR, MAIN_PROCESS_ID, NS, NotUtf8Error, Problem, read_utf8, start_form

MAX_COMBINATIONS = 20_000
"""Tables whose columns combine to more cases than this are not searched."""
START_DATA_KEY = "application"
"""The case data the start form's answer is stored under (``runner.start_data``)."""
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
COMPARISONS = (*ORDERING, ast.Eq, ast.NotEq, ast.In, ast.NotIn)


@dataclass(frozen=True)
class Gap:
    """Values of a table's columns no rule matches, as text, and whether that is an error (else a warning)."""

    text: str
    error: bool


@dataclass(frozen=True)
class Piece:
    """A point or an open interval of a number column, between the numbers its cells name (None: unbounded)."""

    low: float | None
    high: float | None
    value: float

    @property
    def point(self) -> bool:
        return self.low is not None and self.low == self.high


@dataclass(frozen=True)
class FieldRange:
    """What a form says of a number field: its bounds (None: unbounded) and whether it holds whole numbers."""

    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    integer: bool = False

    def holds(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or (value <= self.high and not (self.high_open and value == self.high))


@dataclass
class Column:
    index: int
    expression: str
    values: list[Any]
    matches: Callable[[str, Any], bool]
    pieces: list[Piece] | None = None
    expected: list[bool] | None = None
    """Per piece of a number column: whether a case may bring such a value — the form field bounds the column (every
    piece lies within), the piece lies between two numbers the cells name, or some cell of the column matches it."""
    known: bool = False
    """The values are all the column can hold (``column_domains``): a gap for every one of them needs none named."""


def form_files(trees: dict[Path, Any]) -> dict[str, str]:
    """The form schema file of each name of case data a form's answer is stored under: a user task's id, and
    ``application`` for the main process's start form."""
    names: dict[str, str] = {}
    for tree in trees.values():
        for tag in HUMAN_TASK_TAGS:
            for task in tree.iterfind(f".//bpmn:{tag}", NS):
                for prop in task.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property",
                                          NS):
                    if prop.get("name") == "formJsonSchemaFilename" and task.get("id") and prop.get("value"):
                        names[task.get("id")] = prop.get("value")
        start = start_form(tree, MAIN_PROCESS_ID)
        if start:
            names[START_DATA_KEY] = start
    return names


def form_schemas(trees: dict[Path, Any], root: Path) -> dict[str, dict[str, Any]]:
    """The form schema (``form_files``) of each name a form's answer is stored under; unreadable files are left
    out (reported on their own)."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, file in form_files(trees).items():
        try:
            schema = json.loads(read_utf8(root / FORMS_DIR / file))
        except (OSError, NotUtf8Error, ValueError):
            continue
        if isinstance(schema, dict):
            schemas[name] = schema
    return schemas


def field_range(expression: str, schemas: dict[str, dict[str, Any]]) -> FieldRange | None:
    """The bounds a form gives the number field an input expression reads (``task["field"]``,
    ``task.get("field", …)``); None when it reads no such field."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    owner: ast.expr | None = None
    key: ast.expr | None = None
    if isinstance(node, ast.Subscript):
        owner, key = node.value, node.slice
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
          and node.args):
        owner, key = node.func.value, node.args[0]
    if not (isinstance(owner, ast.Name) and isinstance(key, ast.Constant) and isinstance(key.value, str)):
        return None
    schema = schemas.get(owner.id)
    properties = schema.get("properties") if schema else None
    field = properties.get(key.value) if isinstance(properties, dict) else None
    if not isinstance(field, dict):
        return None
    kinds = field.get("type")
    kinds = set(kinds) if isinstance(kinds, list) else {kinds}
    if not kinds & {"number", "integer"}:
        return None
    low, low_open = _bound(field, "minimum", "exclusiveMinimum", lower=True)
    high, high_open = _bound(field, "maximum", "exclusiveMaximum", lower=False)
    return FieldRange(low, low_open, high, high_open, integer="number" not in kinds)


def _bound(field: dict[str, Any], inclusive: str, exclusive: str, lower: bool) -> tuple[float | None, bool]:
    """The tighter of a field's inclusive and exclusive bound (the larger lower one), and whether it is open."""
    found = [(float(field[key]), key == exclusive) for key in (inclusive, exclusive)
             if isinstance(field.get(key), (int, float)) and not isinstance(field.get(key), bool)]
    if not found:
        return None, False
    best = max(value for value, _ in found) if lower else min(value for value, _ in found)
    return best, any(is_open for value, is_open in found if value == best)


def cell_expression(text: str) -> str | None:
    """An input entry as the Python test of ``v`` the engine evaluates; None for ``-`` or an empty cell."""
    text = text.strip()
    if text in ("", "-"):
        return None
    feel = feel_unary_tests(text, "v")
    if feel is not None:
        return feel
    if QUESTION_MARK.search(text):
        return QUESTION_MARK.sub("v", text)
    try:
        ast.parse(text, mode="eval")
        return f"(v) == ({text})"
    except SyntaxError:
        return f"v {text}"


def numbers_of(expression: str) -> tuple[list[float], bool] | None:
    """The numbers a cell's test compares ``v`` with and whether it orders (``<`` …); None when the test is not
    made of comparisons of ``v`` with numbers only (then its matches are not known piece by piece)."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    numbers: list[float] = []
    orders = False

    def operand(node: ast.expr) -> bool:
        if isinstance(node, ast.Name):
            return node.id == "v"
        value = _number(node)
        if value is not None:
            numbers.append(value)
            return True
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            values = [_number(item) for item in node.elts]
            numbers.extend(value for value in values if value is not None)
            return None not in values
        return False

    def test(node: ast.expr) -> bool:
        nonlocal orders
        if isinstance(node, ast.BoolOp):
            return all(test(value) for value in node.values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return test(node.operand)
        if isinstance(node, ast.Compare) and all(isinstance(op, COMPARISONS) for op in node.ops):
            orders = orders or any(isinstance(op, ORDERING) for op in node.ops)
            return all(operand(item) for item in (node.left, *node.comparators))
        return False

    return (numbers, orders) if test(tree.body) else None


def _number(node: ast.expr) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return -inner if inner is not None else None
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        value = float(node.value)
        return value if math.isfinite(value) else None
    return None


def _evaluates(expression: str, value: Any) -> bool:
    try:
        return bool(eval(expression, {"__builtins__": {}}, {"v": value}))  # literals only: no builtins, no data
    except Exception:
        return True  # it cannot tell: taken to match, so that no gap is claimed


def _literals(expression: str) -> list[Any]:
    """The literals a test compares ``v`` with for (in)equality: the values a column is known to take."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return []
    found: list[Any] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for op, other in zip(node.ops, node.comparators, strict=True):
            if not (isinstance(node.left, ast.Name) and node.left.id == "v"):
                continue
            if isinstance(op, (ast.Eq, ast.NotEq)) and isinstance(other, ast.Constant):
                found.append(other.value)
            elif isinstance(op, (ast.In, ast.NotIn)) and isinstance(other, (ast.List, ast.Tuple, ast.Set)):
                found.extend(item.value for item in other.elts if isinstance(item, ast.Constant))
    return found


def pieces(numbers: list[float], field: FieldRange | None) -> list[Piece]:
    """The points and open intervals a number column is cut into, each with a value inside it; only those the
    form field allows (its bounds are cuts too); an integer column keeps pieces holding a whole number."""
    integer = field is not None and field.integer
    cuts = set(numbers)
    if field is not None:
        cuts.update(bound for bound in (field.low, field.high) if bound is not None)
    points = sorted(cuts)
    found: list[Piece] = []
    edges: list[float | None] = [None, *points, None]
    for index, (low, high) in enumerate(itertools.pairwise(edges)):
        value = _inside(low, high, integer)
        if value is not None:
            found.append(Piece(low, high, value))
        if index < len(points):
            point = points[index]
            if not integer or point.is_integer():
                found.append(Piece(point, point, point))
    return [piece for piece in found if field is None or field.holds(piece.value)]


def _inside(low: float | None, high: float | None, integer: bool) -> float | None:
    """A value strictly between two cuts (None: unbounded); a whole one for an integer column, if any."""
    if low is None and high is None:
        return 0.0
    if low is None:
        return math.ceil(high) - 1.0 if integer and high is not None else (high or 0.0) - 1.0
    if high is None:
        return math.floor(low) + 1.0 if integer else low + 1.0
    whole = math.floor(low) + 1.0  # a round example where there is one
    if integer:
        return whole if whole < high else None
    return whole if whole < high else (low + high) / 2


def numeric_gaps(table: Any, domains: dict[str, tuple[Any, ...]], schemas: dict[str, dict[str, Any]]
                 ) -> list[Gap]:
    """The numeric gaps of a single-hit table (see the module's description); [] for a multiple-hit table, a table
    without a number column, or one too large to search."""
    if hit_policy_of(table) in MULTIPLE_HIT:
        return []
    rules = [rule.findall("{*}inputEntry") for rule in table.iterfind("{*}rule")]
    if not rules:
        return []
    columns = [column for index, element in enumerate(table.findall("{*}input"))
               if (column := _column(index, element, rules, domains, schemas)) is not None]
    if not any(column.pieces is not None for column in columns):
        return []
    sizes = [len(column.values) for column in columns]
    if math.prod(sizes) > MAX_COMBINATIONS or 0 in sizes:
        return []
    tests = [[(rule[column.index].findtext("{*}text") or "") if column.index < len(rule) else ""
              for column in columns] for rule in rules]
    known = [[[column.matches(cells[position], value) for value in column.values]
              for position, column in enumerate(columns)] for cells in tests]
    uncovered = {combination for combination in itertools.product(*(range(size) for size in sizes))
                 if not any(all(matched[position][index] for position, index in enumerate(combination))
                            for matched in known)}
    return list(_gaps(columns, sizes, uncovered))


def _column(index: int, element: Any, rules: list[list[Any]], domains: dict[str, tuple[Any, ...]],
            schemas: dict[str, dict[str, Any]]) -> Column | None:
    expression = (element.findtext("{*}inputExpression/{*}text") or "").strip()
    cells = [(rule[index].findtext("{*}text") or "") if index < len(rule) else "" for rule in rules]
    tests = [test for cell in cells if (test := cell_expression(cell)) is not None]
    if not tests:
        return None  # "-" everywhere: matches every value

    def matches(cell: str, value: Any) -> bool:
        test = cell_expression(cell)
        return test is None or _evaluates(test, value)

    if expression in domains:
        return Column(index, expression, list(domains[expression]), matches, known=True)
    read = [numbers_of(test) for test in tests]
    if all(found is not None for found in read) and any(found[1] for found in read if found is not None):
        field = field_range(expression, schemas)
        type_ref = (element.find("{*}inputExpression").get("typeRef") or "").strip().lower()
        if field is None and type_ref in ("integer", "long"):
            field = FieldRange(integer=True)
        numbers = [number for found in read if found is not None for number in found[0]]
        cut = pieces(numbers, field)
        bounded = field is not None and (field.low is not None or field.high is not None)
        expected = [bounded or (piece.low is not None and piece.high is not None)
                    or any(_evaluates(test, piece.value) for test in tests) for piece in cut]
        return Column(index, expression, [piece.value for piece in cut], matches, cut, expected)
    values = list(dict.fromkeys(value for test in tests for value in _literals(test) if _hashable(value)))
    return Column(index, expression, values, matches) if values else None


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


MAX_GAPS = 6


def _gaps(columns: list[Column], sizes: list[int], uncovered: set[tuple[int, ...]]) -> Iterator[Gap]:
    """The uncovered combinations as boxes: each number column's piece widened to the longest run of neighbouring
    pieces that stay uncovered, then each other column to all its values if they all do (it is then left out)."""
    remaining = set(uncovered)
    order = sorted(range(len(columns)), key=lambda position: columns[position].pieces is None)
    told = 0
    while remaining and told < MAX_GAPS:
        start = min(remaining)
        box: list[list[int]] = [[index] for index in start]
        for position in order:
            if columns[position].pieces is not None:
                for step in (-1, 1):
                    while 0 <= (edge := (box[position][0] if step < 0 else box[position][-1]) + step) \
                            < sizes[position] and _all_in(box, position, [edge], uncovered):
                        box[position] = [edge, *box[position]] if step < 0 else [*box[position], edge]
            elif _all_in(box, position, list(range(sizes[position])), uncovered):
                box[position] = list(range(sizes[position]))
        remaining -= set(itertools.product(*box))
        numeric = [position for position in order if columns[position].pieces is not None
                   and len(box[position]) < sizes[position]]
        if not numeric:
            continue  # a gap of string or boolean values only: runner.dmn_checks.uncovered_cases judges those
        told += 1
        yield Gap(_describe(columns, sizes, box, numeric),
                  all(_expected(columns[position], box[position]) for position in numeric))


def _all_in(box: list[list[int]], position: int, indexes: list[int], uncovered: set[tuple[int, ...]]) -> bool:
    trial = [*box[:position], indexes, *box[position + 1:]]
    return all(combination in uncovered for combination in itertools.product(*trial))


def _expected(column: Column, run: list[int]) -> bool:
    """Whether a case may bring a value of a run of pieces (``Column.expected``)."""
    return column.expected is not None and any(column.expected[index] for index in run)


def _describe(columns: list[Column], sizes: list[int], box: list[list[int]], numeric: list[int]) -> str:
    said = [_interval(columns[position], box[position]) for position in numeric]
    others = [_values(columns[position], box[position]) for position in range(len(columns))
              if columns[position].pieces is None and (len(box[position]) < sizes[position]
                                                       or not columns[position].known)]
    return " and ".join(said) + (f" for {', '.join(others)}" if others else "")


def _values(column: Column, run: list[int]) -> str:
    """``category = "lv_residential"``, or ``category in ("a", "b")`` for several."""
    shown = [_shown(column.values[index]) for index in run]
    return f"{column.expression} = {shown[0]}" if len(shown) == 1 else f"{column.expression} in ({', '.join(shown)})"


def _interval(column: Column, run: list[int]) -> str:
    assert column.pieces is not None
    first, last = column.pieces[run[0]], column.pieces[run[-1]]
    example = next((column.pieces[index].value for index in run if not column.pieces[index].point), first.value)
    name = column.expression
    if first.point and last.point and first.low == last.high:
        return f"{name} = {_shown(first.value)}"
    low, high = first.low, last.high
    low_closed, high_closed = first.point, last.point
    if low is None and high is None:
        return f"{name} any"
    if low is None:
        text = f"{name} {'<=' if high_closed else '<'} {_shown(high)}"
    elif high is None:
        text = f"{name} {'>=' if low_closed else '>'} {_shown(low)}"
    else:
        text = f"{name} in {'[' if low_closed else '('}{_shown(low)}, {_shown(high)}{']' if high_closed else ')'}"
    return f"{text} (e.g. {_shown(example)})"


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def gap_problems(file: str, table: Any, domains: dict[str, tuple[Any, ...]], schemas: dict[str, dict[str, Any]]
                 ) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of ``numeric_gaps``, at the decision: one problem each listing its gaps."""
    gaps = numeric_gaps(table, domains, schemas)
    decision = table.getparent()
    where = (file, decision.sourceline, decision.get("id", "-"))
    errors = [gap.text for gap in gaps if gap.error]
    doubtful = [gap.text for gap in gaps if not gap.error]
    found: tuple[list[Problem], list[Problem]] = ([], [])
    if errors:
        found[0].append(Problem(*where, f"no rule matches {'; '.join(errors)}: a case with such a value would stop "
                                        "at the business rule task (no rule matches); add a rule for it or widen a "
                                        "neighbouring rule's range"))
    if doubtful:
        found[1].append(Problem(*where, f"no rule matches {'; '.join(doubtful)}: beyond every number the column's "
                                        "rules name, and no form field bounds it; if such a value can occur, a "
                                        "case with it would stop at the business rule task"))
    return found
