"""The script engine every case runs with: our functions for expressions, handlers for service tasks.

SpiffWorkflow evaluates gateway conditions, scripts, timer expressions, service-task parameters and DMN cells as
Python. This module composes its ``PythonScriptEngine`` with the functions documented in docs/process-model.md
(working-day deadlines on the case clock) and routes service tasks to the handler registry.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache
from types import CodeType
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from handlers.context import HandlerContext
from handlers.registry import HandlerRegistry

from .clock import Clock, parse_iso, to_iso
from .data_copies import json_round_trip
from .decision_engine import AST_PARSE_VALIDATORS
from .workdays import WorkingCalendar

ContextFactory = Callable[[Any], HandlerContext]
"""Builds the handler context for a SpiffWorkflow task (the case number and sinks come from the case)."""

RESERVED_NAMES = ("now", "working_deadline", "sla_deadline", "working_days_between", "add_calendar_days", "add_years")
SLA_PAUSES = "sla_pauses"
"""The top workflow's data key listing the case's suspensions that moved its time limits (``services.
_pause_deadlines``): ``{"suspended_at": ISO, "working_days": n}`` in order."""

Pauses = Callable[[], list[dict[str, Any]]]


def no_pauses() -> list[dict[str, Any]]:
    return []


def moved_by_pauses(calendar: WorkingCalendar, deadline: datetime, start: datetime,
                    pauses: list[dict[str, Any]]) -> datetime:
    """A time limit's deadline after the case's suspensions: each one that began after the step started and before
    its deadline moves it later by the working days the case stood still, as ``services._pause_deadlines`` moved
    the step's timer on resuming."""
    for pause in pauses:
        suspended_at = parse_iso(str(pause["suspended_at"]))
        if start <= suspended_at < deadline:
            deadline = calendar.postponed(deadline, int(pause["working_days"]))
    return deadline


def expression_functions(clock: Clock, calendar: WorkingCalendar,
                         pauses: Pauses = no_pauses) -> dict[str, Callable[..., Any]]:
    """The functions every expression may call (their names may not be used as task-data keys); ``pauses`` gives
    the case's suspensions (``SLA_PAUSES``) to ``sla_deadline``."""

    def now() -> str:
        return to_iso(clock.now())

    def working_deadline(days: int, start: str | None = None) -> str:
        return to_iso(calendar.deadline(parse_iso(start) if start else clock.now(), int(days)))

    def sla_deadline(days: int, start: str | None = None) -> str:
        """``working_deadline`` moved by the suspensions of the case since ``start`` (what a 督办 states as the
        step's deadline: the deadline its timer fired at)."""
        begun = parse_iso(start) if start else clock.now()
        return to_iso(moved_by_pauses(calendar, calendar.deadline(begun, int(days)), begun, pauses()))

    def working_days_between(start: str, end: str) -> int:
        return calendar.working_days_between(parse_iso(start), parse_iso(end))

    def add_calendar_days(value: str, days: int) -> str:
        return to_iso(parse_iso(value) + timedelta(days=days))

    def add_years(value: str, years: int) -> str:
        moment = parse_iso(value)
        try:
            shifted = moment.replace(year=moment.year + years)
        except ValueError:  # 29 February in a year without one
            shifted = moment.replace(year=moment.year + years, day=28)
        return to_iso(shifted)

    functions: dict[str, Callable[..., Any]] = {
        "now": now,
        "working_deadline": working_deadline,
        "sla_deadline": sla_deadline,
        "working_days_between": working_days_between,
        "add_calendar_days": add_calendar_days,
        "add_years": add_years,
    }
    assert tuple(functions) == RESERVED_NAMES
    return functions


@lru_cache(maxsize=4096)
def compiled(source: str, mode: str) -> CodeType:
    """The code object of an expression (``eval``) or script (``exec``), compiled once per process: the library
    compiles the text again on every evaluation, a large share of an engine step."""
    return compile(source, "<string>", mode)  # the file name eval/exec give a string, so errors read the same


@lru_cache(maxsize=8192)
def _parse_error(text: str) -> tuple[Any, ...] | None:
    """The arguments of the ``SyntaxError`` ``ast.parse`` raises for ``text``, or None when it parses."""
    try:
        ast.parse(text)
    except SyntaxError as err:
        return err.args
    return None


class CompiledTaskDataEnvironment(TaskDataEnvironment):  # type: ignore[misc]
    """SpiffWorkflow's task-data environment, evaluating cached code objects instead of source text."""

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
                 ) -> Any:
        """``TaskDataEnvironment.evaluate`` of SpiffWorkflow 3.2 on the cached code object; its globals (a plain
        dict) copied by ``dict.copy`` without ``copy.copy``'s dispatch (every condition, DMN cell and parameter
        passes here)."""
        try:
            code = compiled(expression, "eval")
        except SyntaxError:
            return super().evaluate(expression, context, external_context)  # the library reports it as always
        if type(self.globals) is not dict:
            return super().evaluate(code, context, external_context)
        my_globals = self.globals.copy()  # else we pollute all later evals.
        self._prepare_context(context)
        my_globals.update(external_context or {})
        my_globals.update(context)
        return eval(code, my_globals)

    def execute(self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> bool:
        try:
            code = compiled(script, "exec")
        except SyntaxError:
            return bool(super().execute(script, context, external_context))
        return bool(super().execute(code, context, external_context))


class HandlerError(Exception):
    """A service task's handler failed; the task is left in ERROR for a retry."""


class CaseScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """``PythonScriptEngine`` with our expression functions and service tasks routed to handlers."""

    def __init__(
        self,
        clock: Clock,
        calendar: WorkingCalendar,
        registry: HandlerRegistry,
        context_factory: ContextFactory,
        pauses: Pauses = no_pauses,
    ) -> None:
        super().__init__(environment=CompiledTaskDataEnvironment(expression_functions(clock, calendar, pauses)))
        self.clock = clock
        self.registry = registry
        self.context_factory = context_factory

    def validate(self, expression: str) -> None:
        """``ast.parse`` as the library does, remembered per text: the DMN engine validates every rule's input and
        match texts on every evaluation (about 3 % of an engine step)."""
        error = _parse_error(expression)
        if error is not None:
            raise SyntaxError(*error)  # a new exception each time, the same message and position

    def call_service(self, task: Any, **kwargs: Any) -> str:
        """Run the handler registered under the operator id; its JSON result goes to the result variable."""
        return str(self._call_handler(task, kwargs, lambda result: json.dumps(result, ensure_ascii=False)))

    def service_result(self, task: Any, **kwargs: Any) -> Any:
        """``json.loads(call_service(task, **kwargs))``, what the library's service task stores in the result
        variable, without writing and reading the JSON text (``runner.dialect.CaseServiceTask``)."""
        return self._call_handler(task, kwargs, json_round_trip)

    def _call_handler(self, task: Any, kwargs: dict[str, Any], convert: Callable[[Any], Any]) -> Any:
        operation_name: str = kwargs["operation_name"]
        params = {name: spec["value"] for name, spec in kwargs.get("operation_params", {}).items()}
        try:
            result = self.registry.call(operation_name, self.context_factory(task), params)
            return convert(result)
        except Exception as err:  # the base class's error path is broken (ENGINE-NOTES.md): report it ourselves
            raise WorkflowTaskException(
                f"service task {task.task_spec.bpmn_id} ({operation_name}) failed: {err}", task=task, exception=err
            ) from err


AST_PARSE_VALIDATORS.add(CaseScriptEngine.validate)  # the DMN engine may read its cells' texts with ast.parse
