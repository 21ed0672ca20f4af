"""Evaluate one DMN decision table on given data, outside any case: for tests, analysts and the CLI.

The table is evaluated by the engine a case uses (``runner.decision_engine.CaseDecisionEngine``, SpiffWorkflow's
DMN engine made strict) with the same expression functions a case has, so a decision behaves here exactly as it
does inside ``baozhuang.bpmn``, under every DMN 1.3 hit policy (``runner.hit_policies``): a UNIQUE table matching
several rules, an ANY table whose matching rules disagree, or a single-hit table matching none, is a
``DecisionError`` naming the file, the decision, the rules and the input values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lxml import etree
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

from handlers import build_registry
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox

from .clock import Clock, SystemClock
from .process_folder import new_parser, redefinitions
from .script_engine import CaseScriptEngine
from .workdays import WorkingCalendar


class DecisionError(Exception):
    """The decision does not exist or its table cannot be evaluated on the data."""


@dataclass
class DecisionResult:
    """The outputs of a decision and the ids of the rules that matched, in the order of the hit policy (table order;
    under PRIORITY and OUTPUT ORDER highest rank first, so the rule PRIORITY chose comes first)."""

    outputs: dict[str, Any]
    matched_rules: list[str]


def load_decisions(root: str | Path) -> dict[str, DMNEngine]:
    """Every decision in a folder's ``*.dmn`` files, by decision id; ``DecisionError`` when two files define one
    (the parser would keep the file that sorts last, silently)."""
    parser = new_parser()
    defined: dict[str, tuple[Path, int]] = {}
    for path in sorted(Path(root).glob("*.dmn")):
        redefined = redefinitions(path, etree.parse(str(path)).iter("{*}decision"), defined, "decision")
        if redefined:
            raise DecisionError(str(redefined[0]))
        parser.add_dmn_file(str(path))
    engines = {}
    for decision_id in parser.dmn_parsers:
        engines[decision_id] = parser.get_engine(decision_id, None)
    return engines


def evaluate(engine: DMNEngine, data: dict[str, Any], clock: Clock | None = None) -> DecisionResult:
    """Run a decision table on ``data`` as a business rule task would."""
    clock = clock or SystemClock()

    def context(_task: Any) -> HandlerContext:
        return HandlerContext("DMN", clock.now, WorkingCalendar.default(), MemoryOutbox(), MemoryArchive())

    script_engine = CaseScriptEngine(clock, WorkingCalendar.default(), build_registry(), context)
    # A stand-in for the business rule task; SpiffWorkflow's error reporting reads these attributes.
    workflow = SimpleNamespace(script_engine=script_engine, spec=SimpleNamespace(file="(decision)"))
    workflow.top_workflow = workflow
    task_spec = SimpleNamespace(bpmn_id="decision", bpmn_name="decision", name="decision")
    task = SimpleNamespace(data=dict(data), workflow=workflow, task_spec=task_spec)
    try:
        matched = engine.decide(task)
        outputs = engine.result(task)
    except Exception as err:
        raise DecisionError(str(err).removesuffix(". ")) from err  # a SpiffWorkflow error without notes ends in ". "
    return DecisionResult(dict(outputs), [rule.id for rule in matched])
