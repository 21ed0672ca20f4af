"""Review fixes of ``baozhuang export-log``: every row and trace says which process version its case runs, XES
offers the element id as a classifier (a renamed step stays one activity), and ``--out`` creates missing folders
as the other commands with ``--out`` do, and says so in its help."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from click.testing import CliRunner
from lxml import etree
from sqlalchemy import select

from runner import migration, services
from runner.cli import main
from runner.clock import to_iso
from runner.export import (
    CaseLog,
    Kind,
    ProcessModel,
    Selection,
    activity_instances,
    csv_rows,
    iter_case_logs,
    write_csv,
    write_xes,
    xes_events,
)
from runner.models import Case as CaseRow
from runner.models import ProcessVersion
from tests import db as tests_db
from tests.db import Db
from tests.test_export import XES, Log, attributes, cli, log, synthetic  # noqa: F401 (the module's shared log fixture)
from tests.test_migration import deploy_folder, deployed_files, renamed


def version_of(exported: Log, number: str) -> str:
    with exported.sessions.begin() as session:
        version = session.scalar(select(ProcessVersion).join(CaseRow, CaseRow.version_id == ProcessVersion.id)
                                 .where(CaseRow.case_number == number))
        assert version is not None
        return f"{version.id} ({version.version_hash[:12]})"


def test_each_csv_row_names_the_process_version_of_its_case(log: Log) -> None:  # noqa: F811
    out = io.StringIO()
    write_csv(iter_case_logs(log.sessions, Selection((log.finished,))), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows and {row["process_version"] for row in rows} == {version_of(log, log.finished)}


def test_each_xes_trace_names_its_process_version_and_the_element_id_is_a_classifier(log: Log) -> None:  # noqa: F811
    out = io.BytesIO()
    write_xes(iter_case_logs(log.sessions, Selection((log.finished,))), out)
    root = etree.fromstring(out.getvalue())
    [trace] = root.findall(f"{XES}trace")
    assert attributes(trace)["process_version"] == version_of(log, log.finished)
    classifiers = {c.get("name"): c.get("keys") for c in root.findall(f"{XES}classifier")}
    assert classifiers["Element"] == "element_id"


def test_out_creates_missing_folders_and_its_help_says_so(log: Log, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "not" / "there" / "log.csv"
    result = cli(log, "--format", "csv", "--out", str(out), "--case", log.finished)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    help_text = " ".join(CliRunner().invoke(main, ["export-log", "--help"]).output.split())
    assert "missing folders on its path are created" in help_text


# -- the process-mining review: lifecycle transitions, suspensions, waits, renamed steps, equal times ---------------
# (a real history on both databases, then the pairing on synthetic events)


def xes_steps(root: Any, number: str) -> list[dict[str, str]]:
    [trace] = [t for t in root.findall(f"{XES}trace") if attributes(t)["concept:name"] == number]
    return [{a.get("key"): a.get("value") for a in event} for event in trace.findall(f"{XES}event")]


def exported(db: Db, *numbers: str) -> tuple[list[dict[str, str]], Any]:
    selection = Selection(numbers)
    text = io.StringIO()
    write_csv(iter_case_logs(db.sessions, selection), text)
    binary = io.BytesIO()
    write_xes(iter_case_logs(db.sessions, selection), binary)
    return list(csv.DictReader(io.StringIO(text.getvalue()))), etree.fromstring(binary.getvalue())


def set_status(db: Db, number: str, status: str) -> None:
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, status, "supervisor.1")


def claim(db: Db, number: str, element_id: str, user: str) -> None:
    task = tests_db.open_task(db, number, element_id)
    with db.transaction() as session:
        services.claim_task(session, task.id, user, now=db.clock.now(), runtime=db.runtime)


def test_a_suspended_renamed_case_with_a_message_wait_and_a_cancelled_one(db: Db, tmp_path: Path) -> None:
    number = tests_db.start(db, "lv_other")
    tests_db.advance_to(db, number, "review_plan")
    db.clock.advance(timedelta(hours=1))
    set_status(db, number, "suspended")
    suspended_at = db.clock.now()
    db.clock.advance(timedelta(hours=50))
    set_status(db, number, "running")
    resumed_at = db.clock.now()
    new = deploy_folder(db, renamed(deployed_files(db, tmp_path / "v1"), tmp_path / "v2",
                                    "review_plan", "审核供电方案", "审核供电方案（含复核）"))
    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id), case_numbers=[number])
    assert outcome.result == "migrated", outcome.reason
    db.clock.advance(timedelta(hours=1))
    claim(db, number, "review_plan", "plan_reviewer.1")
    assert tests_db.drive_case_to_end(db, number).completed

    cancelled = tests_db.start(db, "lv_other")
    tests_db.advance_to(db, cancelled, "review_plan")
    db.clock.advance(timedelta(hours=1))
    claim(db, cancelled, "review_plan", "plan_reviewer.1")  # started, then the whole case is cancelled
    db.clock.advance(timedelta(hours=1))
    set_status(db, cancelled, "cancelled")

    rows, root = exported(db, number, cancelled)
    steps = xes_steps(root, number)

    # 4. the step under the name it had when it ran (its last event's), in CSV and in every XES event
    [review] = [r for r in rows if r["case_id"] == number and r["element_id"] == "review_plan"]
    assert review["activity"] == "审核供电方案（含复核）"
    review_steps = [s for s in steps if s["element_id"] == "review_plan"]
    assert {s["concept:name"] for s in review_steps} == {"审核供电方案（含复核）"}

    # 2. the suspension: suspend and resume of the open step, at the case's suspension and resumption
    assert [s["lifecycle:transition"] for s in review_steps] == ["schedule", "suspend", "resume", "start", "complete"]
    assert [s["time:timestamp"] for s in review_steps[1:3]] == [to_iso(suspended_at), to_iso(resumed_at)]
    assert len({s["concept:instance"] for s in review_steps}) == 1
    assert [s["element_id"] for s in steps if s["lifecycle:transition"] in ("suspend", "resume")] == [
        "review_plan", "review_plan"]  # nothing else was open

    # 3. a message wait has no start: CSV starts it when it ends, the wait is waiting time as in XES
    [wait] = [r for r in rows if r["case_id"] == number and r["element_id"] == "wait_meter_online"]
    [installed] = [r for r in rows if r["case_id"] == number and r["element_id"] == "install_meter"]
    assert wait["enable_time"] == installed["end_time"] < wait["start_time"] == wait["end_time"]
    assert [s["lifecycle:transition"] for s in steps if s["element_id"] == "wait_meter_online"] == [
        "schedule", "complete"]

    # 6c. at one moment the installation's completion comes before the wait it enabled
    order = [(s["element_id"], s["lifecycle:transition"]) for s in steps]
    assert order.index(("install_meter", "complete")) < order.index(("wait_meter_online", "schedule"))
    assert steps[order.index(("install_meter", "complete"))]["time:timestamp"] == installed["end_time"]

    # 1. a step withdrawn before it started (the loser of the 回访 race) is withdrawn, not aborted; the cancelled
    # case's open step ends in pi_abort, started or not
    ends = [(s["element_id"], s["lifecycle:transition"]) for s in steps
            if s["lifecycle:transition"] in ("withdraw", "ate_abort", "pi_abort")]
    assert len(ends) == 1 and ends[0][0] in ("customer_survey", "followup_call") and ends[0][1] == "withdraw"
    assert [s["lifecycle:transition"] for s in xes_steps(root, cancelled) if s["element_id"] == "review_plan"] == [
        "schedule", "start", "pi_abort"]
    assert not [r for r in rows if r["case_id"] == cancelled and r["element_id"] == "review_plan"]

    # 6b. the Element classifier's key is a declared global event attribute
    [event_globals] = [g for g in root.findall(f"{XES}global") if g.get("scope") == "event"]
    assert "element_id" in attributes(event_globals)


MODEL = ProcessModel({"u": Kind.HUMAN, "v": Kind.HUMAN, "s": Kind.ENGINE, "w": Kind.WAIT}, {"w": ("s",)})


def transitions(events: list[SimpleNamespace], status: str) -> list[tuple[str, str, str]]:
    case_log = CaseLog("C", status, None, None, None,
                       activity_instances(events, MODEL, status in ("completed", "cancelled"), status == "cancelled"))
    return [(instance.instance_id, transition, instance.activity)
            for _stamp, transition, instance in xes_events(case_log)]


def test_withdrawn_aborted_and_cancelled_instances_end_in_their_own_transitions() -> None:
    events = synthetic(
        ("1", "u", "enabled", None, "0"), ("2", "v", "enabled", None, "0"), ("1", "u", "started", "ann", "10"),
        ("3", "u", "enabled", None, "10"), ("3", "u", "started", "bob", "15"), ("3", "u", "unclaimed", "bob", "20"),
        ("2", "v", "cancelled", None, "30"),  # withdrawn before anyone took it up
        ("1", "u", "cancelled", None, "30"),  # withdrawn while ann worked on it
    )
    ended = [(task, transition) for task, transition, _ in transitions(events, "completed")
             if transition not in ("schedule", "start")]
    assert ended == [("2", "withdraw"), ("1", "ate_abort"), ("3", "withdraw")]  # 3 was given back: not started
    cancelled = [*events[:-2], SimpleNamespace(id=99, task_id=None, element_id="case", activity="case",
                                               lifecycle="cancelled", role=None, user="boss", at=events[-1].at)]
    ended = [(task, transition) for task, transition, _ in transitions(cancelled, "cancelled")
             if transition not in ("schedule", "start")]
    assert sorted(ended) == [("1", "pi_abort"), ("2", "pi_abort"), ("3", "pi_abort")]


def test_a_suspension_suspends_the_open_instances_only_and_names_follow_the_last_event() -> None:
    events = synthetic(
        ("1", "u", "enabled", None, "0"), ("2", "s", "completed", None, "5"),
        (None, "case", "suspended", "boss", "10"), (None, "case", "running", "boss", "20"),
        ("1", "u", "started", "ann", "30"), ("4", "w", "completed", None, "35"),
        (None, "case", "suspended", "boss", "40"),  # still suspended: no resume
    )
    events[4].activity = events[5].activity = "u（新）"  # renamed by a migration before it started
    steps = transitions(events, "running")
    assert [s for s in steps if s[0] == "1"] == [("1", t, "u（新）") for t in (
        "schedule", "suspend", "resume", "start", "suspend")]
    # the message wait was open during the first suspension (since s completed) and not during the second
    assert [t for task, t, _ in steps if task == "4"] == ["schedule", "suspend", "resume", "complete"]
    assert [t for task, t, _ in steps if task == "2"] == ["complete"]


def test_the_csv_starts_a_wait_when_it_ends_and_xes_orders_equal_times_causally() -> None:
    events = synthetic(("1", "s", "completed", None, "0"), ("2", "w", "completed", None, "60"))
    case_log = CaseLog("C", "completed", None, None, None, activity_instances(events, MODEL, True))
    wait = next(row for row in csv_rows(case_log) if row[1] == "w")
    enable, start, end = wait[2:5]
    assert enable < start == end
    assert [(i.element_id, t) for _s, t, i in xes_events(case_log)] == [("s", "complete"), ("w", "schedule"),
                                                                        ("w", "complete")]
