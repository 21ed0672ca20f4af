"""``baozhuang incidents list|retry`` and incidents of cancelled cases, on SQLite and PostgreSQL: the list names the
case by its number, a retry tells what really happened (exit 1 when the task failed again), a retry refused for the
case's state is one ``error:`` line, and cancelling a case closes its incidents, saying so in its log."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import handlers
from runner import services, store
from runner.clock import SHANGHAI, shown_time
from runner.delivery import registry_from_env
from runner.models import Incident, Job
from runner.store import NotFoundError, Runtime
from runner.worker import Worker
from tests.db import Db, case_row, events, open_task, run_cli, start
from tests.worker_helpers import registry_with, run_retries_out

OUTAGE = "capacity service unavailable"
MESSAGE = f"service task assess_capacity (capacity_assessment) failed: {OUTAGE}."
"""The first line of the incident's message."""
STEP = "容量评估 (assess_capacity)"
"""The failed step as the list names it: its name in the BPMN, then its id."""
HEADER = ["times: Asia/Shanghai", "id\tcase\tstep\tstate\traised\tmessage"]


def listed_line(db: Db, incident: int, number: str, state: str) -> str:
    """The incident's line in ``incidents list``: id, case, step, state, when it was raised, message."""
    with db.reading() as session:
        row = session.get(Incident, incident)
        assert row is not None
        raised = shown_time(row.created_at)
    return f"{incident}\tcase {number}\t{STEP}\t{state}\t{raised}\t{MESSAGE}"


@pytest.fixture(autouse=True)
def _case_clock_not_behind_real_time(db: Db) -> None:
    # as in tests/test_worker.py: the commands run on the real clock, so the case clock must not be behind it
    db.clock.advance_to(datetime.now(SHANGHAI))


def unavailable(ctx: Any, **params: Any) -> dict[str, Any]:
    raise RuntimeError(OUTAGE)


def failing_runtime(db: Db) -> Runtime:
    runtime = Runtime(cache_dir=db.cache_dir, clock=db.clock, registry=registry_with("capacity_assessment",
                                                                                     unavailable))
    runtime.bundles.update(db.runtime.bundles)
    return runtime


def incident_of_a_new_case(db: Db, tmp_path: Path) -> tuple[str, int]:
    """A case whose capacity assessment failed through all its retries (run by the worker): its number and incident."""
    runtime = failing_runtime(db)
    number = start(db, "hv_ordinary", runtime=runtime)
    incident = run_retries_out(db, runtime, case_row(db, number).id, tmp_path)
    assert incident is not None
    return number, incident


def open_incidents(db: Db) -> list[int]:
    with db.reading() as session:
        return list(session.scalars(select(Incident.id).where(Incident.resolved_at.is_(None))))


def test_the_list_names_the_case_by_its_number(db: Db, tmp_path: Path) -> None:
    number, incident = incident_of_a_new_case(db, tmp_path)
    listed = run_cli(db, tmp_path / "cli", "incidents", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [*HEADER, listed_line(db, incident, number, "open")]


def test_a_retry_that_runs_through_says_so(db: Db, tmp_path: Path) -> None:
    number, incident = incident_of_a_new_case(db, tmp_path)
    retried = run_cli(db, tmp_path / "cli", "incidents", "retry", str(incident))  # the CLI's handler works
    assert retried.exit_code == 0, retried.output
    assert retried.output.strip() == f"incident {incident} retried: assess_capacity of case {number} ran through"
    assert open_incidents(db) == []
    open_task(db, number, "accept_application")


def test_a_retry_that_fails_again_says_when_it_is_retried_and_exits_1(db: Db, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    number, incident = incident_of_a_new_case(db, tmp_path)
    monkeypatch.setattr(handlers, "HANDLERS", tuple(
        (name, unavailable if name == "capacity_assessment" else handler) for name, handler in handlers.HANDLERS))
    retried = run_cli(db, tmp_path / "cli", "incidents", "retry", str(incident))
    assert retried.exit_code == 1 and isinstance(retried.exception, SystemExit), retried.output
    assert "Traceback" not in retried.output
    [line] = retried.output.splitlines()
    assert line.startswith(f"error: incident {incident} retried, but assess_capacity of case {number} failed again: "
                           f"{MESSAGE[:-1]}; the worker retries it at "), line
    with db.reading() as session:
        job = session.scalar(select(Job).where(Job.kind == "retry"))
        assert job is not None and (job.status, job.attempts) == ("pending", 0)
    assert open_incidents(db) == [incident]  # still broken: the incident stays open while the worker retries
    listed = run_cli(db, tmp_path / "cli", "incidents", "list")
    assert listed.exit_code == 0 and listed_line(db, incident, number, "open") in listed.output.splitlines()


def test_an_incident_retried_by_hand_is_resolved_when_an_automatic_retry_runs_through(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    number, incident = incident_of_a_new_case(db, tmp_path)

    def attempts_and_failed_runs() -> tuple[int, int]:
        with db.reading() as session:
            counted = session.get_one(Incident, incident).attempts
        return counted, sum(event.lifecycle == "failed" for event in events(db, number))

    assert attempts_and_failed_runs() == (4, 4)  # the first run and three retries, as the case history shows
    with caplog.at_level(logging.INFO, logger="baozhuang.admin"), db.transaction() as session:
        outcome = services.retry_incident(session, failing_runtime(db), incident, "supervisor.1")
    assert not outcome.ok  # fails again: stays open
    assert open_incidents(db) == [incident] and attempts_and_failed_runs() == (5, 5)
    retried = [event for event in events(db, number) if event.lifecycle == "retried"]
    assert [(event.element_id, event.user) for event in retried] == [("assess_capacity", "supervisor.1")]
    assert f"admin=supervisor.1 action=retry_incident incident={incident} case={number} outcome=failed_again" \
        in caplog.messages
    with db.reading() as session:
        due = session.scalar(select(Job.due_at).where(Job.kind == "retry", Job.status == "pending"))
    assert due is not None
    db.clock.advance_to(due)  # the service is back when the worker's retry runs
    Worker(db.sessions, db.runtime, deliverers=registry_from_env(tmp_path / "instance", {}),
           worker_id="test-worker").run_once()
    assert open_incidents(db) == []
    open_task(db, number, "accept_application")


def test_a_retry_whose_retries_are_spent_names_the_incident_still_open(db: Db, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    number, incident = incident_of_a_new_case(db, tmp_path)
    monkeypatch.setattr(store, "RETRY_LIMIT", 0)  # no retries left: the next failure is an incident at once
    with db.transaction() as session:
        outcome = services.retry_incident(session, failing_runtime(db), incident, "supervisor.1")
    assert open_incidents(db) == [incident]  # the one incident of the task, not a second one
    assert (outcome.ok, outcome.case_number, outcome.element_id) == (False, number, "assess_capacity")
    assert outcome.failures == [services.RetryFailure("assess_capacity", outcome.failures[0].message, None,
                                                      incident)]
    assert OUTAGE in outcome.failures[0].message


@pytest.mark.parametrize("status", ["suspended", "cancelled"])
def test_a_retry_of_a_case_that_is_not_running_is_one_error_line(db: Db, tmp_path: Path, status: str) -> None:
    number, incident = incident_of_a_new_case(db, tmp_path)
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, status, "supervisor.1")
    retried = run_cli(db, tmp_path / "cli", "incidents", "retry", str(incident))
    assert retried.exit_code == 1 and isinstance(retried.exception, SystemExit), retried.output
    expected = f"error: case {number} is suspended" if status == "suspended" else f"error: no open incident {incident}"
    assert retried.output.splitlines() == [expected]
    assert open_incidents(db) == ([incident] if status == "suspended" else [])


def test_cancelling_a_case_closes_its_incidents_and_logs_which(db: Db, tmp_path: Path) -> None:
    number, incident = incident_of_a_new_case(db, tmp_path)
    other_number, other_incident = incident_of_a_new_case(db, tmp_path)
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "cancelled", "supervisor.1", reason="客户撤回申请")
    assert open_incidents(db) == [other_incident]  # another case's incident stays open
    cancelled = events(db, number)[-1]
    assert (cancelled.lifecycle, cancelled.data) == ("cancelled", {"reason": "客户撤回申请",
                                                                   "closed_incidents": [incident]})
    listed = run_cli(db, tmp_path / "cli", "incidents", "list", "--all")
    assert listed_line(db, incident, number, "resolved") in listed.output.splitlines()
    assert listed_line(db, other_incident, other_number, "open") in listed.output.splitlines()
    with pytest.raises(NotFoundError), db.transaction() as session:
        services.retry_incident(session, db.runtime, incident, "supervisor.1")
