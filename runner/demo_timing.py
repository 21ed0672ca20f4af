"""Office hours for the demo cases (``runner.demo``): their steps happen between 09:00 and 17:00 on working days of
the Chinese official calendar (``runner.workdays``, 调休 make-up days included), so that counting a case's steps in
working hours back from now always puts them on a weekday morning or afternoon, never on a Sunday night."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from .clock import SHANGHAI
from .simulation.staff import ShiftCalendar, ShiftSpec
from .workdays import WorkingCalendar

OFFICE_OPENS = time(9, 0)
OFFICE_CLOSES = time(17, 0)
HOURS_A_DAY = 8.0
"""Working hours between ``OFFICE_OPENS`` and ``OFFICE_CLOSES``."""
_MAX_DAYS = 3660
"""A bound on the days walked back (ten years): a calendar without working days cannot make the walk endless."""


def _at(day: datetime, moment: time) -> datetime:
    return datetime.combine(day.date(), moment, tzinfo=SHANGHAI)


def office(calendar: WorkingCalendar) -> ShiftCalendar:
    """Office hours as the simulator's shift calendar: 09:00–17:00 on the official working days."""
    return ShiftCalendar(ShiftSpec("cn", (f"{OFFICE_OPENS:%H:%M}-{OFFICE_CLOSES:%H:%M}",)), calendar)


def add_working_hours(start: datetime, hours: float, calendar: WorkingCalendar) -> datetime:
    """``hours`` office hours after ``start`` (a start outside office hours counts from the next opening)."""
    if hours <= 0:
        return start
    hours_of = office(calendar)
    return hours_of.add_working_time(hours_of.next_on_shift(start.astimezone(SHANGHAI)), hours * 3600)


def working_hours_before(end: datetime, hours: float, calendar: WorkingCalendar) -> datetime:
    """The moment ``hours`` office hours before ``end`` (an end outside office hours counts from the last closing)."""
    if hours <= 0:
        return end
    moment, left = end.astimezone(SHANGHAI), timedelta(hours=hours)
    for _ in range(_MAX_DAYS):
        if not calendar.is_working_day(moment.date()) or moment.time() <= OFFICE_OPENS:
            moment = _at(moment - timedelta(days=1), OFFICE_CLOSES)
            continue
        moment = min(moment, _at(moment, OFFICE_CLOSES))
        available = moment - _at(moment, OFFICE_OPENS)
        if left <= available:
            return moment - left
        left -= available
        moment = _at(moment - timedelta(days=1), OFFICE_CLOSES)
    raise ValueError(f"no working days within {_MAX_DAYS} days before {end}")


def in_office_hours(moment: datetime, calendar: WorkingCalendar) -> bool:
    """Whether ``moment`` lies within office hours of a working day (closing time included)."""
    local = moment.astimezone(SHANGHAI)
    return calendar.is_working_day(local.date()) and OFFICE_OPENS <= local.time() <= OFFICE_CLOSES
