"""Claim as start: claiming a task logs ``started`` (unclaiming ``unclaimed``, a supervisor's assignment
``assigned``), so the exported logs have the real start of the work that completed the task."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from runner import audit, services
from runner.clock import parse_iso, to_iso
from runner.export import Kind, ProcessModel, Selection, activity_instances, iter_case_logs, write_csv
from tests.db import Db, complete, events, start
from tests.webui_helpers import task_of

AM = ("account_manager",)


def exported_rows(db: Db, number: str) -> dict[str, dict[str, str]]:
    out = io.StringIO()
    write_csv(iter_case_logs(db.sessions, Selection(case_numbers=(number,))), out)
    return {row["element_id"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}


def test_the_last_claim_is_the_start_of_the_work(db: Db) -> None:
    number = start(db)
    task = task_of(db, number, "accept_application")
    enabled_at = db.clock.now()
    db.clock.advance(timedelta(hours=1))
    with db.transaction() as session:
        services.claim_task(session, task, "am.1", AM, now=db.clock.now())
    db.clock.advance(timedelta(hours=2))
    with db.transaction() as session:
        services.unclaim_task(session, task, "am.1", now=db.clock.now())
    db.clock.advance(timedelta(hours=1))
    second_claim = db.clock.now()
    with db.transaction() as session:
        services.claim_task(session, task, "am.2", AM, now=second_claim)
        services.claim_task(session, task, "am.2", AM, now=second_claim + timedelta(minutes=1))  # own task again
    db.clock.advance(timedelta(minutes=30))
    complete(db, number, "accept_application", user="am.2")

    logged = [(e.lifecycle, e.user, e.role) for e in events(db, number) if e.task_id == task]
    assert logged == [("enabled", None, "account_manager"), ("started", "am.1", "account_manager"),
                      ("unclaimed", "am.1", "account_manager"), ("started", "am.2", "account_manager"),
                      ("completed", "am.2", "account_manager")]  # the claimer's completion logs no second start
    row = exported_rows(db, number)["accept_application"]
    assert row["enable_time"] == to_iso(enabled_at) and row["start_time"] == to_iso(second_claim)
    assert parse_iso(row["end_time"]) - parse_iso(row["start_time"]) == timedelta(minutes=30)
    assert row["resource"] == "am.2"
    with db.reading() as session:
        assert audit.verify(session).ok


def test_unclaimed_tasks_keep_a_zero_processing_time_and_assignment_starts_the_work(db: Db) -> None:
    number = start(db)
    db.clock.advance(timedelta(hours=1))
    complete(db, number, "accept_application", user="am.1")  # never claimed
    row = exported_rows(db, number)["accept_application"]
    assert row["start_time"] == row["end_time"]

    survey = task_of(db, number, "site_survey")
    with db.transaction() as session:
        services.claim_task(session, survey, "sv.1", ("surveyor",), now=db.clock.now())
    db.clock.advance(timedelta(hours=1))
    assigned_at = db.clock.now()
    with db.transaction() as session:
        services.assign_task(session, survey, "sv.2", by="supervisor.1", now=assigned_at)
    db.clock.advance(timedelta(hours=3))
    complete(db, number, "site_survey", user="sv.2")
    row = exported_rows(db, number)["site_survey"]
    assert row["start_time"] == to_iso(assigned_at) and row["resource"] == "sv.2"
    assigned = [e for e in events(db, number) if e.task_id == survey and e.lifecycle == "assigned"]
    assert assigned[0].user == "sv.2" and assigned[0].data == {"by": "supervisor.1", "previous": "sv.1"}


def test_pairing_takes_the_start_in_force_at_completion() -> None:
    from types import SimpleNamespace

    base = parse_iso("2026-11-26T09:00:00+08:00")
    rows = [("enabled", None, 0), ("started", "ann", 10), ("unclaimed", "ann", 20), ("started", "bob", 30),
            ("started", "bob", 50), ("completed", "bob", 50)]
    log = [SimpleNamespace(id=n, task_id="1", element_id="u", activity="u", lifecycle=lifecycle, role="r",
                           user=user, at=base + timedelta(minutes=minutes))
           for n, (lifecycle, user, minutes) in enumerate(rows, 1)]
    [instance] = activity_instances(log, ProcessModel({"u": Kind.HUMAN}, {}), case_ended=False)
    assert instance.started is not None and instance.started.seq == 4 and instance.resource == "bob"
    released = activity_instances(log[:3] + log[4:], ProcessModel({"u": Kind.HUMAN}, {}), case_ended=False)
    assert released[0].started is not None and released[0].started.seq == 5  # released: the completion's own
