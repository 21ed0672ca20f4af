"""The worker (``runner.worker``, ``baozhuang worker``), each test on SQLite and on PostgreSQL (the ``db`` fixture).

In-process tests drive a ``Worker`` on the test database's virtual clock. Subprocess tests run ``baozhuang worker``
with ``BAOZHUANG_CLOCK_OFFSET_DAYS`` = 30, so the SLA timer of every case the test starts is due for them.
Nothing here measures wall-clock time; waits only guard against hanging.
"""

from __future__ import annotations

import json
import logging
import signal
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from runner import audit, outbox_admin, services
from runner import worker as worker_module
from runner.clock import SHANGHAI, shown_time
from runner.delivery import registry_from_env
from runner.models import Job, OpenTask, OutboxMessage
from runner.store import Runtime
from runner.worker import Worker
from tests.db import Db, advance_to, complete, events, fire_due_timers, open_task, open_tasks, run_cli, sample, start
from tests.worker_helpers import (
    Receiver,
    fired_per_timer,
    insert_noop_jobs,
    job_status_counts,
    leases_held,
    put_messages,
    registry_with,
    wait_for,
    worker_process,
)

NOOP_JOBS = 3000
"""Jobs for the two-worker test (plus one SLA timer job per case it starts)."""


@pytest.fixture(autouse=True)
def _case_clock_not_behind_real_time(db: Db) -> None:
    # SpiffWorkflow also fires a timer on its own once the *real* clock has passed the deadline. With the case clock
    # at or after the real time, timers fire only through the case clock, i.e. through the worker.
    db.clock.advance_to(datetime.now(SHANGHAI))


def make_worker(db: Db, tmp_path: Path, runtime: Runtime | None = None, webhook: str | None = None,
                **options: Any) -> Worker:
    environ = {"BAOZHUANG_WEBHOOK_URL": webhook} if webhook else {}
    deliverers = registry_from_env(tmp_path / "instance", environ)
    options.setdefault("worker_id", "test-worker")
    return Worker(db.sessions, runtime or db.runtime, deliverers=deliverers, **options)


def outbox_rows(db: Db) -> dict[str, OutboxMessage]:
    with db.reading() as session:
        return {row.idempotency_key: row for row in session.scalars(select(OutboxMessage))}


# -- in process, on the virtual clock ----------------------------------------------------------------------------


def test_due_timers_fire_once_and_their_jobs_are_done(db: Db, tmp_path: Path) -> None:
    numbers = [start(db, "hv_ordinary"), start(db, "lv_residential")]
    with db.transaction() as session:  # a job whose timer no longer waits (e.g. its task completed meanwhile)
        case_id = session.scalar(select(OpenTask.case_id).where(OpenTask.case_number == numbers[0]))
        session.execute(insert(Job).values(kind="timer", case_id=case_id, task_id="gone", element_id="timer_x",
                                           due_at=db.clock.now(), status="pending", attempts=0))
    worker = make_worker(db, tmp_path)

    assert worker.run_once().jobs == {"done": 1}  # the stale one; the SLA timers are not due yet
    assert worker.run_once().idle
    db.clock.advance(timedelta(days=10))
    counts = worker.run_once()

    assert counts.jobs_claimed == 2 and counts.jobs == {"done": 2}
    assert worker.run_once().idle
    fired = fired_per_timer(db)
    assert len(fired) == 2 and set(fired.values()) == {1}
    for number in numbers:
        open_task(db, number, "supervise_breach")  # the escalation reached the supervisor
    assert job_status_counts(db, "timer") == {"done": 3, "pending": 2}  # pending: each 督办's own deadline
    assert leases_held(db) == 0


def test_a_timer_past_due_when_another_branch_runs_the_engine_fires_there_logged_and_its_job_done(
        db: Db, tmp_path: Path) -> None:
    """The worker did not come before a timer's deadline (down, or behind), and a completion on another branch ran
    the engine, which fires every past-due timer: it is logged ``fired`` as the worker logs it, its job is done (not
    cancelled), and the worker has nothing left to fire."""
    number = start(db, "hv_ordinary", has_property_proof=False,  # 一证受理: the proof is handed in beside the main path
                   provided_materials=[m for m in sample("hv_ordinary")["application"]["provided_materials"]
                                       if m != "property_proof"])
    needs_proof = {"one_certificate": True, "commitment_signed": True}
    complete(db, number, "accept_application", user="account_manager.1", extra=needs_proof)
    assert {"site_survey", "submit_property_proof"} <= {task.element_id for task in open_tasks(db, number)}
    db.clock.advance(timedelta(days=30))  # past the survey's SLA deadline; no worker ran
    complete(db, number, "submit_property_proof", user="customer")
    fired = fired_per_timer(db)
    assert fired and set(fired.values()) == {1}
    with db.reading() as session:
        statuses = dict(session.execute(select(Job.task_id, Job.status).where(Job.task_id.in_(fired))).all())
    assert statuses == dict.fromkeys(fired, "done")
    open_task(db, number, "supervise_breach")  # the escalation reached the supervisor
    make_worker(db, tmp_path).run_once()
    assert fired_per_timer(db) == fired  # nothing fired twice


def test_a_timer_put_off_while_its_case_was_suspended_fires_on_the_first_pass_after_resuming(
        db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary")
    db.clock.advance(timedelta(days=10))  # past the acceptance deadline before the suspension: the pause keeps it
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "suspended", "supervisor.1", "客户要求暂缓")
    worker = make_worker(db, tmp_path)
    assert worker.run_once().jobs == {"rescheduled": 1}  # put off by SUSPENDED_RECHECK
    assert fired_per_timer(db) == {}
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "running", "supervisor.1")
    assert worker.run_once().jobs == {"done": 1}  # at once, not SUSPENDED_RECHECK later
    assert set(fired_per_timer(db).values()) == {1}
    open_task(db, number, "supervise_breach")


def test_timers_due_together_fire_in_one_run_and_all_their_jobs_are_done(db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_important")
    advance_to(db, number, "submit_design")  # the plan's expiry reminder and expiry timers wait
    db.clock.advance(timedelta(days=400))

    counts = make_worker(db, tmp_path).run_once()

    assert counts.jobs == {"done": 1, "skipped": 1}  # the second job's timer was fired by the first job's run
    assert job_status_counts(db, "timer") == {"done": 2, "cancelled": 2}  # (acceptance, plan reply: met in time)
    fired = fired_per_timer(db)
    assert len(fired) == 2 and set(fired.values()) == {1}
    open_task(db, number, "handle_plan_expiry")


def test_a_crash_before_commit_leaves_the_job_to_run_once_after_the_lease(
        db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start(db, "hv_ordinary")
    db.clock.advance(timedelta(days=10))
    crashing = make_worker(db, tmp_path, worker_id="crashing", lease_seconds=60)

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise SystemExit("killed before commit")  # not an Exception: nothing in the worker handles it

    monkeypatch.setattr(worker_module, "save_case", die)
    with pytest.raises(SystemExit):
        crashing.run_once()
    monkeypatch.undo()

    assert fired_per_timer(db) == {}  # rolled back with the transaction
    other = make_worker(db, tmp_path, worker_id="other")
    assert other.run_once().idle  # the crashed worker's lease still holds
    db.clock.advance(timedelta(seconds=61))
    assert other.run_once().jobs == {"done": 1}
    assert list(fired_per_timer(db).values()) == [1]
    assert other.run_once().idle


def test_a_failing_service_task_is_retried_with_backoff_then_becomes_an_incident(db: Db, tmp_path: Path) -> None:
    def unavailable(ctx: Any, **params: Any) -> dict[str, Any]:
        raise RuntimeError("capacity service unavailable")

    runtime = Runtime(cache_dir=db.cache_dir, clock=db.clock,
                      registry=registry_with("capacity_assessment", unavailable))
    runtime.bundles.update(db.runtime.bundles)
    number = start(db, "hv_ordinary", runtime=runtime)
    worker = make_worker(db, tmp_path, runtime=runtime)

    def retry_job() -> Job:
        with db.reading() as session:
            job = session.scalar(select(Job).where(Job.kind == "retry"))
            assert job is not None
            return job

    job = retry_job()
    assert (job.status, job.attempts, job.element_id) == ("pending", 0, "assess_capacity")
    assert abs((job.due_at - db.clock.now()).total_seconds() - 60) < 1
    assert worker.run_once().idle  # backing off
    for attempts, backoff in ((1, 300), (2, 1800)):
        db.clock.advance_to(job.due_at)
        assert worker.run_once().jobs == {"rescheduled": 1}
        job = retry_job()
        assert (job.status, job.attempts) == ("pending", attempts)
        assert abs((job.due_at - db.clock.now()).total_seconds() - backoff) < 1
    db.clock.advance_to(job.due_at)
    assert worker.run_once().jobs == {"incident": 1}
    job = retry_job()
    assert (job.status, job.attempts, job.lease_owner) == ("failed", 3, None)
    assert open_tasks(db, number) == []  # the case waits on the failed task

    instance = tmp_path / "cli"
    listed = run_cli(db, instance, "incidents", "list")
    assert listed.exit_code == 0, listed.output
    incident_id, _case, step, state, _raised, message = listed.output.splitlines()[-1].split("\t")
    assert (step, state) == ("容量评估 (assess_capacity)", "open") and "capacity service unavailable" in message
    retried = run_cli(db, instance, "incidents", "retry", incident_id)  # the CLI has the working handler
    assert retried.exit_code == 0, retried.output
    assert run_cli(db, instance, "incidents", "list").output.strip() == "no incidents"
    open_task(db, number, "accept_application")
    assert retry_job().status == "done"
    assert worker.run_once().idle


def test_a_failed_webhook_delivery_is_retried_later_under_the_same_key(db: Db, tmp_path: Path) -> None:
    keys = put_messages(db, 1)
    with Receiver(fail_first=1) as receiver:
        worker = make_worker(db, tmp_path, webhook=receiver.url)
        assert worker.run_once().messages == {"retry_later": 1}
        row = outbox_rows(db)[keys[0]]
        assert (row.status, row.attempts, row.lease_owner) == ("pending", 1, None)
        assert row.next_attempt_at > db.clock.now() and "HTTP 500" in (row.last_error or "")
        assert worker.run_once().idle  # backing off
        db.clock.advance(timedelta(hours=1))
        assert worker.run_once().messages == {"delivered": 1}
    assert receiver.arrivals == keys * 2 and receiver.processed == keys
    body = receiver.bodies[keys[0]]
    assert (body["idempotency_key"], body["channel"], body["payload"]["params"]) == (keys[0], "sms", {"n": keys[0]})
    row = outbox_rows(db)[keys[0]]
    assert (row.status, row.attempts, row.lease_owner) == ("delivered", 2, None)


def test_log_channel_and_giving_up_on_an_undeliverable_message(db: Db, tmp_path: Path) -> None:
    logged = put_messages(db, 1, channel="log", prefix="log") + put_messages(db, 1, channel="sms", prefix="sms")
    (undeliverable,) = put_messages(db, 1, channel="fax", prefix="fax")
    worker = make_worker(db, tmp_path, max_delivery_attempts=2)  # no webhook: sms goes to the log

    assert worker.run_once().messages == {"delivered": 2, "retry_later": 1}
    lines = (tmp_path / "instance" / "outbox.log").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["idempotency_key"] for line in lines) == sorted(logged)
    db.clock.advance(timedelta(hours=1))
    assert worker.run_once().messages == {"failed": 1}
    row = outbox_rows(db)[undeliverable]
    assert (row.status, row.attempts, row.lease_owner) == ("failed", 2, None)
    assert "no deliverer for channel 'fax'" in (row.last_error or "")
    db.clock.advance(timedelta(days=1))
    assert worker.run_once().idle


# -- worker subprocesses -----------------------------------------------------------------------------------------


def test_sigkill_mid_batch_then_restart_runs_every_job_once_and_acts_on_every_key_once(
        db: Db, tmp_path: Path) -> None:
    numbers = [start(db, "hv_ordinary") for _ in range(15)]  # one SLA timer job each, due for the workers
    keys = put_messages(db, 25)
    instance = tmp_path / "instance"
    options = ("--batch", "4", "--lease-seconds", "1", "--poll-seconds", "0.1")

    with Receiver(delay=0.05) as receiver:  # slow enough that messages are left for the second worker
        # 1. SIGKILL while the worker runs its batches of timer jobs.
        with worker_process(db, instance, tmp_path / "first.log", *options, webhook=receiver.url) as first:
            wait_for(lambda: len(first.jobs_done()) >= 6, "6 timer jobs done", first)
            first.kill()
        # 2. SIGKILL inside a delivery: the receiver has acted on the message, the worker never records that.
        with worker_process(db, instance, tmp_path / "second.log", *options, webhook=receiver.url) as second:
            killed_at = len(receiver.arrivals) + 1
            receiver.on_arrival(killed_at, second.kill)
            wait_for(lambda: second.process.poll() is not None, "the second worker to be killed in a delivery")
        killed_key = receiver.arrivals[killed_at - 1]
        row = outbox_rows(db)[killed_key]
        assert row.status == "pending" and row.lease_owner is not None  # delivered, not recorded, still leased
        # 3. A third worker takes over once the dead workers' leases have expired, then stops on SIGTERM.
        with worker_process(db, instance, tmp_path / "third.log", *options, webhook=receiver.url) as third:
            wait_for(lambda: job_status_counts(db, "timer") == {"done": len(numbers), "pending": len(numbers)}
                     and {row.status for row in outbox_rows(db).values()} == {"delivered"},
                     "every job done and every message delivered", third)
            assert third.stop(signal.SIGTERM) == 0

    fired = fired_per_timer(db)
    assert len(fired) == len(numbers) and set(fired.values()) == {1}  # every timer fired exactly once
    for number in numbers:
        open_task(db, number, "supervise_breach")
    # At least once + idempotency key = effectively once: the receiver acted on every key exactly once, although
    # raw arrivals repeat keys (at least the one in flight when the second worker died). Raw duplicates are allowed.
    assert sorted(receiver.processed) == sorted(keys)
    assert receiver.arrivals.count(killed_key) >= 2 and set(receiver.arrivals) == set(keys)
    assert leases_held(db) == 0
    with db.reading() as session:
        assert audit.verify(session).ok


def test_two_workers_share_thousands_of_jobs_none_runs_twice_none_is_missed(db: Db, tmp_path: Path) -> None:
    numbers = [start(db, "lv_residential") for _ in range(30)]
    instance = tmp_path / "instance"
    options = ("--batch", "50", "--lease-seconds", "30", "--poll-seconds", "0.05")
    with worker_process(db, instance, tmp_path / "one.log", *options, "--worker-id", "one") as one, \
            worker_process(db, instance, tmp_path / "two.log", *options, "--worker-id", "two") as two:
        wait_for(lambda: "started" in one.log() and "started" in two.log(), "both workers to start", one, two)
        insert_noop_jobs(db, NOOP_JOBS)
        total = NOOP_JOBS + len(numbers)  # the 督办 each fired timer opens waits for its own deadline (pending)
        wait_for(lambda: job_status_counts(db) == {"done": total, "pending": len(numbers)}, f"{total} jobs done",
                 one, two, progress=lambda: job_status_counts(db).get("done", 0))
        assert one.stop(signal.SIGTERM) == 0 and two.stop(signal.SIGTERM) == 0

    done_one, done_two = one.jobs_done(), two.jobs_done()
    with db.reading() as session:
        all_ids = set(session.scalars(select(Job.id).where(Job.status == "done")))
    assert len(done_one) + len(done_two) == total  # no job ran twice …
    assert set(done_one) | set(done_two) == all_ids  # … and none was missed
    assert done_one and done_two  # both took part
    fired = fired_per_timer(db)
    assert len(fired) == len(numbers) and set(fired.values()) == {1}
    assert leases_held(db) == 0


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_finishes_the_delivery_in_hand_releases_the_rest_and_exits_0(
        db: Db, tmp_path: Path, signal_number: int) -> None:
    keys = put_messages(db, 10)
    with Receiver(delay=0.1) as receiver, worker_process(
            db, tmp_path / "instance", tmp_path / "worker.log", "--batch", "10", "--lease-seconds", "60",
            webhook=receiver.url) as worker:
        receiver.on_arrival(1, lambda: worker.process.send_signal(signal_number))
        wait_for(lambda: worker.process.poll() is not None, "the worker to exit")
        assert worker.process.returncode == 0, worker.log()

    assert receiver.arrivals == keys[:1]
    rows = outbox_rows(db)
    assert rows[keys[0]].status == "delivered"  # the delivery in hand was finished and recorded
    assert {(row.status, row.attempts) for key, row in rows.items() if key != keys[0]} == {("pending", 0)}
    assert leases_held(db) == 0
    assert "released 9 outbox lease(s)" in worker.log()


def test_worker_once_runs_one_pass_from_the_command_line(db: Db, tmp_path: Path) -> None:
    keys = put_messages(db, 2, channel="log")
    instance = tmp_path / "cli"

    result = run_cli(db, instance, "worker", "--once", "--batch", "5")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "jobs claimed=0; outbox claimed=2 delivered=2"
    lines = (instance / "outbox.log").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["idempotency_key"] for line in lines] == keys
    assert {row.status for row in outbox_rows(db).values()} == {"delivered"}


def test_a_message_given_up_on_is_listed_counted_and_sent_again_under_its_key(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (key,) = put_messages(db, 1, prefix="survey")
    instance = tmp_path / "instance"
    with Receiver(fail_first=2) as receiver:  # the SMS gateway is down for two attempts
        worker = make_worker(db, tmp_path, webhook=receiver.url, max_delivery_attempts=2)
        assert worker.run_once().messages == {"retry_later": 1}
        db.clock.advance(timedelta(hours=1))
        assert worker.run_once().messages == {"failed": 1}
        row = outbox_rows(db)[key]
        listed = run_cli(db, instance, "outbox", "list")
        assert listed.exit_code == 0 and listed.output.splitlines()[2].startswith(f"{row.id}\t-\t客户 (customer)\t")
        assert row.last_attempt_at == db.clock.now()  # the second attempt ran an hour after the first
        assert f"\t2\t{shown_time(db.clock.now())}\tDeliveryError: webhook answered HTTP 500" in listed.output
        with db.reading() as session:
            assert outbox_admin.failed_count(session) == 1
        refused = run_cli(db, instance, "outbox", "retry")
        assert refused.exit_code == 2 and "give message ids or --all-failed" in refused.output
        with caplog.at_level(logging.INFO, logger="baozhuang.admin"):
            again = run_cli(db, instance, "outbox", "retry", "--all-failed", "--user", "wang.fang")
        assert again.exit_code == 0 and again.output == "1 message(s) to be sent again\n"
        assert "admin=wang.fang action=send_message_again message=all count=1" in caplog.messages
        assert worker.run_once().messages == {"delivered": 1}
    assert receiver.arrivals == [key] * 3 and receiver.processed == [key]  # one key throughout
    assert run_cli(db, instance, "outbox", "list").output == "no failed messages\n"


def test_a_worker_catching_up_sends_no_expiry_reminder_after_the_expiry(db: Db) -> None:
    number = start(db, "hv_important")
    advance_to(db, number, "submit_design")  # the plan is signed: reminder at 11 months, expiry at a year
    db.clock.advance(timedelta(days=420))  # the worker was down: both are due in one pass
    assert fire_due_timers(db, number) >= 2
    with db.reading() as session:
        templates = set(session.scalars(select(OutboxMessage.template).where(OutboxMessage.case_number == number)))
    assert "plan_expiry_reminder" not in templates
    ran = [(e.element_id, e.lifecycle) for e in events(db, number)]
    assert ("notify_plan_expiry", "completed") in ran and ("handle_plan_expiry", "enabled") in ran
