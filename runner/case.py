"""One case of the process, running in memory: start, complete user tasks, deliver messages, fire timers.

This is the engine-facing core that the trial command, the tests, the durable runner and the simulator share.
It never touches a database: persistence wraps it (serialize at user-interaction boundaries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.exceptions import TaskNotFoundException, WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.registry import HandlerRegistry

from .clock import Clock, parse_iso, to_iso
from .fast_workflow import FastBpmnWorkflow
from .forms import FormValidationError, completion_checks, completion_problems, validate_form_data
from .process_folder import ProcessBundle, spec_properties
from .script_engine import SLA_PAUSES, CaseScriptEngine
from .state import pack_state, unpack_state
from .workdays import WorkingCalendar

MAX_FAILURES_PER_RUN = 20
CUSTOMER_ROLE = "customer"  # the role of the customer lane (lane_customer)


class CaseError(Exception):
    """A request the case cannot take (unknown task, wrong state, four-eyes violation, unknown message)."""


class FourEyesError(CaseError):
    """The person who did ``partner`` may not also do ``element`` (its ``fourEyesWith``): another person must.
    Carries both steps' ids and names so that a page can say it in the reader's language."""

    def __init__(self, element: str, element_name: str, partner: str, partner_name: str, user: str) -> None:
        super().__init__(f"four-eyes rule: {element_name} ({element}) must be done by another person than "
                         f"{partner_name} ({partner}), which {user} did")
        self.element, self.element_name = element, element_name
        self.partner, self.partner_name = partner, partner_name
        self.user = user


def message_waits(task_spec: Any) -> list[tuple[str, Any]]:
    """(message name, the task spec of the element that catches it) for a task spec that waits for messages: a
    message catch event its own message; an event-based gateway each message among its events (SpiffWorkflow moves
    the events' definitions into the gateway's ``MultipleEventDefinition``, in the order of its outputs)."""
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, MessageEventDefinition):
        return [(definition.name, task_spec)]
    if isinstance(definition, MultipleEventDefinition):
        return [(item.name, output) for item, output in zip(definition.event_definitions, task_spec.outputs,
                                                            strict=False)
                if isinstance(item, MessageEventDefinition)]
    return []


def catchable_messages(bundle: ProcessBundle) -> set[str]:
    """Names of the messages a process folder's process (and the processes it calls) can catch."""
    specs = [bundle.spec, *bundle.subprocess_specs.values()]
    return {name for spec in specs for task_spec in spec.task_specs.values() for name, _catcher in
            message_waits(task_spec)}


def timer_wait(task_spec: Any) -> Any | None:
    """The task spec of the timer event a task spec waits for: a timer catch or boundary event itself, or the timer
    event after an event-based gateway (whose definition SpiffWorkflow moved into the gateway; the gateway's task
    keeps its ``event_value`` and ``event_fired``); None for anything else."""
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        return task_spec
    if isinstance(definition, MultipleEventDefinition):
        return next((output for item, output in zip(definition.event_definitions, task_spec.outputs, strict=False)
                     if isinstance(item, TimerEventDefinition)), None)
    return None


@dataclass
class CaseEvent:
    """One lifecycle event of a case: what happened to which element, when and by whom."""

    element_id: str
    name: str
    lifecycle: str
    at: str
    task_id: str | None = None
    role: str | None = None
    user: str | None = None
    data: dict[str, Any] | None = None


@dataclass
class HumanTask:
    """A ready user (or manual) task as staff see it."""

    id: str
    element_id: str
    name: str
    role: str | None
    form_schema: str | None
    form_ui_schema: str | None
    four_eyes_with: str | None
    documentation: str | None


@dataclass
class ServiceFailure:
    """An engine task that raised: which one, and why."""

    task_id: str
    element_id: str
    message: str


def failure_message(err: Exception) -> str:
    """The engine's message with the error underneath it: SpiffWorkflow's "Error evaluating expression '…'" keeps
    the original exception only as the one being handled when it was raised (``__context__``), so ``str`` alone
    would hide the ``ZeroDivisionError: division by zero`` an operator needs to see."""
    message = str(err).rstrip(". ") + "."
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause) and str(cause) not in message:
        message += f" ({type(cause).__name__}: {cause})"
    return message


@dataclass
class PendingTimer:
    """A timer waiting for its deadline."""

    task_id: str
    element_id: str
    name: str
    deadline: datetime


@dataclass
class CaseServices:
    """What a case needs from its surroundings: clock, calendar, handlers and the sinks handlers write to."""

    clock: Clock
    calendar: WorkingCalendar
    registry: HandlerRegistry
    outbox: Any = field(default_factory=MemoryOutbox)
    archive: Any = field(default_factory=MemoryArchive)
    simulation: bool = False
    history_lookup: Callable[[str], str | None] | None = None
    """Who last completed an element before this case was loaded (the durable runner reads the event log)."""


def element_id(task: Any) -> str | None:
    """The BPMN id of a task's spec; None for the engine's own bookkeeping tasks."""
    bpmn_id: str | None = getattr(task.task_spec, "bpmn_id", None)
    return bpmn_id


SLA_TIMER_STATES = TaskState.WAITING | TaskState.COMPLETED
"""A step's deadline comes from its (or its stage's) non-interrupting timer, waiting or already fired: a task that
opens after its stage's deadline passed is overdue from that deadline, not without one."""


def is_reminder(bpmn_id: str | None) -> bool:
    """A timer named ``…_reminder`` only reminds (``timer_followup_reminder``); it is not the step's deadline."""
    return bool(bpmn_id and bpmn_id.endswith("_reminder"))


def task_properties(task: Any) -> dict[str, str]:
    """The ``spiffworkflow:properties`` of a task's spec."""
    return spec_properties(task.task_spec)


class _EngineLink:
    """What a case's script engine calls back for: handler contexts and the SLA pauses, from the case number, the
    services and the case's current workflow, which the ``Case`` keeps here (its properties of those names).

    The engine holds this object's methods, not the case's: were it to hold the case's bound methods, case and
    engine would refer to each other, and every case object (with its services, the request's session, the rows
    and events it held) would outlive its request until the cyclic garbage collector found it (about 3,000
    objects per durable ``hv_important`` case, one collection of 1-2 ms per case). Now reference counting frees
    them as soon as nothing uses them. The engine keeps working without the case, as it did (a workflow taken
    from a case that is gone, ``migration.plan_migration(case.workflow, …)``)."""

    __slots__ = ("case_number", "services", "workflow")

    def __init__(self, case_number: str, services: CaseServices) -> None:
        self.case_number = case_number
        self.services = services
        self.workflow: Any = None

    def sla_pauses(self) -> list[dict[str, Any]]:
        """The suspensions that moved the case's time limits (``script_engine.SLA_PAUSES``), oldest first."""
        workflow = self.workflow
        pauses = workflow.data.get(SLA_PAUSES) if workflow is not None else None
        return pauses if isinstance(pauses, list) else []

    def handler_context(self, task: Any) -> HandlerContext:
        services = self.services
        return HandlerContext(
            case_number=self.case_number,
            now=services.clock.now,
            calendar=services.calendar,
            outbox=services.outbox,
            archive=services.archive,
            simulation=services.simulation,
        )


class Case:
    """A running case: one ``BpmnWorkflow`` plus the history of what happened to it."""

    workflow_class: Any = FastBpmnWorkflow
    """The class new cases run on: ``runner.fast_workflow``'s, or SpiffWorkflow's ``BpmnWorkflow`` (same results)."""

    def __init__(self, bundle: ProcessBundle, services: CaseServices, case_number: str,
                 state: bytes | None = None, workflow: Any = None) -> None:
        """A new case, or one restored from ``state``, or one around a live ``workflow`` that the durable
        runner kept from an earlier request (its script engine is replaced by this case's)."""
        self.bundle = bundle
        self._link = link = _EngineLink(case_number, services)
        self.engine = CaseScriptEngine(services.clock, services.calendar, services.registry, link.handler_context,
                                       link.sla_pauses)
        if workflow is not None:
            self.workflow = workflow
            workflow.script_engine = self.engine
        elif state is None:
            self.workflow = self.workflow_class(bundle.spec, bundle.subprocess_specs, script_engine=self.engine)
        else:
            self.workflow = unpack_state(state, bundle.spec, bundle.subprocess_specs, self.engine)
        self.history: list[CaseEvent] = []
        self.failures: list[ServiceFailure] = []
        self.fired_timers: set[str] = set()
        """Task ids of the timers fired in this case object's lifetime (the durable runner marks their jobs done)."""
        self._enabled: set[UUID] = {task.id for task in self.workflow.get_tasks(state=TaskState.READY, manual=True)}
        self._drained = 0

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self, data: dict[str, Any]) -> None:
        """Put the application data on the start task and run until people, messages or timers are needed."""
        start = self.workflow.get_next_task(state=TaskState.READY)
        if start is None:
            raise CaseError("the case has already started")
        start.data.update(data)
        self.run_engine()

    def run_engine(self) -> None:
        """Run every engine task that is ready, recording each completion.

        A failing engine task (a handler error, a broken expression) is left in ERROR, recorded in ``failures``
        and logged as a ``failed`` event (its error goes to the retry job and the incident, which only supervisors
        see); the other branches go on. The durable runner retries it later and then raises an incident.
        A timer whose deadline has passed fires whatever moves the workflow (a completion on another branch, a
        message, a retry, a migration: the engine refreshes every waiting task), so each of those records it as
        fired first (``_record_due_timers``), as ``fire_due_timers`` does.
        """
        self._record_due_timers()
        for _ in range(MAX_FAILURES_PER_RUN):
            try:
                self.workflow.do_engine_steps(did_complete_task=self._record_completion)
                break
            except WorkflowException as err:
                failed = getattr(err, "task", None)
                failure = ServiceFailure(
                    task_id=str(failed.id) if failed is not None else "",
                    element_id=element_id(failed) or "" if failed is not None else "",
                    message=failure_message(err),
                )
                self.failures.append(failure)
                if failed is not None and failure.element_id:  # the log shows where and when the case stalled
                    self.history.append(self._event(failed, "failed"))
        self._record_new_ready_tasks()

    def save_state(self) -> bytes:
        """The workflow's state without the spec (``runner.state``), as the case row stores it."""
        return pack_state(self.workflow)

    def new_events(self) -> list[CaseEvent]:
        """History events recorded since the last call (the durable runner appends them to the event log)."""
        events = self.history[self._drained:]
        self._drained = len(self.history)
        return events

    def retry(self, task_id: str, user: str | None = None) -> None:
        """Make a task that is in ERROR ready again and run on. A retry someone asked for (``user``: an incident
        retried by hand) is logged as a ``retried`` event with that user; the worker's automatic ones are not."""
        task = self.workflow.get_task_from_id(UUID(task_id))
        if task is None or not task.has_state(TaskState.ERROR):
            raise CaseError(f"case {self.case_number} has no failed task {task_id!r}")
        if user is not None:
            self.history.append(self._event(task, "retried", user=user))
        self._record_due_timers()
        self.workflow.reset_from_task_id(task.id)
        self.run_engine()

    def failed_tasks(self) -> list[tuple[str, str]]:
        """(task id, element id) of every task in ERROR."""
        return [(str(t.id), element_id(t) or "") for t in self.workflow.get_tasks(state=TaskState.ERROR)]

    def due_date(self, task_id: str) -> datetime | None:
        """The earliest pending SLA deadline on the task or on a stage around it (reminders are not deadlines).
        A customer-lane task has none: the utility's limits never bind the customer (DOMAIN.md §2)."""
        return self._task_due_date(self.workflow.get_task_from_id(UUID(task_id)))

    def _task_due_date(self, task: Any) -> datetime | None:
        """``due_date`` of a task of the case's tree."""
        if self.bundle.roles.get(element_id(task) or "") == CUSTOMER_ROLE:
            return None
        if not self._may_wait_for_a_timer():
            return None  # the climb below would find no waiting or fired timer
        deadlines: list[datetime] = []
        while task is not None:
            parent = task.parent
            if parent is not None:
                for sibling in parent.children:
                    definition = getattr(sibling.task_spec, "event_definition", None)
                    value = sibling.internal_data.get("event_value")
                    if (isinstance(definition, TimerEventDefinition) and value and sibling.has_state(SLA_TIMER_STATES)
                            and not getattr(sibling.task_spec, "cancel_activity", True)
                            and not is_reminder(sibling.task_spec.bpmn_id)):
                        deadlines.append(parse_iso(value))
            workflow = task.workflow
            task = (self.workflow.get_task_from_id(workflow.parent_task_id)
                    if workflow is not self.workflow and workflow.parent_task_id else None)
        return min(deadlines) if deadlines else None

    def _may_wait_for_a_timer(self) -> bool:
        """False when no task of the case's tree is a waiting or fired timer event (read from the workflows' indexes
        by state, ``runner.fast_workflow``); True when there is one or the workflows keep no such index."""
        if not self.bundle.has_timers:
            return False
        workflow = self.workflow
        for each in (workflow, *workflow.subprocesses.values()):
            index = getattr(each, "_by_state", None)
            if index is None or TaskState.WAITING not in index:
                return True
            for state in (TaskState.WAITING, TaskState.COMPLETED):
                for task in index.get(state, {}).values():
                    if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
                        return True
        return False

    def restore(self, state: bytes) -> None:
        """Replace the workflow with one restored from ``save_state()`` output, as after a restart."""
        self.workflow = unpack_state(state, self.bundle.spec, self.bundle.subprocess_specs, self.engine)

    @property
    def workflow(self) -> Any:
        """The case's ``BpmnWorkflow`` (held by ``_EngineLink``, as are ``services`` and ``case_number``)."""
        return self._link.workflow

    @workflow.setter
    def workflow(self, workflow: Any) -> None:
        self._link.workflow = workflow

    @property
    def services(self) -> CaseServices:
        return self._link.services

    @services.setter
    def services(self, services: CaseServices) -> None:
        self._link.services = services

    @property
    def case_number(self) -> str:
        return self._link.case_number

    @case_number.setter
    def case_number(self, case_number: str) -> None:
        self._link.case_number = case_number

    @property
    def completed(self) -> bool:
        return bool(self.workflow.is_completed())

    @property
    def data(self) -> dict[str, Any]:
        """The case data: the data of the main process's newest completed task, completed by what the other live
        branches of the main process changed since they split from it (``main_process_data``). Side branches (a
        non-interrupting boundary event and all after it, e.g. the 督办 escalation with only ``breach`` in its data)
        are never the case's data, whenever they complete."""
        data = main_process_data(self.workflow)
        if data is None:
            return dict(self.workflow.data) if self.completed else {}
        return data

    @property
    def visited(self) -> list[str]:
        """Element ids in the order they completed."""
        return [event.element_id for event in self.history if event.lifecycle == "completed"]

    # -- human tasks -----------------------------------------------------------------------------------------------

    def ready_tasks(self) -> list[HumanTask]:
        """Ready user and manual tasks, in a stable order."""
        tasks = self.workflow.get_tasks(state=TaskState.READY, manual=True)
        return [self._describe(task) for task in tasks]

    def complete_task(self, task_id: str, data: dict[str, Any], user: str, *, started: bool = False) -> None:
        """Complete a ready user task with form data (validated against its schema) and run on. The work is
        logged ``started`` then ``completed``; ``started``: the user's claim (or the assignment to them) already
        logged its start, so no second one."""
        task = self._ready_task(task_id)
        bpmn_id = element_id(task) or ""
        properties = task_properties(task)
        schema_file = properties.get("formJsonSchemaFilename")
        if schema_file:
            schema = self.bundle.form(schema_file)
            self.validate_form(schema, data)
            self._check_completion(task, schema, data)
        elif data:
            raise FormValidationError([("", "this task takes no form data")])
        four_eyes = properties.get("fourEyesWith")
        if four_eyes and self.last_user_of(four_eyes) == user:
            raise FourEyesError(bpmn_id, task.task_spec.bpmn_name or bpmn_id, four_eyes,
                                self._element_name(task, four_eyes), user)
        task.data[bpmn_id] = data
        self._record_due_timers()  # completing the task refreshes the waiting ones: a past-due timer fires first
        if not started:
            self.history.append(self._event(task, "started", user=user))
        task.run()
        self.history.append(self._event(task, "completed", user=user, data=data))
        self.run_engine()

    def _check_completion(self, task: Any, schema: dict[str, Any], data: dict[str, Any]) -> None:
        """The form's completion checks (``forms.COMPLETION_CHECKS``) on the task's data and the answer: a check
        that refuses, or one the model got wrong (an error in its expression), is a ``FormValidationError`` and
        nothing changes."""
        if not completion_checks(schema):
            return
        try:
            problems = completion_problems(schema, lambda text: self.engine.evaluate(
                task, text, external_context={"answer": data}))
        except WorkflowException as err:
            raise FormValidationError([("", f"completion check of {element_id(task)} failed: {err}")]) from err
        if problems:
            raise FormValidationError(problems)

    def validate_form(self, schema: dict[str, Any], data: Any) -> None:
        """Check a task's form data against its schema (the simulator's cases remember answers that passed)."""
        validate_form_data(schema, data)

    def _element_name(self, task: Any, bpmn_id: str) -> str:
        """The name of an element of ``task``'s process (or as the case's history recorded it), else its id."""
        spec = task.workflow.spec.task_specs.get(bpmn_id)
        if spec is not None and getattr(spec, "bpmn_name", None):
            return str(spec.bpmn_name)
        names = [event.name for event in self.history if event.element_id == bpmn_id and event.name != bpmn_id]
        return names[-1] if names else bpmn_id

    def last_user_of(self, bpmn_id: str) -> str | None:
        """Who last completed an element, if anybody did."""
        for event in reversed(self.history):
            if event.element_id == bpmn_id and event.lifecycle == "completed":
                return event.user
        return self.services.history_lookup(bpmn_id) if self.services.history_lookup else None

    # -- messages and timers ---------------------------------------------------------------------------------------

    def waiting_messages(self) -> list[str]:
        """Names of the messages the case is waiting for (at a catch event or an event-based gateway)."""
        return [name for task in self.workflow.get_tasks(state=TaskState.WAITING)
                for name, _catcher in message_waits(task.task_spec)]

    def known_messages(self) -> list[str]:
        """Names of the messages the case's process (and the processes it calls) can catch, sorted."""
        return sorted(catchable_messages(self.bundle))

    def deliver_message(self, name: str, payload: dict[str, Any]) -> None:
        """Deliver a named message with its payload; a message nobody waits for is a ``CaseError`` saying whether
        the process has such a message at all, and what the case waits for now."""
        waiting = self.waiting_messages()
        if name not in waiting:
            known = self.known_messages()
            now = (f"it waits for {', '.join(sorted(set(waiting)))}" if waiting else "it waits for no message now")
            if name not in known:
                raise CaseError(f"the process of case {self.case_number} has no message {name!r} (its messages: "
                                f"{', '.join(known) or 'none'}); {now}")
            raise CaseError(f"case {self.case_number} is not waiting for message {name!r}; {now}")
        due = self._record_due_timers()
        raced = [timer for timer in due  # an event-based gateway whose deadline passed before the message came
                 if any(waited == name for waited, _catcher in message_waits(
                     self.workflow.get_task_from_id(UUID(timer.task_id)).task_spec))]
        if raced:  # the timer won there: let it, then deliver only if something else still waits for the message
            self.workflow.refresh_timers()
            self.run_engine()
            if name not in self.waiting_messages():
                timer = raced[0]
                raise CaseError(f"case {self.case_number} is not waiting for message {name!r} any more: "
                                f"{timer.name or timer.element_id} came first (due {to_iso(timer.deadline)})")
        self.workflow.catch(BpmnEvent(MessageEventDefinition(name), payload=payload))
        self.run_engine()

    def pending_timers(self) -> list[PendingTimer]:
        """Timers waiting for their deadline, earliest first."""
        timers = []
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
            catcher = timer_wait(task.task_spec)
            value = task.internal_data.get("event_value")
            if catcher is not None and value and not task.internal_data.get("event_fired"):
                timers.append(PendingTimer(str(task.id), catcher.bpmn_id or "", catcher.bpmn_name or "",
                                           parse_iso(value)))
        return sorted(timers, key=lambda timer: timer.deadline)

    def fire_due_timers(self) -> int:
        """Fire every timer whose deadline the case clock has passed; return how many fired."""
        due = self._record_due_timers()
        if due:
            self.workflow.refresh_timers()
            self.run_engine()
        return len(due)

    def _record_due_timers(self) -> list[PendingTimer]:
        """Mark every timer whose deadline the case clock has passed as fired and log its ``fired`` event."""
        now = self.services.clock.now()
        due = [timer for timer in self.pending_timers() if timer.deadline <= now]
        for timer in due:
            task = self.workflow.get_task_from_id(UUID(timer.task_id))
            task.internal_data["event_fired"] = True
            self.history.append(self._event(task, "fired"))
            self.fired_timers.add(timer.task_id)
        return due

    # -- internals -------------------------------------------------------------------------------------------------

    def sample_evaluator(self, task_id: str) -> Callable[[str], Any]:
        """Evaluates a form's sample expressions (``runner.sample_answers``) on the data of ready task ``task_id``,
        as completion checks are; an expression the model got wrong is a ``CaseError`` naming the step."""
        found: list[Any] = []

        def evaluate(expression: str) -> Any:
            if not found:  # looked up on first use: most forms have no sample expression
                found.append(self._ready_task(task_id))
            try:
                return self.engine.evaluate(found[0], expression)
            except WorkflowException as err:
                raise CaseError(f"the sample answer of {element_id(found[0])} failed: {err}") from err

        return evaluate

    def _ready_task(self, task_id: str) -> Any:
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            if str(task.id) == task_id or element_id(task) == task_id:
                return task
        raise CaseError(f"case {self.case_number} has no ready task {task_id!r}")

    def _describe(self, task: Any) -> HumanTask:
        properties = task_properties(task)
        bpmn_id = element_id(task) or ""
        return HumanTask(
            id=str(task.id),
            element_id=bpmn_id,
            name=task.task_spec.bpmn_name or bpmn_id,
            role=self.bundle.roles.get(bpmn_id),
            form_schema=properties.get("formJsonSchemaFilename"),
            form_ui_schema=properties.get("formUiSchemaFilename"),
            four_eyes_with=properties.get("fourEyesWith"),
            documentation=getattr(task.task_spec, "documentation", None),
        )

    def case_event(self, element: str, lifecycle: str, user: str | None = None) -> CaseEvent:
        """An event about the case as a whole (cancelled, suspended, migrated …)."""
        return CaseEvent(element_id=element, name=element, lifecycle=lifecycle,
                         at=to_iso(self.services.clock.now()), user=user)

    def _now_iso(self) -> str:
        """The case clock's time as events record it."""
        return to_iso(self.services.clock.now())

    def _event(self, task: Any, lifecycle: str, user: str | None = None, data: Any = None) -> CaseEvent:
        bpmn_id = element_id(task) or ""
        return CaseEvent(element_id=bpmn_id, name=task.task_spec.bpmn_name or bpmn_id, lifecycle=lifecycle,
                         at=self._now_iso(), task_id=str(task.id), role=self.bundle.roles.get(bpmn_id), user=user,
                         data=data)

    def _record_completion(self, task: Any) -> None:
        if element_id(task):
            self.history.append(self._event(task, "completed"))

    def _record_new_ready_tasks(self) -> None:
        """``enabled`` for each newly ready human task, ``cancelled`` for each one withdrawn without being done (by
        an interrupting timer, or by the other branch of a race such as the survey against the follow-up call)."""
        ready = self._ready_human_tasks()
        ready_ids = {task.id for task in ready}
        for task_id in [known for known in self._enabled if known not in ready_ids]:
            self._enabled.discard(task_id)
            try:
                withdrawn = self.workflow.get_task_from_id(task_id)
            except TaskNotFoundException:  # its subprocess is gone from the tree
                continue
            if withdrawn.state == TaskState.CANCELLED and element_id(withdrawn):
                self.history.append(self._event(withdrawn, "cancelled"))
        for task in ready:
            if task.id not in self._enabled and element_id(task):
                self._enabled.add(task.id)
                due = self._enabled_due_date(task)  # the step's SLA deadline, for the case page and exports
                self.history.append(self._event(task, "enabled", data={"due_at": to_iso(due)} if due else None))

    def _ready_human_tasks(self) -> list[Any]:
        """The ready manual tasks in walk order (``_record_new_ready_tasks`` compares them with those it knows)."""
        return list(self.workflow.get_tasks(state=TaskState.READY, manual=True))

    def _enabled_due_date(self, task: Any) -> datetime | None:
        """The deadline logged with a task's ``enabled`` event."""
        return self._task_due_date(task)


# -- the case data -----------------------------------------------------------------------------------------------


def main_process_data(workflow: Any) -> dict[str, Any] | None:
    """The main process's data, None before any task completed.

    The newest completed task of the main process (not of a side branch) gives the data. A parallel branch of the
    main process that is still live (its newest completed task has no completed child) adds what it changed since it
    split from that task's path and that path did not change: so neither branch hides the other's results (plan
    review variant, the follow-up's call and survey racing) until their join merges them.
    """
    lineage = _Lineage(workflow)
    completed = workflow.get_tasks(state=TaskState.COMPLETED)
    main = _main_process_tasks(completed, lineage)
    if not main:
        return None
    newest = max(main, key=_LAST_STATE_CHANGE)
    data = dict(newest.data)
    newest_path = lineage.ancestors(newest)
    parents_of_completed = {task._parent for task in completed}  # a task none of whose children completed: a tip
    for tip in sorted((task for task in main if task is not newest and task.id not in parents_of_completed),
                      key=_LAST_STATE_CHANGE):
        split = lineage.split_from(tip, newest_path)
        if split is None:
            continue
        base = split.data
        for key, value in tip.data.items():
            if value != base.get(key, _MISSING) and data.get(key, _MISSING) == base.get(key, _MISSING):
                data[key] = value
    return data


_MISSING = object()
_LAST_STATE_CHANGE = attrgetter("last_state_change")


def _main_process_tasks(completed: list[Any], lineage: _Lineage) -> list[Any]:
    """The completed tasks not on a side branch. The walk gives parents before their children, so most tasks take
    their parent's answer from the lineage's memory instead of climbing (``_Lineage.on_side_branch`` climbs for the
    others: subprocess roots, tasks whose parent has not completed)."""
    side = lineage.side
    main = []
    for task in completed:
        parent = task._parent
        known = side.get(parent) if parent is not None else None
        if known is None:
            known = lineage.on_side_branch(task)
        elif not known and _is_non_interrupting_event(task):
            known = side[task.id] = True
        else:
            side[task.id] = known
        if not known:
            main.append(task)
    return main


class _Lineage:
    """Walks a task's ancestors across subprocess boundaries (a subprocess's root hangs under the task that called
    it), remembering which tasks lie on a side branch."""

    def __init__(self, workflow: Any) -> None:
        self.workflow = workflow
        self.side: dict[UUID, bool] = {}

    def parent(self, task: Any) -> Any:
        """The task's parent, or for the root of a subprocess the task that called it."""
        parent = task.parent
        if parent is not None:
            return parent
        sub = task.workflow
        if sub is self.workflow or not getattr(sub, "parent_task_id", None):
            return None
        try:
            return self.workflow.get_task_from_id(sub.parent_task_id)
        except TaskNotFoundException:
            return None

    def ancestors(self, task: Any) -> dict[UUID, Any]:
        """The task and its ancestors, nearest first (a dict keeps the order)."""
        found: dict[UUID, Any] = {}
        while task is not None:
            found[task.id] = task
            task = self.parent(task)
        return found

    def split_from(self, tip: Any, newest_path: dict[UUID, Any]) -> Any:
        """Where a branch tip's path left the newest task's path: a task with both among its children (a parallel
        or boundary-event split). None when the tip lies inside a subprocess that the newest path called (its
        results went back to the calling task, which may have changed them since: a finished stage is no live
        branch)."""
        before, task = None, tip
        while task is not None and task.id not in newest_path:
            before, task = task, self.parent(task)
        return task if task is not None and before is not None and before.parent is task else None

    def on_side_branch(self, task: Any) -> bool:
        """Whether the task is a non-interrupting boundary event or follows one (in its subprocesses too)."""
        path: list[Any] = []
        side = False
        while task is not None:
            known = self.side.get(task.id)
            if known is not None:
                side = known
                break
            path.append(task)
            if _is_non_interrupting_event(task):
                side = True
                break
            task = self.parent(task)
        for each in path:
            self.side[each.id] = side
        return side


def _is_non_interrupting_event(task: Any) -> bool:
    """A boundary event that leaves the activity it is attached to running (``cancelActivity="false"``)."""
    return _non_interrupting_spec(task.task_spec)


@cache
def _non_interrupting_spec(spec: Any) -> bool:
    """Per task spec (the parsed specs of a version are shared by all its cases and live as long as the process)."""
    return getattr(spec, "event_definition", None) is not None and getattr(spec, "cancel_activity", True) is False
