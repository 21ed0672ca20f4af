"""A ``Case`` and its script engine do not refer to each other (``runner.case._EngineLink``): a case object, with
its services and what they hold (a durable request's session and rows), is freed by reference counting as soon as
nothing uses it, not by a later run of the cyclic garbage collector; and the engine still works without the case,
as it did when it held the case's bound methods."""

from __future__ import annotations

import copy
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState

from handlers.context import HandlerContext
from runner.case import Case, HumanTask
from runner.process_folder import ProcessBundle
from runner.script_engine import SLA_PAUSES, expression_functions
from runner.state import pack_state, unpack_state
from runner.trial import TrialDriver, TrialOptions
from tests.db import Db, complete, open_tasks, start


@pytest.fixture()
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects while the test runs."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def driven(bundle: ProcessBundle, until: str | None = None) -> TrialDriver:
    """An in-memory hv_important case driven with the form defaults to its end, or until ``until`` is ready."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    driver.case.start(driver.start_data)
    while until is None or not any(task.element_id == until for task in driver.case.ready_tasks()):
        if not driver.step():
            assert until is None, f"{until} never became ready"
            break
    return driver


def driven_case(bundle: ProcessBundle, until: str | None = None) -> Case:
    return driven(bundle, until).case


def test_a_case_run_to_its_end_is_freed_by_reference_counting(bundle: ProcessBundle, no_cyclic_gc: None) -> None:
    case = driven_case(bundle)
    assert case.completed
    gone = weakref.ref(case)
    del case
    assert gone() is None, "the case outlives its last reference (a reference cycle through its engine)"


def test_a_durable_request_leaves_no_case_behind(db: Db, no_cyclic_gc: None) -> None:
    """The live workflow kept for the next request (``runner.workflow_cache``) holds the engine, not the case
    (nor, before, any case object that only a cycle still held)."""
    number = start(db, "hv_important")
    cases: list[weakref.ref[Case]] = []
    original = Case.__init__

    def remembered(self: Case, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        cases.append(weakref.ref(self))

    Case.__init__ = remembered  # type: ignore[method-assign]
    try:
        for _ in range(3):
            task = open_tasks(db, number)[0]
            complete(db, number, task.element_id, user=f"{task.lane or 'staff'}.1")
    finally:
        Case.__init__ = original  # type: ignore[method-assign]
    assert len(cases) >= 3
    assert [ref() for ref in cases] == [None] * len(cases)
    assert len(db.runtime.workflows) >= 1  # the workflow itself was kept


def test_the_engine_works_on_without_the_case(bundle: ProcessBundle) -> None:
    """A workflow taken from a case that is then dropped (``migration.plan_migration(case_at(…).workflow, …)``)
    runs its expressions and service tasks as it did with the case alive."""
    driver = driven(bundle, until="review_plan")
    alive = driver.case
    workflow = driven_case(bundle, until="review_plan").workflow
    gc.collect()
    pause = {"suspended_at": alive.services.clock.now().isoformat(), "working_days": 3}
    for each in (alive.workflow, workflow):
        each.data[SLA_PAUSES] = [pause]
    expression = "[sla_deadline(10), working_deadline(10), now()]"
    task, kept_task = (next(t for t in each.get_tasks(state=TaskState.READY, manual=True)
                            if t.task_spec.bpmn_id == "review_plan") for each in (workflow, alive.workflow))
    assert workflow.script_engine.evaluate(task, expression) == alive.engine.evaluate(kept_task, expression)
    assert alive.engine.evaluate(kept_task, "sla_deadline(10)") != alive.engine.evaluate(kept_task,
                                                                                           "working_deadline(10)")
    human = next(each for each in alive.ready_tasks() if each.element_id == "review_plan")
    answer = driver.answer_for(human, 0)
    for each, ready in ((workflow, task), (alive.workflow, kept_task)):  # on through service tasks (handlers)
        ready.data[ready.task_spec.bpmn_id] = copy.deepcopy(answer)
        ready.run()
        each.do_engine_steps()
    def done(each: Any) -> list[str]:
        return [t.task_spec.name for t in each.get_tasks(state=TaskState.COMPLETED | TaskState.READY
                                                          | TaskState.ERROR)]

    assert done(workflow) == done(alive.workflow)
    assert "review_plan" in done(workflow) and not workflow.get_tasks(state=TaskState.ERROR)


def test_the_engine_reads_the_pauses_of_the_workflow_the_case_holds_now(bundle: ProcessBundle) -> None:
    """``case.workflow = restored`` (as ``Case.restore`` and tests do): the engine's ``sla_deadline`` reads the
    suspensions of the new workflow (``_EngineLink.sla_pauses`` reads the case's current one)."""
    case = driven_case(bundle, until="review_plan")
    restored = unpack_state(pack_state(case.workflow), bundle.spec, bundle.subprocess_specs, case.engine)
    restored.data[SLA_PAUSES] = [{"suspended_at": case.services.clock.now().isoformat(), "working_days": 5}]
    task = restored.get_next_task(state=TaskState.READY, manual=True)
    before = case.engine.evaluate(task, "sla_deadline(10)")
    assert case._link.sla_pauses() == []
    case.workflow = restored
    assert case.workflow is restored
    assert case._link.sla_pauses() == restored.data[SLA_PAUSES]
    assert case.engine.evaluate(task, "sla_deadline(10)") != before
    assert case.engine.evaluate(task, "sla_deadline(10)") == case.engine.evaluate(task, "working_deadline(15)")


def test_the_handler_context_is_the_cases(bundle: ProcessBundle) -> None:
    case = driven_case(bundle, until="review_plan")
    task = case.workflow.get_next_task(state=TaskState.READY, manual=True)
    context = case.engine.context_factory(task)
    assert context == case._link.handler_context(task)
    assert (context.case_number, context.outbox, context.archive, context.calendar) == (
        case.case_number, case.services.outbox, case.services.archive, case.services.calendar)
    assert context.now() == case.services.clock.now()
    assert isinstance(case.ready_tasks()[0], HumanTask)


class OriginalWiring(Case):
    """A ``Case`` whose engine calls back through the case's own bound methods, as before ``_EngineLink`` (the
    methods as they were, kept here)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engine.context_factory = self._original_handler_context
        self.engine.environment.globals.update(expression_functions(
            self.services.clock, self.services.calendar, self._original_sla_pauses))

    def _original_sla_pauses(self) -> list[dict[str, Any]]:
        workflow = getattr(self, "workflow", None)
        pauses = workflow.data.get(SLA_PAUSES) if workflow is not None else None
        return pauses if isinstance(pauses, list) else []

    def _original_handler_context(self, task: Any) -> HandlerContext:
        return HandlerContext(
            case_number=self.case_number,
            now=self.services.clock.now,
            calendar=self.services.calendar,
            outbox=self.services.outbox,
            archive=self.services.archive,
            simulation=self.services.simulation,
        )


def trial_record(bundle: ProcessBundle, category: str, case_class: type[Case]) -> tuple[Any, ...]:
    """What a trial of ``category`` did with cases of ``case_class``: its history (task ids left out: new ones
    each run), the outbox, the archive, the case data and the waiting timers, with a suspension in the data from
    the start (``sla_deadline`` reads it)."""
    driver = TrialDriver(bundle, TrialOptions(category=category))
    services = driver.case.services
    driver.case = case_class(bundle, services, driver.case.case_number)
    driver.start_data[SLA_PAUSES] = [{"suspended_at": driver.start_data["applied_at"], "working_days": 2}]
    driver.case.start(driver.start_data)
    driver.case.workflow.data[SLA_PAUSES] = driver.start_data[SLA_PAUSES]
    steps = 0
    while driver.step():
        steps += 1
        assert steps < 500
    history = [(e.element_id, e.name, e.lifecycle, e.at, e.role, e.user, e.data) for e in driver.case.history]
    moved = driver.case.engine.evaluate(driver.case.workflow.task_tree,
                                        f"sla_deadline(10, {driver.start_data['applied_at']!r})")
    return (history, moved, driver.outbox.messages, services.archive.__dict__, driver.case.data, driver.case.completed,
            [(t.element_id, t.deadline) for t in driver.case.pending_timers()])


@pytest.mark.parametrize("category", ["hv_important", "lv_residential", "hv_ordinary"])
def test_cases_run_as_with_the_original_wiring(bundle: ProcessBundle, category: str) -> None:
    assert trial_record(bundle, category, Case) == trial_record(bundle, category, OriginalWiring)
