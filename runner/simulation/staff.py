"""Staff pools and their shift calendars: when a resource may start work and how working time adds up.

A shift calendar combines which days are worked with the shifts of such a day:

- ``working_days: cn`` — the Chinese official working days of ``runner.workdays.WorkingCalendar`` (Monday–Friday,
  minus public holidays and 调休 days off, plus 调休 make-up working days, even on a Saturday or Sunday);
- ``working_days: all`` — every day (24/7 services, the queueing tests);
- ``working_days: [mon, tue, …]`` — a plain weekly pattern, ignoring holidays.

``shifts`` are ``"HH:MM-HH:MM"`` intervals of such a day (``24:00`` ends at midnight); ``weekday_shifts`` gives
particular weekdays other shifts (``{fri: ["10:00-12:00"]}``: Friday afternoons off; ``[]``: no shift that
weekday). Work counts only on shift: a 6-hour task started at 16:00 with the shift ending at 17:30 continues at the
next shift start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from runner.workdays import TZ, WorkingCalendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SHIFT_FORM = re.compile(r"^\d\d:\d\d-\d\d:\d\d$")
"""The shape of a shift, whatever its numbers (``SHIFT_PATTERN`` checks their ranges too)."""
SHIFT_PATTERN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
MAX_IDLE_DAYS = 400
"""A calendar with no shift in this many days is broken (the longest real run of days off is 9)."""


class CalendarError(ValueError):
    """A shift calendar that cannot be used."""


def parse_shift(text: str) -> tuple[int, int]:
    """``"08:30-12:00"`` → (start, end) in seconds after midnight; the end must lie after the start."""
    match = SHIFT_PATTERN.match(text.strip())
    if not match:
        for moment in re.findall(r"\d\d:\d\d", text) if SHIFT_FORM.match(text.strip()) else []:
            if int(moment[:2]) > 24 or int(moment[3:]) > 59 or (moment[:2] == "24" and moment != "24:00"):
                raise CalendarError(f"shift {text!r}: {moment} is out of range (hours 00–23, minutes 00–59; "
                                    "24:00 only as the end)")
        raise CalendarError(f"shift {text!r} is not HH:MM-HH:MM")
    start = int(match[1]) * 3600 + int(match[2]) * 60
    end = int(match[3]) * 3600 + int(match[4]) * 60
    if end > 24 * 3600 or end <= start:
        raise CalendarError(f"shift {text!r} must end after it starts, by 24:00 at the latest")
    return start, end


def parse_shifts(texts: tuple[str, ...], kind: str = "shifts") -> list[tuple[int, int]]:
    """A day's shifts in seconds after midnight, sorted; ``CalendarError`` when one is malformed or two overlap
    (``shifts 09:00-12:00 and 11:00-13:00 overlap``; ``kind`` names them, e.g. ``windows``)."""
    parsed = sorted((parse_shift(text), text.strip()) for text in texts)
    for ((_s1, e1), first), ((s2, _e2), second) in zip(parsed, parsed[1:], strict=False):
        if s2 < e1:
            raise CalendarError(f"{kind} {first} and {second} overlap")
    return [interval for interval, _text in parsed]


@dataclass(frozen=True)
class ShiftSpec:
    """A shift calendar as the scenario states it."""

    working_days: str | tuple[str, ...]  # "cn", "all" or weekday names
    shifts: tuple[str, ...]
    weekday_shifts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(weekday, its shifts) for weekdays whose worked days have other shifts than ``shifts``; none: no shift."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShiftSpec:
        """A scenario's ``calendars.<name>`` entry (``working_days`` defaults to ``cn``)."""
        days = data.get("working_days", "cn")
        return cls(days if isinstance(days, str) else tuple(days), tuple(data["shifts"]),
                   tuple((day, tuple(shifts)) for day, shifts in (data.get("weekday_shifts") or {}).items()))

    def to_dict(self) -> dict[str, object]:
        days = self.working_days if isinstance(self.working_days, str) else list(self.working_days)
        result: dict[str, object] = {"working_days": days, "shifts": list(self.shifts)}
        if self.weekday_shifts:
            result["weekday_shifts"] = {day: list(shifts) for day, shifts in self.weekday_shifts}
        return result


class ShiftCalendar:
    """Shift intervals on the virtual clock, cached per day."""

    def __init__(self, spec: ShiftSpec, workdays: WorkingCalendar | None = None) -> None:
        self.spec = spec
        self.workdays = workdays or WorkingCalendar.default()
        intervals = parse_shifts(spec.shifts)
        if not intervals:
            raise CalendarError("a calendar needs at least one shift")
        self._shift_seconds = intervals
        unknown_days = [day for day, _shifts in spec.weekday_shifts if day not in WEEKDAYS]
        if unknown_days:
            raise CalendarError(f"weekday_shifts: unknown weekdays {unknown_days}; use {', '.join(WEEKDAYS)}")
        self._weekday_seconds = {WEEKDAYS.index(day): parse_shifts(shifts) for day, shifts in spec.weekday_shifts}
        if isinstance(spec.working_days, str) and spec.working_days not in ("cn", "all"):
            raise CalendarError(f"working_days must be cn, all or a list of weekdays, not {spec.working_days!r}")
        if not isinstance(spec.working_days, str):
            unknown = [d for d in spec.working_days if d not in WEEKDAYS]
            if unknown or not spec.working_days:
                raise CalendarError(f"unknown weekdays {unknown}; use {', '.join(WEEKDAYS)}")
        self._weekdays = frozenset(WEEKDAYS.index(d) for d in spec.working_days) \
            if not isinstance(spec.working_days, str) else frozenset()
        self._days: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    # -- days ------------------------------------------------------------------------------------------------------

    def is_work_day(self, day: date) -> bool:
        """Whether this (Shanghai-local) day is a working day of the calendar (it may still have no shift:
        ``weekday_shifts`` with an empty list)."""
        if self.spec.working_days == "all":
            return True
        if self.spec.working_days == "cn":
            return self.workdays.is_working_day(day)
        return day.weekday() in self._weekdays

    def intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's shifts as aware (start, end) datetimes; empty on a day off."""
        cached = self._days.get(day)
        if cached is None:
            if self.is_work_day(day):
                midnight = datetime.combine(day, time(0), tzinfo=TZ)
                cached = tuple((midnight + timedelta(seconds=s), midnight + timedelta(seconds=e))
                               for s, e in self._weekday_seconds.get(day.weekday(), self._shift_seconds))
            else:
                cached = ()
            self._days[day] = cached
        return cached

    # -- moments ---------------------------------------------------------------------------------------------------

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(TZ).date()

    def current_shift_end(self, moment: datetime) -> datetime | None:
        """The end of the shift ``moment`` lies in (start inclusive, end exclusive), or None when off shift."""
        for start, end in self.intervals(self._local_day(moment)):
            if start <= moment < end:
                return end
        return None

    def is_on_shift(self, moment: datetime) -> bool:
        return self.current_shift_end(moment) is not None

    def next_on_shift(self, moment: datetime) -> datetime:
        """``moment`` itself when on shift, else the start of the next shift."""
        day = self._local_day(moment)
        for _ in range(MAX_IDLE_DAYS):
            for start, end in self.intervals(day):
                if moment < end:
                    return max(start, moment)
            day += timedelta(days=1)
        raise CalendarError(f"no shift within {MAX_IDLE_DAYS} days after {moment.isoformat()}")

    def add_working_time(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of on-shift time after ``start`` (which should be on shift) are used up."""
        moment = start
        remaining = max(0.0, seconds)
        day = self._local_day(moment)
        idle = 0
        while True:
            found = False
            for shift_start, shift_end in self.intervals(day):
                if moment >= shift_end:
                    continue
                found = True
                begin = max(moment, shift_start)
                available = (shift_end - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
                moment = shift_end
            idle = 0 if found else idle + 1
            if idle > MAX_IDLE_DAYS:
                raise CalendarError(f"no shift within {MAX_IDLE_DAYS} days after {moment.isoformat()}")
            day += timedelta(days=1)

    def on_shift_seconds(self, start: datetime, end: datetime) -> float:
        """On-shift seconds between two moments."""
        if end <= start:
            return 0.0
        total = 0.0
        day, last = self._local_day(start), self._local_day(end)
        while day <= last:
            for shift_start, shift_end in self.intervals(day):
                overlap = (min(end, shift_end) - max(start, shift_start)).total_seconds()
                if overlap > 0:
                    total += overlap
            day += timedelta(days=1)
        return total


@dataclass(frozen=True)
class PoolSpec:
    """A staff pool for one lane role: how many people, what an hour costs, which calendar they work."""

    role: str
    count: int
    hourly_cost: float = 0.0
    calendar: str = "office"

    def resource_names(self) -> list[str]:
        return [f"{self.role}#{number}" for number in range(1, self.count + 1)]

    def to_dict(self) -> dict[str, object]:
        return {"count": self.count, "hourly_cost": self.hourly_cost, "calendar": self.calendar}
