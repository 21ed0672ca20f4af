"""What an operator of several workers meets (review "ops", second round), each on SQLite and on PostgreSQL.

- A worker stopped (SIGTERM) while its database is unreachable stops cleanly: it logs why it could not give its
  leases back (they expire) and ``stopped``, instead of dying with the release's error (exit 1, no ``stopped``).
- After a database outage the worker says once that the database is back, so the error lines have an end.
- Failed deliveries and failed jobs are logged at WARNING (tried again) and ERROR (given up), not INFO, so that a
  log collector can alert on levels.
- A webhook timeout that can outlast the lease is warned about when the worker starts.
- SQLite's "disk I/O error" on a disk without room (it cannot create its -wal/-shm files) is named a full disk,
  not an unreachable database.

The outage is the test database refusing every statement (a ``before_cursor_execute`` hook that raises the
driver-level ``OperationalError`` a dropped connection raises), switched on and off while a real worker runs.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from runner import environment, heartbeat
from runner import worker as worker_module
from runner.delivery import Delivery, lease_warning, registry_from_env
from runner.environment import database_problem
from runner.models import Job, OutboxMessage, WorkerHeartbeat
from runner.worker import Worker
from tests.db import Db, open_task, run_cli, start
from tests.worker_helpers import Receiver, put_messages

WAIT_LIMIT = 60.0
"""A guard against hanging, not a measurement."""


class Outage:
    """While ``on``, every statement of the test database's engine fails as on a dropped connection."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.on = False

    def _refuse(self, *_args: Any, **_kwargs: Any) -> None:
        if self.on:
            raise OperationalError("SELECT …", {}, ConnectionError("server closed the connection unexpectedly"))

    @contextmanager
    def installed(self) -> Iterator[Outage]:
        event.listen(self.db.engine, "before_cursor_execute", self._refuse)
        try:
            yield self
        finally:
            event.remove(self.db.engine, "before_cursor_execute", self._refuse)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def worker_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(record.levelno, record.getMessage()) for record in caplog.records if record.name == "baozhuang.worker"]


def make_worker(db: Db, tmp_path: Path, webhook: str | None = None, **options: Any) -> Worker:
    deliverers = registry_from_env(tmp_path / "instance", {"BAOZHUANG_WEBHOOK_URL": webhook} if webhook else {})
    return Worker(db.sessions, db.runtime, deliverers=deliverers, worker_id="ops2-worker", **options)


class RunningWorker:
    """A real ``Worker.run_forever`` in a thread, as ``baozhuang worker`` runs it, with a stop event for SIGTERM."""

    def __init__(self, db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        self.worker = make_worker(db, tmp_path, poll_seconds=0.05)
        self.caplog = caplog
        self.stop = threading.Event()
        self.escaped: list[BaseException] = []  # what would end `baozhuang worker` with exit 1 and an error line
        self.thread = threading.Thread(target=self._run, name="worker under test")

    def _run(self) -> None:
        try:
            self.worker.run_forever(self.stop)
        except BaseException as err:
            self.escaped.append(err)

    def count(self, text: str) -> int:
        return sum(1 for _level, line in worker_lines(self.caplog) if text in line)

    def wait_for_line(self, text: str, what: str, more_than: int = 0) -> None:
        wait_until(lambda: self.count(text) > more_than, what)

    @contextmanager
    def running(self) -> Iterator[RunningWorker]:
        self.thread.start()
        try:
            self.wait_for_line("started", "the worker to start")
            yield self
        finally:
            self.stop.set()
            self.thread.join(WAIT_LIMIT)
        assert not self.thread.is_alive()


def test_a_worker_stopped_during_a_database_outage_stops_cleanly(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang")
    runner = RunningWorker(db, tmp_path, caplog)
    with Outage(db).installed() as outage, runner.running():
        outage.on = True
        runner.wait_for_line("database error", "the worker to meet the outage")
        runner.stop.set()  # SIGTERM, while the database is away
        runner.thread.join(WAIT_LIMIT)

    assert runner.escaped == []  # the stop was clean: `baozhuang worker` exits 0
    lines = worker_lines(caplog)
    released = [(level, line) for level, line in lines if "could not release its leases" in line]
    assert len(released) == 1 and released[0][0] == logging.ERROR and "they expire after 60.0s" in released[0][1]
    assert lines[-1] == (logging.INFO, "worker=ops2-worker stopped")
    with db.reading() as session:  # the heartbeat row could not be marked stopped: it goes stale by itself
        assert session.get_one(WorkerHeartbeat, "ops2-worker").stopped_at is None


def test_a_worker_says_once_when_the_database_is_back_after_an_outage(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang")
    runner = RunningWorker(db, tmp_path, caplog)
    with Outage(db).installed() as outage, runner.running():
        outage.on = True
        runner.wait_for_line("database error", "the worker to meet the outage", more_than=1)
        outage.on = False
        runner.wait_for_line("database reachable again after", "the worker to see the database back")
        passes = runner.count("database error")
    assert runner.escaped == []
    back = [line for _level, line in worker_lines(caplog) if "database reachable again" in line]
    assert back == [f"worker=ops2-worker database reachable again after {passes} failed pass(es)"]
    with db.reading() as session:
        assert session.get_one(WorkerHeartbeat, "ops2-worker").stopped_at is not None  # a clean stop, recorded


def test_failed_deliveries_are_warnings_and_a_message_given_up_on_is_an_error(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang")
    [key] = put_messages(db, 1, channel="webhook", prefix="ops2")
    with Receiver(fail_first=10) as receiver:
        worker = make_worker(db, tmp_path, webhook=receiver.url, max_delivery_attempts=2)
        assert worker.run_once().messages == {"retry_later": 1}
        db.clock.advance(timedelta(hours=2))
        assert worker.run_once().messages == {"failed": 1}
    outcomes = [(level, line) for level, line in worker_lines(caplog) if f"key={key}" in line]
    assert [level for level, _line in outcomes] == [logging.WARNING, logging.ERROR]
    assert "outcome=retry_later" in outcomes[0][1] and "HTTP 500" in outcomes[0][1]
    assert "outcome=failed" in outcomes[1][1] and "gave up after 2 attempts" in outcomes[1][1]
    with db.reading() as session:
        assert session.scalar(select(OutboxMessage.status).where(OutboxMessage.idempotency_key == key)) == "failed"


def test_a_job_that_errors_is_a_warning_then_an_error_when_given_up(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang")
    start(db, "hv_ordinary")
    monkeypatch.setattr(worker_module, "JOB_ERROR_LIMIT", 2)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("handler bug")

    worker = make_worker(db, tmp_path)
    monkeypatch.setattr(worker, "_fire_timers", broken)
    db.clock.advance(timedelta(days=10))  # the SLA timer is due
    assert worker.run_once().jobs == {"rescheduled": 1}
    db.clock.advance(timedelta(hours=2))
    assert worker.run_once().jobs == {"failed": 1}
    runs = [(level, line) for level, line in worker_lines(caplog) if " kind=timer " in line]
    assert [level for level, _line in runs] == [logging.WARNING, logging.ERROR]
    assert "outcome=rescheduled" in runs[0][1] and "outcome=failed" in runs[1][1]


def test_a_webhook_timeout_that_can_outlast_the_lease_is_warned_about_at_start(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang")
    monkeypatch.setenv("BAOZHUANG_WEBHOOK_URL", "http://127.0.0.1:9/notify")
    monkeypatch.setenv("BAOZHUANG_WEBHOOK_TIMEOUT", "40")
    result = run_cli(db, tmp_path / "instance", "worker", "--once", "--lease-seconds", "60")
    assert result.exit_code == 0, result.output
    warned = [record for record in caplog.records if "is not below half of --lease-seconds" in record.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert "BAOZHUANG_WEBHOOK_TIMEOUT (40 s)" in warned[0].getMessage() and "(60 s)" in warned[0].getMessage()

    caplog.clear()
    monkeypatch.setenv("BAOZHUANG_WEBHOOK_TIMEOUT", "10")
    assert run_cli(db, tmp_path / "instance", "worker", "--once", "--lease-seconds", "60").exit_code == 0
    assert not [record for record in caplog.records if "--lease-seconds" in record.getMessage()]


def test_lease_warning_only_with_a_webhook_whose_timeout_reaches_half_the_lease() -> None:
    assert lease_warning(None, 3600, 60) is None  # no webhook: the log channel cannot hang
    assert lease_warning("http://gateway/sms", 10, 60) is None
    assert lease_warning("http://gateway/sms", 29.9, 60) is None
    assert lease_warning("http://gateway/sms", 30, 60) is not None


def _sqlite_error(message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))


def test_sqlite_disk_io_error_on_a_disk_without_room_is_a_full_disk(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/baozhuang.sqlite3"
    where = "the database at " + url
    assert database_problem(_sqlite_error("disk I/O error"), where, url) is None  # room enough: a real I/O error

    class Usage:
        free = 4096

    monkeypatch.setattr(environment.shutil, "disk_usage", lambda _folder: Usage())
    problem = database_problem(_sqlite_error("disk I/O error"), where, url)
    assert problem == (f"{where} cannot store data: the disk or the database is full (disk I/O error; 4096 bytes "
                       f"free in {tmp_path})")
    assert database_problem(_sqlite_error("disk I/O error"), "the database", "postgresql://h/db") is None


def test_a_long_pass_keeps_the_heartbeat_moving_so_a_busy_worker_is_not_reported_stale(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook that answers slowly makes one pass last minutes (a batch of 20 messages, up to the timeout each);
    the heartbeat used to move only at the start of a pass, so /healthz said ``stale`` (``degraded``) of a worker
    that was working. Here the in-pass interval is 0: every row of the pass beats first."""
    monkeypatch.setattr(worker_module, "BEAT_WITHIN_PASS_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="baozhuang")
    put_messages(db, 3, channel="slow", prefix="ops2-slow")
    seen: list[Any] = []
    runner = RunningWorker(db, tmp_path, caplog)

    def slow_gateway(_delivery: Delivery) -> None:  # what /healthz reads while the worker is in its pass
        with db.reading() as session:
            seen.append(session.get_one(WorkerHeartbeat, "ops2-worker").seen_at)
        db.clock.advance(timedelta(seconds=20))  # each delivery takes long (the test's heartbeats use this clock)
        if len(seen) == 3:
            runner.stop.set()

    runner.worker.deliverers.register("slow", slow_gateway)
    with runner.running():
        wait_until(lambda: len(seen) == 3, "three deliveries")
    assert runner.escaped == []
    assert [later - seen[0] for later in seen] == [timedelta(0), timedelta(seconds=20), timedelta(seconds=40)]


def _heartbeat_row(db: Db, host: str, pid: int) -> None:
    with db.transaction() as session:
        now = db.clock.now()
        session.add(WorkerHeartbeat(worker_id="ops2-worker", host=host, pid=pid, started_at=now - timedelta(hours=1),
                                    seen_at=now, stopped_at=None, poll_seconds=5.0))


def test_a_second_worker_under_the_id_of_a_live_one_refuses_to_start_and_touches_nothing(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two processes under one --worker-id (a copied unit file, a scaled deployment with a fixed id) share one set
    of leases: the second released the first one's leases at start and both could send one message. It now stops
    before it touches anything, naming the live process."""
    caplog.set_level(logging.INFO, logger="baozhuang")
    _heartbeat_row(db, "worker-host-b", 4242)  # alive: beat just now, from another host
    put_messages(db, 2, prefix="ops2-dup")
    with db.transaction() as session:  # the live worker holds the messages
        session.execute(OutboxMessage.__table__.update().values(lease_owner="ops2-worker",
                                                               lease_until=db.clock.now() + timedelta(minutes=1)))
    runner = RunningWorker(db, tmp_path, caplog)
    runner.thread.start()
    runner.thread.join(WAIT_LIMIT)
    if runner.thread.is_alive():  # it started after all: stop it, then fail below
        runner.stop.set()
        runner.thread.join(WAIT_LIMIT)
    assert [type(err) for err in runner.escaped] == [heartbeat.WorkerIdInUse]
    assert str(runner.escaped[0]).startswith("worker id 'ops2-worker' is in use by pid 4242 on worker-host-b")
    assert runner.count("started") == 0 and runner.count("released") == 0
    with db.reading() as session:
        assert session.get_one(WorkerHeartbeat, "ops2-worker").host == "worker-host-b"
        assert set(session.scalars(select(OutboxMessage.lease_owner))) == {"ops2-worker"}


def test_a_worker_restarted_under_its_id_after_a_crash_takes_it_back_at_once(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid of this host that no longer runs: the crashed worker
    _heartbeat_row(db, socket.gethostname()[:120], gone.pid)
    runner = RunningWorker(db, tmp_path, caplog)
    with runner.running():
        pass
    assert runner.escaped == []
    with db.reading() as session:
        row = session.get_one(WorkerHeartbeat, "ops2-worker")
        assert row.pid == os.getpid() and row.stopped_at is not None


def test_a_connection_lost_inside_a_job_releases_it_without_counting_an_error_against_it(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database restart under load: the connection breaks inside a job, the driver's error is met (and swallowed)
    inside the case's run, and the job's next statement says ``PendingRollbackError``. That used to count as the
    job's own error (backoff, and after ``JOB_ERROR_LIMIT`` restarts the timer was marked failed, never to fire);
    it is a lost connection: the job is released and runs on the next pass."""
    caplog.set_level(logging.INFO, logger="baozhuang")
    number = start(db, "hv_ordinary")
    db.clock.advance(timedelta(days=10))  # the SLA timer is due
    worker = make_worker(db, tmp_path)
    fire = worker._fire_timers

    def connection_lost(session: Any, *args: Any) -> None:
        session.connection().invalidate()  # what a server restart does to the job's connection
        fire(session, *args)

    monkeypatch.setattr(worker, "_fire_timers", connection_lost)
    assert worker.run_once().jobs == {"released": 1}
    with db.reading() as session:
        job = session.scalars(select(Job).where(Job.kind == "timer", Job.status == "pending")).one()
        assert (job.attempts, job.lease_owner, job.last_error) == (0, None, None)
    [line] = [(level, text) for level, text in worker_lines(caplog) if " kind=timer " in text]
    assert line[0] == logging.WARNING and "outcome=released database connection lost" in line[1]

    monkeypatch.setattr(worker, "_fire_timers", fire)
    assert worker.run_once().jobs == {"done": 1}  # the database is back: the timer fires on the next pass
    open_task(db, number, "supervise_breach")
