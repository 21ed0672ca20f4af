"""Our dialect of the Spiff BPMN parser: timers that read the case clock instead of the server's wall clock,
non-interrupting boundary events that can fire more than once, and decision tables that fail loudly on an overlap or
a gap (``runner.decision_engine``: ``CaseBpmnParser.get_engine`` and the serializer's business rule task converter).

SpiffWorkflow's ``TimeDateEventDefinition.has_fired`` compares the deadline with ``datetime.now()``, so on a virtual
clock (``try``, simulation, tests) a deadline that lies in the real past would fire by itself. ``CaseClockTimeDate``
asks the workflow's script engine for its clock instead. It is composed in through the parser's and serializer's
registries (``OVERRIDE_PARSER_CLASSES``, ``configure``), without changing any library class.

BPMN lets a non-interrupting boundary event fire any number of times while its activity runs; SpiffWorkflow 3.2
fires it once per entry into the activity (the caught event task completes and nothing waits any more).
``RearmingBoundaryEvent`` arms a fresh copy when a non-interrupting one that catches a thrown event (escalation,
message, signal …) runs while its activity is still active. So a second breach of the same step inside the stage
``customer_works`` (a design reviewed late twice) reaches the supervisor twice. Timers are left alone: a date
timer fires once by definition.

Subprocesses and call activities are our subclasses of the Spiff specs (``CaseSubWorkflowTask``,
``CaseTransactionSubprocess``, ``CaseCallActivity``): the data handed into and back out of a subprocess is copied
with ``runner.data_copies.exact_copy`` (what ``copy.deepcopy`` gives, without its memo for plain JSON-like data)
instead of ``deepcopy``. Service tasks are ``CaseServiceTask``: the handler's result reaches the result variable
as ``json.loads(json.dumps(result))`` would give it, without the JSON text (``runner.data_copies.json_round_trip``).
The serializer writes them exactly as the library's classes (``SPEC_ALIASES``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.default.task_spec import BoundaryEventConverter
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, InclusiveGateway, ParallelGateway
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from SpiffWorkflow.spiff.parser.event_parsers import (
    SpiffBoundaryEventParser,
    SpiffIntermediateCatchEventParser,
    SpiffStartEventParser,
)
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask as SpiffBusinessRuleTask
from SpiffWorkflow.spiff.specs.defaults import CallActivity as SpiffCallActivity
from SpiffWorkflow.spiff.specs.defaults import ServiceTask as SpiffServiceTask
from SpiffWorkflow.spiff.specs.defaults import SubWorkflowTask as SpiffSubWorkflowTask
from SpiffWorkflow.spiff.specs.defaults import TransactionSubprocess as SpiffTransactionSubprocess
from SpiffWorkflow.util.task import TaskState

from .data_copies import exact_copy
from .decision_engine import CaseBusinessRuleTaskConverter, CaseDecisionEngine
from .fast_workflow import (
    SERIALIZER_ALIASES,
    SerializedAsLibraryClass,
    inclusive_join_may_fire,
    parallel_join_may_fire,
)
from .hit_policies import read_semantics


class CaseClockTimeDate(TimeDateEventDefinition):  # type: ignore[misc]
    """A date timer that fires when the case clock (the script engine's ``clock``) passes its deadline.

    An expression that gives no date/time (``"P5D"``, a number, a dict) fails as a broken script does: the timer
    task is made READY and fails when the engine runs it (``update_task_data``), so it lies in ERROR with a
    ``WorkflowTaskException`` naming the timer, an incident and a retry, instead of a ``TypeError`` out of whatever
    moved the case. A timer of an event-based gateway (not its own task) raises at once."""

    def has_fired(self, my_task: Any) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            if my_task._get_internal_data(TIMER_ERROR) is not None:
                return True  # READY again (a retry): running it fails again
            value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            if timer_deadline(value) is None:
                message = not_a_date(my_task, self.expression, value)
                if getattr(my_task.task_spec, "event_definition", None) is not self:
                    raise WorkflowTaskException(message, task=my_task)
                my_task._set_internal_data(**{TIMER_ERROR: message})
                return True
            event_value = value
            my_task._set_internal_data(event_value=event_value)
        clock = getattr(my_task.workflow.script_engine, "clock", None)
        now = clock.now() if clock is not None else datetime.now(UTC)
        if TimerEventDefinition.parse_time_or_duration(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        fired: bool = my_task._get_internal_data("event_fired", False)
        return fired

    def update_task_data(self, my_task: Any) -> None:
        """Run as the timer task runs: fails it when its expression gave no date/time."""
        message = my_task._get_internal_data(TIMER_ERROR)
        if message is not None:
            raise WorkflowTaskException(message, task=my_task)
        super().update_task_data(my_task)


TIMER_ERROR = "timer_error"
"""Internal data of a timer task whose expression gave no date/time: the message its run fails with."""


def timer_deadline(value: Any) -> datetime | None:
    """The moment a timer expression's value names, if it is an ISO 8601 date/time with an offset; None else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = TimerEventDefinition.parse_time_or_duration(value)
    except Exception:  # the library's parsers raise what they meet (ValueError, TypeError …)
        return None
    return parsed if isinstance(parsed, datetime) else None


def not_a_date(my_task: Any, expression: str, value: Any) -> str:
    """``timer timer_acceptance (时限：业务受理): its timeDate "P5D" gave 'P5D', not a date/time …``."""
    spec = my_task.task_spec
    name = f" ({spec.bpmn_name})" if getattr(spec, "bpmn_name", None) else ""
    return (f"timer {getattr(spec, 'bpmn_id', None) or spec.name}{name}: its timeDate {expression.strip()[:80]} gave "
            f"{value!r:.80}, not a date/time; it must compute when the timer fires (an ISO 8601 date/time with an "
            "offset, as working_deadline(…) and add_calendar_days(…) give)")


class RearmingBoundaryEvent(BoundaryEvent):  # type: ignore[misc]
    """A boundary event that a non-interrupting catch of a thrown event arms again while its activity runs."""

    def _run_hook(self, my_task: Any) -> bool:
        result: bool = super()._run_hook(my_task)
        if self.cancel_activity or isinstance(self.event_definition, TimerEventDefinition):
            return result
        split = my_task.parent
        activity = next((child for child in split.children if not isinstance(child.task_spec, BoundaryEvent)), None)
        if activity is not None and not activity.has_state(TaskState.FINISHED_MASK):
            armed = split._add_child(self, TaskState.MAYBE)  # as the split predicted the first one
            self._update(armed)  # predicts its path, then waits, registered with the event manager like the first
        return result


class CaseClockTimerMixin:
    """Parses ``timeDate`` timers into ``CaseClockTimeDate``."""

    def parse_timer_event(self, event: Any) -> Any:
        definition = super().parse_timer_event(event)  # type: ignore[misc]
        if type(definition) is TimeDateEventDefinition:
            return CaseClockTimeDate(definition.name, definition.expression, description=definition.description)
        return definition


class CaseBoundaryEventParser(CaseClockTimerMixin, SpiffBoundaryEventParser):  # type: ignore[misc]
    pass


class CaseIntermediateCatchEventParser(CaseClockTimerMixin, SpiffIntermediateCatchEventParser):  # type: ignore[misc]
    pass


class CaseStartEventParser(CaseClockTimerMixin, SpiffStartEventParser):  # type: ignore[misc]
    pass


def _override(tag: str, parser_class: type | None = None,
              spec_class: type | None = None) -> dict[str, tuple[type, type]]:
    base_parser, base_spec = SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[full_tag(tag)]
    return {full_tag(tag): (parser_class or base_parser, spec_class or base_spec)}


class ExactCopySubWorkflowMixin:
    """``SubWorkflowTask.copy_data`` / ``update_data`` of SpiffWorkflow 3.2 (an embedded subprocess takes a deep copy
    of the calling task's data and gives back a deep copy of its last task's data) with ``exact_copy``, which gives
    what ``copy.deepcopy`` gives, without its memo and dispatch for plain JSON-like data."""

    def copy_data(self, my_task: Any, subworkflow: Any) -> None:
        start = subworkflow.get_next_task(spec_name='Start')
        start.set_data(**exact_copy(my_task.data))

    def update_data(self, my_task: Any, subworkflow: Any) -> None:
        my_task.data = exact_copy(subworkflow.last_task.data)


class CaseSubWorkflowTask(ExactCopySubWorkflowMixin, SpiffSubWorkflowTask):  # type: ignore[misc]
    """The Spiff embedded subprocess, copying data with ``exact_copy``."""

    serialized_as = SpiffSubWorkflowTask


class CaseTransactionSubprocess(ExactCopySubWorkflowMixin, SpiffTransactionSubprocess):  # type: ignore[misc]
    """The Spiff transaction subprocess, copying data with ``exact_copy``."""

    serialized_as = SpiffTransactionSubprocess


class CaseCallActivity(SpiffCallActivity):  # type: ignore[misc]
    """The Spiff call activity; without data outputs it takes back a copy of the called process's last task data,
    made with ``exact_copy`` (``CallActivity.update_data`` of SpiffWorkflow 3.2 otherwise)."""

    serialized_as = SpiffCallActivity

    def update_data(self, my_task: Any, subworkflow: Any) -> None:
        if subworkflow.spec.io_specification is None or len(subworkflow.spec.io_specification.data_outputs) == 0:
            my_task.data = exact_copy(subworkflow.last_task.data)
        else:
            super().update_data(my_task, subworkflow)


class CaseServiceTask(SpiffServiceTask):  # type: ignore[misc]
    """The Spiff service task; with a script engine that has ``service_result`` (``CaseScriptEngine``) the result
    variable gets ``json.loads(call_service(…))`` from it without the JSON text in between (``ServiceTask._execute``
    of SpiffWorkflow 3.2 otherwise)."""

    serialized_as = SpiffServiceTask

    def _execute(self, task: Any) -> bool:
        engine = task.workflow.script_engine
        service_result = getattr(engine, "service_result", None)
        if service_result is None:
            return bool(super()._execute(task))
        task.data[self.result_variable] = service_result(
            task, operation_name=self.operation_name, operation_params=self.evaluate_params(task))
        return True


class CaseParallelGateway(ParallelGateway):  # type: ignore[misc]
    """The parallel gateway; as a join in a loop it waits for the branches of the round
    (``fast_workflow.parallel_join_may_fire``: SpiffWorkflow 3.2 counted an earlier round's branch as arrived). On
    the spec, so that a case restored from its state (the library's ``Task``) joins as a live one does."""

    serialized_as = ParallelGateway

    def _check_threshold_unstructured(self, my_task: Any) -> bool:
        return parallel_join_may_fire(self, my_task)


class CaseInclusiveGateway(InclusiveGateway):  # type: ignore[misc]
    """The inclusive gateway; as a join in a loop it looks at the round's tasks
    (``fast_workflow.inclusive_join_may_fire``)."""

    serialized_as = InclusiveGateway

    def _check_threshold_unstructured(self, my_task: Any) -> bool:
        return inclusive_join_may_fire(self, my_task)


SPEC_ALIASES: dict[type[Any], type[Any]] = {
    CaseParallelGateway: SerializedAsLibraryClass,
    CaseInclusiveGateway: SerializedAsLibraryClass,
    CaseServiceTask: SerializedAsLibraryClass,
    CaseSubWorkflowTask: SerializedAsLibraryClass,
    CaseTransactionSubprocess: SerializedAsLibraryClass,
    CaseCallActivity: SerializedAsLibraryClass,
}
"""Our spec classes are written exactly as the library's (same typename, same converter)."""


class CaseBpmnParser(SpiffBpmnParser):  # type: ignore[misc]
    """The Spiff parser with case-clock timers, re-arming boundary events and strict decision tables."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        **_override("boundaryEvent", CaseBoundaryEventParser, RearmingBoundaryEvent),
        **_override("intermediateCatchEvent", CaseIntermediateCatchEventParser),
        **_override("startEvent", CaseStartEventParser),
        **_override("subProcess", spec_class=CaseSubWorkflowTask),
        **_override("transaction", spec_class=CaseTransactionSubprocess),
        **_override("callActivity", spec_class=CaseCallActivity),
        **_override("serviceTask", spec_class=CaseServiceTask),
        full_tag("parallelGateway"): (BpmnParser.PARSER_CLASSES[full_tag("parallelGateway")][0], CaseParallelGateway),
        full_tag("inclusiveGateway"): (BpmnParser.PARSER_CLASSES[full_tag("inclusiveGateway")][0],
                                       CaseInclusiveGateway),
    }

    def get_engine(self, decision_ref: str, node: Any) -> CaseDecisionEngine:
        """The decision's table in a ``CaseDecisionEngine`` that knows its file and decision (for its errors)."""
        table = super().get_engine(decision_ref, node).decision_table
        dmn_parser = self.dmn_parsers[decision_ref]
        decision = dmn_parser.decision
        element = next(found for found in dmn_parser.node.iter("{*}decisionTable") if found.get("id") == table.id)
        return CaseDecisionEngine(table, decision.id, decision.name, dmn_parser.filename, read_semantics(element))


def new_parser() -> CaseBpmnParser:
    """A parser of our dialect that validates against the BPMN, DMN and Spiff XSDs."""
    return CaseBpmnParser(validator=VALIDATOR)


SERIALIZER_CONFIG = {**SPIFF_CONFIG, CaseClockTimeDate: TimerConditionalEventDefinitionConverter,
                     RearmingBoundaryEvent: BoundaryEventConverter,
                     SpiffBusinessRuleTask: CaseBusinessRuleTaskConverter,
                     **SERIALIZER_ALIASES, **SPEC_ALIASES}  # fast and subprocess classes are written as the library's


def serializer_registry() -> Any:
    """A serializer registry that knows our dialect's classes."""
    return BpmnWorkflowSerializer.configure(SERIALIZER_CONFIG)
