"""Build one demo case (``runner.demo``) through the real runner on a virtual clock: started in the past, each step
done by the demo user of its lane (the customer's by the customer on the portal) so many office hours after the
one before (``runner.demo_timing``), with the worker firing the timers that fall due on the way and delivering the
notifications as it would have then. Every change is the service call production makes (``start_case``,
``claim_task``, ``complete_task``, ``send_message``; the worker's pass for timers), one transaction each, so the
event log, the open tasks, the timer jobs and the outbox are those the steps would have written.

A demo case is scripted (``DemoCase.script``): which step comes next and how long after the previous one it is
done; a 督办 opened by a step past its time limit is handled by the supervisor soon after it opens. A step the
script names that the case does not offer is skipped; once the script is done, what the case still offers before
its ``until`` step is done by the form's sample answer, an office hour apart.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from handlers.archive import archive_checklist

from . import portal, services
from .clock import VirtualClock
from .demo_timing import add_working_hours, working_hours_before
from .models import Case as CaseRow
from .models import Job, OpenTask
from .sample_answers import answer_over_sample
from .store import Runtime, load_case
from .worker import Worker

CUSTOMER_LANE = "customer"
FALLBACK_HOURS = 1.0
"""Office hours between steps the script does not name."""
WORK_HOURS = 1.0
"""How long before completing a staff step its user claims it (the ``started`` event), at most."""
MAX_STEPS = 200
MAX_PASSES = 50
PROMPT_STEPS = {"supervise_breach": 2.0}
"""Steps done so many office hours after they open, whatever the script says: the supervisor handles a 督办
(a step past its time limit) the same morning or afternoon."""


class DemoCase(NamedTuple):
    """A demo case: its number, category, dual supply, the step it waits at (None: run to its end), its script
    (element id of a task, or name of a message, with the office hours after the previous step) and how many
    office hours it has waited at ``until`` (or since it ended) by now."""

    number: str
    category: str
    dual_supply: bool
    until: str | None
    script: tuple[tuple[str, float], ...] = ()
    waiting_hours: float = 1.0

    @property
    def office_hours(self) -> float:
        """From the application to now, in office hours."""
        return sum(hours for _step, hours in self.script) + self.waiting_hours


def demo_user(lane: str | None, case_number: str) -> str:
    """Who does a step: the demo user of the lane (``webui.demo_users``: one per group, named after it); the
    customer's steps the customer, signed in to the case on the portal."""
    if lane == CUSTOMER_LANE:
        return portal.customer_user(case_number)
    return lane or "account_manager"


class DemoDriver:
    """Drives one demo case from its application (at the clock's time) to its ``until`` step."""

    def __init__(self, sessions: sessionmaker[Session], runtime: Runtime, worker: Worker, demo: DemoCase) -> None:
        if not isinstance(runtime.clock, VirtualClock):
            raise TypeError("a demo case runs on a virtual clock")
        self.sessions, self.runtime, self.worker, self.demo = sessions, runtime, worker, demo
        self.clock: VirtualClock = runtime.clock

    # -- the clock and the worker --------------------------------------------------------------------------------

    def run_worker(self) -> None:
        """Worker passes at the clock's time until one finds nothing due."""
        for _ in range(MAX_PASSES):
            if self.worker.run_once().idle:
                return

    def advance_to(self, moment: datetime) -> None:
        """Move the clock to ``moment``, stopping on the way at each timer of the case that falls due (for the
        worker) and at each 督办 the supervisor handles (``PROMPT_STEPS``)."""
        for _ in range(MAX_STEPS):
            timer = self._next_timer()
            prompt = self._next_prompt()
            if prompt is not None and prompt[1] <= moment and (timer is None or prompt[1] <= timer):
                self._handle_promptly(*prompt)
            elif timer is not None and timer <= moment:
                self.clock.advance_to(timer)
                self.run_worker()
            else:
                break
        self.clock.advance_to(moment)
        self.run_worker()

    def _next_prompt(self) -> tuple[OpenTask, datetime] | None:
        """The open task of ``PROMPT_STEPS`` that is handled first, and when."""
        found = [(task, add_working_hours(task.created_at, PROMPT_STEPS[task.element_id], self.runtime.calendar))
                 for task in self._open_tasks() if task.element_id in PROMPT_STEPS]
        return min(found, key=lambda pair: pair[1]) if found else None

    def _handle_promptly(self, task: OpenTask, at: datetime) -> None:
        """Claim the task at most ``WORK_HOURS`` before ``at`` (no timer falls due in between: ``advance_to``
        handles the earliest thing first) and complete it at ``at``."""
        user = demo_user(task.lane, self.demo.number)
        self.clock.advance_to(max(self.clock.now(), working_hours_before(at, WORK_HOURS, self.runtime.calendar)))
        self._claim(task, user)
        self.clock.advance_to(at)
        self._complete(task, user)

    def _next_timer(self) -> datetime | None:
        with self.sessions() as session:
            due = session.scalar(select(func.min(Job.due_at)).join(CaseRow, CaseRow.id == Job.case_id).where(
                CaseRow.case_number == self.demo.number, Job.kind == "timer", Job.status == "pending"))
        if due is not None and due.tzinfo is None:  # SQLite: stored as UTC
            due = due.replace(tzinfo=UTC)
        return due

    # -- steps ---------------------------------------------------------------------------------------------------

    def start(self, application: dict[str, Any], version_id: int) -> None:
        data = {key: value for key, value in application.items() if key not in ("case_number", "applied_at")}
        with self.sessions.begin() as session:  # applied now, on the case's clock
            services.start_case(session, self.runtime, data, "demo", version_id=version_id,
                                case_number=self.demo.number)
        self.run_worker()

    def run(self) -> None:
        """The script, then the sample answers until ``until`` is open (or the case waits for nothing)."""
        calendar = self.runtime.calendar
        for step, hours in self.demo.script:
            if not self._offers(step):
                print(f"  {self.demo.number}: the script's step {step} is not open; skipped", file=sys.stderr)
                continue
            self.do(step, add_working_hours(self.clock.now(), hours, calendar))
        for _ in range(MAX_STEPS):
            if self.demo.until is not None and self._offers(self.demo.until):
                return
            offered = self._next_offered()
            if offered is None:
                return
            self.do(offered, add_working_hours(self.clock.now(), FALLBACK_HOURS, calendar))

    def _open_tasks(self) -> list[OpenTask]:
        with self.sessions() as session:
            return list(session.scalars(select(OpenTask).where(OpenTask.case_number == self.demo.number)
                                        .order_by(OpenTask.created_at, OpenTask.id)))

    def _waiting_messages(self) -> list[str]:
        with self.sessions() as session:
            row = services.get_case(session, self.demo.number)
            if row.status != "running":
                return []
            return load_case(session, self.runtime, self.demo.number).case.waiting_messages()

    def _offers(self, step: str) -> bool:
        return any(task.element_id == step for task in self._open_tasks()) or step in self._waiting_messages()

    def _next_offered(self) -> str | None:
        tasks = self._open_tasks()
        if tasks:
            return tasks[0].element_id
        waiting = self._waiting_messages()
        return waiting[0] if waiting else None

    def do(self, step: str, at: datetime) -> None:
        """Do ``step`` (an open task's element, or a message the case waits for) at ``at``: a staff task is claimed
        up to ``WORK_HOURS`` before."""
        task = next((task for task in self._open_tasks() if task.element_id == step), None)
        if task is None:
            self.advance_to(at)
            with self.sessions.begin() as session:
                services.send_message(session, self.runtime, self.demo.number, step,
                                      {"confirmed_at": self.clock.now().isoformat(timespec="seconds")},
                                      request_id=str(uuid.uuid4()))
            self.run_worker()
            return
        user = demo_user(task.lane, self.demo.number)
        if task.lane != CUSTOMER_LANE:
            self.advance_to(max(self.clock.now(), working_hours_before(at, WORK_HOURS, self.runtime.calendar)))
            self._claim(task, user)
        self.advance_to(at)
        self._complete(task, user)

    def _claim(self, task: OpenTask, user: str) -> None:
        if self._still_open(task.id):
            with self.sessions.begin() as session:
                services.claim_task(session, task.id, user, now=self.clock.now(), runtime=self.runtime)

    def _complete(self, task: OpenTask, user: str) -> None:
        """Complete the task now with the form's sample answer (``given``); nothing when it was withdrawn meanwhile
        (the other 回访 channel answered, a timer)."""
        if not self._still_open(task.id):
            return
        with self.sessions.begin() as session:
            row = services.get_case(session, self.demo.number)
            schema = self.runtime.bundle_for_case(session, row).form(task.form_schema) if task.form_schema else {}
            loaded = load_case(session, self.runtime, self.demo.number)
            answer = answer_over_sample(schema, self.given(task.element_id, loaded.case.data),
                                        self.clock.now().date(), loaded.case.sample_evaluator(task.id))
            services.complete_task(session, self.runtime, task.id, answer, user, request_id=str(uuid.uuid4()))
        self.run_worker()

    def _still_open(self, task_id: str) -> bool:
        return any(task.id == task_id for task in self._open_tasks())

    @staticmethod
    def given(step: str, data: dict[str, Any]) -> dict[str, Any]:
        """What the demo answers beyond the form's sample: the 归档资料清单 of the case's own route."""
        if step == "archive_documents":
            return {"archive_checklist": archive_checklist(data.get("route") or {}, data.get("fees"))}
        return {}
