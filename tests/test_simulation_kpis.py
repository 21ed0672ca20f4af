"""KPIs of hand-made simulation logs with known answers (runner/simulation/kpis.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.simulation.case_time import case_time_attributes, utility_working_days, whole_case_limit
from runner.simulation.kpis import case_on_time, compute_kpis, daily_queue_series, direction, flat_kpis
from runner.simulation.model import QueueSample, SimulationLog
from runner.workdays import WorkingCalendar
from tests.simulation_fixtures import at, holiday_log


def energised_at_end() -> SimulationLog:
    """The hand-made log with each completed case energised at its end (no step after energising)."""
    log = holiday_log()
    for case in log.cases:
        case.energized = case.end
    return log


@pytest.fixture(scope="module")
def kpis() -> dict[str, Any]:
    return compute_kpis(energised_at_end(), WorkingCalendar.default())


def test_cycle_time_counts_working_days_across_the_national_day_holiday(kpis: dict[str, Any]) -> None:
    residential = kpis["cycle_time"]["lv_residential"]
    # C1: 2026-09-30 → 10-09 crosses 10-01..10-07 off: only 10-08 and 10-09 are working days; C2: Mon → Fri = 4.
    assert residential["working_days"]["mean"] == pytest.approx(3.0)
    assert residential["calendar_days"]["mean"] == pytest.approx((9 + 8 / 24 + 4) / 2)
    assert residential["count"] == 2 and residential["completed_share"] == 1.0


def test_cycle_time_percentiles_and_completed_share(kpis: dict[str, Any]) -> None:
    overall = kpis["cycle_time"]["all"]
    assert overall["arrived"] == 4 and overall["count"] == 3
    assert overall["completed_share"] == pytest.approx(0.75)
    # working days 2, 4, 8: linear interpolation between order statistics
    assert overall["working_days"] == pytest.approx({"mean": 14 / 3, "p50": 4.0, "p90": 7.2, "p95": 7.6})
    hv = kpis["cycle_time"]["hv_ordinary"]
    assert hv["completed_share"] == 0.5 and hv["working_days"]["p50"] == 8.0


def test_on_time_share_per_step_and_per_case(kpis: dict[str, Any]) -> None:
    step = kpis["on_time"]["steps"]["site_survey"]
    assert step == {"activity": "现场勘查", "count": 2, "on_time": 1, "share": 0.5, "undecided": 0}
    # C1 ended before its deadline, C2 after; C3 and C4 have no deadline.
    assert kpis["on_time"]["case"] == {"count": 2, "on_time": 1, "share": 0.5, "undecided": 0}


def test_case_limits_give_cases_without_a_deadline_one() -> None:
    kpis = compute_kpis(holiday_log(), WorkingCalendar.default(), case_limits={"hv_ordinary": 7})
    # C3 took 8 working days (late); C4 arrived 10-20, its deadline 10-29 is after the run's end: left out.
    assert kpis["on_time"]["case"] == {"count": 3, "on_time": 1, "share": pytest.approx(1 / 3), "undecided": 1}
    kpis = compute_kpis(holiday_log(), WorkingCalendar.default(), case_limits={"hv_ordinary": 1})
    # now C4's deadline (10-21) passed while it was still open: late
    assert kpis["on_time"]["case"]["count"] == 4 and kpis["on_time"]["case"]["on_time"] == 1


def test_waiting_and_processing_hours_per_activity(kpis: dict[str, Any]) -> None:
    survey = kpis["activities"]["site_survey"]
    assert survey["count"] == 3
    assert survey["mean_waiting_hours"] == pytest.approx(4 / 3)
    assert survey["mean_processing_hours"] == pytest.approx(3.0)
    assert kpis["activities"]["decide_route"]["mean_processing_hours"] == 0.0
    withdrawn = kpis["activities"]["review_plan"]
    assert withdrawn["count"] == 0 and withdrawn["cancelled"] == 1 and withdrawn["mean_waiting_hours"] is None
    assert "review_plan" not in kpis["on_time"]["steps"]  # late, but cancelled: not a step done late


def test_utilisation_cost_and_escalations(kpis: dict[str, Any]) -> None:
    assert kpis["pools"]["surveyor"]["utilisation"] == pytest.approx(0.25)
    assert kpis["pools"]["account_manager"]["utilisation"] == 0.0  # no shift hours: 0, not a division error
    assert kpis["cost"]["total"] == 2000.0 and kpis["cost"]["per_case"] == 500.0
    assert kpis["escalations"] == {"total": 3, "per_case": 0.75, "cases_share": 0.5}


def test_getting_electricity_metrics(kpis: dict[str, Any]) -> None:
    ge = kpis["getting_electricity"]
    assert ge["cases"] == 3
    assert ge["source"] == "customer_lane"  # no case carries the process's own counts: counted from the log
    assert ge["procedures"] == pytest.approx(2 / 3)  # supply_materials (C1), wait_payment (C3)
    assert ge["customer_visits"] == pytest.approx(1 / 3)  # supply_materials only
    assert ge["working_days_to_connect"] == pytest.approx(14 / 3)
    assert ge["days_to_connect"] == pytest.approx((9 + 8 / 24 + 4 + 10) / 3)


def test_getting_electricity_procedures_and_visits_are_the_process_own_counts_when_cases_have_them() -> None:
    """Cases whose ``compute_kpis`` ran carry ``kpis.steps`` (the route DMN's ``ge_steps``) and ``customer_visits``:
    those are averaged, as production reports them, not the customer-lane activities of the log."""
    log = energised_at_end()
    counts = {"C1": {"steps": 2, "customer_visits": 0}, "C2": {"steps": 2, "customer_visits": 0},
              "C3": {"steps": 5, "customer_visits": 4}, "C4": {"steps": 5, "customer_visits": 4}}
    for case in log.cases:
        case.attributes.update(case_time_attributes({"kpis": counts[case.case_id]}, case.case_id,
                                                    lambda: at("2026-10-30", 9), WorkingCalendar.default()))
    ge = compute_kpis(log, WorkingCalendar.default())["getting_electricity"]
    assert ge["source"] == "process" and ge["cases"] == 3  # C4 is still open
    assert ge["procedures"] == pytest.approx((2 + 2 + 5) / 3) and ge["customer_visits"] == pytest.approx(4 / 3)
    assert "getting_electricity.source" not in flat_kpis(compute_kpis(log, WorkingCalendar.default()))
    log.cases[0].attributes.clear()  # one completed case without them: the log's count for every case
    assert compute_kpis(log, WorkingCalendar.default())["getting_electricity"]["source"] == "customer_lane"


def test_queue_series_is_daily_max_and_time_weighted_mean() -> None:
    samples = [QueueSample(at("2026-10-12", 9), "p", 2), QueueSample(at("2026-10-12", 15), "p", 1),
               QueueSample(at("2026-10-13", 6), "p", 0)]
    series = daily_queue_series(samples, at("2026-10-12", 0), at("2026-10-14", 0))
    assert [d["day"] for d in series] == ["2026-10-12", "2026-10-13"]
    assert series[0] == {"day": "2026-10-12", "max": 2, "mean": pytest.approx((2 * 6 + 1 * 9) / 24)}
    assert series[1] == {"day": "2026-10-13", "max": 1, "mean": pytest.approx(6 / 24)}


def test_samples_at_one_moment_keep_their_order() -> None:
    # a task queued and taken at the same moment: the queue is empty from then on
    samples = [QueueSample(at("2026-10-12", 9), "p", 1), QueueSample(at("2026-10-12", 9), "p", 0)]
    series = daily_queue_series(samples, at("2026-10-12", 0), at("2026-10-13", 0))
    assert series == [{"day": "2026-10-12", "max": 0, "mean": 0.0}]


def test_kpis_are_json_ready_and_flat_keys_are_stable(kpis: dict[str, Any]) -> None:
    json.dumps(kpis, allow_nan=False)
    flat = flat_kpis(kpis)
    assert flat["cycle_time.all.mean_working_days"] == pytest.approx(14 / 3)
    assert flat["cycle_time.lv_residential.p90_calendar_days"] > 0
    assert flat["on_time.case.share"] == 0.5
    assert flat["on_time.step.site_survey.share"] == 0.5
    assert flat["utilisation.surveyor"] == 0.25
    assert flat["waiting.site_survey.mean_hours"] == pytest.approx(4 / 3)
    assert flat["queue.surveyor.max_length"] == 2.0
    assert flat["cost.per_case"] == 500.0 and flat["escalations.total"] == 3.0
    assert "waiting.review_plan.mean_hours" not in flat
    assert all(isinstance(v, float) for v in flat.values())


def test_empty_log_has_no_undefined_scalars() -> None:
    log = SimulationLog("empty", 0, at("2026-11-02"), at("2026-11-03"))
    flat = flat_kpis(compute_kpis(log, WorkingCalendar.default()))
    assert "cycle_time.all.mean_working_days" not in flat and "on_time.case.share" not in flat
    assert flat["cost.total"] == 0.0


@pytest.mark.parametrize(("key", "expected"), [
    ("cycle_time.all.mean_working_days", "lower"), ("on_time.case.share", "higher"),
    ("cycle_time.hv_ordinary.completed_share", "higher"), ("utilisation.surveyor", "neutral"),
    ("utilisation_while_arriving.surveyor", "neutral"),
    ("cost.per_case", "lower"), ("escalations.total", "lower"),
])
def test_direction_of_each_kind_of_kpi(key: str, expected: str) -> None:
    assert direction(key) == expected


# -- whole-case on-time under the regime (runner/simulation/case_time.py) -------------------------------------------

STATUTE_HV_SINGLE = {"acceptance": 1, "plan_reply": 20, "design_review": 20, "interim_check": 5,
                     "completion_check": 7, "contract": 5, "energize": 7, "archive": 5, "followup": 2}
HV_ORDINARY_ROUTE = {"survey": True, "design_review": False, "interim_check": False, "completion_check": True,
                     "contract_step": True, "customer_works": True, "grid_works": False, "ge_steps": 4}
LV_RESIDENTIAL_ROUTE = {"survey": False, "design_review": False, "interim_check": False, "completion_check": False,
                        "contract_step": False, "customer_works": False, "grid_works": False, "ge_steps": 2}


def test_whole_case_limit_sums_the_utility_steps_on_the_route() -> None:
    # acceptance 1 + plan reply 20 + completion check 7 + contract 5 + energize 7; design review and interim check
    # are customer-held time in case_kpis, so their limits do not count
    assert whole_case_limit(STATUTE_HV_SINGLE, HV_ORDINARY_ROUTE) == 40
    assert whole_case_limit({**STATUTE_HV_SINGLE, "energize": 3}, LV_RESIDENTIAL_ROUTE) == 4
    assert whole_case_limit(STATUTE_HV_SINGLE, None) is None
    assert whole_case_limit({"acceptance": 1}, HV_ORDINARY_ROUTE) is None  # a limit missing: no figure, no guess


def test_utility_days_come_from_the_production_kpis_or_case_kpis_up_to_now() -> None:
    calendar = WorkingCalendar.default()
    now = at("2026-11-11")  # Wednesday
    finished = {"kpis": {"utility_held_working_days": 12}, "timeline": {"applied": "2026-11-02T09:00:00+08:00"},
                "category": "hv_ordinary"}
    assert utility_working_days(finished, "C1", lambda: now, calendar) == 12
    # in progress: 11-03 … 11-11 are 7 working days; the customer held the plan 11-04 → 11-09 (11-05, 06, 09): 3
    timeline = {"applied": "2026-11-02T09:00:00+08:00", "accepted": "2026-11-02T10:00:00+08:00",
                "plan_answered": "2026-11-04T09:00:00+08:00", "plan_signed": "2026-11-09T09:00:00+08:00"}
    open_case = {"timeline": timeline, "category": "hv_ordinary", "limits": STATUTE_HV_SINGLE,
                 "route": HV_ORDINARY_ROUTE}
    assert utility_working_days(open_case, "C2", lambda: now, calendar) == 4
    assert case_time_attributes(open_case, "C2", lambda: now, calendar) == {
        "utility_working_days": 4, "case_limit_working_days": 40}
    assert case_time_attributes({"timeline": timeline}, "C3", lambda: now, calendar) == {}  # no limits: no figure


def test_case_on_time_share_from_utility_days_and_the_limit() -> None:
    log = holiday_log()
    c1, c2, c3, c4 = log.cases
    c3.attributes.update(utility_working_days=40, case_limit_working_days=40)  # exactly at the limit: on time
    c4.attributes.update(utility_working_days=3, case_limit_working_days=4)  # open, not yet late: left out
    kpis = compute_kpis(log, WorkingCalendar.default())
    # C1 on time, C2 late (calendar deadlines, as before), C3 on time by utility days
    assert kpis["on_time"]["case"] == {"count": 3, "on_time": 2, "share": pytest.approx(2 / 3), "undecided": 1}
    c3.attributes["utility_working_days"] = 41
    c4.attributes["utility_working_days"] = 5  # open and already over its limit: late
    kpis = compute_kpis(log, WorkingCalendar.default())
    assert kpis["on_time"]["case"] == {"count": 4, "on_time": 1, "share": 0.25, "undecided": 0}
    assert flat_kpis(kpis)["on_time.case.share"] == 0.25
    # an explicit calendar limit per category still wins over the utility days
    assert case_on_time(c3, WorkingCalendar.default(), {"hv_ordinary": 8}, log.ended_at) is True
