"""``runner.export`` and ``baozhuang export-log``: a real log from two cases, exported as CSV and XES."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from runner import schema, services
from runner.cli import main
from runner.clock import VirtualClock, parse_iso
from runner.database import make_engine, session_factory
from runner.export import (
    Kind,
    ProcessModel,
    Selection,
    activity_instances,
    iter_case_logs,
    process_model,
    write_csv,
    write_xes,
)
from runner.forms import default_instance
from runner.models import Case as CaseRow
from runner.models import Event, ProcessVersion
from runner.store import Runtime, backfill_summaries, deploy, load_case, save_case
from tests import db as tests_db
from tests.conftest import PROCESSES
from tests.db import Db

HEADER = ["case_id", "activity", "enable_time", "start_time", "end_time", "resource",
          "role", "element_id", "category", "regime", "dual_supply", "status", "process_version", "dual_supply_basis"]
XES = "{http://www.xes-standard.org/}"
TRANSITIONS = {"schedule", "start", "suspend", "resume", "complete", "withdraw", "ate_abort", "pi_abort"}


@dataclass
class Log:
    """A database holding two cases: one run to its end, one cancelled after a deadline passed."""

    url: str
    instance: Path
    sessions: sessionmaker[Session]
    finished: str
    cancelled: str
    cancelled_created: datetime


def complete_open_tasks(sessions: sessionmaker[Session], runtime: Runtime, number: str, limit: int = 200) -> None:
    """Answer every task with its form defaults (users of the task's role, four-eyes respected) and deliver every
    awaited message, until the case has nothing left to do."""
    clock = runtime.clock
    assert isinstance(clock, VirtualClock)
    for step in range(limit):
        with sessions.begin() as session:
            loaded = load_case(session, runtime, number)
            tasks = loaded.case.ready_tasks()
            messages = loaded.case.waiting_messages()
            if loaded.row.status != "running" or not (tasks or messages):
                return
            clock.advance(timedelta(hours=2))
            if not tasks:
                services.send_message(session, runtime, number, messages[0], {})
                continue
            task = tasks[0]
            data = default_instance(loaded.case.bundle.form(task.form_schema)) if task.form_schema else {}
            taken = loaded.case.last_user_of(task.four_eyes_with) if task.four_eyes_with else None
            user = next(u for u in (f"{task.role}.1", f"{task.role}.2") if u != taken)
            services.complete_task(session, runtime, task.id, data, user, request_id=f"{number}-{step}")
    raise AssertionError(f"{number} did not finish within {limit} steps")


def build_log(sessions: sessionmaker[Session], runtime: Runtime) -> tuple[str, str, datetime]:
    """Two cases of ``lv_other``: one run to its end (a message wait on the way), one whose acceptance deadline
    fires before it is cancelled. Returns (finished, cancelled, when the cancelled one was created)."""
    clock = runtime.clock
    assert isinstance(clock, VirtualClock)
    application = json.loads((PROCESSES / "samples" / "lv_other.json").read_text(encoding="utf-8"))
    for key in ("case_number", "applied_at"):
        application.pop(key)
    with sessions.begin() as session:
        finished = services.start_case(session, runtime, application, "clerk")
    complete_open_tasks(sessions, runtime, finished)

    clock.advance_to(clock.now() + timedelta(days=7))
    created = clock.now()
    with sessions.begin() as session:
        cancelled = services.start_case(session, runtime, application, "clerk")
    clock.advance(timedelta(days=5))  # past the acceptance deadline
    with sessions.begin() as session:
        loaded = load_case(session, runtime, cancelled)
        assert loaded.case.fire_due_timers() >= 1
        save_case(session, runtime, loaded)
    clock.advance(timedelta(hours=1))
    with sessions.begin() as session:
        services.set_case_status(session, runtime, cancelled, "cancelled", "supervisor")
    return finished, cancelled, created


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    """The detailed tests share one SQLite log (``test_export_on_both_databases`` covers PostgreSQL too)."""
    instance = tmp_path_factory.mktemp("instance")
    url = f"sqlite:///{instance / 'baozhuang.sqlite3'}"
    schema.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    runtime = Runtime(cache_dir=instance / "versions", clock=VirtualClock(parse_iso("2026-11-26T10:30:00+08:00")))
    with sessions.begin() as session:
        deploy(session, runtime, PROCESSES, "tester")
    yield Log(url, instance, sessions, *build_log(sessions, runtime))
    engine.dispose()


def export_csv(log: Log, selection: Selection | None = None) -> list[dict[str, str]]:
    out = io.StringIO()
    write_csv(iter_case_logs(log.sessions, selection or Selection()), out)
    out.seek(0)
    reader = csv.reader(out)
    assert next(reader) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in reader]


def export_xes(log: Log, selection: Selection | None = None) -> Any:
    out = io.BytesIO()
    write_xes(iter_case_logs(log.sessions, selection or Selection()), out)
    return etree.fromstring(out.getvalue())


def events_of(log: Log, number: str) -> list[Event]:
    with log.sessions.begin() as session:
        return list(session.scalars(select(Event).where(Event.case_number == number).order_by(Event.id)))


def user_task_ids(log: Log) -> set[str]:
    with log.sessions.begin() as session:
        files = session.scalars(select(ProcessVersion.files)).one()
    return {element for element, kind in process_model(files).kinds.items() if kind is Kind.HUMAN}


# -- CSV -------------------------------------------------------------------------------------------------------------


def test_csv_has_one_row_per_completed_user_task_with_ordered_times_and_resource(log: Log) -> None:
    rows = export_csv(log)
    humans = user_task_ids(log)
    completed = [e for e in events_of(log, log.finished) if e.lifecycle == "completed" and e.element_id in humans]
    assert len(completed) >= 8
    user_rows = [r for r in rows if r["case_id"] == log.finished and r["element_id"] in humans]
    assert Counter(r["element_id"] for r in user_rows) == Counter(e.element_id for e in completed)
    by_element = {e.element_id: e for e in completed}
    for row in user_rows:
        enable, start, end = (datetime.fromisoformat(row[c]) for c in ("enable_time", "start_time", "end_time"))
        assert enable.utcoffset() == timedelta(hours=8)
        assert enable <= start <= end
        assert enable < end  # each answer took the clock two hours on
        assert row["resource"] == by_element[row["element_id"]].user
        assert row["role"] and row["category"] == "lv_other" and row["status"] == "completed"


def test_csv_keeps_tasks_and_message_waits_and_leaves_out_gateways_and_events(log: Log) -> None:
    rows = {r["element_id"]: r for r in export_csv(log, Selection((log.finished,)))}
    assert "init_case" in rows and rows["init_case"]["resource"] == ""  # a service task: no person
    assert not [e for e in rows if e.startswith(("gw_", "start_", "end_"))]
    assert "plan_stage" not in rows and "followup" not in rows  # containers: their children are there
    wait = rows["wait_meter_online"]
    assert wait["enable_time"] == rows["install_meter"]["end_time"]  # waiting since the meter was installed
    assert wait["enable_time"] < wait["end_time"]


def test_csv_has_the_fired_timer_and_omits_tasks_of_the_cancelled_case_that_never_completed(log: Log) -> None:
    rows = export_csv(log, Selection((log.cancelled,)))
    assert {r["status"] for r in rows} == {"cancelled"}
    timers = [r for r in rows if r["element_id"] == "timer_acceptance"]
    assert len(timers) == 1
    assert timers[0]["activity"] == "时限：业务受理"
    assert timers[0]["enable_time"] == timers[0]["start_time"] == timers[0]["end_time"]
    assert "accept_application" not in {r["element_id"] for r in rows}


def test_selection_by_case_and_since_and_batches_give_the_same_logs(log: Log) -> None:
    assert {r["case_id"] for r in export_csv(log)} == {log.finished, log.cancelled}
    assert {r["case_id"] for r in export_csv(log, Selection(since=log.cancelled_created))} == {log.cancelled}
    one_by_one = [(c.case_number, len(c.instances)) for c in iter_case_logs(log.sessions, Selection(), batch_size=1)]
    together = [(c.case_number, len(c.instances)) for c in iter_case_logs(log.sessions, Selection())]
    assert one_by_one == together and len(together) == 2


# -- XES -------------------------------------------------------------------------------------------------------------


def attributes(element: Any) -> dict[str, str]:
    return {child.get("key"): child.get("value") for child in element if child.tag != f"{XES}event"}


def test_xes_is_a_well_formed_log_with_standard_extensions_globals_and_one_trace_per_case(log: Log) -> None:
    root = export_xes(log)
    assert root.tag == f"{XES}log" and root.get("xes.version")
    order = [etree.QName(child).localname for child in root]
    sections = ["extension", "global", "classifier", "string", "trace"]  # the order the XES schema requires
    assert order == sorted(order, key=sections.index)
    extensions = {e.get("prefix"): (e.get("name"), e.get("uri")) for e in root.iterfind(f"{XES}extension")}
    assert extensions == {
        "concept": ("Concept", "http://www.xes-standard.org/concept.xesext"),
        "time": ("Time", "http://www.xes-standard.org/time.xesext"),
        "lifecycle": ("Lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
        "org": ("Organizational", "http://www.xes-standard.org/org.xesext"),
    }
    globals_ = {g.get("scope"): set(attributes(g)) for g in root.iterfind(f"{XES}global")}
    assert globals_ == {"trace": {"concept:name"},
                        "event": {"concept:name", "time:timestamp", "lifecycle:transition", "element_id"}}
    traces = root.findall(f"{XES}trace")
    assert [attributes(t)["concept:name"] for t in traces] == [log.finished, log.cancelled]
    for trace in traces:
        assert attributes(trace)["category"] == "lv_other"
        events = trace.findall(f"{XES}event")
        assert events
        moments = []
        for event in events:
            values = attributes(event)
            assert {"concept:name", "time:timestamp", "lifecycle:transition", "org:role"} <= set(values)
            assert event.find(f"{XES}date[@key='time:timestamp']") is not None
            moments.append(datetime.fromisoformat(values["time:timestamp"]))
            assert values["lifecycle:transition"] in TRANSITIONS
        assert moments == sorted(moments)


def test_xes_lifecycles_of_user_tasks_and_the_cancelled_case(log: Log) -> None:
    root = export_xes(log)
    humans = user_task_ids(log)
    steps: dict[str, list[tuple[str, str, str | None]]] = {}
    for trace in root.iterfind(f"{XES}trace"):
        number = attributes(trace)["concept:name"]
        steps[number] = [(v["element_id"], v["lifecycle:transition"], v.get("org:resource"))
                         for v in map(attributes, trace.iterfind(f"{XES}event"))]
    review = [(t, r) for e, t, r in steps[log.finished] if e == "review_plan"]
    assert [t for t, _ in review] == ["schedule", "start", "complete"]
    assert review[0][1] is None and review[1][1] and review[2][1]
    for element, transition, resource in steps[log.finished]:
        if element in humans and transition in ("start", "complete"):
            assert resource
    assert ("accept_application", "schedule", None) in steps[log.cancelled]
    assert ("accept_application", "pi_abort", None) in steps[log.cancelled]  # open when the case was cancelled
    assert ("timer_acceptance", "complete", None) in steps[log.cancelled]
    # in the finished case only the loser of the 回访 race (the survey, when the agent called first) was withdrawn,
    # before the customer started it
    assert [(e, t) for e, t, _ in steps[log.finished] if t.endswith(("abort", "withdraw"))] == [
        ("customer_survey", "withdraw")]


@pytest.mark.filterwarnings("ignore")
def test_pm4py_reads_the_xes_log(log: Log, tmp_path: Path) -> None:
    pm4py = pytest.importorskip("pm4py")  # optional independent reader, not a dependency
    path = tmp_path / "log.xes"
    root = export_xes(log)
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
    frame = pm4py.read_xes(str(path))
    assert set(frame["case:concept:name"]) == {log.finished, log.cancelled}
    assert len(frame) == len(root.findall(f"{XES}trace/{XES}event"))
    assert set(frame["lifecycle:transition"]) <= TRANSITIONS


# -- pairing, on synthetic events --------------------------------------------------------------------------------------


def synthetic(*rows: tuple[str | None, str, str, str | None, str]) -> list[SimpleNamespace]:
    start = parse_iso("2026-11-26T09:00:00+08:00")
    return [SimpleNamespace(id=n, task_id=task, element_id=element, activity=element, lifecycle=lifecycle,
                            role="r", user=user, at=start + timedelta(minutes=int(minutes)))
            for n, (task, element, lifecycle, user, minutes) in enumerate(rows, 1)]


MODEL = ProcessModel({"u": Kind.HUMAN, "s": Kind.ENGINE, "w": Kind.WAIT, "t": Kind.TIMER}, {"w": ("s",)})


def test_pairing_by_task_id_with_repeated_enables_timers_and_open_tasks() -> None:
    events = synthetic(
        ("1", "u", "enabled", None, "0"), ("1", "u", "enabled", None, "5"), ("2", "u", "enabled", None, "10"),
        ("1", "u", "started", "ann", "20"), ("1", "u", "completed", "ann", "30"), ("3", "s", "completed", None, "30"),
        ("4", "t", "fired", None, "40"), ("4", "t", "completed", None, "40"), ("5", "w", "completed", None, "50"),
        (None, "case", "cancelled", "boss", "60"),
    )
    done = activity_instances(events, MODEL, case_ended=True)
    summary = [(i.element_id, i.resource, i.enabled and i.enabled.seq, i.completed and i.completed.seq,
                i.aborted and i.aborted.seq) for i in done]
    assert summary == [("u", "ann", 1, 5, None), ("u", None, 3, None, 10), ("s", None, None, 6, None),
                       ("w", None, 6, 9, None), ("t", None, None, 7, None)]
    still_open = activity_instances(events[:-1], MODEL, case_ended=False)
    assert [i.aborted for i in still_open if i.instance_id == "2"] == [None]


# -- command line ----------------------------------------------------------------------------------------------------


def cli(log: Log, *args: str) -> Any:
    env = {"BAOZHUANG_INSTANCE": str(log.instance), "DATABASE_URL": log.url}
    return CliRunner().invoke(main, ["export-log", *args], env=env)


def test_cli_writes_csv_to_stdout_and_xes_to_a_file(log: Log, tmp_path: Path) -> None:
    result = cli(log, "--format", "csv", "--case", log.finished)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(HEADER)
    assert all(line.startswith(log.finished + ",") for line in lines[1:]) and len(lines) > 10

    out = tmp_path / "log.xes"
    result = cli(log, "--format", "xes", "--out", str(out), "--since", log.cancelled_created.date().isoformat())
    assert result.exit_code == 0, result.output
    assert "1 cases" in result.stderr
    traces = etree.parse(str(out)).getroot().findall(f"{XES}trace")
    assert [attributes(t)["concept:name"] for t in traces] == [log.cancelled]
    assert list(tmp_path.iterdir()) == [out]  # no partial file left behind


def test_cli_rejects_unknown_cases_and_bad_dates(log: Log) -> None:
    result = cli(log, "--format", "csv", "--case", "YK-NOPE")
    assert result.exit_code == 1 and "no case YK-NOPE" in result.stderr and result.stdout == ""
    result = cli(log, "--format", "xes", "--since", "yesterday")
    assert result.exit_code == 2 and "--since" in result.stderr



def test_export_on_both_databases(db: Db, tmp_path: Path) -> None:
    finished, cancelled, _created = build_log(db.sessions, db.runtime)
    log = Log(db.url, tmp_path, db.sessions, finished, cancelled, _created)
    rows = export_csv(log)
    assert {r["case_id"] for r in rows} == {finished, cancelled}
    for row in rows:
        assert row["enable_time"] <= row["start_time"] <= row["end_time"]
        assert row["end_time"].endswith("+08:00")
    traces = export_xes(log).findall(f"{XES}trace")
    assert [attributes(t)["concept:name"] for t in traces] == [finished, cancelled]
    result = cli(log, "--format", "xes", "--case", cancelled)
    assert result.exit_code == 0, result.output
    transitions = {v["lifecycle:transition"] for v in map(attributes, etree.fromstring(result.stdout_bytes).iter(
        f"{XES}event"))}
    assert transitions == {"schedule", "complete", "pi_abort"}


def test_regime_and_dual_supply_are_exported_also_for_cases_saved_before_the_summary_kept_them(
        db: Db, tmp_path: Path) -> None:
    finished, cancelled, created = build_log(db.sessions, db.runtime)
    log = Log(db.url, tmp_path, db.sessions, finished, cancelled, created)
    dual = tests_db.start(db, "hv_ordinary", dual_supply=True)
    expected = {finished: ("statute", "false"), cancelled: ("statute", "false"), dual: ("statute", "true")}

    def exported() -> dict[str, tuple[str, str]]:
        csv_cases = {row["case_id"]: (row["regime"], row["dual_supply"]) for row in export_csv(log)}
        xes_cases = {values["concept:name"]: (values.get("regime", ""), values.get("dual_supply", ""))
                     for values in map(attributes, export_xes(log).findall(f"{XES}trace"))}
        assert xes_cases == csv_cases
        return csv_cases

    assert exported() == expected

    def as_saved_before() -> None:  # a summary without the two keys (nor fees, which tell a plan's dual supply)
        with db.transaction() as session:
            for row in session.scalars(select(CaseRow)):
                row.summary = {key: value for key, value in row.summary.items()
                               if key not in ("regime", "dual_supply", "fees")}
        assert exported() == {number: ("", "") for number in expected}

    as_saved_before()
    revisions = {number: tests_db.case_row(db, number).revision for number in expected}
    assert backfill_summaries(db.sessions, db.new_runtime(), batch_size=2) == 3
    assert exported() == expected
    assert {number: tests_db.case_row(db, number).revision for number in expected} == revisions
    assert backfill_summaries(db.sessions, db.new_runtime()) == 0  # nothing left to do

    as_saved_before()  # `baozhuang db upgrade` repairs them too
    upgraded = tests_db.run_cli(db, tmp_path / "instance", "db", "upgrade")
    assert upgraded.exit_code == 0 and "case summaries recomputed from their states: 3" in upgraded.output
    assert exported() == expected
