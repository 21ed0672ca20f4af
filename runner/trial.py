"""``baozhuang try``: run one case in memory on a virtual clock, answering every task automatically.

Answers come from a JSON file keyed by element id (an object answers every visit, a list answers the visits in
order, the last entry repeating); the fields an answer leaves out take the form's defaults. Messages the case waits
for are delivered with the payload given under the message's name, or a default one. Each answered task moves the
clock on by ``hours_per_task`` (plus any extra delay given for the element: for its first visit, or a list with
one figure per visit); when nothing but timers is left, the clock jumps to the earliest deadline. When several
tasks are ready at once (a race such as the customer's survey against the follow-up call), the first in the diagram
goes first, unless ``first`` names one of them.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from SpiffWorkflow.exceptions import SpiffWorkflowException

from handlers import build_registry
from handlers.context import MemoryArchive, MemoryOutbox

from .case import Case, CaseError, CaseServices, HumanTask
from .clock import VirtualClock, parse_iso, to_iso
from .forms import FormValidationError
from .process_folder import SAMPLES_DIR, ProcessBundle
from .sample_answers import answer_over_sample
from .start_data import validate_start_data
from .workdays import WorkingCalendar

MAX_STEPS = 2000
SUMMARY_KEYS = (
    "case_number", "category", "supply_voltage_kv", "route", "limits", "capacity", "materials", "fees", "risk",
    "timeline", "plan_expires_at", "followup",
)


class TrialError(Exception):
    """The trial cannot go on: bad input, or the case is stuck. ``element_id``: the element that failed (an engine
    task, or the task being answered), when one did."""

    def __init__(self, message: str, element_id: str | None = None) -> None:
        super().__init__(message)
        self.element_id = element_id


@dataclass
class TrialOptions:
    """How to drive the case."""

    category: str
    regime: str | None = None
    dual_supply: bool = False
    answers: dict[str, Any] = field(default_factory=dict)
    hours_per_task: float = 2.0
    delays: dict[str, float | list[float]] = field(default_factory=dict)
    """Extra virtual hours before answering an element: a number for its first visit, a list for one visit each."""
    first: tuple[str, ...] = ()
    """Elements answered before any other ready task (e.g. ``customer_survey`` to let the customer win the race)."""
    unanswered: tuple[str, ...] = ()
    """Elements nobody answers while anything else can happen (a customer who ignores the 回访 survey while the agent
    calls again): answered only when no other task, message or timer is left."""


@dataclass
class TrialResult:
    """What a trial did: the visited element ids, the case data summary, the KPIs and the outbox."""

    completed: bool
    visited: list[str]
    summary: dict[str, Any]
    kpis: dict[str, Any]
    outbox: list[dict[str, Any]]
    started_at: str
    ended_at: str
    unused_answers: list[str] = field(default_factory=list)
    """Answers the case never asked for, in words (``TrialDriver.unused_answers``): ``try`` prints them as notes."""

    def to_json(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "visited": self.visited,
            "summary": self.summary,
            "kpis": self.kpis,
            "notifications": len(self.outbox),
        }


def sample_application(bundle: ProcessBundle, category: str, dual_supply: bool = False) -> dict[str, Any]:
    """The sample start data for a category (``samples/<category>.json``), optionally as a dual-supply case."""
    names = [f"{category}_dual.json", f"{category}.json"] if dual_supply else [f"{category}.json"]
    for name in names:
        path = bundle.root / SAMPLES_DIR / name
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if dual_supply:
                data["application"] = {**data["application"], "dual_supply": True}
            return data
    known = sorted(p.stem for p in (bundle.root / SAMPLES_DIR).glob("*.json"))
    raise TrialError(f"no sample application for category {category!r}; known: {', '.join(known)}")


def load_answers(path: str | Path) -> dict[str, Any]:
    """Read an answers file: a JSON object keyed by element id."""
    try:
        answers = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TrialError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from err
    if not isinstance(answers, dict):
        raise TrialError(f"{path}:1: answers must be a JSON object keyed by element id")
    return answers


class TrialDriver:
    """Drives one in-memory case to its end."""

    def __init__(self, bundle: ProcessBundle, options: TrialOptions, calendar: WorkingCalendar | None = None) -> None:
        self.bundle = bundle
        self.options = options
        start_data = sample_application(bundle, options.category, options.dual_supply)
        if options.regime:
            start_data["regime"] = options.regime
        self.start_data = start_data
        self.clock = VirtualClock(parse_iso(start_data["applied_at"]))
        self.outbox = MemoryOutbox()
        services = CaseServices(
            clock=self.clock,
            calendar=calendar or WorkingCalendar.default(),
            registry=build_registry(),
            outbox=self.outbox,
            archive=MemoryArchive(),
        )
        self.case = Case(bundle, services, start_data.get("case_number", "TRIAL-1"))
        self.visits: dict[str, int] = {}
        self.delivered: dict[str, int] = {}
        self.answering: str | None = None
        """The element whose task or message is being answered (what failed, when answering does)."""
        check_names(bundle, options)

    def run(self) -> TrialResult:
        try:
            return self._run()
        except (SpiffWorkflowException, CaseError, FormValidationError) as err:
            where = self.case.visited[-1] if self.case.visited else "start"
            if self.answering is not None:  # the answer given (or the sample's) is what failed, not the step before
                raise TrialError(f"answering {self.answering} (after {where}): {err}", self.answering) from err
            raise TrialError(f"after {where}: {err}", self.answering) from err

    def _run(self) -> TrialResult:
        started_at = to_iso(self.clock.now())
        validate_start_data(self.bundle, self.start_data)
        self.case.start(self.start_data)
        for _ in range(MAX_STEPS):
            self._stop_at_a_failure()
            if self.case.completed:
                break
            if not self.step():
                raise TrialError(f"the case is stuck after {self.case.visited[-5:]}: no task, message or timer left")
        else:
            raise TrialError(f"the case did not finish within {MAX_STEPS} steps (a loop in the answers?)")
        self._stop_at_a_failure()
        data = self.case.data
        return TrialResult(
            completed=self.case.completed,
            visited=self.case.visited,
            summary={key: data[key] for key in SUMMARY_KEYS if key in data},
            kpis=data.get("kpis") or {},
            outbox=list(self.outbox.messages),
            started_at=started_at,
            ended_at=to_iso(self.clock.now()),
            unused_answers=self.unused_answers(),
        )

    def unused_answers(self) -> list[str]:
        """The answers of ``options.answers`` the case never used, in words: an element it never reached or a
        message it never waited for (another path was taken), or a list of answers longer than its visits (the loop
        the analyst meant to test did not come round again). Said, not refused: the case itself ran."""
        unused = []
        for name, given in self.options.answers.items():
            used = self.visits.get(name, 0) + self.delivered.get(name, 0)
            if not used:
                unused.append(f"the answer for {name} was not used: the case never reached it")
            elif isinstance(given, list) and len(given) > used:
                unused.append(f"{len(given)} answers for {name}, {used} used: the case reached it {used} "
                              f"time{'s' if used > 1 else ''}")
        return unused

    def _stop_at_a_failure(self) -> None:
        """An engine task that failed (a broken expression, a handler error) ends the trial, naming it: the durable
        runner would retry it and raise an incident, a trial has nobody to fix it. (Going on would report the case
        "stuck" somewhere else, or "completed" without the branch that failed, e.g. an SLA timer.)"""
        if self.case.failures:
            failure = self.case.failures[0]
            raise TrialError(f"{failure.element_id or 'an engine task'} failed: {failure.message}",
                             failure.element_id or None)

    def step(self) -> bool:
        """Do the next thing a real case would see happen; False when nothing can happen any more."""
        ready = self.case.ready_tasks()
        tasks = [task for task in ready if task.element_id not in self.options.unanswered]
        if tasks:
            preferred = [task for task in tasks if task.element_id in self.options.first]
            self.answer((preferred or tasks)[0])
            return True
        messages = self.case.waiting_messages()
        if messages:
            self.deliver(messages[0])
            return True
        timers = self.case.pending_timers()
        if timers:
            self.clock.advance_to(timers[0].deadline + timedelta(seconds=1))
            self.case.fire_due_timers()
            return True
        if ready:  # only tasks nobody was to answer are left: answered after all, rather than a case stuck
            self.answer(ready[0])
            return True
        return False

    def answer(self, task: HumanTask) -> None:
        visit = self.visits.get(task.element_id, 0)
        self.visits[task.element_id] = visit + 1
        data = self.answer_for(task, visit)
        delay = self.delay_for(task.element_id, visit)
        hours = self.options.hours_per_task + delay
        self.clock.advance(timedelta(hours=hours))
        self.case.fire_due_timers()
        if not any(t.id == task.id for t in self.case.ready_tasks()):
            return  # a timer ended the task meanwhile (an interrupting one)
        self.answering = task.element_id
        self.case.complete_task(task.id, data, self.user_for(task))
        self.answering = None

    def delay_for(self, element_id: str, visit: int) -> float:
        given = self.options.delays.get(element_id, 0.0)
        if isinstance(given, list):
            return given[visit] if visit < len(given) else 0.0
        return given if visit == 0 else 0.0

    def answer_for(self, task: HumanTask, visit: int) -> dict[str, Any]:
        given = self.options.answers.get(task.element_id)
        if isinstance(given, list) and given:
            given = given[min(visit, len(given) - 1)]
        if given is not None and not isinstance(given, dict):
            raise TrialError(f"the answer for {task.element_id} must be a JSON object (or a list of them)")
        return answer_over_sample(self.bundle.form(task.form_schema) if task.form_schema else None, given,
                                  self.clock.now().date(), self.case.sample_evaluator(task.id))

    def user_for(self, task: HumanTask) -> str:
        """A user of the task's role; another one when a four-eyes rule names an earlier step."""
        role = task.role or "staff"
        taken = self.case.last_user_of(task.four_eyes_with) if task.four_eyes_with else None
        for number in range(1, 10):
            user = f"{role}.{number}"
            if user != taken:
                return user
        raise TrialError(f"no user left for {task.element_id}")

    def deliver(self, name: str) -> None:
        given = self.options.answers.get(name)
        payload = given if isinstance(given, dict) else {"confirmed_at": to_iso(self.clock.now())}
        self.clock.advance(timedelta(hours=self.options.hours_per_task))
        self.case.fire_due_timers()
        if name in self.case.waiting_messages():
            self.delivered[name] = self.delivered.get(name, 0) + 1
            self.answering = name
            self.case.deliver_message(name, payload)
            self.answering = None


def process_names(bundle: ProcessBundle) -> set[str]:
    """Every element id and message name of the process folder's specs (what answers, delays and ``first`` may
    name)."""
    names: set[str] = set()
    for spec in [bundle.spec, *bundle.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            if getattr(task_spec, "bpmn_id", None):
                names.add(task_spec.bpmn_id)
            message = getattr(getattr(task_spec, "event_definition", None), "name", None)
            if isinstance(message, str) and message:
                names.add(message)
    return names


def check_names(bundle: ProcessBundle, options: TrialOptions) -> None:
    """Answers, delays and ``first`` for an id the process does not have would silently do nothing: refuse them."""
    known = process_names(bundle)
    for what, given in (("answers", options.answers), ("--delay", options.delays), ("--first", options.first),
                        ("--unanswered", options.unanswered)):
        unknown = [name for name in given if name not in known]
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, known, n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise TrialError(f"{what}: no element or message of the process is called " + ", ".join(hints))


def run_trial(bundle: ProcessBundle, options: TrialOptions) -> TrialResult:
    """Run one case of ``options.category`` to its end and report what happened."""
    return TrialDriver(bundle, options).run()

