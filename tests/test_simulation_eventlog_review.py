"""The process-mining review of the simulator's event logs (``runner.simulation.eventlog``): the Prosimos/Simod CSV
holds completed steps only (cancelled ones go to ``cancelled_steps.csv`` and the XES), a cancelled step that never
started is withdrawn, a message wait has no start in either format, one XES type per case attribute, the Element
classifier's key declared, and equal times in the simulator's (causal) order."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path
from typing import Any

from lxml import etree

from runner.simulation.engine import simulate
from runner.simulation.eventlog import (
    CANCELLED_FILE,
    CSV_COLUMNS,
    PROSIMOS_COLUMNS,
    write_cancelled_csv,
    write_csv,
    write_prosimos_csv,
    write_xes,
)
from runner.simulation.kpis import compute_kpis
from runner.simulation.model import SimActivity, SimCase, SimulationLog
from runner.simulation.scenario import load_scenario
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES
from tests.simulation_fixtures import activity, at, holiday_log

XES = "{http://www.xes-standard.org/}"


def csv_table(log: SimulationLog, cancelled: bool = False) -> list[dict[str, str]]:
    out = io.StringIO()
    (write_cancelled_csv if cancelled else write_csv)(log, out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def xes(log: SimulationLog) -> Any:
    out = io.BytesIO()
    write_xes(log, out)
    return etree.fromstring(out.getvalue())


def trace_events(root: Any, case_id: str) -> list[dict[str, str]]:
    [trace] = [t for t in root.findall(f"{XES}trace")
               if t.find(f"{XES}string[@key='concept:name']").get("value") == case_id]
    return [{a.get("key"): a.get("value") for a in event} for event in trace.findall(f"{XES}event")]


def review_log() -> SimulationLog:
    """One completed case: install_meter ends at 12:00 and enables the message wait wait_meter_online (enabled at
    the same moment); the follow-up call wins the 回访 race against the customer's survey, withdrawn at 18:00
    before the customer answered; a staff step a timer ended while plan_reviewer#1 worked on it, recorded after the
    timer that fired at the same moment."""
    case = SimCase("R1", "lv_residential", at("2026-10-12"), at("2026-10-13", 18), {"supply_voltage_kv": 10})
    acts = [
        activity("R1", "install_meter", lane="installer", resource="installer#1", enable=at("2026-10-12", 9),
                 start=at("2026-10-12", 10), end=at("2026-10-12", 12), name="装表接电"),
        activity("R1", "timer_review", kind="timer", lane=None, resource=None, enable=at("2026-10-12", 9),
                 start=at("2026-10-12", 15), end=at("2026-10-12", 15), name="时限：审核"),
        SimActivity("R1", "review_plan", "审核供电方案", "user", "plan_reviewer", "plan_reviewer#1",
                    at("2026-10-12", 9), at("2026-10-12", 14), at("2026-10-12", 15), None, True),
        activity("R1", "wait_meter_online", kind="message", lane="installer", resource=None,
                 enable=at("2026-10-12", 12), start=at("2026-10-12", 12), end=at("2026-10-13", 9),
                 name="表计在线确认"),
        activity("R1", "followup_call", lane="followup_agent", resource="followup_agent#1",
                 enable=at("2026-10-13", 9), start=at("2026-10-13", 10), end=at("2026-10-13", 18), name="客户回访"),
        SimActivity("R1", "customer_survey", "回访评价", "customer", "customer", None,
                    at("2026-10-13", 9), at("2026-10-13", 9), at("2026-10-13", 18), None, True),
    ]
    other = SimCase("R2", "hv_ordinary", at("2026-10-12"), None, {"supply_voltage_kv": 10.0})
    return SimulationLog("review", 1, at("2026-10-12", 0), at("2026-10-14", 0), [case, other], acts)


def test_the_csv_has_completed_steps_only_and_the_cancelled_ones_have_a_file_of_their_own() -> None:
    log = review_log()
    done = csv_table(log)
    assert [r["element_id"] for r in done] == ["install_meter", "timer_review", "wait_meter_online", "followup_call"]
    assert {r["cancelled"] for r in done} == {"false"}
    cancelled = csv_table(log, cancelled=True)
    assert tuple(cancelled[0]) == tuple(done[0]) and tuple(done[0])[:len(CSV_COLUMNS)] == CSV_COLUMNS
    assert [(r["element_id"], r["cancelled"]) for r in cancelled] == [("review_plan", "true"),
                                                                       ("customer_survey", "true")]
    survey = cancelled[1]  # never started: starts when it ends, as a step without a start
    assert survey["start_time"] == survey["end_time"] == "2026-10-13T18:00:00+08:00"
    assert cancelled[0]["start_time"] == "2026-10-12T14:00:00+08:00"  # taken up by plan_reviewer#1
    assert CANCELLED_FILE == "cancelled_steps.csv"


def test_the_prosimos_shaped_csv_has_its_six_columns_and_completed_tasks_only() -> None:
    """As Prosimos writes its own log: no rows for events (a message wait, a fired timer), none for cancelled steps,
    no extra columns — the event rows of event_log.csv counted as activities in a log-distance comparison."""
    out = io.StringIO()
    assert write_prosimos_csv(review_log(), out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == PROSIMOS_COLUMNS
    assert rows[1:] == [
        ["R1", "装表接电", "2026-10-12T09:00:00+08:00", "2026-10-12T10:00:00+08:00", "2026-10-12T12:00:00+08:00",
         "installer#1"],
        ["R1", "客户回访", "2026-10-13T09:00:00+08:00", "2026-10-13T10:00:00+08:00", "2026-10-13T18:00:00+08:00",
         "followup_agent#1"]]


def test_a_message_wait_has_no_start_in_either_format() -> None:
    log = review_log()
    [wait] = [r for r in csv_table(log) if r["element_id"] == "wait_meter_online"]
    assert wait["enable_time"] == "2026-10-12T12:00:00+08:00"
    assert wait["start_time"] == wait["end_time"] == "2026-10-13T09:00:00+08:00"
    steps = trace_events(xes(log), "R1")
    assert [s["lifecycle:transition"] for s in steps if s["element_id"] == "wait_meter_online"] == [
        "schedule", "complete"]


def test_cancelled_steps_end_in_withdraw_when_they_never_started_and_ate_abort_when_they_had() -> None:
    steps = trace_events(xes(review_log()), "R1")
    assert [s["lifecycle:transition"] for s in steps if s["element_id"] == "customer_survey"] == [
        "schedule", "withdraw"]
    assert [s["lifecycle:transition"] for s in steps if s["element_id"] == "review_plan"] == [
        "schedule", "start", "ate_abort"]
    assert not [s for s in steps if s["lifecycle:transition"] == "pi_abort"]  # no case is cancelled as a whole


def test_equal_times_follow_the_simulators_order() -> None:
    order = [(s["element_id"], s["lifecycle:transition"]) for s in trace_events(xes(review_log()), "R1")]
    # the installation's completion enabled the wait at the same moment
    assert order.index(("install_meter", "complete")) < order.index(("wait_meter_online", "schedule"))
    # the timer fired, then ended the review it interrupted (recorded in that order)
    assert order.index(("timer_review", "complete")) < order.index(("review_plan", "ate_abort"))
    # the call's completion withdrew the survey
    assert order.index(("followup_call", "complete")) < order.index(("customer_survey", "withdraw"))
    for element in ("install_meter", "followup_call"):
        assert [t for e, t in order if e == element] == ["schedule", "start", "complete"]


def test_each_case_attribute_has_one_xes_type_and_the_element_classifier_key_is_declared() -> None:
    root = xes(review_log())
    voltages = [(etree.QName(a).localname, a.get("value")) for a in root.iter()
                if a.get("key") == "supply_voltage_kv"]
    assert voltages == [("float", "10.0"), ("float", "10.0")]
    [event_globals] = [g for g in root.findall(f"{XES}global") if g.get("scope") == "event"]
    assert "element_id" in {a.get("key") for a in event_globals}
    mixed = holiday_log()
    mixed.cases[0].attributes["capacity_kva"] = 8.5
    capacities = {etree.QName(a).localname for a in xes(mixed).iter() if a.get("key") == "capacity_kva"}
    assert capacities == {"float"}


def test_a_simulated_replication_the_files_agree_and_the_kpis_do_not_change(tmp_path: Path) -> None:
    scenario = load_scenario(PROCESSES / "scenarios" / "today.yaml")
    log = simulate(scenario, seed=20261126, cases=12)
    before = compute_kpis(log, WorkingCalendar.default())
    snapshot = [dataclasses.astuple(a) for a in log.activities]
    done, cancelled = csv_table(log), csv_table(log, cancelled=True)
    root = xes(log)
    assert compute_kpis(log, WorkingCalendar.default()) == before
    assert [dataclasses.astuple(a) for a in log.activities] == snapshot  # the files change, the log does not
    assert len(done) == sum(not a.cancelled for a in log.activities)
    assert len(cancelled) == sum(a.cancelled for a in log.activities) > 0  # the lost 回访 race of each case
    assert {r["cancelled"] for r in done} == {"false"} and {r["cancelled"] for r in cancelled} == {"true"}
    for row in done:
        if row["kind"] == "message":
            assert row["start_time"] == row["end_time"]
        assert row["enable_time"] <= row["start_time"] <= row["end_time"]
    events = [{a.get("key"): a.get("value") for a in e} for e in root.iter(f"{XES}event")]
    transitions = {e["lifecycle:transition"] for e in events}
    assert transitions <= {"schedule", "start", "complete", "withdraw", "ate_abort"}
    assert "withdraw" in transitions
    assert not [e for e in events if e["element_id"] in {r["element_id"] for r in done if r["kind"] == "message"}
                and e["lifecycle:transition"] == "start"]
    types: dict[str, set[str]] = {}
    for trace in root.findall(f"{XES}trace"):
        for attribute in trace:
            if attribute.tag != f"{XES}event":
                types.setdefault(attribute.get("key"), set()).add(etree.QName(attribute).localname)
    assert all(len(found) == 1 for found in types.values()), types
