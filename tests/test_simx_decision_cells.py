"""A decision table's cell evaluated from its remembered plan (``runner.decision_engine.cell_plan``) makes exactly
the evaluations, in the same order, with the same results and the same errors, as evaluating its texts
(``CaseDecisionEngine._evaluate_texts``: the FEEL reading, else SpiffWorkflow's ``DMNEngine.evaluate``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from handlers.registry import HandlerRegistry
from runner.clock import VirtualClock, parse_iso
from runner.decision_engine import AST_PARSE_VALIDATORS, CaseDecisionEngine, cell_plan
from runner.script_engine import CaseScriptEngine
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES, ROOT

DMN = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"

HAND_WRITTEN = [
    ("amount", "5000"), ("amount", "< 10"), ("amount", ">= 4000"), ("amount", "4 < ? < 6000"),
    ("amount", "? in [1, 5000]"), ("regime", '"normal"'), ("regime", '"what?"'), ("regime", "'it?s'"),
    ("regime", '"normal","fast"'), ("regime", 'not("normal")'), ("regime", "not('a', 'b')"), ("amount", "1, 2, 5000"),
    ("amount", "< 3, > 9"), ("amount", "not(1, 2)"), ("amount", "not (amount)"), ("amount", ""), ("amount", " "),
    ("amount", "x =="), ("amount", "< "), ("amount", "a b c"), ("amount", "-"), ("amount", "dmninputexpr > 3"),
    ("amount", "unknown_name"), ("amount", "< unknown_name"), ("amount", "1 / 0"), ("amount +", "1"),
    ("amount", ","), ("amount", "1,"), ("amount", "not("), ("regime", '"a,b"'), ("regime", "'\"'"),
    ("amount", "(1, 2)"), ("amount", "[1, 2]"), ("amount", "? > 1 and ? < 9999"), ("missing", "1"),
    ("amount", "\\"), ("amount", "'unclosed"), ("amount", "not(?)"), ("amount", "5000 if True else 1"),
]


def cells_of_tables() -> list[tuple[str, str]]:
    """Every (input expression, input entry) pair of the DMN tables of the model and the tests."""
    found: set[tuple[str, str]] = set()
    for path in [*PROCESSES.glob("*.dmn"), *(ROOT / "tests" / "data").rglob("*.dmn")]:
        root = etree.parse(str(path)).getroot()
        for table in root.iter(f"{DMN}decisionTable"):
            inputs = [(el.findtext(f"{DMN}inputExpression/{DMN}text") or "").strip()
                      for el in table.findall(f"{DMN}input")]
            for rule in table.findall(f"{DMN}rule"):
                for expression, entry in zip(inputs, rule.findall(f"{DMN}inputEntry"), strict=False):
                    found.add((expression, entry.findtext(f"{DMN}text") or ""))
    return sorted(found)


class Recording(PythonScriptEngine):  # type: ignore[misc]
    """The library's script engine (``validate`` is ``ast.parse``), noting every evaluation."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        self.calls.append((expression, dict(external_context or {})))
        return super().evaluate(task, expression, external_context)


class RecordingCase(CaseScriptEngine):
    """Our case script engine (``validate`` remembers ``ast.parse``'s verdicts), noting every evaluation."""

    calls: list[tuple[str, Any]]

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        self.calls.append((expression, dict(external_context or {})))
        return super().evaluate(task, expression, external_context)


def case_engine() -> RecordingCase:
    clock = VirtualClock(parse_iso("2026-11-02T09:00:00+08:00"))
    engine = RecordingCase(clock, WorkingCalendar({}), HandlerRegistry(), lambda task: None)
    engine.calls = []
    return engine


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "value", call()
    except Exception as err:  # noqa: BLE001 - the error is what is compared
        return type(err).__name__, str(err)


DATA = [{"amount": 5000, "regime": "normal", "x": 1}, {"amount": 3, "regime": "fast"}, {"regime": "a,b"}]


@pytest.mark.parametrize("make_engine", [Recording, case_engine], ids=["library", "case"])
def test_cell_plan_evaluates_as_the_texts(make_engine: Any) -> None:
    assert type(make_engine()).validate in AST_PARSE_VALIDATORS
    decision = CaseDecisionEngine(SimpleNamespace(id="d", name="d"))
    cells = cells_of_tables()
    assert len(cells) > 40  # the model's tables are there
    planned = 0
    for input_expr, match_expr in [*cells, *HAND_WRITTEN]:
        for data in DATA:
            script_engine = make_engine()
            task = SimpleNamespace(data=dict(data), workflow=SimpleNamespace(script_engine=script_engine))
            fast = outcome(lambda: decision.evaluate(input_expr, match_expr, task))  # noqa: B023
            fast_calls, script_engine.calls = script_engine.calls, []
            slow = outcome(lambda: decision._evaluate_texts(input_expr, match_expr, task))  # noqa: B023
            assert (fast, fast_calls) == (slow, script_engine.calls), (input_expr, match_expr, data)
        planned += cell_plan(input_expr, match_expr) is not None
    assert planned > len(cells)  # most cells, and the parsable hand-written ones, take the remembered plan


def test_no_plan_for_an_unknown_validator() -> None:
    """A script engine whose ``validate`` may refuse other texts than ``ast.parse`` gets the texts' path."""

    class Strict(PythonScriptEngine):  # type: ignore[misc]
        def validate(self, expression: str) -> None:
            raise SyntaxError("refused")

    decision = CaseDecisionEngine(SimpleNamespace(id="d", name="d"))
    task = SimpleNamespace(data={"amount": 5}, workflow=SimpleNamespace(script_engine=Strict()))
    with pytest.raises(SyntaxError, match="refused"):
        decision.evaluate("amount", "5", task)
    assert decision.evaluate("amount", "? == 5", task) is True
    assert decision.evaluate("amount", None, task) is True
    patched = Recording()
    patched.validate = Strict().validate  # on the instance: still not ast.parse
    task = SimpleNamespace(data={"amount": 5}, workflow=SimpleNamespace(script_engine=patched))
    with pytest.raises(SyntaxError, match="refused"):
        decision.evaluate("amount", "5", task)
