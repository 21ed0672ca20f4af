"""Review fixes of the calibration's estimates: shifts with their breaks, half-hour arrival windows, customer delays
cut short by a race estimated with censoring (Kaplan-Meier)."""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime, timedelta

import pytest

from runner import services
from runner.simulation.calibration import (
    CalibrationFacts,
    arrival_windows,
    baseline_from_history,
    calibration_warnings,
    censored_samples,
    customer_delay_distributions,
    estimate_shift,
    kaplan_meier,
    within_office_hours,
)
from runner.simulation.scenario import scenario_from_dict
from runner.simulation.staff import ShiftCalendar
from runner.workdays import TZ, WorkingCalendar
from tests.db import Db, form_defaults, open_task, shared_bundle, start

CALENDAR = WorkingCalendar.default()
THURSDAY = datetime(2026, 11, 26, tzinfo=TZ)


def _working_days(count: int) -> list[datetime]:
    days, day = [], THURSDAY
    while len(days) < count:
        if CALENDAR.is_working_day(day.date()):
            days.append(day)
        day += timedelta(days=1)
    return days


def _uniform(rng: random.Random, day: datetime, windows: list[tuple[float, float]], count: int) -> list[datetime]:
    """``count`` moments of ``day`` spread over the windows (hours), in proportion to their length."""
    total = sum(end - begin for begin, end in windows)
    moments = []
    for begin, end in windows:
        share = round(count * (end - begin) / total)
        moments += [day + timedelta(hours=rng.uniform(begin, end)) for _ in range(share)]
    return moments


# -- 1. shifts with their breaks -----------------------------------------------------------------------------------


def test_a_lunch_break_every_day_shares_splits_the_shift() -> None:
    """Before: one shift 08:30-17:30 (the lunch break counted as work)."""
    rng = random.Random(7)
    office = [m for day in _working_days(10) for m in _uniform(rng, day, [(8.5, 12.0), (13.5, 17.5)], 30)]
    office += [day + timedelta(hours=hour) for day in _working_days(10) for hour in (8.5, 12.0, 13.5, 17.5)]
    assert estimate_shift(office, CALENDAR).shifts == ("08:30-12:00", "13:30-17:30")
    field = [m for day in _working_days(10) for m in _uniform(rng, day, [(8.0, 11.95), (13.02, 17.0)], 30)]
    assert estimate_shift(field, CALENDAR).shifts == ("08:00-12:00", "13:00-17:00")
    # staff who work through lunch on some days have no break: those days had work then
    through = office + [day + timedelta(hours=hour) for day in _working_days(3) for hour in (12.1, 12.5, 12.9, 13.2)]
    assert estimate_shift(through, CALENDAR).shifts == ("08:30-17:30",)
    # a thin lane: a quiet hour among few moments is chance, not a break; it gets the office hours with theirs
    thin = _uniform(rng, THURSDAY, [(8.5, 17.5)], 24)
    estimate = estimate_shift(thin, CALENDAR)
    assert len(estimate.shifts) == 1
    assert within_office_hours(estimate, estimate_shift(office, CALENDAR)).shifts == ("08:30-12:00", "13:30-17:30")
    # a lane whose own moments show its break keeps its own day (field staff within the pooled office hours)
    pooled = estimate_shift(office + field, CALENDAR)
    assert pooled.shifts == ("08:00-12:00", "13:00-17:30")
    assert within_office_hours(estimate_shift(field, CALENDAR), pooled).shifts == ("08:00-12:00", "13:00-17:00")
    ShiftCalendar(estimate_shift(office, CALENDAR), CALENDAR)  # a valid calendar


# (claim, completion) hours of the day; work on the real shifts 08:30-12:00 + 13:30-17:30: 1.5, 2, 1.5, 1, 1.5, 2,
# 1.5 h (mean 11/7); on one shift 08:30-17:30 the task claimed at 11:30 and completed at 14:00 would take 2.5 h
WORK_DAY = ((8.5, 10.0), (9.0, 11.0), (10.5, 12.0), (11.5, 14.0), (13.5, 15.0), (14.5, 16.5), (16.0, 17.5))


def test_durations_are_measured_on_the_shifts_with_their_lunch_break(db: Db) -> None:
    """Staff work 08:30-12:00 and 13:30-17:30. Before: the lane got 08:30-17:30, the lunch break counted as work
    (mean 12.5/7 = 1.79 h instead of 1.57)."""
    days: list[datetime] = []
    day = db.clock.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while len(days) < 3:
        if CALENDAR.is_working_day(day.date()):
            days.append(day)
        day += timedelta(days=1)
    for day in days:
        db.clock.advance_to(day + timedelta(hours=8))
        tasks = [open_task(db, start(db, "lv_residential"), "accept_application") for _ in WORK_DAY]
        steps = sorted((hour, kind, index) for index, pair in enumerate(WORK_DAY) for kind, hour in enumerate(pair))
        for hour, kind, index in steps:
            db.clock.advance_to(day + timedelta(hours=hour))
            task, user = tasks[index], f"account_manager.{index}"
            with db.transaction() as session:
                if kind == 0:
                    services.claim_task(session, task.id, user, now=db.clock.now())
                else:
                    services.complete_task(session, db.runtime, task.id, form_defaults(db, task), user,
                                           uuid.uuid4().hex)
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle())
    assert facts.lanes["account_manager"]["shifts"] == ["08:30-12:00", "13:30-17:30"]
    assert scenario["calendars"]["account_manager_hours"]["shifts"] == ["08:30-12:00", "13:30-17:30"]
    accept = facts.durations["accept_application"]
    assert accept["n"] == 3 * len(WORK_DAY)
    assert accept["mean"] == pytest.approx(11 / 7, rel=0.02)  # 1.79 before
    scenario_from_dict(scenario)  # the two-part calendar loads


# -- 2. arrival windows --------------------------------------------------------------------------------------------


def test_arrival_windows_follow_the_history_by_the_half_hour() -> None:
    """Before: whole hours (08:00-09:00, 12:00-13:00, 17:00-18:00) sent applications before 08:30, into the lunch
    break and after 17:30."""
    arrivals = [THURSDAY + timedelta(hours=hour) for hour in (8.6, 8.9, 9.2, 11.95, 13.55, 17.4, 23.9)]
    assert arrival_windows(arrivals) == [
        {"hours": "08:30-09:00", "weight": 2}, {"hours": "09:00-09:30", "weight": 1},
        {"hours": "11:30-12:00", "weight": 1}, {"hours": "13:30-14:00", "weight": 1},
        {"hours": "17:00-17:30", "weight": 1}, {"hours": "23:30-24:00", "weight": 1}]
    scenario_from_dict({"name": "windows", "start": "2026-12-01", "cases": 1,
                        "arrival_calendar": {"working_days": "cn", "windows": arrival_windows(arrivals)},
                        "arrivals": {"lv_residential": {"per_day": 1}}, "pools": {"surveyor": {"count": 1}}})


# -- 3. customer delays cut short by a race ------------------------------------------------------------------------


def test_kaplan_meier_by_hand() -> None:
    assert kaplan_meier([1.0, 3.0], [2.0]) == ([(1.0, pytest.approx(1 / 3)), (3.0, pytest.approx(2 / 3))], 0.0)
    masses, beyond = kaplan_meier([1.0], [2.0, 3.0])
    assert masses == [(1.0, pytest.approx(1 / 3))] and beyond == pytest.approx(2 / 3)
    samples, mean, rest, tail = censored_samples([1.0], [2.0, 3.0])
    assert samples == [1.0, 3.0, 3.0] and mean == pytest.approx(1 / 3 + 2) and rest == pytest.approx(2 / 3)
    assert tail == 3.0
    assert censored_samples([1.0, 2.0, 3.0], [])[:2] == ([1.0, 2.0, 3.0], pytest.approx(2.0))  # none cut: as seen


def test_waits_cut_short_by_a_race_are_estimated_with_censoring() -> None:
    """The survey answer (exponential, mean 2 days) races a call (uniform 0-4 days): only the fast answers win.
    Before: fitted to the winners alone, the delay came out well below 2 days."""
    rng = random.Random(11)
    answered: list[float] = []
    cut: list[float] = []
    for _ in range(3000):
        wait, call = rng.expovariate(1 / 2), rng.uniform(0, 4)
        (answered if wait < call else cut).append(min(wait, call))
    assert sum(answered) / len(answered) < 1.3  # the naive estimate
    facts: dict[str, dict[str, object]] = {}
    delays = customer_delay_distributions({"customer_survey": answered, "sign_contract": [1.0, 2.0, 3.0]},
                                          {"customer_survey": cut}, facts)
    survey = facts["customer_survey"]
    assert survey["method"] == "kaplan-meier (right-censored)"
    assert survey["answered"] == len(answered) and survey["censored"] == len(cut) and survey["n"] == 3000
    samples = delays["customer_survey"]["samples"]
    assert len(samples) == 200 and samples == sorted(samples)
    median = samples[100]
    assert median == pytest.approx(2 * math.log(2), rel=0.1)  # the true median, 1.39 days
    beyond = survey["beyond_last_answer"]
    assert isinstance(beyond, float) and 0 < beyond < 0.25 and survey["placed_at"] == pytest.approx(max(cut), abs=1e-4)
    assert samples[-1] == pytest.approx(max(cut), abs=1e-4)  # the mass beyond: at the longest cut-short wait
    assert facts["sign_contract"]["method"] == "empirical"  # never cut short: fitted as before
    scenario_from_dict({"name": "censored", "start": "2026-12-01", "cases": 1,
                        "arrivals": {"lv_residential": {"per_day": 1}}, "pools": {"surveyor": {"count": 1}},
                        "customer_delays": delays})
    report = CalibrationFacts(1, 1, "", "", 1, customer_delays=facts)  # type: ignore[arg-type]
    warnings = calibration_warnings(report, [], {}, {}, CALENDAR, set())
    censored = next(w for w in warnings if w.startswith("customer delays cut short"))
    assert f"customer_survey {len(cut)} of 3000 censored" in censored and "Kaplan-Meier" in censored
    assert "sign_contract" not in censored


def test_a_step_never_answered_is_left_to_the_default() -> None:
    facts: dict[str, dict[str, object]] = {}
    assert customer_delay_distributions({}, {"customer_survey": [0.1, 0.2]}, facts) == {}
    assert facts["customer_survey"]["distribution"] is None and facts["customer_survey"]["censored"] == 2
