"""The discrete-event simulation engine: many real ``runner.case.Case`` objects on one shared virtual clock.

Events live in one heap ordered by (time, sequence). An arrival starts a case with generated start data; every
ready user task of a staff lane joins the FIFO queue of its lane's pool, at once or after its pickup delay
(``pickup_delays``: working hours on the lane's shifts; first in, first served; a task whose
four-eyes rule excludes the only free resource lets the next one pass); a free resource on shift takes it and is
busy for the sampled working time, counted on its calendar; the task is then completed through
``Case.complete_task`` with the scenario's answer and the resource's name. Customer-lane tasks and message waits
take a calendar-day delay and no staff. Each case's earliest pending timer is one heap event; when it comes, the
case fires its due timers (an interrupting timer that cancels a queued or running task frees its queue slot or
its resource at that moment). After any event only the case it belongs to is inspected — one walk over that case's
task tree, never over all cases.
"""

from __future__ import annotations

import gc
import heapq
import random
import threading
import time as wallclock
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from handlers import build_registry
from handlers.context import MemoryArchive, MemoryOutbox
from runner.case import (
    CUSTOMER_ROLE,
    Case,
    CaseError,
    CaseEvent,
    CaseServices,
    element_id,
    message_waits,
    task_properties,
    timer_wait,
)
from runner.clock import VirtualClock, parse_iso, to_iso
from runner.data_copies import json_copy
from runner.forms import FormValidationError, ValidatedFormData, default_instance, validate_form_data
from runner.process_folder import ProcessBundle, load_process_folder, spec_properties
from runner.sample_answers import (
    answer_over_sample,
    date_paths,
    on_day,
    sample_expressions,
    sample_fields_ruled_out,
    with_case_samples,
)
from runner.start_data import validate_start_data
from runner.workdays import WorkingCalendar

from .arrivals import arrival_times
from .branching import BRANCH_FUNCTION, BranchError, BranchTable, load_with_overrides
from .case_time import case_time_attributes
from .casedata import SampleError, SampleLibrary, generate_case
from .model import OpenStep, PoolUsage, QueueSample, SimActivity, SimCase, SimulationLog
from .scenario import (
    MAX_CALENDAR_DAYS,
    MAX_WORKING_HOURS,
    Alternative,
    KeyPath,
    Scenario,
    ScenarioError,
    check_process_folder,
    format_path,
)
from .staff import ShiftCalendar
from .streams import Streams

CUSTOMER_USER = "customer"
ESCALATION_PROCESS = "baozhuang_sla_escalation"
ENGINE_KINDS = {"ServiceTask": "service", "ScriptTask": "script", "BusinessRuleTask": "decision"}
STAFF_KINDS = {"UserTask": "user", "ManualTask": "user", "NoneTask": "task"}
PROGRESS_EVERY = 500
GC_YOUNG_THRESHOLD = 100_000
"""Allocations between two collections of the cyclic collector's youngest generation while a run goes on
(CPython's default: 700). A case allocates thousands of short-lived objects (tasks, data dicts, events) that
reference counting frees anyway; at the default the collector's passes over them were a tenth of a run's CPU time.
Measured over 2,500 baozhuang cases: the collector's share of CPU was 7.9-8.2 % at 10,000, 5.2-5.5 % at 30,000 and
4.7 % at 100,000, with the same peak memory (120-128 MB). Nothing a run records depends on when the collector
runs."""

ARRIVAL, TIMER, MESSAGE, CUSTOMER_DONE, WORK_DONE, SHIFT, PICKUP = range(7)
LONGEST_HOURS = 1_000_000.0
"""The longest working time or delay a sampled value may have (114 years round the clock; the scenario schema keeps
parameters to 10,000 hours or 3,650 days, and the clock stops after at most ten years): anything longer cannot end
while the clock runs, and counting it out on a shift calendar took minutes before the date overflowed (year 9999).
Refused in plain words, naming the scenario key, instead (``_beyond_clock``)."""


class SimulationError(Exception):
    """The scenario does not fit the model, or a case failed while simulating (names case, element and cause)."""


# -- runtime state ------------------------------------------------------------------------------------------------

class SimulatedCase(Case):
    """A ``Case`` whose form answers go through the run's memory of answers that already passed validation (the
    scenario's answers, submitted again and again), and that walks its task tree once per engine run instead of
    three times; everything else is the real ``Case``.

    The tree of a case changes only inside the ``Case`` methods that end with ``run_engine`` (start, complete,
    deliver, fire due timers), and ``run_engine`` ends with ``_record_new_ready_tasks``, whose walk for ready tasks
    (``_ready_human_tasks``) is here one walk for ready and waiting tasks, kept in ``open_tasks``: the engine
    inspects the case from it, ``_ready_task`` finds the task the engine completes next in it, and the SLA deadlines
    computed for the ``enabled`` events are handed to the engine's ``due_date`` call that follows at once. Same walk
    order, same tasks, same results as ``Case``."""

    def __init__(self, *args: Any, validated: ValidatedFormData, **kwargs: Any) -> None:
        self.open_tasks: list[Any] = []
        self._due: dict[str, datetime | None] = {}
        self._iso: tuple[datetime | None, str] = (None, "")
        super().__init__(*args, **kwargs)
        self.validated = validated

    def validate_form(self, schema: dict[str, Any], data: Any) -> None:
        self.validated.validate(schema, data)

    def _ready_human_tasks(self) -> list[Any]:
        """One walk for ready and waiting tasks, kept in ``open_tasks``: filtering it on READY and manual gives
        exactly the walk for ``state=READY, manual=True``, as both walks descend alike (the same minimum state, the
        same subprocess rule)."""
        self.open_tasks = self.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
        self._due = {}
        return [task for task in self.open_tasks if task._state == TaskState.READY and task.task_spec.manual]

    def _record_due_timers(self) -> list[Any]:
        """``Case._record_due_timers`` only when a timer of the kept walk (``open_tasks``) is due: most engine runs
        have none, and the walk is the one the last engine run left (a timer the action at hand created is not in
        it: its deadline lies ahead of the clock, it was computed from it). The simulated log does not read
        ``fired`` events; this keeps the case's history the same as ``Case``'s at a fraction of the cost."""
        now = self.services.clock.now()
        for task in self.open_tasks:
            if task._state == TaskState.WAITING and timer_wait(task.task_spec) is not None:
                value = task.internal_data.get("event_value")
                if value and not task.internal_data.get("event_fired") and parse_iso(value) <= now:
                    return super()._record_due_timers()
        return []

    def _enabled_due_date(self, task: Any) -> datetime | None:
        """``Case.due_date``, remembered for the engine's ``due_date`` call that follows on the unchanged tree."""
        due = self._due[str(task.id)] = self._task_due_date(task)
        return due

    def due_date(self, task_id: str) -> datetime | None:
        if task_id in self._due:  # computed on the unchanged tree by the last _record_new_ready_tasks
            return self._due[task_id]
        return super().due_date(task_id)

    def _ready_task(self, task_id: str) -> Any:
        """``Case._ready_task``: the first ready manual task, in walk order, with that id or element id; the walk
        is the one kept in ``open_tasks`` (the tree has not changed since)."""
        for task in self.open_tasks:
            if task._state == TaskState.READY and task.task_spec.manual \
                    and (str(task.id) == task_id or element_id(task) == task_id):
                return task
        return super()._ready_task(task_id)

    def _now_iso(self) -> str:
        """``Case._now_iso``, formatted once per clock moment (the clock hands out the same object until it moves;
        another object of the same moment is only formatted again)."""
        now = self.services.clock.now()
        if self._iso[0] is not now:
            self._iso = (now, to_iso(now))
        return self._iso[1]


@dataclass(eq=False)
class Resource:
    name: str
    pool: PoolState
    task: Work | None = None


@dataclass(eq=False)
class PoolState:
    role: str
    size: int
    hourly_cost: float
    calendar: ShiftCalendar
    free: list[Resource] = field(default_factory=list)
    queue: list[Work] = field(default_factory=list)
    busy_seconds: float = 0.0
    shift_event_at: datetime | None = None
    picking_up: int = 0  # ready tasks still in their pickup delay: in the lane's inbox, not yet in ``queue``


@dataclass(eq=False)
class Work:
    """A ready user task of a case: queued, being worked on, or waiting for the customer."""

    run: CaseRun
    task_id: str
    element_id: str
    name: str
    role: str
    kind: str
    enable: datetime
    due_at: datetime | None
    visit: int
    form_schema: str | None
    four_eyes_with: str | None
    resource: Resource | None = None
    start: datetime | None = None
    work_seconds: float = 0.0
    done: bool = False
    in_pickup: bool = False  # ready, but its pickup delay (``pickup_delays``) has not run out yet


@dataclass(eq=False)
class CaseRun:
    index: int
    case: SimulatedCase
    sim: SimCase
    visits: dict[str, int] = field(default_factory=dict)
    active: dict[str, Work] = field(default_factory=dict)
    messages: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    timer_seen: dict[str, datetime] = field(default_factory=dict)
    timer_at: datetime | None = None
    timer_attempt: tuple[datetime, datetime] | None = None
    """(deadline, clock) of the last ``_on_timer``: the same again means the timer did not fire."""


# -- the public entry point -----------------------------------------------------------------------------------------

def simulate(scenario: Scenario, bundle: ProcessBundle | None = None, *, seed: int | None = None,
             cases: int | None = None, replication: int = 0,
             progress: Callable[[float], None] | None = None) -> SimulationLog:
    """Run one replication of ``scenario`` and return its log (see ``runner.simulation.model``).

    ``bundle`` None loads the folder the scenario names; ``seed`` None uses the scenario's seed; ``cases``
    overrides the case count; replication ``r`` draws from streams derived from (seed, r).
    """
    branches: BranchTable | None = None
    if bundle is None:
        try:
            check_process_folder(scenario)
        except ScenarioError as err:
            raise SimulationError(str(err)) from err
    root = bundle.root if bundle is not None else scenario.process_dir
    if scenario.branch_probabilities:
        try:
            bundle, branches = load_with_overrides(Path(root), scenario.branch_probabilities)
        except BranchError as err:
            path = ("branch_probabilities", err.flow)
            raise SimulationError(f"{scenario.where(path)}: {format_path(path)}: {err}") from err
    elif bundle is None:
        bundle = load_process_folder(root)
    engine = SimulationEngine(scenario, bundle, seed=scenario.seed if seed is None else seed,
                              cases=cases if cases is not None else scenario.cases, replication=replication,
                              branches=branches, progress=progress)
    return engine.run()


class SimulationEngine:
    """One replication: the heap, the pools, the running cases and the log being written."""

    def __init__(self, scenario: Scenario, bundle: ProcessBundle, *, seed: int, cases: int | None,
                 replication: int, branches: BranchTable | None = None,
                 progress: Callable[[float], None] | None = None) -> None:
        self.scenario = scenario
        self.bundle = bundle
        self.seed = seed
        self.case_limit = cases
        self.streams = Streams(seed, replication)
        self.branches = branches
        self.progress = progress
        self.workdays = WorkingCalendar.default()
        self.clock = VirtualClock(scenario.start)
        self.registry = build_registry()
        self.samples = SampleLibrary(scenario.samples_dir)
        self.heap: list[tuple[datetime, int, int, Any]] = []
        self.sequence = count()
        self.end = scenario.end
        self.arrival_until = (scenario.start + timedelta(days=scenario.horizon_days)
                              if scenario.horizon_days is not None else None)
        self.kinds = self._element_kinds()
        self.escalation_starts = self._escalation_starts()
        self.pools = self._pools()
        self.forms_defaults: dict[str, Any] = {}
        self.ruled_out: dict[tuple[str, int], list[str]] = {}
        """Per form and given answer (an alternative of the scenario's): the sample fields it rules out
        (``runner.sample_answers``)."""
        self.validated_forms = ValidatedFormData()
        self.log = SimulationLog(scenario_name=scenario.name, seed=seed, started_at=scenario.start,
                                 ended_at=scenario.start)
        self.arrived = 0
        self.arrival_streams = 0  # categories whose arrival process may still bring a case
        self.last_arrival: datetime | None = None
        self.running: dict[str, CaseRun] = {}
        self.open_cases = 0
        self.events = 0
        self._check_scenario()

    # -- set-up ----------------------------------------------------------------------------------------------------

    def _all_specs(self) -> list[Any]:
        return [self.bundle.spec, *self.bundle.subprocess_specs.values()]

    def _element_kinds(self) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for process in self._all_specs():
            for spec in process.task_specs.values():
                bpmn_id = getattr(spec, "bpmn_id", None)
                if not bpmn_id:
                    continue
                names = [cls.__name__ for cls in type(spec).__mro__]
                kind = next((ENGINE_KINDS[n] for n in names if n in ENGINE_KINDS), None) or \
                    next((STAFF_KINDS[n] for n in names if n in STAFF_KINDS), None)
                if kind in ("user", "task") and self.bundle.roles.get(bpmn_id) == CUSTOMER_ROLE:
                    kind = "customer"
                definition = getattr(spec, "event_definition", None)
                if isinstance(definition, MessageEventDefinition):
                    kind = "message"
                elif isinstance(definition, TimerEventDefinition):
                    kind = "timer"
                if kind:
                    kinds[bpmn_id] = kind
        return kinds

    def _escalation_starts(self) -> set[str]:
        spec = self.bundle.subprocess_specs.get(ESCALATION_PROCESS)
        if spec is None:
            return set()
        return {s.bpmn_id for s in spec.task_specs.values()
                if type(s).__name__ == "StartEvent" and getattr(s, "bpmn_id", None)}

    def _pools(self) -> dict[str, PoolState]:
        pools = {}
        for role, spec in self.scenario.pools.items():
            calendar = ShiftCalendar(self.scenario.shift_spec(spec.calendar), self.workdays)
            pool = PoolState(role, spec.count, spec.hourly_cost, calendar)
            pool.free = [Resource(name, pool) for name in spec.resource_names()]
            pools[role] = pool
        return pools

    def _check_scenario(self) -> None:
        """Every mismatch between the scenario and the process at once, each named by its key and, when the
        scenario came from a file, that key's file and line."""
        staff: dict[str, str] = {}
        customer: set[str] = set()
        messages: set[str] = set()
        four_eyes: dict[str, str] = {}
        for process in self._all_specs():
            for spec in process.task_specs.values():
                bpmn_id: str = getattr(spec, "bpmn_id", None) or ""
                kind = self.kinds.get(bpmn_id)
                if kind in ("user", "task"):
                    staff[bpmn_id] = self.bundle.roles.get(bpmn_id) or ""
                    partner = spec_properties(spec).get("fourEyesWith")
                    if partner:
                        four_eyes[bpmn_id] = partner
                elif kind == "customer":
                    customer.add(bpmn_id)
                elif kind == "message":
                    messages.update({bpmn_id, spec.event_definition.name})
                for name, catcher in message_waits(spec):  # an event-based gateway's messages too
                    messages.update({name, getattr(catcher, "bpmn_id", None) or name})
        problems: list[tuple[KeyPath, str]] = []
        for element, role in sorted(staff.items()):
            if role not in self.pools:
                problems.append((("pools",), f"no pool for lane role {role or '(none)'!r} (task {element})"))
        problems += self._unknown_pools()
        for element, partner in sorted(four_eyes.items()):
            role = staff[element]
            if role in self.pools and staff.get(partner) == role and self.pools[role].size < 2:
                problems.append((("pools", role, "count"), f"{element} needs another person than {partner} "
                                                           "(four-eyes)"))
        for key in self.scenario.durations:
            if key not in staff:
                problems.append((("durations", key), "not a staff task of the process"))
        for key in self.scenario.pickup_delays:
            if key not in staff:
                problems.append((("pickup_delays", key), "not a staff task of the process"))
        forms = self.bundle.form_files
        for key, alternatives in self.scenario.answers.items():
            if key not in staff and key not in customer:
                problems.append((("answers", key), "not a user task of the process"))
                continue
            for number, alternative in enumerate(alternatives):
                problem = self._answer_problem(forms.get(key), alternative.data)
                if problem:
                    problems.append((("answers", key, number), f"the form refuses this answer: {problem}"))
        for key in self.scenario.customer_delays:
            if key not in customer and key not in messages:
                problems.append((("customer_delays", key), "not a customer task or message wait of the process"))
        if not self.scenario.samples_dir.is_dir():
            problems.append((("samples",), f"no folder {self.scenario.samples_dir}"))
        if problems:
            raise SimulationError("\n".join(f"{self.scenario.where(path)}: {format_path(path)}: {message}"
                                             for path, message in problems))

    def _unknown_pools(self) -> list[tuple[KeyPath, str]]:
        """Pools for a role no lane of the process has: a misspelt role (``surveyer``) would otherwise be a phantom
        pool that no task uses while the real pool silently keeps the inherited size."""
        lanes = set(self.bundle.roles.values())
        staff = ", ".join(sorted(lanes - {CUSTOMER_ROLE}))  # named in the message: the customer's lane has no pool
        return [(("pools", role), f"no lane with role {role!r} in the process (staff lanes: {staff})")
                for role in sorted(self.scenario.pools) if role not in lanes]

    def _answer_problem(self, form: str | None, data: dict[str, Any]) -> str | None:
        if form is None:
            return "this task takes no form data" if data else None
        schema = self.bundle.form(form)
        try:
            validate_form_data(schema, answer_over_sample(schema, data))
        except FormValidationError as err:
            return str(err)
        return None

    # -- the loop --------------------------------------------------------------------------------------------------

    def push(self, moment: datetime, kind: int, payload: Any) -> None:
        heapq.heappush(self.heap, (moment, next(self.sequence), kind, payload))

    def run(self) -> SimulationLog:
        with _fewer_collections():
            try:
                return self._run()
            except OverflowError as err:  # a moment beyond 9999-12-31: say so, not only Python's words
                raise SimulationError(
                    f"{self.scenario.source}: at {to_iso(self.clock.now())} the simulated clock would have to go "
                    "past the last date it can hold (9999-12-31): a duration, delay or gap between arrivals of the "
                    f"scenario is far too long ({type(err).__name__}: {err})") from err

    def _delay_key(self, *names: str) -> KeyPath:
        """The scenario key of a customer step's or message's delay: its own, else the default."""
        name = next((name for name in names if name in self.scenario.customer_delays), None)
        return ("customer_delays", name) if name is not None else ("defaults", "customer_days")

    def _beyond_clock(self, run: CaseRun, path: KeyPath, hours: float) -> SimulationError:
        """A sampled working time or delay longer than ``LONGEST_HOURS``, by its scenario key and case."""
        unit = "days" if path[0] == "customer_delays" or path == ("defaults", "customer_days") else "hours"
        amount = hours / 24.0 if unit == "days" else hours
        return SimulationError(
            f"{self.scenario.where(path)}: {format_path(path)}: case {run.case.case_number} drew {amount:.4g} {unit}, "
            f"longer than the simulated clock can run (at most {LONGEST_HOURS:,.0f} hours): the distribution's "
            f"values are far too large (the scenario schema allows at most {MAX_WORKING_HOURS:,.0f} working hours "
            f"and {MAX_CALENDAR_DAYS:,.0f} calendar days)")

    def _run(self) -> SimulationLog:
        wall, cpu = wallclock.perf_counter(), wallclock.process_time()
        self._schedule_arrivals()
        handlers: dict[int, Callable[[Any], None]] = {
            ARRIVAL: self._on_arrival, TIMER: self._on_timer, MESSAGE: self._on_message,
            CUSTOMER_DONE: self._on_customer_done, WORK_DONE: self._on_work_done, SHIFT: self._on_shift,
            PICKUP: self._on_pickup}
        cut = False
        while self.heap and not self._all_cases_done():
            moment, _seq, kind, payload = heapq.heappop(self.heap)
            if moment > self.end:
                cut = True
                break
            self.clock.advance_to(moment)
            handlers[kind](payload)
            self.events += 1
            if self.progress is not None and self.events % PROGRESS_EVERY == 0:
                self.progress(self._fraction())
        ended = self.end if cut else self.clock.now()
        self.clock.advance_to(ended)
        # nothing left to happen with cases still open means they wait for something the scenario never sends
        self.log.stats["stopped_by"] = ("max_days" if cut else
                                        "last_case_completed" if not self.open_cases else "no_more_events")
        self._finish(ended, wallclock.perf_counter() - wall, wallclock.process_time() - cpu)
        if self.progress is not None:
            self.progress(1.0)
        return self.log

    def _all_cases_done(self) -> bool:
        """No case is open and none can arrive any more: the run ends here, not at ``max_days``.

        Events still in the heap then belong to finished cases (e.g. a plan-validity timer a year ahead) and
        would only stretch the clock, and with it the on-shift time that utilisation divides by.
        """
        if self.open_cases:
            return False
        limit_reached = self.case_limit is not None and self.arrived >= self.case_limit
        return limit_reached or self.arrival_streams == 0

    def _fraction(self) -> float:
        if self.case_limit:
            done = len(self.log.cases) - self.open_cases  # the cases closed so far (``_close``)
            return min(0.99, done / self.case_limit)
        span = (self.end - self.scenario.start).total_seconds()
        return min(0.99, (self.clock.now() - self.scenario.start).total_seconds() / span) if span else 0.0

    # -- arrivals --------------------------------------------------------------------------------------------------

    def _schedule_arrivals(self) -> None:
        for category, spec in sorted(self.scenario.arrivals.items()):
            calendar = spec.calendar or self.scenario.arrival_calendar
            until = self.arrival_until if self.arrival_until is not None else self.end
            times = arrival_times(spec, calendar, self.scenario.start, until,
                                  self.streams.get("arrivals", category), self.workdays)
            self.arrival_streams += 1
            self._next_arrival(category, times)

    def _next_arrival(self, category: str, times: Any) -> None:
        moment = next(times, None)
        if moment is not None:
            self.push(moment, ARRIVAL, (category, times))
        else:
            self.arrival_streams -= 1

    def _on_arrival(self, payload: tuple[str, Any]) -> None:
        category, times = payload
        if self.case_limit is not None and self.arrived >= self.case_limit:
            return
        index = self.arrived
        self.arrived += 1
        self._next_arrival(category, times)
        now = self.clock.now()
        self.last_arrival = now
        spec = self.scenario.case_data_for(category)
        try:
            generated = generate_case(spec, self.samples, category, index, now, self.scenario.regime,
                                      self.streams.get("case_data", index))
            validate_start_data(self.bundle, generated.start_data)
        except (SampleError, FormValidationError) as err:
            raise SimulationError(f"{self.scenario.where(('case_data', category))}: case_data.{category}: "
                                  f"generated case {index + 1} "
                                  f"does not fit the start form: {err}") from err
        services = CaseServices(clock=self.clock, calendar=self.workdays, registry=self.registry,
                                outbox=MemoryOutbox(), archive=MemoryArchive(), simulation=True)
        case = SimulatedCase(self.bundle, services, generated.start_data["case_number"], validated=self.validated_forms)
        if self.branches is not None:
            def draw(gateway: str, visit: int, case_index: int = index) -> random.Random:
                return self.streams.get("branch", case_index, gateway, visit)

            case.engine.environment.globals[BRANCH_FUNCTION] = self.branches.chooser(draw)
        sim = SimCase(case.case_number, category, now, None, generated.attributes)
        self.log.cases.append(sim)
        run = CaseRun(index, case, sim)
        self.open_cases += 1
        self.running[sim.case_id] = run
        self._act(run, lambda: case.start(generated.start_data), "start")
        data = case.data
        for key in ("supply_voltage_kv", "category"):
            if key in data:
                sim.attributes["supply_voltage_kv" if key == "supply_voltage_kv" else "process_category"] = data[key]
        self._after(run)

    # -- case interaction ------------------------------------------------------------------------------------------

    def _act(self, run: CaseRun, action: Callable[[], object], what: str) -> None:
        try:
            action()
        except (SpiffWorkflowException, CaseError, FormValidationError) as err:
            raise SimulationError(f"{self.scenario.source}: case {run.case.case_number} ({run.sim.category}), "
                                  f"{what} at {to_iso(self.clock.now())}: {err}") from err
        except Exception as err:  # the engine's own failure: still named by case, step and time, not a traceback
            raise SimulationError(f"{self.scenario.source}: case {run.case.case_number} ({run.sim.category}), "
                                  f"{what} at {to_iso(self.clock.now())}: the engine failed: "
                                  f"{type(err).__name__}: {err}") from err
        if run.case.failures:
            failure = run.case.failures[0]
            raise SimulationError(f"{self.scenario.source}: case {run.case.case_number} ({run.sim.category}): "
                                  f"{failure.element_id} failed at {to_iso(self.clock.now())}: {failure.message}")

    def _after(self, run: CaseRun) -> None:
        """Record what the case did, then look at its new ready tasks, messages and timers."""
        now = self.clock.now()
        self._record_events(run, run.case.new_events(), now)
        if run.case.completed:
            self._close(run, now)
            return
        self._inspect(run, now)

    def _record_events(self, run: CaseRun, events: list[CaseEvent], now: datetime) -> None:
        for event in events:
            if event.lifecycle == "completed":
                if event.element_id in self.escalation_starts:
                    run.sim.escalations += 1
                kind = self.kinds.get(event.element_id)
                if kind in ("service", "script", "decision"):
                    self._activity(run, event.element_id, event.name, kind, event.role, None, now, now, now)
            elif event.lifecycle == "fired":
                seen = run.timer_seen.pop(event.task_id or "", now)
                self._activity(run, event.element_id, event.name, "timer", event.role, None, seen, now, now)

    def _activity(self, run: CaseRun, element: str, name: str, kind: str, lane: str | None, resource: str | None,
                  enable: datetime, start: datetime, end: datetime, due: datetime | None = None,
                  cancelled: bool = False) -> None:
        activity = SimActivity(run.sim.case_id, element, name, kind, lane, resource, enable, start, end, due)
        activity.cancelled = cancelled
        self.log.activities.append(activity)

    def _inspect(self, run: CaseRun, now: datetime) -> None:
        ready: dict[str, Any] = {}
        waiting_messages: dict[str, Any] = {}  # message name -> the spec of the element catching it
        earliest: datetime | None = None
        for task in run.case.open_tasks:  # the case's ready and waiting tasks, as its last engine run left them
            spec = task.task_spec
            if task.state == TaskState.READY:
                if spec.manual:
                    ready[str(task.id)] = task
                continue
            for name, catcher in message_waits(spec):  # an event-based gateway's messages race, the first wins
                waiting_messages.setdefault(name, catcher)
            if timer_wait(spec) is not None:  # a timer event, or an event-based gateway's timer (racing its messages)
                value = task.internal_data.get("event_value")
                if value and not task.internal_data.get("event_fired"):
                    deadline = parse_iso(value)
                    run.timer_seen.setdefault(str(task.id), now)
                    if earliest is None or deadline < earliest:
                        earliest = deadline
        for task_id in [t for t in run.active if t not in ready]:
            self._cancel(run.active.pop(task_id), now)
        for task_id, task in ready.items():
            if task_id not in run.active:
                self._enable(run, task_id, task, now)
        for name in [name for name in run.messages if name not in waiting_messages]:
            del run.messages[name]  # another event of its event-based gateway came first
        for name, catcher in waiting_messages.items():
            if name not in run.messages:
                element = catcher.bpmn_id or name
                run.messages[name] = (element, catcher.bpmn_name or element, now)
                delay = self.scenario.customer_delays.get(name) or self.scenario.customer_delays.get(element) \
                    or self.scenario.default_customer_days
                days = delay.sample(self.streams.get("message", run.index, name, run.visits.get(name, 0)))
                if days * 24.0 > LONGEST_HOURS:
                    raise self._beyond_clock(run, self._delay_key(name, element), days * 24.0)
                run.visits[name] = run.visits.get(name, 0) + 1
                self.push(now + timedelta(days=days), MESSAGE, (run, name, now))
        if earliest is not None and earliest != run.timer_at:
            run.timer_at = earliest
            self.push(max(earliest, now), TIMER, (run, earliest))

    def _enable(self, run: CaseRun, task_id: str, task: Any, now: datetime) -> None:
        element = task.task_spec.bpmn_id or ""
        properties = task_properties(task)
        visit = run.visits.get(element, 0)
        run.visits[element] = visit + 1
        kind = self.kinds.get(element, "user")
        role = self.bundle.roles.get(element) or ""
        work = Work(run, task_id, element, task.task_spec.bpmn_name or element, role, kind, now,
                    run.case.due_date(task_id), visit, properties.get("formJsonSchemaFilename"),
                    properties.get("fourEyesWith"))
        run.active[task_id] = work
        if kind == "customer":
            delay = self.scenario.customer_delays.get(element) or self.scenario.default_customer_days
            days = delay.sample(self.streams.get("customer", run.index, element, visit))
            if days * 24.0 > LONGEST_HOURS:
                raise self._beyond_clock(run, self._delay_key(element), days * 24.0)
            self.push(now + timedelta(days=days), CUSTOMER_DONE, work)
            return
        pool = self.pools[role]
        pickup = self.scenario.pickup_delays.get(element)
        if pickup is not None:
            hours = pickup.sample(self.streams.get("pickup", run.index, element, visit))
            if hours > LONGEST_HOURS:
                raise self._beyond_clock(run, ("pickup_delays", element), hours)
            if hours > 0:
                work.in_pickup = True
                pool.picking_up += 1
                self._sample_queue(pool, now)
                self.push(pool.calendar.add_working_time(now, hours * 3600.0), PICKUP, work)
                return
        pool.queue.append(work)
        self._sample_queue(pool, now)
        self._dispatch(pool)

    def _on_pickup(self, work: Work) -> None:
        """A task's pickup delay ran out: it joins its lane's queue (in the inbox all along, so the queue
        length does not change), where a free person on shift takes it."""
        if work.done:
            return
        work.in_pickup = False
        pool = self.pools[work.role]
        pool.picking_up -= 1
        pool.queue.append(work)
        self._dispatch(pool)

    def _cancel(self, work: Work, now: datetime) -> None:
        """A timer (or another branch) ended a task before it was completed."""
        work.done = True
        if work.kind == "customer":
            self._activity(work.run, work.element_id, work.name, work.kind, work.role, None, work.enable,
                           work.enable, now, work.due_at, cancelled=True)
            return
        pool = self.pools[work.role]
        if work.resource is None:
            if work.in_pickup:
                work.in_pickup = False
                pool.picking_up -= 1
            else:
                pool.queue.remove(work)
            self._sample_queue(pool, now)
            return
        assert work.start is not None
        pool.busy_seconds += pool.calendar.on_shift_seconds(work.start, now)
        self._activity(work.run, work.element_id, work.name, work.kind, work.role, work.resource.name, work.enable,
                       work.start, now, work.due_at, cancelled=True)
        self._release(work.resource)

    def _close(self, run: CaseRun, now: datetime) -> None:
        for work in list(run.active.values()):
            self._cancel(work, now)
        run.active.clear()
        run.sim.end = now
        run.sim.visited = run.case.visited
        self._record_case_time(run)
        self.open_cases -= 1
        self.running.pop(run.sim.case_id, None)
        _release(run.case)
        del run.case  # the finished workflow is no longer needed: keep memory flat over long runs

    def _record_case_time(self, run: CaseRun) -> None:
        """Utility-held working days and the whole-case limit under the regime (``case_time``), as attributes."""
        data = run.case.data  # worked out from the task tree on every read: read once
        run.sim.attributes.update(case_time_attributes(data, run.sim.case_id, self.clock.now, self.workdays))
        run.sim.energized = energized_at(data)

    # -- staff -----------------------------------------------------------------------------------------------------

    def _sample_queue(self, pool: PoolState, now: datetime) -> None:
        """The lane's inbox: tasks waiting for staff, those still in their pickup delay included."""
        self.log.queues.append(QueueSample(now, pool.role, len(pool.queue) + pool.picking_up))

    def _dispatch(self, pool: PoolState) -> None:
        if not pool.queue or not pool.free:
            return
        now = self.clock.now()
        if not pool.calendar.is_on_shift(now):
            start = pool.calendar.next_on_shift(now)
            if pool.shift_event_at != start:
                pool.shift_event_at = start
                self.push(start, SHIFT, pool)
            return
        index, started = 0, False
        while index < len(pool.queue) and pool.free:
            work = pool.queue[index]
            taken = work.run.case.last_user_of(work.four_eyes_with) if work.four_eyes_with else None
            resource = next((r for r in pool.free if r.name != taken), None)
            if resource is None:
                index += 1
                continue
            pool.queue.pop(index)
            pool.free.remove(resource)
            self._start(work, resource, now)
            started = True
        if started:
            self._sample_queue(pool, now)

    def _start(self, work: Work, resource: Resource, now: datetime) -> None:
        work.resource = resource
        work.start = now
        resource.task = work
        spec = self.scenario.durations.get(work.element_id)
        distribution = spec.for_resource(resource.name) if spec else self.scenario.default_task_hours
        hours = distribution.sample(self.streams.get("duration", work.run.index, work.element_id, work.visit))
        if hours > LONGEST_HOURS:
            raise self._beyond_clock(work.run, ("durations", work.element_id) if spec else ("defaults", "task_hours"),
                                     hours)
        work.work_seconds = hours * 3600.0
        self.push(resource.pool.calendar.add_working_time(now, work.work_seconds), WORK_DONE, work)

    def _release(self, resource: Resource) -> None:
        resource.task = None
        resource.pool.free.append(resource)
        self._dispatch(resource.pool)

    def _on_shift(self, pool: PoolState) -> None:
        pool.shift_event_at = None
        self._dispatch(pool)

    # -- completions -----------------------------------------------------------------------------------------------

    def answer(self, work: Work, now: datetime) -> dict[str, Any]:
        """The form data for one visit of a user task: a weighted alternative merged over the form's defaults, their
        record dates on the day of ``now`` and their expressions on the case's data (``runner.sample_answers``)."""
        defaults: Any = {}
        if work.form_schema:
            if work.form_schema not in self.forms_defaults:
                schema = self.bundle.form(work.form_schema)
                self.forms_defaults[work.form_schema] = (default_instance(schema), date_paths(schema),
                                                         bool(sample_expressions(schema)))
            defaults, dates, expressions = self.forms_defaults[work.form_schema]
            if dates and isinstance(defaults, dict):
                defaults = on_day(defaults, now.date().isoformat(), dates)
            if expressions and isinstance(defaults, dict):
                defaults = with_case_samples(self.bundle.form(work.form_schema), defaults,
                                             work.run.case.sample_evaluator(work.task_id))
        given: dict[str, Any] = {}
        alternatives = self.scenario.answers.get(work.element_id)
        if alternatives:
            draw = self.streams.get("answer", work.run.index, work.element_id, work.visit).random()
            given = choose(alternatives, draw)
        sample = defaults if isinstance(defaults, dict) else {}
        merged = {**sample, **given}
        if given and work.form_schema:
            ruled_out = self.ruled_out.get((work.form_schema, id(given)))  # the scenario keeps its alternatives
            if ruled_out is None:
                ruled_out = self.ruled_out[(work.form_schema, id(given))] = sample_fields_ruled_out(
                    self.bundle.form(work.form_schema), given, sample)
            for key in ruled_out:
                del merged[key]
        copied: dict[str, Any] = json_copy(merged)
        return copied  # the case keeps it in task data, where later scripts may change it

    def _complete(self, work: Work, user: str, now: datetime) -> None:
        run = work.run
        run.active.pop(work.task_id, None)
        work.done = True
        data = self.answer(work, now)
        self._act(run, lambda: run.case.complete_task(work.task_id, data, user), f"completing {work.element_id}")
        resource = work.resource.name if work.resource else None
        self._activity(run, work.element_id, work.name, work.kind, work.role, resource, work.enable,
                       work.start or work.enable, now, work.due_at)
        self._after(run)

    def _on_work_done(self, work: Work) -> None:
        if work.done:
            return
        assert work.resource is not None
        resource = work.resource
        resource.pool.busy_seconds += work.work_seconds
        resource.task = None
        self._complete(work, resource.name, self.clock.now())
        resource.pool.free.append(resource)
        self._dispatch(resource.pool)

    def _on_customer_done(self, work: Work) -> None:
        if not work.done:
            self._complete(work, CUSTOMER_USER, self.clock.now())

    def _on_message(self, payload: tuple[CaseRun, str, datetime]) -> None:
        run, name, waiting_since = payload
        if run.sim.end is not None or name not in run.messages or run.messages[name][2] != waiting_since:
            return  # the wait it was drawn for ended (another event of an event-based gateway came first)
        element, label, enable = run.messages.pop(name)
        now = self.clock.now()
        # a deadline due at this very moment comes first (an event-based gateway's timer against its message)
        self._act(run, run.case.fire_due_timers, "firing timers")
        if name in run.case.waiting_messages():
            self._act(run, lambda: run.case.deliver_message(name, {"confirmed_at": to_iso(now)}), f"message {name}")
            self._activity(run, element, label, "message", self.bundle.roles.get(element), None, enable, enable, now)
        self._after(run)

    def _on_timer(self, payload: tuple[CaseRun, datetime]) -> None:
        run, deadline = payload
        if run.sim.end is not None or run.timer_at != deadline:
            return
        run.timer_at = None
        attempt = (deadline, self.clock.now())
        if run.timer_attempt == attempt:  # the last attempt at this moment left the timer waiting: it cannot fire
            raise SimulationError(f"{self.scenario.source}: case {run.case.case_number} ({run.sim.category}): a timer "
                                  f"due at {to_iso(deadline)} did not fire (the simulator would wait on it for ever)")
        run.timer_attempt = attempt
        self._act(run, run.case.fire_due_timers, "firing timers")
        self._after(run)

    # -- the end ---------------------------------------------------------------------------------------------------

    def _paid_seconds_until(self, until: datetime) -> dict[str, float]:
        """Per pool: the on-shift seconds of all its members from the start to ``until`` (the last arrival) — the
        time the utility pays for, whether they work or not, over the period of ``_utilisation_until``."""
        return {role: pool.calendar.on_shift_seconds(self.scenario.start, until) * pool.size
                for role, pool in self.pools.items()}

    def _utilisation_until(self, until: datetime, running: list[tuple[str, datetime, datetime]]
                           ) -> dict[str, float | None]:
        """Per pool: busy ÷ on-shift time from the start to ``until`` (the last arrival) — the load while cases
        still come in, before the tail of long customer-side steps dilutes it; None for a pool with no on-shift
        time in that period (its calendar never works then: no load can be measured)."""
        roles = {name: role for role, spec in self.scenario.pools.items() for name in spec.resource_names()}
        busy = dict.fromkeys(self.pools, 0.0)
        for role, start, end in [*_busy_intervals(self.log.activities, roles), *running]:
            if start < until:
                busy[role] += self.pools[role].calendar.on_shift_seconds(start, min(end, until))
        result: dict[str, float | None] = {}
        for role, pool in sorted(self.pools.items()):
            available = pool.calendar.on_shift_seconds(self.scenario.start, until) * pool.size
            result[role] = round(busy[role] / available, 6) if available else None
        return result

    def _finish(self, ended: datetime, wall_seconds: float, cpu_seconds: float) -> None:
        log = self.log
        log.ended_at = ended
        running: list[tuple[str, datetime, datetime]] = []
        for entry in self.heap:  # work still running when the clock stopped counts up to the stop
            work = entry[3]
            if entry[2] == WORK_DONE and not work.done and work.start is not None:
                pool = self.pools[work.role]
                pool.busy_seconds += pool.calendar.on_shift_seconds(work.start, ended)
                running.append((work.role, work.start, ended))
        paid: dict[str, float] = {}
        if self.last_arrival is not None:
            log.stats["arrivals_ended_at"] = to_iso(self.last_arrival)
            log.stats["utilisation_while_arriving"] = self._utilisation_until(self.last_arrival, running)
            paid = self._paid_seconds_until(self.last_arrival)
        for pool in self.pools.values():
            available = pool.calendar.on_shift_seconds(self.scenario.start, ended) * pool.size
            log.pools.append(PoolUsage(pool.role, pool.size, available, pool.busy_seconds, pool.hourly_cost,
                                       paid.get(pool.role)))
            log.costs[pool.role] = round(pool.busy_seconds / 3600.0 * pool.hourly_cost, 2)
        for run in self.running.values():
            run.sim.visited = run.case.visited
            self._record_case_time(run)  # measured up to the stop, like production measures a case in progress
            log.open_steps += [OpenStep(run.sim.case_id, work.element_id, work.name, work.kind, work.role or None,
                                        work.enable, work.start, work.due_at)
                               for work in run.active.values() if not work.done]  # their deadlines still count
        completed = sum(1 for c in log.cases if c.end is not None)
        log.stats.update({
            "cases": len(log.cases),
            "completed_cases": completed,
            "open_cases": len(log.cases) - completed,
            "activity_instances": len(log.activities),
            "events": self.events,
            "wall_seconds": round(wall_seconds, 3),
            "cpu_seconds": round(cpu_seconds, 3),
            "ms_per_case": round(wall_seconds * 1000.0 / len(log.cases), 3) if log.cases else 0.0,
            "cpu_ms_per_case": round(cpu_seconds * 1000.0 / len(log.cases), 3) if log.cases else 0.0,
        })


class _CollectorSetting:
    """The cyclic garbage collector's youngest generation collected every ``GC_YOUNG_THRESHOLD`` allocations while
    at least one run goes on (runs may overlap in threads of one process), the process's own setting put back
    when the last one ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._saved: tuple[int, ...] = gc.get_threshold()

    @contextmanager
    def fewer_collections(self) -> Iterator[None]:
        with self._lock:
            if self._runs == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(GC_YOUNG_THRESHOLD, *self._saved[1:])
            self._runs += 1
        try:
            yield
        finally:
            with self._lock:
                self._runs -= 1
                if self._runs == 0:
                    gc.set_threshold(*self._saved)


_fewer_collections = _CollectorSetting().fewer_collections


def _release(case: Case) -> None:
    """Drop a finished case's task trees and the case itself (nothing reads them any more) so that reference
    counting frees them at once: tasks and workflows reference each other, and leaving whole trees to the cyclic
    garbage collector made its full collections a large share of long runs. The workflows' and the case's own
    attributes go too: a workflow and its event manager refer to each other; left to the collector, such cycles (a
    few hundred objects per case, with the case's history) were what made its young collections run at all (the
    case and its script engine no longer make one, decision 113)."""
    workflow = case.workflow
    subprocesses = list(workflow.subprocesses.values())
    for sub in [*subprocesses, workflow]:
        sub.tasks.clear()
        if getattr(sub, "_by_state", None) is not None:
            sub._by_state.clear()  # FastWorkflowMixin's indexes of the same tasks
            sub._by_name.clear()
        sub.task_tree = None
        sub.last_task = None
    workflow.subprocesses.clear()
    for sub in subprocesses:
        vars(sub).clear()
    vars(workflow).clear()
    vars(case).clear()


def energized_at(data: Mapping[str, Any]) -> datetime | None:
    """When the case was energised: its ``timeline["energized"]``, the milestone ``case_kpis`` measures the time to
    connect up to (the steps after it — KPIs, archiving, the follow-up call — are not part of connecting)."""
    timeline = data.get("timeline")
    value = timeline.get("energized") if isinstance(timeline, Mapping) else None
    return parse_iso(value) if isinstance(value, str) else None


def _busy_intervals(activities: list[SimActivity], roles: dict[str, str]) -> list[tuple[str, datetime, datetime]]:
    return [(roles[a.resource], a.start_time, a.end_time) for a in activities
            if a.resource is not None and a.resource in roles]


def choose(alternatives: tuple[Alternative, ...], u: float) -> dict[str, Any]:
    """The alternative whose cumulative weight slot holds ``u`` (uniform in [0, 1))."""
    total = sum(a.weight for a in alternatives)
    pick = u * total
    for alternative in alternatives:
        pick -= alternative.weight
        if pick < 0:
            return alternative.data
    return alternatives[-1].data
