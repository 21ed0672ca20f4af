"""Our dialect of the Spiff BPMN parser: timers that read the case clock instead of the server's wall clock.

SpiffWorkflow's ``TimeDateEventDefinition.has_fired`` compares the deadline with ``datetime.now()``, so on a virtual
clock (``try``, simulation, tests) a deadline that lies in the real past would fire by itself. ``CaseClockTimeDate``
asks the workflow's script engine for its clock instead. It is composed in through the parser's and serializer's
registries (``OVERRIDE_PARSER_CLASSES``, ``configure``), without changing any library class.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from SpiffWorkflow.spiff.parser.event_parsers import (
    SpiffBoundaryEventParser,
    SpiffIntermediateCatchEventParser,
    SpiffStartEventParser,
)
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .fast_workflow import SERIALIZER_ALIASES


class CaseClockTimeDate(TimeDateEventDefinition):  # type: ignore[misc]
    """A date timer that fires when the case clock (the script engine's ``clock``) passes its deadline."""

    def has_fired(self, my_task: Any) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            my_task._set_internal_data(event_value=event_value)
        clock = getattr(my_task.workflow.script_engine, "clock", None)
        now = clock.now() if clock is not None else datetime.now(UTC)
        if TimerEventDefinition.parse_time_or_duration(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        fired: bool = my_task._get_internal_data("event_fired", False)
        return fired


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


def _override(tag: str, parser_class: type) -> dict[str, tuple[type, type]]:
    _base_parser, spec_class = SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[full_tag(tag)]
    return {full_tag(tag): (parser_class, spec_class)}


class CaseBpmnParser(SpiffBpmnParser):  # type: ignore[misc]
    """The Spiff parser with case-clock timers."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        **_override("boundaryEvent", CaseBoundaryEventParser),
        **_override("intermediateCatchEvent", CaseIntermediateCatchEventParser),
        **_override("startEvent", CaseStartEventParser),
    }


def new_parser() -> CaseBpmnParser:
    """A parser of our dialect that validates against the BPMN, DMN and Spiff XSDs."""
    return CaseBpmnParser(validator=VALIDATOR)


SERIALIZER_CONFIG = {**SPIFF_CONFIG, CaseClockTimeDate: TimerConditionalEventDefinitionConverter,
                     **SERIALIZER_ALIASES}  # runner.fast_workflow's classes are written as the library's


def serializer_registry() -> Any:
    """A serializer registry that knows our dialect's classes."""
    return BpmnWorkflowSerializer.configure(SERIALIZER_CONFIG)
