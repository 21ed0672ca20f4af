"""The worker behind ``baozhuang worker``: fires due timers, retries failed service tasks, delivers the outbox.

Each pass (:meth:`Worker.run_once`):

1. Claims a batch of due ``jobs`` (pending, ``due_at`` passed, lease free or expired) under a lease
   (``runner.leases``: a conditional UPDATE per row, candidates picked with ``SKIP LOCKED`` on PostgreSQL).
2. Runs each claimed job in ONE transaction: lock the case row, re-check the lease, load the case, do the work,
   ``save_case``, mark the job done. A crash before the commit leaves the job pending, to be re-run once its lease
   has expired; a crash after it leaves the job done: each job's effect commits exactly once. The revision check
   of ``save_case`` backs this up — two runs can never both save the same revision of a case.
3. Claims due ``outbox`` rows the same way and delivers each one *outside* any transaction, then records the
   outcome. A crash between delivering and recording repeats the delivery with the same idempotency key: at least
   once, and effectively once for a receiver that deduplicates on the key (``runner.delivery``).

Job kinds: ``timer`` (the case fires its due timers; the jobs of all timers fired are done), ``retry`` (a failed
service task runs again; ``store.record_failures`` reschedules it with backoff, or raises an incident once
``store.RETRY_LIMIT`` retries have failed) and ``noop`` (completes without touching a case: for load tests of the
leasing).

Time: due dates *and* leases are read on the runtime's clock (the system clock in production), so every worker of a
database must run on the same clock (``BAOZHUANG_CLOCK_OFFSET_DAYS`` shifts it alike for all, in tests).
Heartbeats alone are wall-clock time (``heartbeat.heartbeat_clock``): they tell operators when a process was
last seen, which no offset changes.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, PendingRollbackError
from sqlalchemy.orm import Session, sessionmaker

from . import documents, heartbeat, leases
from .case import CaseError
from .clock import Clock, to_iso
from .delivery import DelivererRegistry, Delivery, registry_from_env, retry_delay
from .environment import Environment
from .models import Case as CaseRow
from .models import Job, OutboxMessage
from .simulation.run_worker import SimulationPoller
from .store import ConflictError, LoadedCase, Runtime, load_case, open_incident, save_case

log = logging.getLogger("baozhuang.worker")

DEFAULT_BATCH_SIZE = 20
DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_POLL_SECONDS = 5.0
HOUSEKEEPING_SECONDS = 3600.0
"""How often a worker deletes uploads never attached to a case (``documents.prune_unattached``)."""
MAX_DELIVERY_ATTEMPTS = 8
JOB_ERROR_LIMIT = 5
"""A job whose run raises an unexpected error this many times is marked ``failed`` (a poison job)."""
SUSPENDED_RECHECK = timedelta(minutes=15)
"""How long the job of a suspended case waits before it looks again."""
BEAT_WITHIN_PASS_SECONDS = 5.0
"""Inside a long pass (slow jobs, a webhook that answers slowly) the heartbeat moves again before the next row once
this many seconds have gone by since the last one, so ``/healthz`` does not count a busy worker stale (its allowance
is at least 30 s)."""


@dataclass
class PassCounts:
    """What one pass did: rows claimed, and how many ended in each outcome (``done``, ``rescheduled`` …)."""

    jobs_claimed: int = 0
    jobs: Counter[str] = field(default_factory=Counter)
    messages_claimed: int = 0
    messages: Counter[str] = field(default_factory=Counter)

    @property
    def idle(self) -> bool:
        return self.jobs_claimed == 0 and self.messages_claimed == 0

    def describe(self) -> str:
        """One line, e.g. ``jobs claimed=3 done=3; outbox claimed=1 delivered=1``."""
        jobs = " ".join(f"{outcome}={n}" for outcome, n in sorted(self.jobs.items()))
        messages = " ".join(f"{outcome}={n}" for outcome, n in sorted(self.messages.items()))
        return f"jobs claimed={self.jobs_claimed} {jobs}".rstrip() + (
            f"; outbox claimed={self.messages_claimed} {messages}".rstrip())


@dataclass
class JobRun:
    """One job's run, filled in as it goes (so that an error still logs what was known)."""

    job_id: int
    kind: str
    case_id: int
    case_number: str | None = None
    outcome: str = "skipped"
    detail: str = ""
    level: int = logging.INFO
    """How its line is logged: WARNING when the job failed and will be tried again or raised an incident, ERROR
    when the worker gave up on it (so that a log collector can alert on levels)."""

    def line(self, worker_id: str) -> str:
        case = f" case={self.case_number}" if self.case_number else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"worker={worker_id} job={self.job_id} kind={self.kind}{case} outcome={self.outcome}{detail}"


def default_worker_id() -> str:
    """``host:pid:random`` — unique per process, so a restarted worker never mistakes old leases for its own."""
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{secrets.token_hex(3)}"


def _release_row(row: Job | OutboxMessage) -> None:
    row.lease_owner = None
    row.lease_until = None


class Worker:
    """Claims and runs due jobs and outbox messages under leases; see the module docstring."""

    def __init__(self, sessions: sessionmaker[Session], runtime: Runtime, *,
                 deliverers: DelivererRegistry | None = None, worker_id: str | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                 poll_seconds: float = DEFAULT_POLL_SECONDS,
                 max_delivery_attempts: int = MAX_DELIVERY_ATTEMPTS, instance: Path | None = None,
                 simulation_jobs: int = 1) -> None:
        """Set the worker up.

        Args:
            sessions: Where the jobs, outbox and cases live.
            runtime: Clock, calendar, handlers and parsed versions for the cases.
            deliverers: Channel → deliverer (default: the built-in channels configured from the environment,
                logging to ``$BAOZHUANG_INSTANCE/outbox.log``).
            worker_id: The lease owner name (default: ``host:pid:random``); at most 80 characters.
            batch_size: Jobs, and then outbox messages, claimed per pass.
            lease_seconds: How long a claim holds; a crashed worker's rows are free again after it.
            poll_seconds: The pause after a pass that found less than a full batch.
            max_delivery_attempts: Failed attempts after which an outbox message is ``failed``.
            instance: The instance folder whose ``uploads/`` the worker keeps clean (once an hour, uploads never
                attached to a case go after a day); None: no housekeeping.
            simulation_jobs: Processes a simulation run from the web page may use for its replications (issue 5).
        """
        if min(batch_size, max_delivery_attempts, simulation_jobs) < 1 or lease_seconds <= 0 or poll_seconds < 0:
            raise ValueError("batch_size, max_delivery_attempts and simulation_jobs must be >= 1, lease_seconds > 0, "
                             "poll_seconds >= 0")
        self.simulation_jobs = simulation_jobs
        self.worker_id = worker_id or default_worker_id()
        if len(self.worker_id) > 80:
            raise ValueError("worker_id: at most 80 characters")
        self.sessions = sessions
        self.runtime = runtime
        self.clock = runtime.clock
        self.deliverers = deliverers or registry_from_env(Path(os.environ.get("BAOZHUANG_INSTANCE", "instance")))
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.max_delivery_attempts = max_delivery_attempts
        self.instance = instance
        self._beats: Clock | None = None  # set by run_forever: heartbeats only from a running worker
        self._last_beat = 0.0  # time.monotonic() of the last heartbeat

    @classmethod
    def from_environment(cls, env: Environment, *, worker_id: str | None = None,
                         batch_size: int = DEFAULT_BATCH_SIZE, lease_seconds: float = DEFAULT_LEASE_SECONDS,
                         poll_seconds: float = DEFAULT_POLL_SECONDS, simulation_jobs: int = 1) -> Worker:
        """A worker on this host's database, runtime and delivery channels."""
        return cls(env.sessions, env.runtime, deliverers=registry_from_env(env.instance), worker_id=worker_id,
                   batch_size=batch_size, lease_seconds=lease_seconds, poll_seconds=poll_seconds,
                   instance=env.instance, simulation_jobs=simulation_jobs)

    # -- passes --------------------------------------------------------------------------------------------------

    def run_once(self, stop: threading.Event | None = None) -> PassCounts:
        """One pass: a batch of due jobs, then a batch of due outbox messages.

        When ``stop`` is set, the row in hand is finished and the claimed rows not yet started are released; set
        before the pass (a signal while the worker waited or beat its heartbeat), nothing is claimed.
        """
        counts = PassCounts()
        if stop is not None and stop.is_set():
            return counts
        jobs = self._claim_jobs()
        counts.jobs_claimed = len(jobs)
        for index, run in enumerate(jobs):
            if stop is not None and stop.is_set():
                counts.jobs["released"] += self._release(Job, [job.job_id for job in jobs[index:]], "stop requested")
                return counts
            self._beat_within_pass()
            counts.jobs[self._run_job(run)] += 1
        if stop is not None and stop.is_set():
            return counts
        message_ids = self._claim_messages()
        counts.messages_claimed = len(message_ids)
        for index, message_id in enumerate(message_ids):
            if stop is not None and stop.is_set():
                counts.messages["released"] += self._release(OutboxMessage, message_ids[index:], "stop requested")
                return counts
            self._beat_within_pass()
            counts.messages[self._deliver(message_id)] += 1
        return counts

    def run_forever(self, stop: threading.Event) -> None:
        """Run passes until ``stop`` is set, pausing ``poll_seconds`` after a pass that found less than a batch.

        Raises:
            heartbeat.WorkerIdInUse: Another live process runs under this worker id (nothing was touched).
        """
        beats = heartbeat.heartbeat_clock(self.clock)  # wall-clock time, whatever the offset of the cases' clock
        with self.sessions() as session:
            holder = heartbeat.in_use_by(session, self.worker_id, beats.now())
            if holder is not None:
                age = (beats.now() - holder.seen_at).total_seconds()
                raise heartbeat.WorkerIdInUse(
                    f"worker id {self.worker_id!r} is in use by pid {holder.pid} on {holder.host} (last seen "
                    f"{age:.0f} s ago): give each worker its own --worker-id (a worker restarted after a crash takes "
                    "its id back once the old process is gone)")
        self._release_own_leases("left by an earlier run under this worker id")
        heartbeat.started(self.sessions, self.worker_id, beats.now(), self.poll_seconds)  # this pid, host, start
        self._beats, self._last_beat = beats, time.monotonic()
        log.info("worker=%s started batch=%d lease=%ss poll=%ss", self.worker_id, self.batch_size,
                 self.lease.total_seconds(), self.poll_seconds)
        simulations = SimulationPoller(self.sessions, self.clock, self.worker_id, self.lease,  # issue 5
                                       jobs=self.simulation_jobs)
        next_housekeeping = time.monotonic()
        failed_passes = 0  # passes in a row that met a database error (logged once more when it is back)
        while not stop.is_set():
            simulations.poll(stop)
            if time.monotonic() >= next_housekeeping:
                next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
                self.housekeeping()
            try:
                self._beat()  # /healthz: alive
                counts = self.run_once(stop)
            except DBAPIError as err:  # the database went away: keep trying, leases expire meanwhile
                failed_passes += 1
                log.error("worker=%s database error: %s", self.worker_id, str(err).splitlines()[0])
                stop.wait(self.poll_seconds)
                continue
            if failed_passes:
                log.info("worker=%s database reachable again after %d failed pass(es)", self.worker_id,
                         failed_passes)
                failed_passes = 0
            if counts.jobs_claimed < self.batch_size and counts.messages_claimed < self.batch_size:
                stop.wait(self.poll_seconds)
        try:  # a stop during a database outage is still a clean stop: the leases expire by themselves
            self._release_own_leases("at shutdown")
        except DBAPIError as err:
            log.error("worker=%s could not release its leases (they expire after %ss): %s", self.worker_id,
                      self.lease.total_seconds(), str(err).splitlines()[0])
        try:
            heartbeat.stopped(self.sessions, self.worker_id, beats.now())
        except DBAPIError as err:
            log.error("worker=%s could not mark its heartbeat stopped: %s", self.worker_id, str(err).splitlines()[0])
        log.info("worker=%s stopped", self.worker_id)

    def _beat(self) -> None:
        if self._beats is not None:
            heartbeat.beat(self.sessions, self.worker_id, self._beats.now(), self.poll_seconds)
            self._last_beat = time.monotonic()

    def _beat_within_pass(self) -> None:
        """Beat again before the next row of a pass that has run for ``BEAT_WITHIN_PASS_SECONDS`` since the last."""
        if self._beats is not None and time.monotonic() - self._last_beat >= BEAT_WITHIN_PASS_SECONDS:
            self._beat()

    def housekeeping(self) -> None:
        """Delete uploads never attached to a case under ``instance``; an error is logged, never fatal."""
        if self.instance is None:
            return
        try:
            pruned = documents.prune_unattached(self.sessions, self.instance, self.clock.now())
        except (DBAPIError, OSError) as err:
            log.error("worker=%s housekeeping failed: %s", self.worker_id, str(err).splitlines()[0])
            return
        if pruned.documents:
            log.info("worker=%s pruned %d unattached upload(s), %d file(s), %d bytes", self.worker_id,
                     pruned.documents, pruned.files, pruned.bytes)

    # -- leases --------------------------------------------------------------------------------------------------

    def _claim_jobs(self) -> list[JobRun]:
        """Claim due jobs; read their kind and case once (they never change) for the runs."""
        ids = leases.claim(self.sessions, Job, Job.due_at, owner=self.worker_id, now=self.clock.now(),
                           lease=self.lease, limit=self.batch_size)
        if not ids:
            return []
        log.info("worker=%s claimed %d jobs", self.worker_id, len(ids))
        with self.sessions() as session:
            heads = {job_id: (kind, case_id) for job_id, kind, case_id
                     in session.execute(select(Job.id, Job.kind, Job.case_id).where(Job.id.in_(ids)))}
        return [JobRun(job_id, *heads[job_id]) for job_id in ids]

    def _claim_messages(self) -> list[int]:
        ids = leases.claim(self.sessions, OutboxMessage, OutboxMessage.next_attempt_at, owner=self.worker_id,
                           now=self.clock.now(), lease=self.lease, limit=self.batch_size)
        if ids:
            log.info("worker=%s claimed %d outbox messages", self.worker_id, len(ids))
        return ids

    def _release(self, model: leases.Leased, ids: list[int], reason: str) -> int:
        released = leases.release(self.sessions, model, ids, self.worker_id)
        if released:
            log.info("worker=%s released %d %s lease(s): %s", self.worker_id, released, model.__tablename__, reason)
        return released

    def _release_own_leases(self, reason: str) -> None:
        for table, released in leases.release_all(self.sessions, self.worker_id).items():
            if released:
                log.info("worker=%s released %d %s lease(s) %s", self.worker_id, released, table, reason)

    # -- jobs ----------------------------------------------------------------------------------------------------

    def _run_job(self, run: JobRun) -> str:
        """Run one claimed job in one transaction; log and return its outcome."""
        try:
            with self.sessions.begin() as session:
                self._job_transaction(session, run)
        except (ConflictError, IntegrityError, OperationalError) as err:  # someone changed the case meanwhile
            run.outcome, run.detail = "released", f"conflict, retried next pass: {str(err).splitlines()[0]}"
            self._release(Job, [run.job_id], "conflict")
        except PendingRollbackError as err:  # the connection broke inside the job (a database restart) and the
            # driver's error was met inside the case's run: not the job's fault, so not counted against it
            run.outcome, run.level = "released", logging.WARNING
            run.detail = f"database connection lost, retried next pass: {str(err).splitlines()[0]}"
            self._release(Job, [run.job_id], "database connection lost")
        except Exception as err:
            log.exception("worker=%s job=%d failed with an unexpected error", self.worker_id, run.job_id)
            self._job_errored(run, err)
        log.log(run.level, run.line(self.worker_id))
        return run.outcome

    def _job_transaction(self, session: Session, run: JobRun) -> None:
        if run.kind == "noop":  # one statement: done if the lease is still ours
            done = session.execute(
                update(Job).where(Job.id == run.job_id, Job.status == "pending", Job.lease_owner == self.worker_id)
                .values(status="done", lease_owner=None, lease_until=None).execution_options(synchronize_session=False))
            run.outcome = "done" if leases.rowcount(done) == 1 else "skipped"
            return
        # The case row first, then the job rows: the order every writer of a case takes (save_case updates the case,
        # then its jobs), so workers on one case queue here instead of deadlocking.
        case_row = session.scalar(select(CaseRow).where(CaseRow.id == run.case_id).with_for_update())
        now = self.clock.now()
        mine = leases.renew(session, Job, run.job_id, owner=self.worker_id, until=now + self.lease)
        if case_row is None or not mine:
            run.detail = "lease lost or job already handled"
            return
        job = session.get_one(Job, run.job_id)
        run.case_number = case_row.case_number
        if case_row.status in ("completed", "cancelled"):
            self._job_done(job, run, "cancelled", f"case is {case_row.status}")
        elif case_row.status == "suspended":
            job.due_at = now + SUSPENDED_RECHECK
            _release_row(job)
            run.outcome, run.detail = "rescheduled", f"case is suspended; look again at {to_iso(job.due_at)}"
        elif run.kind in ("timer", "retry"):
            loaded = load_case(session, self.runtime, case_row.case_number)
            if run.kind == "timer":
                self._fire_timers(session, loaded, job, run, now)
            else:
                self._retry(session, loaded, job, run)
        else:
            job.status, job.last_error = "failed", f"unknown job kind {run.kind!r}"
            _release_row(job)
            run.outcome, run.detail, run.level = "failed", job.last_error, logging.ERROR

    @staticmethod
    def _job_done(job: Job, run: JobRun, outcome: str = "done", detail: str = "") -> None:
        job.status = outcome
        _release_row(job)
        run.outcome, run.detail = outcome, detail

    def _fire_timers(self, session: Session, loaded: LoadedCase, job: Job, run: JobRun, now: datetime) -> None:
        pending = {timer.task_id: timer for timer in loaded.case.pending_timers()}
        timer = pending.get(job.task_id or "")
        if timer is None:
            self._job_done(job, run, "done", "timer no longer waiting")
            return
        if timer.deadline > now:  # the deadline moved (e.g. a migration re-applied it)
            job.due_at = timer.deadline
            _release_row(job)
            run.outcome, run.detail = "rescheduled", f"timer due at {to_iso(timer.deadline)}"
            return
        seen = len(loaded.case.history)
        loaded.case.fire_due_timers()
        fired = [event for event in loaded.case.history[seen:] if event.lifecycle == "fired"]
        save_case(session, self.runtime, loaded)
        # save_case cancelled the jobs of timers that stopped waiting; the ones that fired here are done instead.
        session.execute(
            update(Job).where(Job.kind == "timer", Job.case_id == job.case_id,
                              Job.task_id.in_([event.task_id for event in fired]),
                              Job.status.in_(("pending", "cancelled")))
            .values(status="done", lease_owner=None, lease_until=None).execution_options(synchronize_session=False))
        self._job_done(job, run, "done", f"fired={','.join(event.element_id for event in fired)}")

    def _retry(self, session: Session, loaded: LoadedCase, job: Job, run: JobRun) -> None:
        try:
            loaded.case.retry(job.task_id or "")
        except (CaseError, ValueError):
            self._job_done(job, run, "done", "task is no longer failed")
            return
        failed_again = any(failure.task_id == job.task_id for failure in loaded.case.failures)
        save_case(session, self.runtime, loaded)  # record_failures reschedules the job or raises the incident
        if not failed_again:
            incident = open_incident(session, job.case_id, job.task_id or "")
            if incident is not None:  # retried by hand, failed again, and now ran through: resolved
                incident.resolved_at = self.clock.now()
            self._job_done(job, run, "done", f"retried {job.element_id}: succeeded")
            return
        _release_row(job)
        run.level = logging.WARNING
        if job.status == "failed":
            run.outcome, run.detail = "incident", f"retried {job.element_id}: failed {job.attempts} times"
        else:
            run.outcome = "rescheduled"
            run.detail = f"retried {job.element_id}: failed (attempt {job.attempts}); next at {to_iso(job.due_at)}"

    def _job_errored(self, run: JobRun, err: Exception) -> None:
        """Count an unexpected error against the job: back off, and give up after ``JOB_ERROR_LIMIT``."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            job = session.get(Job, run.job_id)
            if job is None or job.status != "pending" or job.lease_owner != self.worker_id:
                run.outcome, run.detail = "skipped", f"error: {err}"
                return
            job.attempts += 1
            job.last_error = f"{type(err).__name__}: {err}"
            _release_row(job)
            if job.attempts >= JOB_ERROR_LIMIT:
                job.status = "failed"
                run.outcome, run.detail = "failed", f"gave up after {job.attempts} errors: {job.last_error}"
                run.level = logging.ERROR
            else:
                job.due_at = now + retry_delay(job.attempts)
                run.outcome, run.detail = "rescheduled", f"error, next at {to_iso(job.due_at)}: {job.last_error}"
                run.level = logging.WARNING

    # -- outbox --------------------------------------------------------------------------------------------------

    def _deliver(self, message_id: int) -> str:
        """Deliver one claimed outbox message (outside any transaction) and record the outcome."""
        with self.sessions.begin() as session:
            if not leases.renew(session, OutboxMessage, message_id, owner=self.worker_id,
                                until=self.clock.now() + self.lease):
                log.info("worker=%s outbox=%d outcome=skipped lease lost or already delivered", self.worker_id,
                         message_id)
                return "skipped"
            row = session.get_one(OutboxMessage, message_id)
            delivery = Delivery(outbox_id=row.id, idempotency_key=row.idempotency_key, channel=row.channel,
                                case_number=row.case_number, to_role=row.to_role, template=row.template,
                                payload=dict(row.payload), attempt=row.attempts + 1)
        try:
            self.deliverers.deliver(delivery)
        except Exception as err:  # any deliverer failure is one failed attempt
            return self._delivery_failed(delivery, err)
        with self.sessions.begin() as session:
            # Recorded whoever holds the lease now: the message did get through.
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
                .values(status="delivered", delivered_at=self.clock.now(), attempts=delivery.attempt,
                        last_attempt_at=self.clock.now(), last_error=None, lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False))
        log.info("worker=%s outbox=%d channel=%s key=%s outcome=delivered attempt=%d", self.worker_id, message_id,
                 delivery.channel, delivery.idempotency_key, delivery.attempt)
        return "delivered"

    def _delivery_failed(self, delivery: Delivery, err: Exception) -> str:
        values: dict[str, Any] = {"attempts": delivery.attempt, "last_error": f"{type(err).__name__}: {err}",
                                  "last_attempt_at": self.clock.now(), "lease_owner": None, "lease_until": None}
        if delivery.attempt >= self.max_delivery_attempts:
            values["status"] = outcome = "failed"
            detail, level = f"gave up after {delivery.attempt} attempts", logging.ERROR
        else:
            values["next_attempt_at"] = self.clock.now() + retry_delay(delivery.attempt)
            outcome, detail = "retry_later", f"next at {to_iso(values['next_attempt_at'])}"
            level = logging.WARNING
        with self.sessions.begin() as session:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id == delivery.outbox_id, OutboxMessage.status == "pending",
                                            OutboxMessage.lease_owner == self.worker_id)
                .values(**values).execution_options(synchronize_session=False))
        log.log(level, "worker=%s outbox=%d channel=%s key=%s outcome=%s attempt=%d %s: %s", self.worker_id,
                delivery.outbox_id, delivery.channel, delivery.idempotency_key, outcome, delivery.attempt, detail, err)
        return outcome
