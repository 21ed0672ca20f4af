"""What tests/test_worker.py needs besides the ``db`` fixture: a deduplicating webhook receiver, worker
subprocesses and their logs, jobs inserted in bulk, and a handler registry with one handler swapped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from handlers import HANDLERS
from handlers.registry import Handler, HandlerRegistry
from runner import store
from runner.delivery import registry_from_env
from runner.models import Case as CaseRow
from runner.models import Event, Incident, Job, OutboxMessage
from runner.sinks import DbOutbox
from runner.worker import Worker
from tests.db import ROOT, Db

CLOCK_OFFSET_DAYS = "30"
"""Worker subprocesses run 30 days ahead (``BAOZHUANG_CLOCK_OFFSET_DAYS``): every SLA timer of a new case is due."""
WAIT_LIMIT = 60.0
"""A guard against hanging, not a measurement: waits fail after this many seconds."""


class Receiver:
    """An HTTP webhook receiver on 127.0.0.1 (random port) that deduplicates on the ``Idempotency-Key`` header.

    Attributes:
        arrivals: The key of every request, in order. Repeats are allowed here: the worker delivers at least once.
        processed: The keys the receiver acted upon, each once at most (its deduplication).
        fail_first: Answer the first this many requests with HTTP 500 (before processing them).
        delay: Seconds to take over each request (a slow receiver).
    """

    def __init__(self, delay: float = 0.0, fail_first: int = 0) -> None:
        self.delay = delay
        self.fail_first = fail_first
        self.arrivals: list[str] = []
        self.processed: list[str] = []
        self.bodies: dict[str, dict[str, Any]] = {}
        self._hooks: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/notify"

    def on_arrival(self, number: int, action: Callable[[], None]) -> None:
        """Run ``action`` when the ``number``-th request (counting all so far) arrives, before answering it."""
        with self._lock:
            self._hooks[number] = action

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _receive(self, key: str, body: dict[str, Any]) -> tuple[int, Callable[[], None] | None]:
        with self._lock:
            self.arrivals.append(key)
            number = len(self.arrivals)
            if number <= self.fail_first:
                return 500, None
            if key not in self.bodies:  # the deduplication: act on a key once
                self.bodies[key] = body
                self.processed.append(key)
            return 200, self._hooks.pop(number, None)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, hook = receiver._receive(self.headers["Idempotency-Key"], body)
                time.sleep(receiver.delay)
                if hook is not None:
                    hook()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender was killed meanwhile
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# -- worker subprocesses -----------------------------------------------------------------------------------------


class WorkerProcess:
    """A ``baozhuang worker`` subprocess whose log (stderr and stdout) goes to a file."""

    def __init__(self, db: Db, instance: Path, log_path: Path, *args: str, webhook: str | None = None) -> None:
        env = {**os.environ, "DATABASE_URL": db.url, "BAOZHUANG_INSTANCE": str(instance),
               "BAOZHUANG_CLOCK_OFFSET_DAYS": CLOCK_OFFSET_DAYS,
               # PostgreSQL commits without waiting for the WAL flush (~6 ms each on a CI disk; the worker commits
               # once per job). Visibility and locking are unchanged; only a *server* crash could lose commits,
               # which no test here causes.
               "PGOPTIONS": "-c synchronous_commit=off"}
        env.pop("BAOZHUANG_WEBHOOK_URL", None)
        if webhook:
            env["BAOZHUANG_WEBHOOK_URL"] = webhook
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from runner.cli import main; main()", "worker", *args],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def jobs_done(self) -> list[int]:
        """Ids of the jobs this worker committed as done, in order (its log has one line per job run)."""
        return [int(match) for match in re.findall(r" job=(\d+) kind=\w+(?: case=\S+)? outcome=done", self.log())]

    def kill(self) -> None:
        """SIGKILL: no chance to finish or release anything."""
        self.process.kill()
        self.process.wait(timeout=WAIT_LIMIT)

    def stop(self, signal_number: int) -> int:
        """Send a signal and return the exit code."""
        self.process.send_signal(signal_number)
        return self.process.wait(timeout=WAIT_LIMIT)

    def ensure_dead(self) -> None:
        if self.process.poll() is None:
            self.kill()


@contextmanager
def worker_process(db: Db, instance: Path, log_path: Path, *args: str,
                   webhook: str | None = None) -> Iterator[WorkerProcess]:
    """A worker subprocess, killed at the end of the block if still running."""
    worker = WorkerProcess(db, instance, log_path, *args, webhook=webhook)
    try:
        yield worker
    finally:
        worker.ensure_dead()


def wait_for(condition: Callable[[], bool], what: str, *workers: WorkerProcess,
             progress: Callable[[], object] | None = None) -> None:
    """Poll ``condition`` until it holds; fail (with the workers' log tails) after ``WAIT_LIMIT`` seconds — or, with
    ``progress``, after ``WAIT_LIMIT`` seconds in which its value did not change (a long batch on a loaded machine
    is not a hang)."""
    deadline = time.monotonic() + WAIT_LIMIT
    seen = progress() if progress else None
    while not condition():
        for worker in workers:
            if worker.process.poll() is not None and not condition():
                raise AssertionError(f"worker exited ({worker.process.returncode}) before {what}:\n"
                                     f"{worker.log()[-3000:]}")
        if progress is not None and (now := progress()) != seen:
            seen, deadline = now, time.monotonic() + WAIT_LIMIT
        if time.monotonic() > deadline:
            tails = "\n".join(worker.log()[-3000:] for worker in workers)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.05)


# -- database contents -------------------------------------------------------------------------------------------


def put_messages(db: Db, count: int, channel: str = "sms", prefix: str = "msg") -> list[str]:
    """Write ``count`` outbox messages as a handler would; return their idempotency keys."""
    keys = [f"{prefix}:{index:04d}" for index in range(count)]
    with db.transaction() as session:
        outbox = DbOutbox(session, db.clock)
        for key in keys:
            outbox.put({"idempotency_key": key, "case_number": None, "template": "test", "to_role": "customer",
                        "channel": channel, "params": {"n": key}})
    return keys


def insert_noop_jobs(db: Db, count: int) -> None:
    """``count`` due ``noop`` jobs, spread over the existing cases (a job needs a case row)."""
    with db.transaction() as session:
        case_ids = list(session.scalars(select(CaseRow.id)))
        session.execute(insert(Job), [
            {"kind": "noop", "case_id": case_ids[index % len(case_ids)], "task_id": f"noop-{index}",
             "due_at": db.clock.now(), "status": "pending", "attempts": 0}
            for index in range(count)
        ])


def job_status_counts(db: Db, kind: str | None = None) -> dict[str, int]:
    with db.reading() as session:
        query = select(Job.status, func.count()).group_by(Job.status)
        if kind is not None:
            query = query.where(Job.kind == kind)
        return {status: int(n) for status, n in session.execute(query)}


def fired_per_timer(db: Db) -> dict[str, int]:
    """``fired`` events per timer task id, over all cases (each timer fires once at most)."""
    with db.reading() as session:
        rows = session.execute(select(Event.task_id, func.count()).where(Event.lifecycle == "fired")
                               .group_by(Event.task_id))
        return {str(task_id): int(n) for task_id, n in rows}


def leases_held(db: Db) -> int:
    with db.reading() as session:
        return sum(int(session.scalar(select(func.count()).select_from(model)
                                      .where(model.lease_owner.is_not(None))) or 0)
                   for model in (Job, OutboxMessage))


def registry_with(operator: str, handler: Handler) -> HandlerRegistry:
    """The handlers of the process model, with ``operator`` served by ``handler`` instead."""
    registry = HandlerRegistry()
    for name, original in HANDLERS:
        registry.register(name)(handler if name == operator else original)
    return registry




def run_retries_out(db: Db, runtime: Any, case_id: int, tmp_path: Path) -> int | None:
    """Let a worker run the case's failed task through all its retries, the clock jumping to each; the open
    incident it ends in (None if a retry succeeded)."""
    worker = Worker(db.sessions, runtime, deliverers=registry_from_env(tmp_path / "instance", {}),
                    worker_id="test-worker")
    for _ in range(store.RETRY_LIMIT + 1):
        with db.reading() as session:
            due = session.scalar(select(Job.due_at).where(Job.kind == "retry", Job.status == "pending",
                                                          Job.case_id == case_id))
            incident: int | None = session.scalar(select(Incident.id).where(Incident.resolved_at.is_(None),
                                                                           Incident.case_id == case_id))
        if incident is not None or due is None:
            return incident
        db.clock.advance_to(due)
        worker.run_once()
    raise AssertionError("no incident after the retries")
