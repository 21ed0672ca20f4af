"""Prosimos/Simod interop: reading a Prosimos model (JSON parameters or QBP annotations) and simulating it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.simulation.engine import simulate
from runner.simulation.prosimos import (
    CATEGORY,
    ProsimosError,
    convert_distribution,
    load_prosimos,
    load_prosimos_model,
)
from runner.simulation.scenario import scenario_from_dict
from runner.simulation.staff import ShiftCalendar
from runner.workdays import TZ

DATA = Path(__file__).resolve().parent / "data" / "prosimos"
BPMN = DATA / "loan_application.bpmn"
PARAMS = DATA / "loan_application.json"
QBP = DATA / "loan_application_qbp.bpmn"
MONDAY = date(2026, 11, 2)
CLERK_TASKS = {"register_application", "check_credit_history", "request_documents", "prepare_offer",
               "notify_rejection"}


def params(tmp_path: Path, change: Any) -> Path:
    """A copy of the example's JSON parameters, changed by ``change(data)``."""
    data = json.loads(PARAMS.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_json_parameters_become_pools_calendars_durations_and_branches(tmp_path: Path) -> None:
    conversion, bundle = load_prosimos_model(BPMN, PARAMS, start=MONDAY, cases=50, workdir=tmp_path)
    scenario = conversion.scenario
    assert {name: pool["count"] for name, pool in scenario["pools"].items()} == {
        "clerks": 3, "appraisers": 3, "officers": 3, "managers": 1}
    assert scenario["pools"]["managers"]["hourly_cost"] == 80
    assert {task for task, pool in conversion.task_pools.items() if pool == "clerks"} == CLERK_TASKS
    # plain tasks go to their pool through the lanes of the converted model
    assert bundle.roles["approve_application"] == "managers"
    assert bundle.roles["appraise_property"] == "appraisers"
    # seconds become hours; Prosimos 2.x parameters (mean, variance, min, max) become mean and sd
    assert scenario["durations"]["request_documents"] == pytest.approx(600 / 3600)
    assert scenario["durations"]["appraise_property"] == {"distribution": "lognormal", "mean": 1.5, "sd": 0.5,
                                                          "max": 6.0}
    assert scenario["durations"]["assess_loan_risk"]["sd"] == pytest.approx(0.25)
    assert scenario["durations"]["assess_eligibility"] == {"distribution": "uniform", "low": 0.25, "high": 0.75}
    assert scenario["branch_probabilities"] == {"flow_complete": 0.8, "flow_incomplete": 0.2, "flow_eligible": 0.7,
                                                "flow_not_eligible": 0.3}
    arrivals = scenario["arrivals"][CATEGORY]
    assert arrivals["interarrival_hours"]["mean"] == pytest.approx(2400 / 3600)
    assert arrivals["calendar"]["windows"] == [{"hours": "09:00-17:00"}]
    assert scenario["calendars"]["cal_office_hours"] == {"working_days": ["mon", "tue", "wed", "thu", "fri"],
                                                         "shifts": ["09:00-17:00"]}
    # the manager works 14-17 Monday to Thursday only: Friday gets its own shifts (it had the afternoon too)
    assert scenario["calendars"]["cal_manager_hours"] == {
        "working_days": ["mon", "tue", "wed", "thu", "fri"], "shifts": ["10:00-12:00", "14:00-17:00"],
        "weekday_shifts": {"fri": ["10:00-12:00"]}}
    assert not any("manager_hours" in gap for gap in conversion.gaps)
    parsed = scenario_from_dict(scenario, source="loan")
    manager = ShiftCalendar(parsed.calendars["cal_manager_hours"])
    assert manager.intervals(date(2026, 11, 6)) == ((datetime(2026, 11, 6, 10, tzinfo=TZ),
                                                     datetime(2026, 11, 6, 12, tzinfo=TZ)),)  # a Friday
    assert manager.on_shift_seconds(datetime(2026, 11, 2, tzinfo=TZ), datetime(2026, 11, 9, tzinfo=TZ)) == 22 * 3600
    assert parsed.cases == 50 and parsed.start == datetime(2026, 11, 2, tzinfo=TZ)


def test_qbp_annotations_give_the_same_scenario_as_the_json(tmp_path: Path) -> None:
    from_json, _ = load_prosimos_model(BPMN, PARAMS, start=MONDAY, workdir=tmp_path)
    from_qbp, bundle = load_prosimos_model(QBP, None, start=MONDAY, workdir=tmp_path)
    assert from_qbp.scenario["branch_probabilities"] == from_json.scenario["branch_probabilities"]
    assert from_qbp.task_pools == from_json.task_pools
    assert {k: v["count"] for k, v in from_qbp.scenario["pools"].items()} == \
        {k: v["count"] for k, v in from_json.scenario["pools"].items()}
    assert from_qbp.scenario["durations"]["request_documents"] == from_json.scenario["durations"]["request_documents"]
    assert from_qbp.scenario["durations"]["appraise_property"]["mean"] == pytest.approx(1.5)
    # BIMP's TRIANGULAR: mean is the mode, arg1 / arg2 the bounds
    assert from_qbp.scenario["durations"]["prepare_offer"] == pytest.approx(
        {"distribution": "triangular", "low": 600 / 3600, "mode": 1500 / 3600, "high": 1.0})
    assert from_qbp.scenario["calendars"]["cal_EXTENDED_TIMETABLE"] == {
        "working_days": ["mon", "tue", "wed", "thu", "fri", "sat"], "shifts": ["08:00-18:00"]}
    assert bundle.roles["appraise_property"] == "appraisers"


def test_simulating_a_prosimos_model_follows_its_parameters(tmp_path: Path) -> None:
    scenario, bundle = load_prosimos(BPMN, PARAMS, start=MONDAY, cases=300, workdir=tmp_path)
    log = simulate(scenario, bundle, seed=11)
    assert len(log.cases) == 300 and all(case.completed for case in log.cases)
    assert {activity.kind for activity in log.activities} == {"task"}
    by_element = Counter(activity.element_id for activity in log.activities)
    assert by_element["register_application"] == 300
    # branching: 30 % not eligible, 20 % of credit checks send for documents (binomial, ±4 sd)
    rejected = by_element["notify_rejection"] / 300
    assert abs(rejected - 0.3) < 4 * (0.3 * 0.7 / 300) ** 0.5
    assert by_element["prepare_offer"] + by_element["notify_rejection"] == 300
    redo = by_element["request_documents"] / by_element["check_credit_history"]
    assert abs(redo - 0.2) < 4 * (0.2 * 0.8 / by_element["check_credit_history"]) ** 0.5
    for activity in log.activities:
        assert activity.resource is not None and activity.lane is not None
        assert activity.resource.startswith(f"{activity.lane}#")
        assert (activity.lane == "clerks") == (activity.element_id in CLERK_TASKS)
        start = activity.start_time.astimezone(TZ)
        assert start.weekday() < 5, activity
        if activity.lane == "managers":
            assert timedelta(hours=10) <= start - start.replace(hour=0, minute=0, second=0, microsecond=0) \
                < timedelta(hours=17)
            assert not 12 <= start.hour < 14
        else:
            assert 9 <= start.hour < 17
        if activity.element_id == "notify_rejection" and start.hour < 16:
            assert activity.processing_seconds == pytest.approx(300)  # fix 300 s, within one shift
    # the same seed gives the same log
    again = simulate(scenario, bundle, seed=11)
    assert [(a.case_id, a.element_id, a.end_time) for a in again.activities] == \
        [(a.case_id, a.element_id, a.end_time) for a in log.activities]


def test_several_resource_types_in_a_pool_get_per_resource_durations(tmp_path: Path) -> None:
    def add_senior(data: dict[str, Any]) -> None:
        data["resource_profiles"][0]["resource_list"].append(
            {"id": "senior_clerk", "name": "Senior clerk", "cost_per_hour": 60, "amount": 1,
             "calendar": "manager_hours"})
        for task in data["task_resource_distribution"]:
            if task["task_id"] == "register_application":
                task["resources"].append({"resource_id": "senior_clerk", "distribution_name": "fix",
                                          "distribution_params": [{"value": 360}]})

    conversion, _bundle = load_prosimos_model(BPMN, params(tmp_path, add_senior), start=MONDAY,
                                              workdir=tmp_path / "work")
    register = conversion.scenario["durations"]["register_application"]
    assert register["distribution"] == "normal"
    assert register["per_resource"]["clerks#4"] == {"distribution": "fixed", "value": 0.1}
    assert register["per_resource"]["clerks#1"]["mean"] == pytest.approx(0.25)
    assert conversion.scenario["pools"]["clerks"]["count"] == 4
    assert conversion.scenario["pools"]["clerks"]["hourly_cost"] == pytest.approx((3 * 30 + 60) / 4)
    assert conversion.scenario["pools"]["clerks"]["calendar"] == "cal_office_hours"
    assert any("different calendars" in gap for gap in conversion.gaps)
    assert any("check_credit_history" in gap and "senior_clerk" in gap for gap in conversion.gaps)
    scenario_from_dict(conversion.scenario)  # still a valid scenario


def test_distribution_conversion() -> None:
    assert convert_distribution({"distribution_name": "fix", "distribution_params": [{"value": 7200}]}, "x") == 2.0
    assert convert_distribution({"distribution_name": "norm", "distribution_params": [3600, 360, 0, 7200]}, "x") == \
        {"distribution": "normal", "mean": 1.0, "sd": 0.1, "max": 2.0}
    assert convert_distribution({"distribution_name": "triang", "distribution_params": [0.5, 0, 7200]}, "x") == \
        {"distribution": "triangular", "low": 0.0, "mode": 1.0, "high": 2.0}
    histogram = convert_distribution({"distribution_name": "histogram_sampling",
                                      "histogram_data": {"cdf": [0.25, 1.0], "bin_midpoints": [3600, 7200]}}, "x")
    assert isinstance(histogram, dict) and histogram["distribution"] == "empirical"
    assert Counter(histogram["samples"]) == {1.0: 25, 2.0: 75}
    gaps: list[str] = []
    shifted = convert_distribution({"distribution_name": "expon", "distribution_params": [1800, 600, 7200]}, "t",
                                   gaps=gaps)
    assert shifted == {"distribution": "exponential", "mean": 0.5, "min": 600 / 3600, "max": 2.0}
    assert any("shifted" in gap for gap in gaps)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["task_resource_distribution"][0]["resources"][0].update(distribution_name="weibull"),
     "unknown distribution 'weibull'"),
    (lambda d: d["task_resource_distribution"][0]["resources"][0].update(resource_id="robot"),
     "unknown resource 'robot'"),
    (lambda d: d["task_resource_distribution"].pop(), "'notify_rejection' has no task_resource_distribution"),
    (lambda d: d.pop("resource_calendars"), "missing key 'resource_calendars'"),
    (lambda d: d["resource_profiles"][0]["resource_list"][0].update(amount=0), "amount: must be at least 1"),
    (lambda d: d["gateway_branching_probabilities"][0]["probabilities"][0].update(value=0.5),
     "add up to"),
])
def test_bad_parameters_are_refused_naming_file_and_key(tmp_path: Path, change: Any, message: str) -> None:
    path = params(tmp_path, change)
    with pytest.raises(ProsimosError) as raised:
        load_prosimos_model(BPMN, path, start=MONDAY, workdir=tmp_path / "work")
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_broken_json_and_a_bpmn_without_parameters_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "resource_profiles": [,]\n}\n', encoding="utf-8")
    with pytest.raises(ProsimosError, match=rf"{broken}:2: invalid JSON"):
        load_prosimos_model(BPMN, broken, workdir=tmp_path)
    with pytest.raises(ProsimosError, match="no qbp:processSimulationInfo"):
        load_prosimos_model(BPMN, None, workdir=tmp_path)
