"""Shift calendars on Chinese working days, working-time arithmetic, and no work outside shifts in a run."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from runner.simulation.branching import inclusive_choice
from runner.simulation.engine import simulate
from runner.simulation.scenario import ScenarioError, scenario_from_dict
from runner.simulation.staff import CalendarError, ShiftCalendar, ShiftSpec, parse_shift
from runner.workdays import TZ, WorkingCalendar

DATA = Path(__file__).resolve().parent / "data" / "simulation"
OFFICE = ShiftSpec("cn", ("08:30-12:00", "13:30-17:30"))
MAKE_UP_SUNDAY = date(2026, 9, 20)  # 调休: a Sunday worked before the Mid-Autumn / National Day holidays


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def test_the_data_file_has_the_make_up_day_used_here() -> None:
    workdays = WorkingCalendar.default()
    assert MAKE_UP_SUNDAY.weekday() == 6 and workdays.is_working_day(MAKE_UP_SUNDAY)
    assert not workdays.is_working_day(date(2026, 10, 1))


def test_task_started_late_continues_next_working_day() -> None:
    office = ShiftCalendar(OFFICE)
    # Friday 2026-11-06 16:00, 6 working hours: 1.5 h on Friday, 3.5 h Monday morning, 1 h Monday afternoon
    assert office.add_working_time(at("2026-11-06T16:00"), 6 * 3600) == at("2026-11-09T14:30")
    assert office.on_shift_seconds(at("2026-11-06T16:00"), at("2026-11-09T14:30")) == 6 * 3600


def test_holidays_are_skipped_and_make_up_days_are_worked() -> None:
    office = ShiftCalendar(OFFICE)
    assert office.intervals(date(2026, 10, 1)) == ()
    assert office.intervals(date(2026, 9, 19)) == ()  # an ordinary Saturday
    assert office.intervals(MAKE_UP_SUNDAY)[0][0] == at("2026-09-20T08:30")
    assert office.next_on_shift(at("2026-09-30T17:45")) == at("2026-10-08T08:30")
    assert office.next_on_shift(at("2026-09-19T10:00")) == at("2026-09-20T08:30")
    weekly = ShiftCalendar(ShiftSpec(("mon", "tue", "wed", "thu", "fri"), ("09:00-17:00",)))
    assert weekly.intervals(date(2026, 10, 1))  # a plain weekly calendar ignores holidays
    assert not weekly.intervals(MAKE_UP_SUNDAY)


def test_boundaries_and_bad_shifts() -> None:
    office = ShiftCalendar(OFFICE)
    assert office.is_on_shift(at("2026-11-02T08:30")) and not office.is_on_shift(at("2026-11-02T12:00"))
    always = ShiftCalendar(ShiftSpec("all", ("00:00-24:00",)))
    assert always.add_working_time(at("2026-10-01T22:00"), 5 * 3600) == at("2026-10-02T03:00")
    assert parse_shift("13:30-24:00") == (13 * 3600 + 1800, 86400)
    for text in ("8:30-12:00", "12:00-08:30", "25:00-26:00"):
        with pytest.raises(CalendarError):
            parse_shift(text)
    with pytest.raises(CalendarError, match="overlap"):
        ShiftCalendar(ShiftSpec("cn", ("08:00-12:00", "11:00-13:00")))


def test_no_work_starts_or_runs_outside_shifts_over_the_national_day_holiday() -> None:
    """A busy clerk across 2026-09-14 … 10-20: every piece of work lies on shift on working days only."""
    data = {
        "name": "holiday", "start": "2026-09-14", "horizon_days": 14, "max_days": 60, "seed": 5,
        "process": ".", "samples": "samples",
        "arrival_calendar": {"working_days": "cn", "windows": [{"hours": "08:30-17:30"}]},
        "arrivals": {"one": {"per_working_day": 5}},
        "calendars": {"office": {"working_days": "cn", "shifts": ["08:30-12:00", "13:30-17:30"]}},
        "pools": {"clerk": {"count": 1, "calendar": "office"}},
        "durations": {"work": 2},
    }
    log = simulate(scenario_from_dict(data, base_dir=DATA / "one_step"))
    office = ShiftCalendar(OFFICE)
    work = [a for a in log.activities if a.kind == "user"]
    assert len(work) == len(log.cases) > 40
    days_worked = set()
    for activity in work:
        assert office.is_on_shift(activity.start_time), activity
        end_shift = office.current_shift_end(activity.end_time - timedelta(microseconds=1))
        assert end_shift is not None, activity
        assert office.on_shift_seconds(activity.start_time, activity.end_time) == pytest.approx(2 * 3600)
        days_worked.add(activity.start_time.date())
    assert MAKE_UP_SUNDAY in days_worked  # the queue is long enough to reach the 调休 Sunday
    holidays = {date(2026, 9, 19), *(date(2026, 10, d) for d in range(1, 8)), date(2026, 9, 25)}
    assert not days_worked & holidays
    [pool] = log.pools
    assert pool.available_seconds == office.on_shift_seconds(log.started_at, log.ended_at)
    assert 0 < pool.busy_seconds <= pool.available_seconds


def test_weekday_shifts_give_some_weekdays_other_hours() -> None:
    """A manager working 10–12 every weekday and 14–17 Monday to Thursday (Prosimos's loan example): Friday has its
    own shifts; an empty list is a weekday without a shift; unknown weekdays and overlaps are refused."""
    spec = ShiftSpec.from_dict({"working_days": ["mon", "tue", "wed", "thu", "fri"],
                                "shifts": ["10:00-12:00", "14:00-17:00"], "weekday_shifts": {"fri": ["10:00-12:00"]}})
    manager = ShiftCalendar(spec)
    assert spec.to_dict()["weekday_shifts"] == {"fri": ["10:00-12:00"]}
    assert manager.intervals(date(2026, 11, 5)) == ((at("2026-11-05T10:00"), at("2026-11-05T12:00")),
                                                    (at("2026-11-05T14:00"), at("2026-11-05T17:00")))
    assert manager.intervals(date(2026, 11, 6)) == ((at("2026-11-06T10:00"), at("2026-11-06T12:00")),)
    assert manager.on_shift_seconds(at("2026-11-02T00:00"), at("2026-11-09T00:00")) == 22 * 3600
    # 3 h started Friday 11:00: 1 h on Friday, the rest on Monday (no Friday afternoon)
    assert manager.add_working_time(at("2026-11-06T11:00"), 3 * 3600) == at("2026-11-09T12:00")
    assert manager.next_on_shift(at("2026-11-06T13:00")) == at("2026-11-09T10:00")
    halls = ShiftCalendar(ShiftSpec("all", ("09:00-17:00",), (("sat", ("09:00-12:00",)), ("sun", ()))))
    assert halls.intervals(date(2026, 11, 7)) == ((at("2026-11-07T09:00"), at("2026-11-07T12:00")),)
    assert halls.intervals(date(2026, 11, 8)) == ()
    with pytest.raises(CalendarError, match="unknown weekdays"):
        ShiftCalendar(ShiftSpec("cn", ("09:00-17:00",), (("fri ", ("09:00-12:00",)),)))
    with pytest.raises(CalendarError, match="overlap"):
        ShiftCalendar(ShiftSpec("cn", ("09:00-17:00",), (("fri", ("09:00-12:00", "11:00-13:00")),)))


def one_step(**changes: object) -> dict[str, object]:
    """The one-step model with a clerk pool on office hours."""
    return {"name": "one", "start": "2026-11-02", "horizon_days": 14, "max_days": 60, "seed": 5, "process": ".",
            "samples": "samples", "arrivals": {"one": {"per_working_day": 5}},
            "calendars": {"office": {"working_days": "cn", "shifts": ["08:30-12:00", "13:30-17:30"]}},
            "pools": {"clerk": {"count": 1, "calendar": "office"}}, "durations": {"work": 2}, **changes}


def test_a_scenario_refuses_bad_weekday_shifts_and_windows_naming_the_key() -> None:
    bad_shifts = one_step(calendars={"office": {"working_days": "cn", "shifts": ["08:30-17:30"],
                                                "weekday_shifts": {"fri": ["09:00-12:00", "11:00-13:00"]}}})
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(bad_shifts, base_dir=DATA / "one_step")
    assert "calendars.office.weekday_shifts.fri" in str(caught.value) and "overlap" in str(caught.value)
    bad_windows = one_step(arrival_calendar={"working_days": "cn", "windows": [{"hours": "08:30-17:30"}],
                                             "weekday_windows": {"fri": [{"hours": "9:00-12:00"}]}})
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(bad_windows, base_dir=DATA / "one_step")
    assert "arrival_calendar.weekday_windows.fri" in str(caught.value)


def test_weekday_windows_bring_saturday_applications_in_the_morning_only() -> None:
    """A service hall open 09–17 on weekdays and 09–12 on Saturdays, closed on Sundays: applications come in then
    (Poisson per arrival day, and renewal gaps counted in opening hours alike)."""
    hall = {"working_days": "all", "windows": [{"hours": "09:00-17:00"}],
            "weekday_windows": {"sat": [{"hours": "09:00-12:00"}], "sun": []}}
    for arrivals in ({"per_working_day": 8}, {"interarrival_hours": 1.5}):
        scenario = scenario_from_dict(one_step(arrival_calendar=hall, arrivals={"one": arrivals}, horizon_days=28),
                                      base_dir=DATA / "one_step")
        log = simulate(scenario)
        local = [case.arrival.astimezone(TZ) for case in log.cases]
        saturday = [moment for moment in local if moment.weekday() == 5]
        assert saturday and all(time(9) <= moment.time() <= time(12) for moment in saturday), arrivals
        assert not any(moment.weekday() == 6 for moment in local), arrivals
        assert any(moment.hour >= 12 for moment in local if moment.weekday() < 5), arrivals


def test_an_inclusive_gateway_takes_each_flow_by_its_chance_and_at_least_one() -> None:
    """Prosimos's rule: one draw per flow; none came up → one flow by the chances as weights (equal when all are
    0); with a default flow, nothing (the gateway takes the default)."""
    flows = [("a", 0.7), ("b", 0.3)]
    stream = random.Random(4)
    taken = Counter(frozenset(inclusive_choice(flows, stream)) for _ in range(20000))
    assert all(taken)  # never empty
    assert abs(taken[frozenset("ab")] / 20000 - 0.21) < 0.015
    assert abs(taken[frozenset("a")] / 20000 - (0.49 + 0.21 * 0.7)) < 0.015
    assert abs(taken[frozenset("b")] / 20000 - (0.09 + 0.21 * 0.3)) < 0.015
    never = [("a", 0.0), ("b", 0.0)]
    assert Counter(frozenset(inclusive_choice(never, stream)) for _ in range(2000)).keys() == {
        frozenset("a"), frozenset("b")}
    assert inclusive_choice(never, stream, has_default=True) == set()
