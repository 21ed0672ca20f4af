"""The worker's share of simulations: ``baozhuang worker`` calls ``SimulationPoller.poll`` once per pass.

A simulation takes seconds to minutes, far longer than a timer job, so it runs in a thread of its own: the worker's
passes (timers, retries, the outbox) go on meanwhile. One run at a time per worker; the queued runs are taken one
after the other, each under its own lease (``runner.simulation.runs``), so two workers never run one simulation at
the same time and a killed worker's run is taken over once its lease has expired. When the worker is asked to stop,
the run in hand is given back to the queue at its next progress report (the thread is not a daemon: the process
waits for that). A run's replications use ``jobs`` processes (``baozhuang worker --simulation-jobs``, default 1: the
run's own child process only): an operator decides how many cores simulations may take from the host's cases and
web requests. The results do not depend on it.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ..clock import Clock
from . import runs

log = logging.getLogger("baozhuang.worker.simulation")

OUTPUT_FOLDER = "simulations"
"""Runs write their files under ``$BAOZHUANG_INSTANCE/simulations/<id>``."""


def default_output_root() -> Path:
    return Path(os.environ.get("BAOZHUANG_INSTANCE", "instance")) / OUTPUT_FOLDER


def engine_execute(sessions: sessionmaker[Session], jobs: int = 1) -> runs.Execute:
    """The real ``execute`` (``run_execute``): the engine and the what-if comparison, imported on first use so that
    a worker that never simulates does not load them; each run's replications on ``jobs`` processes."""

    def execute(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        from .run_execute import make_execute

        return make_execute(sessions, jobs)(params, progress)

    return execute


class SimulationPoller:
    """Starts a thread that runs the queued simulation runs when none of this worker's is running."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, owner: str, lease: timedelta, *,
                 output_root: Path | None = None, execute: runs.Execute | None = None, jobs: int = 1) -> None:
        self.sessions = sessions
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self.output_root = (output_root or default_output_root()).resolve()  # the run's child process joins it
        self.execute: runs.Execute = execute or engine_execute(sessions, jobs)
        self.thread: threading.Thread | None = None

    def poll(self, stop: threading.Event) -> None:
        """Start working on the queue unless this worker already is (or is stopping). Never raises."""
        if stop.is_set() or (self.thread is not None and self.thread.is_alive()):
            return
        self.thread = threading.Thread(target=self.drain, args=(stop,), name="simulation-runs")
        self.thread.start()

    def drain(self, stop: threading.Event) -> None:
        """Run queued runs one after the other until none is left or ``stop`` is set."""
        try:
            while not stop.is_set():
                outcome = runs.run_next(self.sessions, owner=self.owner, clock=self.clock, lease=self.lease,
                                        output_root=self.output_root, execute=self.execute, stop=stop)
                if outcome is None:
                    return
        except DBAPIError as err:  # the database went away: one line, as the worker's own loop logs it; the next
            # poll tries again, leases expire meanwhile
            log.error("worker=%s simulation runs: database error: %s", self.owner, str(err).splitlines()[0])
        except Exception:  # anything else is a bug worth its traceback
            log.exception("worker=%s simulation runs: unexpected error", self.owner)
