"""An event history of realistic size, made by running a scenario's cases through the real runner on a virtual clock.

For a database without a history yet (a trial, a demonstration, a test of ``baozhuang calibrate``): cases arrive as
the scenario says (arrival rates, calendars, generated case data); the staff of each lane — users ``<lane>.1`` …
``<lane>.<count>`` of the scenario's pool — take the lane's tasks first in, first out while on their shift, after
the scenario's pickup delay (none without one), and work each for the scenario's duration; the customer does the
customer lane's tasks after the scenario's customer delay, and the messages a case waits for arrive after the
customer delay of the message; due timers fire as the worker fires them. Every change is one service-layer
transaction (``start_case``, ``claim_task``, ``complete_task``, ``send_message``, firing due timers), so the event
log, the open tasks and the timer jobs are those production would have written.

Each case gets an address of its own (the sample application's with a house number): the risk check counts earlier
applications at the same address. It refuses a database that already holds cases: a generated history mixed into a
real one would spoil it.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from . import services
from .case import CaseError
from .clock import SHANGHAI, VirtualClock, to_iso
from .forms import FormValidationError
from .models import Case as CaseRow
from .models import Job, OpenTask
from .sample_answers import answer_over_sample
from .simulation.arrivals import arrival_times
from .simulation.casedata import SampleLibrary, generate_case
from .simulation.engine import choose
from .simulation.scenario import Scenario
from .simulation.staff import ShiftCalendar
from .store import ConflictError, Runtime, deploy, load_case, save_case

CUSTOMER = "customer"
"""The lane (and the user) of customer-side tasks."""


class HistoryRefused(ValueError):
    """The database cannot take a generated history (it holds cases already)."""


@dataclass
class HistoryResult:
    version_id: int
    arrived: int
    statuses: dict[str, int]
    transactions: int
    ended_at: datetime
    failures: list[str] = field(default_factory=list)


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    payload: Any = field(compare=False)


class HistoryRun:
    """One generated history: the scenario's arrivals in ``[scenario.start, scenario.start + days)``, then the clock
    runs on until every case has finished or waits for nothing this run can give (at most until
    ``stop_days``)."""

    def __init__(self, sessions: sessionmaker[Session], runtime: Runtime, scenario: Scenario, days: float,
                 seed: int) -> None:
        self.sessions, self.runtime, self.scenario = sessions, runtime, scenario
        self.clock = VirtualClock(scenario.start)
        runtime.clock = self.clock
        self.until = scenario.start + timedelta(days=days)
        self.stop_at = scenario.start + timedelta(days=stop_days(scenario, days))
        self.rng = random.Random(seed)
        self.numbers = random.Random(seed + 1)  # case numbers: the same seed gives the same numbers
        self.used_numbers: set[str] = set()
        self.arrived = 0
        self.events: list[_Event] = []
        self.seq = itertools.count()
        self.shifts = {lane: ShiftCalendar(scenario.shift_spec(pool.calendar), runtime.calendar)
                       for lane, pool in scenario.pools.items()}
        self.free = {lane: [f"{lane}.{i + 1}" for i in range(pool.count)] for lane, pool in scenario.pools.items()}
        self.queues: dict[str, deque[str]] = {lane: deque() for lane in scenario.pools}
        self.seen_tasks: set[str] = set()
        self.awaited: set[tuple[str, str]] = set()  # (case, message) whose arrival is planned
        self.wakeups: set[tuple[str, datetime]] = set()  # (lane, shift start) planned
        self.transactions = 0
        self.failures: list[str] = []

    # -- the clock's events ------------------------------------------------------------------------------------------

    def _plan(self, at: datetime, kind: str, payload: Any = None) -> None:
        heapq.heappush(self.events, _Event(at, next(self.seq), kind, payload))

    def run(self) -> HistoryResult:
        with self.sessions.begin() as session:
            if session.scalar(select(func.count()).select_from(CaseRow)):
                raise HistoryRefused("the database holds cases already: a generated history goes into an empty "
                                     "database only (set DATABASE_URL to a new one)")
            version = deploy(session, self.runtime, self.scenario.process_dir, "history").version
            version_id = version.id
        self._plan_arrivals()
        while True:
            timer_due = self._next_timer()
            if not self.events and timer_due is None:
                break
            if self.events and (timer_due is None or self.events[0].at <= timer_due):
                event = heapq.heappop(self.events)
            else:
                assert timer_due is not None
                event = _Event(timer_due, -1, "timers", None)
            if event.at > self.stop_at:
                break
            if event.at > self.clock.now():
                self.clock.advance_to(event.at)
            self._handle(event)
            self._fire_due_timers()
            self._notice_new_tasks()
            for lane in self.queues:
                self._dispatch(lane)
        with self.sessions.begin() as session:
            statuses = {str(status): int(count) for status, count in
                        session.execute(select(CaseRow.status, func.count()).group_by(CaseRow.status))}
        return HistoryResult(version_id, self.arrived, statuses, self.transactions, self.clock.now(),
                             self.failures)

    def _case_number(self, arrival: datetime) -> str:
        """``YK`` + the arrival's date + six digits, as ``services.new_case_number`` makes them, from the run's own
        stream: the same seed gives the same numbers (and so the same exported log)."""
        while True:
            number = f"YK{arrival.astimezone(SHANGHAI):%Y%m%d}{self.numbers.randrange(10**6):06d}"
            if number not in self.used_numbers:
                self.used_numbers.add(number)
                return number

    def _plan_arrivals(self) -> int:
        samples = SampleLibrary(self.scenario.samples_dir)
        index = 0
        for category, spec in sorted(self.scenario.arrivals.items()):
            moments = arrival_times(spec, self.scenario.arrival_calendar, self.scenario.start, self.until,
                                    random.Random(self.rng.getrandbits(64)), self.runtime.calendar)
            for moment in moments:
                case = generate_case(self.scenario.case_data_for(category), samples, category, index, moment,
                                     self.scenario.regime, random.Random(self.rng.getrandbits(64)))
                data = {key: value for key, value in case.start_data.items()
                        if key not in ("case_number", "applied_at")}
                _own_address(data, index)
                self._plan(moment, "arrive", data)
                index += 1
        return index

    def _handle(self, event: _Event) -> None:
        try:
            if event.kind == "arrive":
                with self.sessions.begin() as session:
                    number = services.start_case(session, self.runtime, event.payload, CUSTOMER,
                                                 case_number=self._case_number(event.at))
                self.transactions += 1
                self.arrived += 1
                self._plan_messages(number)
            elif event.kind == "queue":
                task_id, lane = event.payload
                self.queues[lane].append(task_id)
            elif event.kind in ("finish", "customer"):
                self._complete(event)
            elif event.kind == "message":
                self._deliver(*event.payload)
        except (CaseError, ConflictError, FormValidationError) as err:  # e.g. the task ended meanwhile
            self.failures.append(f"{to_iso(event.at)} {event.kind}: {err}")

    def _complete(self, event: _Event) -> None:
        task_id = event.payload[0]
        user = event.payload[1] if event.kind == "finish" else CUSTOMER
        number = None
        try:
            with self.sessions.begin() as session:
                task = session.get(OpenTask, task_id)
                if task is not None:  # else a timer or the other branch ended it meanwhile
                    number = task.case_number
                    services.complete_task(session, self.runtime, task_id, self._answer(session, task), user,
                                           uuid.uuid4().hex)
                    self.transactions += 1
        finally:
            if event.kind == "finish":
                self.free[event.payload[2]].append(user)
        if number is not None:
            self._plan_messages(number)

    def _answer(self, session: Session, task: OpenTask) -> dict[str, Any]:
        """The scenario's answer for the step drawn over the form's sample answer (``runner.sample_answers``)."""
        alternatives = self.scenario.answers.get(task.element_id)
        given = choose(alternatives, self.rng.random()) if alternatives else {}
        if not task.form_schema:
            return dict(given)
        row = session.get(CaseRow, task.case_id)
        assert row is not None
        return answer_over_sample(self.runtime.bundle_for_case(session, row).form(task.form_schema), given,
                                  self.runtime.clock.now().date(),
                                  load_case(session, self.runtime, task.case_number).case.sample_evaluator(task.id))

    def _plan_messages(self, number: str) -> None:
        """Plan the messages the case waits for now (once each while it waits), after their customer delay."""
        with self.sessions.begin() as session:
            loaded = load_case(session, self.runtime, number)
            if loaded.row.status != "running":
                return
            waiting = loaded.case.waiting_messages()
        for name in waiting:
            if (number, name) not in self.awaited:
                self.awaited.add((number, name))
                self._plan(self.clock.now() + self._customer_delay(name), "message", (number, name))

    def _deliver(self, number: str, name: str) -> None:
        self.awaited.discard((number, name))
        with self.sessions.begin() as session:
            loaded = load_case(session, self.runtime, number)
            if loaded.row.status != "running" or name not in loaded.case.waiting_messages():
                return
        with self.sessions.begin() as session:
            services.send_message(session, self.runtime, number, name, {"confirmed_at": to_iso(self.clock.now())})
        self.transactions += 1
        self._plan_messages(number)

    def _customer_delay(self, name: str) -> timedelta:
        dist = self.scenario.customer_delays.get(name) or self.scenario.default_customer_days
        return timedelta(days=max(0.0, dist.sample(self.rng)))

    # -- timers, new tasks and staff ---------------------------------------------------------------------------------

    def _next_timer(self) -> datetime | None:
        with self.sessions.begin() as session:
            due: datetime | None = session.scalar(
                select(func.min(Job.due_at)).join(CaseRow, CaseRow.id == Job.case_id)
                .where(CaseRow.status == "running", Job.kind == "timer", Job.status == "pending"))
        if due is not None and due.tzinfo is None:  # stored as UTC
            due = due.replace(tzinfo=UTC)
        return due

    def _fire_due_timers(self) -> None:
        """As the worker does: load each case with a due timer, fire what is due, save."""
        with self.sessions.begin() as session:
            numbers = sorted(set(session.scalars(
                select(CaseRow.case_number).join(Job, Job.case_id == CaseRow.id)
                .where(CaseRow.status == "running", Job.kind == "timer", Job.status == "pending",
                       Job.due_at <= self.clock.now()))))
        for number in numbers:
            with self.sessions.begin() as session:
                loaded = load_case(session, self.runtime, number)
                if loaded.case.fire_due_timers():
                    save_case(session, self.runtime, loaded)
                    self.transactions += 1
            self._plan_messages(number)

    def _notice_new_tasks(self) -> None:
        """Tasks that opened since the last look: the customer's are done after their delay, the staff's join
        their lane's queue after the pickup delay (working hours on the lane's shift)."""
        with self.sessions.begin() as session:
            rows = session.execute(select(OpenTask.id, OpenTask.lane, OpenTask.element_id)).all()
        for task_id, lane, element_id in rows:
            if task_id in self.seen_tasks:
                continue
            self.seen_tasks.add(task_id)
            if lane == CUSTOMER:
                self._plan(self.clock.now() + self._customer_delay(element_id), "customer", (task_id,))
                continue
            if lane not in self.queues:  # ``simulate``'s check refuses such a scenario first
                raise HistoryRefused(f"no staff pool for lane {lane} (task {element_id}): give the scenario one")
            pickup = self.scenario.pickup_delays.get(element_id)
            hours = max(0.0, pickup.sample(self.rng)) if pickup is not None else 0.0
            self._plan(self.shifts[lane].add_working_time(self.clock.now(), hours * 3600.0), "queue",
                       (task_id, lane))

    def _dispatch(self, lane: str) -> None:
        """While on shift, give the lane's queued tasks, oldest first, to its free people (one who did the task's
        four-eyes partner step passes it on to a colleague); off shift, wake the lane up when its shift begins."""
        queue, shift, now = self.queues[lane], self.shifts[lane], self.clock.now()
        if not queue or not self.free[lane]:
            return
        if not shift.is_on_shift(now):
            wake = shift.next_on_shift(now)
            if (lane, wake) not in self.wakeups:  # once per lane and shift start, not after every night event
                self.wakeups.add((lane, wake))
                self._plan(wake, "shift", lane)
            return
        for task_id in list(queue):
            if not self.free[lane]:
                break
            with self.sessions.begin() as session:
                task = session.get(OpenTask, task_id)
                element_id = task.element_id if task is not None else None
            if element_id is None:  # a timer or the other branch ended it meanwhile
                queue.remove(task_id)
                continue
            for user in list(self.free[lane]):
                try:
                    with self.sessions.begin() as session:
                        services.claim_task(session, task_id, user, now=now, runtime=self.runtime)
                except ConflictError:
                    continue  # four-eyes: someone else of the lane takes it
                self.transactions += 1
                self.free[lane].remove(user)
                queue.remove(task_id)
                duration = self.scenario.durations.get(element_id)
                dist = duration.for_resource(None) if duration else self.scenario.default_task_hours
                done = shift.add_working_time(now, max(0.0, dist.sample(self.rng)) * 3600.0)
                self._plan(done, "finish", (task_id, user, lane))
                break


def _own_address(data: dict[str, Any], index: int) -> None:
    """Give the case an address of its own: every case of a category is made from one sample application, and
    the risk check counts earlier applications at the same address (``handlers.risk``), so without this every
    case after the first would be a repeated applicant, a high-risk case."""
    application = data.get("application")
    if isinstance(application, dict) and isinstance(application.get("address"), str):
        application["address"] = f"{application['address']}{index + 1}号"


def stop_days(scenario: Scenario, days: float) -> float:
    """Days after the start at which the clock stops: the scenario's ``max_days``, else the arrival window plus a
    year (as ``simulate``), never before the arrival window ends."""
    return max(days, scenario.max_days if scenario.max_days is not None else days + 365.0)
