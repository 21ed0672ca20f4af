"""Stored simulation runs (table ``simulation_runs``): what a process owner asked for, and what came of it.

Life of a run: ``create_run`` stores it ``queued`` with its parameters; a worker ``claim``\\ s it (``running``,
under a lease: ``lease_owner`` + ``lease_until``), reports ``progress`` (which also renews the lease) and ends it
with ``finish`` (``done``, the result JSON) or ``fail`` (``failed``, the error text). A run whose worker died keeps
``running`` with an expired lease: the next ``claim`` takes it over and runs it again from the start (a simulation
has no side effects outside its own row and output folder, so running it twice is harmless; its result is written
once, by the holder of the lease). ``release`` gives a run back to the queue (a worker stopping mid-run).

Claiming is a conditional UPDATE whose row count says who won, as for jobs (``runner.leases``): atomic on SQLite
(one writer at a time) and PostgreSQL (the UPDATE re-checks its condition on the newest row version). Every write
of a running run is conditional on the lease still being the caller's: a worker that lost its lease can no longer
change the row. Times are read on the caller's clock, like the worker's leases.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy import delete as delete_statement
from sqlalchemy.orm import Session, sessionmaker

from ..clock import Clock
from ..leases import rowcount
from ..models import SimulationRun

log = logging.getLogger("baozhuang.worker.simulation")

Progress = Callable[[float], None]
Execute = Callable[[dict[str, Any], Progress], dict[str, Any]]
"""``execute(params, progress) -> result``: runs what ``params`` asks for, calling ``progress(fraction)`` now and
then, and returns the JSON-ready result. ``params`` is the stored request plus ``output_dir`` (a folder of the
run's own). Raising ``RunAborted`` from ``progress`` is how a lost lease or a stopping worker interrupts it."""
PROGRESS_WRITE_SECONDS = 1.0
"""Progress is written at most this often (and the lease renewed with it)."""

STATUSES = ("queued", "running", "done", "failed", "cancelled")
OPEN_STATUSES = ("queued", "running")
"""A run that may still be cancelled."""
NAME_MAX = 200
ESTIMATE_FROM_PROGRESS = 0.05
ESTIMATE_FROM_SECONDS = 5.0
"""``remaining_seconds`` says nothing before a run has done this much, for this long (a guess from less jumps
about)."""
ERROR_MAX = 4000
"""Longer error texts are cut (the full traceback goes to the worker's log)."""


class RunNotFound(LookupError):
    """No stored simulation run has this id."""


class RunFailed(Exception):
    """A failure ``execute`` explains itself: its message is stored as the run's error as it is."""


class RunAborted(Exception):
    """Raised by the progress callback: the run's lease is gone or its worker is stopping."""


def create_run(session: Session, *, name: str, created_by: str, params: dict[str, Any], now: datetime) -> int:
    """Store a queued run in the caller's transaction; its id."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"name: 1 to {NAME_MAX} characters")
    try:  # NaN and infinities are not JSON: SQLite would store invalid JSON, PostgreSQL refuse the row
        json.dumps(params, allow_nan=False)
    except ValueError as err:
        raise ValueError(f"params: {err}") from None
    run = SimulationRun(name=name, created_by=created_by, created_at=now, status="queued", progress=0.0,
                        params=params)
    session.add(run)
    session.flush()
    return run.id


def list_runs(session: Session, *, limit: int = 100, created_by: str | None = None) -> list[SimulationRun]:
    """The newest runs first (all of them, or one person's)."""
    query = select(SimulationRun).order_by(SimulationRun.created_at.desc(), SimulationRun.id.desc()).limit(limit)
    if created_by is not None:
        query = query.where(SimulationRun.created_by == created_by)
    return list(session.scalars(query))


def get_run(session: Session, run_id: int) -> SimulationRun:
    """One run; ``RunNotFound`` when there is none."""
    run = session.get(SimulationRun, run_id)
    if run is None:
        raise RunNotFound(f"simulation run {run_id} does not exist")
    return run


def lease_expired(run: SimulationRun, now: datetime) -> bool:
    """A running run whose lease has expired: its worker died (or hangs), and another worker will take it over and
    run it again from 0 %."""
    return run.status == "running" and run.lease_until is not None and run.lease_until < now


def remaining_seconds(run: SimulationRun, now: datetime) -> float | None:
    """About how long a running run still takes: its time so far (from ``started_at``, on the same clock as
    ``now``) × what is left ÷ what is done. Progress moves about evenly with time (replications of one size, each
    reporting as its cases close; the child process's start is in the time so far, so early guesses run long).
    None while the run is not running under a live lease (queued, ended, or its worker dead: it starts again from
    0 % when taken over), or before ``ESTIMATE_FROM_PROGRESS`` and ``ESTIMATE_FROM_SECONDS``."""
    if run.status != "running" or run.started_at is None or lease_expired(run, now):
        return None
    done = min(max(run.progress or 0.0, 0.0), 1.0)
    elapsed = (now - run.started_at).total_seconds()
    if done < ESTIMATE_FROM_PROGRESS or elapsed < ESTIMATE_FROM_SECONDS:
        return None
    return elapsed * (1.0 - done) / done


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Queued, or running under a lease that has expired (its worker died or hangs)."""
    return or_(SimulationRun.status == "queued",
               and_(SimulationRun.status == "running",
                    or_(SimulationRun.lease_until.is_(None), SimulationRun.lease_until < now)))


def _held_by(run_id: int, owner: str) -> ColumnElement[bool]:
    return and_(SimulationRun.id == run_id, SimulationRun.status == "running", SimulationRun.lease_owner == owner)


def claim(sessions: sessionmaker[Session], *, owner: str, now: datetime, lease: timedelta) -> int | None:
    """Lease the oldest claimable run to ``owner`` and mark it running; its id, or None when there is none.

    A run taken over from a dead worker starts again from 0 % (its ``started_at`` is the new start).
    """
    with sessions.begin() as session:
        query = select(SimulationRun.id).where(_claimable(now)).order_by(SimulationRun.created_at, SimulationRun.id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for run_id in session.scalars(query.limit(5)).all():
            taken = session.execute(
                update(SimulationRun).where(SimulationRun.id == run_id, _claimable(now))
                .values(status="running", lease_owner=owner, lease_until=now + lease, started_at=now, progress=0.0,
                        error=None).execution_options(synchronize_session=False))
            if rowcount(taken) == 1:
                return int(run_id)
    return None


def progress(sessions: sessionmaker[Session], run_id: int, *, owner: str, now: datetime, lease: timedelta,
             done: float | None = None) -> bool:
    """Renew ``owner``'s lease (and record the fraction ``done``, clamped to 0..1); False when the lease is gone."""
    values: dict[str, Any] = {"lease_until": now + lease}
    if done is not None:
        values["progress"] = min(1.0, max(0.0, float(done)))
    with sessions.begin() as session:
        return rowcount(session.execute(update(SimulationRun).where(_held_by(run_id, owner)).values(**values)
                                        .execution_options(synchronize_session=False))) == 1


def set_output_dir(sessions: sessionmaker[Session], run_id: int, *, owner: str, output_dir: str) -> bool:
    """Record where the run writes its files; False when the lease is gone."""
    with sessions.begin() as session:
        return rowcount(session.execute(update(SimulationRun).where(_held_by(run_id, owner))
                                        .values(output_dir=output_dir)
                                        .execution_options(synchronize_session=False))) == 1


def finish(sessions: sessionmaker[Session], run_id: int, *, owner: str, now: datetime,
           result: dict[str, Any]) -> bool:
    """Store the result and mark the run done, if ``owner`` still holds it; False otherwise (nothing changed).

    A NaN or infinite number of the result (a mean over nothing) is stored as null: the column holds JSON."""
    with sessions.begin() as session:
        return rowcount(session.execute(
            update(SimulationRun).where(_held_by(run_id, owner))
            .values(status="done", progress=1.0, result=finite_json(result), error=None, finished_at=now,
                    lease_owner=None, lease_until=None).execution_options(synchronize_session=False))) == 1


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(child) for key, child in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(child) for child in value]
    return value


def fail(sessions: sessionmaker[Session], run_id: int, *, owner: str, now: datetime, error: str) -> bool:
    """Mark the run failed with ``error`` (cut to ``ERROR_MAX`` characters), if ``owner`` still holds it."""
    text = error if len(error) <= ERROR_MAX else error[:ERROR_MAX - 1] + "…"
    with sessions.begin() as session:
        return rowcount(session.execute(
            update(SimulationRun).where(_held_by(run_id, owner))
            .values(status="failed", error=text, finished_at=now, lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False))) == 1


def cancel(session: Session, run_id: int, *, by: str, now: datetime) -> bool:
    """Cancel a queued or running run (in the caller's transaction); False when it had already ended. A running
    run's worker notices at its next progress report (within ``PROGRESS_WRITE_SECONDS``) — its lease no longer
    holds — and stops; nothing it computes afterwards is stored."""
    get_run(session, run_id)  # RunNotFound for an unknown id
    return rowcount(session.execute(
        update(SimulationRun).where(SimulationRun.id == run_id, SimulationRun.status.in_(OPEN_STATUSES))
        .values(status="cancelled", error=f"cancelled by {by}", finished_at=now, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False))) == 1


def delete(session: Session, run_id: int) -> tuple[bool, str | None]:
    """Delete an ended run's row (in the caller's transaction): ``(True, its output folder)``; ``(False, None)``
    while it is queued or running (cancel it first) — one conditional DELETE, so a worker's claim and a deletion
    never both win. The folder is the caller's to remove (it may lie on another host); a later run that gets the same
    id (SQLite may give the newest row's id again) never reads it: ``run_next`` clears a folder it did not prepare."""
    run = get_run(session, run_id)  # RunNotFound for an unknown id
    folder = run.output_dir
    deleted = rowcount(session.execute(
        delete_statement(SimulationRun).where(SimulationRun.id == run_id, SimulationRun.status.not_in(OPEN_STATUSES))
        .execution_options(synchronize_session=False))) == 1
    if deleted:
        session.expunge(run)
    return deleted, folder if deleted else None


def release(sessions: sessionmaker[Session], run_id: int, *, owner: str) -> bool:
    """Give a running run back to the queue (its worker stops); False when ``owner`` no longer held it."""
    with sessions.begin() as session:
        return rowcount(session.execute(
            update(SimulationRun).where(_held_by(run_id, owner))
            .values(status="queued", progress=0.0, started_at=None, lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False))) == 1


# -- running one -------------------------------------------------------------------------------------------------


@dataclass
class StepOutcome:
    """What ``run_next`` did with one run: ``done``, ``failed``, ``released``, ``cancelled`` (by a person, while it
    ran) or ``lost`` (lease taken over)."""

    run_id: int
    outcome: str
    detail: str = ""


class _LeaseKeeper:
    """Progress callback + heartbeat: writes the progress (renewing the lease) at most every
    ``PROGRESS_WRITE_SECONDS``, and at least every third of the lease from a thread of its own, so that a long
    stretch without progress never lets the lease expire under a working run."""

    def __init__(self, sessions: sessionmaker[Session], run_id: int, owner: str, clock: Clock, lease: timedelta,
                 stop: threading.Event | None) -> None:
        self.sessions, self.run_id, self.owner, self.clock, self.lease = sessions, run_id, owner, clock, lease
        self.stop = stop
        self.done = 0.0
        self.lost = False
        self.last_write = time.monotonic()
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"simulation-run-{run_id}-lease", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finished.set()
        self.thread.join()

    def report(self, done: float) -> None:
        if self.stop is not None and self.stop.is_set():
            raise RunAborted("the worker is stopping")
        self.done = done
        if time.monotonic() - self.last_write >= PROGRESS_WRITE_SECONDS:
            self._write()
        if self.lost:
            raise RunAborted("the lease is gone (the run was cancelled or taken over)")

    def _write(self) -> None:
        with self.lock:
            if self.lost:
                return
            self.last_write = time.monotonic()
            if not progress(self.sessions, self.run_id, owner=self.owner, now=self.clock.now(), lease=self.lease,
                            done=self.done):
                self.lost = True

    def _beat(self) -> None:
        interval = max(0.05, self.lease.total_seconds() / 3)
        while not self.finished.wait(interval):
            try:
                self._write()
            except Exception:  # the database is away for a moment: the next beat tries again
                log.exception("simulation run %d: could not renew the lease", self.run_id)


def run_next(sessions: sessionmaker[Session], *, owner: str, clock: Clock, lease: timedelta, output_root: Path,
             execute: Execute, stop: threading.Event | None = None) -> StepOutcome | None:
    """Claim the oldest claimable run and run it to its end in this thread; None when nothing was claimable.

    The run writes its files under ``output_root/<id>``. An error of ``execute`` fails the run with its message;
    a stop request (``stop`` set) gives it back to the queue.
    """
    run_id = claim(sessions, owner=owner, now=clock.now(), lease=lease)
    if run_id is None:
        return None
    folder = output_root / str(run_id)
    try:
        with sessions() as session:
            run = get_run(session, run_id)
            params, prepared = dict(run.params), run.output_dir
        if prepared is None and folder.exists():  # not this run's: a deleted run's whose id came again (SQLite)
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        set_output_dir(sessions, run_id, owner=owner, output_dir=str(folder))
    except OSError as err:  # its folder cannot be made (a file in the way, no space, no permission): it never
        # would, so the run fails with why, instead of being claimed again after every lease
        log.exception("worker=%s simulation run=%d: cannot prepare its folder", owner, run_id)
        message = f"cannot create the run's folder {folder}: {err.strerror or err}"
        if fail(sessions, run_id, owner=owner, now=clock.now(), error=message):
            return _logged(owner, StepOutcome(run_id, "failed", message))
        return _logged(owner, StepOutcome(run_id, *_gone(sessions, run_id)))
    log.info("worker=%s simulation run=%d started", owner, run_id)
    with _LeaseKeeper(sessions, run_id, owner, clock, lease, stop) as keeper:
        try:
            result = execute({**params, "output_dir": str(folder)}, keeper.report)
        except RunAborted as err:
            if keeper.lost:
                return _logged(owner, StepOutcome(run_id, *_gone(sessions, run_id)))
            release(sessions, run_id, owner=owner)
            return _logged(owner, StepOutcome(run_id, "released", str(err)))
        except Exception as err:
            log.exception("worker=%s simulation run=%d failed", owner, run_id)
            message = str(err) if isinstance(err, RunFailed | ValueError) else f"{type(err).__name__}: {err}"
            if fail(sessions, run_id, owner=owner, now=clock.now(), error=message):
                return _logged(owner, StepOutcome(run_id, "failed", message))
            return _logged(owner, StepOutcome(run_id, *_gone(sessions, run_id)))
    if not finish(sessions, run_id, owner=owner, now=clock.now(), result=result):
        return _logged(owner, StepOutcome(run_id, *_gone(sessions, run_id)))
    return _logged(owner, StepOutcome(run_id, "done"))


def _gone(sessions: sessionmaker[Session], run_id: int) -> tuple[str, str]:
    """Why a run is no longer ours, as (outcome, detail): ``cancelled`` by a person (``cancelled by <user>``, as
    ``cancel`` stored it), or ``lost`` to another worker that took the run over."""
    with sessions() as session:
        run = get_run(session, run_id)
        if run.status == "cancelled":
            return "cancelled", run.error or "cancelled"
        return "lost", f"the lease was lost: the run is {run.status} under {run.lease_owner or 'no worker'}"


def _logged(owner: str, outcome: StepOutcome) -> StepOutcome:
    detail = f" {outcome.detail}" if outcome.detail else ""
    log.info("worker=%s simulation run=%d outcome=%s%s", owner, outcome.run_id, outcome.outcome, detail)
    return outcome
