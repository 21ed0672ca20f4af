"""Shift calendars on Chinese working days, working-time arithmetic, and no work outside shifts in a run."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from runner.simulation.engine import simulate
from runner.simulation.scenario import scenario_from_dict
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
