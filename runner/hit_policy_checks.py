"""Decision tables the engine cannot run as DMN 1.3 defines their hit policy (``runner.hit_policies.unrunnable``):
``validate`` refuses them (``unsupported_hit_policy``), ``baozhuang versions`` warns about deployed ones
(``unrunnable_tables``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from lxml import etree

from .hit_policies import MULTIPLE_HIT, SINGLE_HIT, hit_policy_of, read_semantics, unrunnable
from .process_folder import Problem


def unsupported_hit_policy(file: str, table: Any) -> Iterator[Problem]:
    """A table the engine cannot run as DMN 1.3 defines its hit policy (``runner.hit_policies.unrunnable``), and
    literal outputs a COLLECT SUM cannot add: either would stop a case at its business rule task."""
    policy = hit_policy_of(table)
    if policy not in SINGLE_HIT + MULTIPLE_HIT:
        return  # the schema check names the hit policies there are
    decision = table.getparent()
    where = (file, table.sourceline, decision.get("id", "-") if decision is not None else "-")
    semantics = read_semantics(table)
    problem = unrunnable(policy, semantics, len(table.findall("{*}output")))
    if problem is not None:
        yield Problem(*where, f"{problem}: the engine cannot run this table as DMN 1.3 defines it")
        return
    if semantics.aggregation == "SUM":
        for rule in table.iterfind("{*}rule"):
            entry = rule.find("{*}outputEntry/{*}text")
            text = (entry.text or "").strip() if entry is not None else ""
            try:
                value = ast.literal_eval(text) if text else ""
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue  # an expression: its value is known only in a case
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                yield Problem(file, entry.sourceline if entry is not None else rule.sourceline, rule.get("id", "-"),
                              f"COLLECT SUM adds the matching rules' outputs, but this rule gives {text or '(empty)'}"
                              ", which is no number")


def unrunnable_tables(files: dict[str, str]) -> list[Problem]:
    """``unsupported_hit_policy`` of every table of a deployed version's DMN files (relative path → text): what a
    version deployed before the check runs, a case stopping at such a table. A file that does not parse is left to
    what parsed it at deployment."""
    problems: list[Problem] = []
    for name, text in sorted(files.items()):
        if not name.endswith(".dmn"):
            continue
        try:
            root = etree.fromstring(text.encode("utf-8"))
        except etree.XMLSyntaxError:
            continue
        for table in root.iter("{*}decisionTable"):
            problems.extend(unsupported_hit_policy(name, table))
    return problems
