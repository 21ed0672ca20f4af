"""DMN 1.3 hit policies as ``runner.decision_engine`` runs them, and what it cannot run.

SpiffWorkflow 3.2 parses a table's ``hitPolicy`` but knows only UNIQUE (first match) and COLLECT; it drops the
``aggregation`` attribute and every output's ``outputValues``. Our engine runs every hit policy as DMN 1.3 (clause
8.2.11) defines it, from what ``read_semantics`` keeps of the XML:

- UNIQUE: at most one rule may match; FIRST: the first matching rule in table order;
- ANY: every matching rule must give the same outputs (else an error naming the rules);
- PRIORITY: the matching rule whose outputs rank highest, the rank of an output value being its place in the
  output's listed allowed values (``<outputValues><text>"high","medium","low"</text></outputValues>``, highest
  first); with several outputs the first output that lists its values decides, then the next (lexicographically).
  Rules of equal rank: the first in table order;
- RULE ORDER: every matching rule, in table order; OUTPUT ORDER: every matching rule, highest rank first;
- COLLECT: every matching rule (in table order); with an aggregation, the single output's values aggregated as the
  FEEL functions ``sum``, ``count``, ``min``, ``max`` do: COUNT of nothing is 0, SUM, MIN and MAX of nothing give
  None (FEEL null).

The results of the multiple-hit policies keep the shape COLLECT always had here: each output (the head of a dotted
name) the list of the hits' values. A single-hit table without a match is an error, a multiple-hit one gives no
outputs at all (``{}``, as COLLECT did); COUNT gives 0.

What stays unrunnable (``unrunnable``): PRIORITY and OUTPUT ORDER without any output listing its values (DMN leaves
the order undefined), an aggregation on a table of several outputs (DMN 1.3 has none) or with another hit policy
than COLLECT. ``validate`` refuses such a table, ``baozhuang versions`` warns about a deployed one, and a case
reaching it stops at its business rule task with this reason as the incident.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

SINGLE_HIT = ("UNIQUE", "ANY", "PRIORITY", "FIRST")
MULTIPLE_HIT = ("COLLECT", "RULE ORDER", "OUTPUT ORDER")
RANKED = ("PRIORITY", "OUTPUT ORDER")
AGGREGATIONS = ("SUM", "COUNT", "MIN", "MAX")
LISTABLE = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class TableSemantics:
    """What the library's parser drops of a decision table: its COLLECT aggregation, and per output the listed
    allowed values (``outputValues`` as a list of literals; None for an output without such a list)."""

    aggregation: str | None = None
    listed_values: tuple[tuple[Any, ...] | None, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"aggregation": self.aggregation,
                "listed_values": [list(values) if values is not None else None for values in self.listed_values]}

    @classmethod
    def from_dict(cls, dct: dict[str, Any]) -> TableSemantics:
        listed = dct.get("listed_values") or []
        return cls(dct.get("aggregation"), tuple(tuple(values) if values is not None else None for values in listed))


def hit_policy_of(table: Any) -> str:
    """A ``decisionTable`` element's hit policy, spacing and case aside (``UNIQUE`` when there is none)."""
    return " ".join((table.get("hitPolicy") or "UNIQUE").split()).upper()


def read_semantics(table: Any) -> TableSemantics:
    """The aggregation and the outputs' listed values of a ``decisionTable`` element (lxml)."""
    aggregation = (table.get("aggregation") or "").strip().upper() or None
    listed = tuple(listed_values(output.findtext("{*}outputValues/{*}text"))
                   for output in table.findall("{*}output"))
    return TableSemantics(aggregation, listed)


def listed_values(text: str | None) -> tuple[Any, ...] | None:
    """``"high","medium","low"`` (or ``1, 2, 3``) as the tuple of its literals; None when the text is no such list
    (``>= 1`` is a test, not a list of values)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        values = ast.literal_eval(f"({text},)")
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(values, tuple) or not all(isinstance(value, LISTABLE) for value in values):
        return None
    return values


def unrunnable(policy: str, semantics: TableSemantics, outputs: int) -> str | None:
    """Why a table of this hit policy, semantics and number of outputs cannot be run as DMN 1.3 defines it; None
    when it can."""
    aggregation = semantics.aggregation
    if policy not in SINGLE_HIT + MULTIPLE_HIT:
        return f"hit policy {policy} is no DMN 1.3 hit policy"
    if aggregation is not None:
        if aggregation not in AGGREGATIONS:
            return f"aggregation {aggregation} is no DMN 1.3 aggregation (SUM, COUNT, MIN, MAX)"
        if policy != "COLLECT":
            return f"aggregation {aggregation} applies to hit policy COLLECT only, not to {policy}"
        if outputs != 1:
            return (f"hit policy COLLECT with aggregation {aggregation} needs a table of one output (DMN 1.3 "
                    f"aggregates no compound outputs); this table has {outputs}")
    if policy in RANKED and not any(values is not None for values in semantics.listed_values):
        return (f"hit policy {policy} ranks the rules by their outputs' listed allowed values, but no output of "
                'this table lists its values (outputValues, highest priority first, e.g. "high","medium","low")')
    return None


class UnlistedValue(ValueError):
    """A rule of a ranked table gives an output value its column does not list."""

    def __init__(self, index: int, value: Any, listed: tuple[Any, ...]) -> None:
        super().__init__(f"output {index + 1} gives {value!r}, which is not among its listed values {list(listed)!r}")
        self.index, self.value, self.listed = index, value, listed


def rank(values: list[Any], semantics: TableSemantics) -> tuple[int, ...]:
    """The rank of a rule's output values (lower is higher priority): per output that lists its values, the place of
    the rule's value in that list; ``UnlistedValue`` for a value not listed."""
    places = []
    for index, (value, listed) in enumerate(zip(values, semantics.listed_values, strict=False)):
        if listed is None:
            continue
        found = [place for place, allowed in enumerate(listed) if _same(allowed, value)]
        if not found:
            raise UnlistedValue(index, value, listed)
        places.append(found[0])
    return tuple(places)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind: True is not 1 in a list of values."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def aggregate(aggregation: str, values: list[Any]) -> Any:
    """SUM, COUNT, MIN or MAX of the hits' values, as FEEL's list functions: ``ValueError`` saying why for a value
    that is no number (SUM) or values that cannot be compared (MIN, MAX)."""
    if aggregation == "COUNT":
        return len(values)
    if not values:
        return None
    if aggregation == "SUM":
        bad = [value for value in values if isinstance(value, bool) or not isinstance(value, (int, float))]
        if bad:
            raise ValueError(f"SUM needs numbers, but the rules give {bad[0]!r}")
        return sum(values)
    if any(value is None for value in values):
        raise ValueError(f"{aggregation} cannot compare None with the other values {values!r}")
    try:
        return min(values) if aggregation == "MIN" else max(values)
    except TypeError:
        raise ValueError(f"{aggregation} cannot compare the values {values!r}") from None
