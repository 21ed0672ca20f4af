"""Chinese working-day calendar (工作日历) for statutory time limits.

A day is a working day if it is Monday–Friday and not an official day off (法定节假日 or 调休 day off), or if it is a
调休 make-up working day (a weekend day that is worked). The official schedule is data
(``runner/data/cn_workdays.json``, seeded from PyPI ``chinese-calendar``, updated by an administrator each year when
the State Council publishes the next schedule). Years without data fall back to the rule-based ``holidays.China``
(days off) plus weekends, without make-up days; such answers are flagged by :meth:`WorkingCalendar.is_estimated`.

All times are Asia/Shanghai (+08:00). Naive datetimes (and ISO strings without an offset that carry a time) are
rejected with ``ValueError``; a date or a date-only ISO string names a Shanghai calendar day.

Typical admin update::

    year, hol, work = load_year_file("2027.csv")
    WorkingCalendar.default().with_year(year, hol, work).save(DATA_FILE)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TypeAlias
from zoneinfo import ZoneInfo

from holidays import country_holidays

from runner.calendar_data import (
    CalendarDataError,
    YearData,
    load_year_file,
    read_data_file,
    seed_from_chinese_calendar,
    validate_year,
    write_data_file,
)

__all__ = [
    "DATA_FILE",
    "TZ",
    "CalendarDataError",
    "DayLike",
    "WorkingCalendar",
    "load_year_file",
    "seed_from_chinese_calendar",
    "to_day",
    "to_iso",
    "to_shanghai",
]

TZ = ZoneInfo("Asia/Shanghai")
DATA_FILE = Path(__file__).resolve().parent / "data" / "cn_workdays.json"
MAX_DAYS_OFF_RUN = 60
"""More consecutive days off than this means broken data (the longest real run is 9 days)."""

DayLike: TypeAlias = date | datetime | str
"""A day: a ``date``, an aware ``datetime`` (its Shanghai-local day) or an ISO string (date, or datetime+offset)."""


def to_shanghai(value: datetime | str) -> datetime:
    """Convert an aware datetime or an ISO datetime string with offset to Asia/Shanghai.

    Raises:
        ValueError: If the value is naive or not a valid ISO datetime.
        TypeError: If the value is neither a datetime nor a string.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO datetime: {value!r}") from None
    if not isinstance(value, datetime):
        raise TypeError(f"expected datetime or ISO string, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (an offset or time zone is required)")
    return value.astimezone(TZ)


def to_iso(dt: datetime | str) -> str:
    """Format as an ISO string in Asia/Shanghai with seconds, e.g. ``2026-11-26T23:59:59+08:00``.

    Raises:
        ValueError: If ``dt`` is naive.
    """
    return to_shanghai(dt).isoformat(timespec="seconds")


def to_day(value: DayLike) -> date:
    """The Shanghai-local calendar day of ``value`` (see :data:`DayLike`).

    Raises:
        ValueError: For a naive datetime, a datetime string without offset, or an unparsable string.
        TypeError: For any other type.
    """
    if isinstance(value, datetime):
        return to_shanghai(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"not an ISO date: {value!r}") from None
        return to_shanghai(text).date()
    raise TypeError(f"expected date, datetime or ISO string, got {type(value).__name__}")


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"working-day count must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"working-day count must be >= 0, got {n}")


class WorkingCalendar:
    """The official working-day calendar with a flagged rule-based fallback; immutable.

    Args:
        years: ``{year: (holidays, workdays)}`` from the official schedules (see :mod:`runner.calendar_data`).
        source: Where the data comes from (kept in the data file).

    Raises:
        CalendarDataError: If a year's entry is invalid or a date is a day off in one year's entry and a make-up
            working day in another.
    """

    def __init__(self, years: Mapping[int, YearData], source: str = "") -> None:
        self._years: dict[int, YearData] = {y: validate_year(y, h, w) for y, (h, w) in sorted(years.items())}
        self.source = source
        self._holidays = frozenset().union(*(h for h, _w in self._years.values()))
        self._workdays = frozenset().union(*(w for _h, w in self._years.values()))
        clash = sorted(self._holidays & self._workdays)
        if clash:
            raise CalendarDataError(f"{clash[0].isoformat()} is both a day off and a make-up working day")
        self._fallback_cache: dict[int, frozenset[date]] = {}

    # ----- construction and persistence -------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> WorkingCalendar:
        """Load a data file (``cn_workdays.json`` shape).

        Raises:
            CalendarDataError: With the file name if the file is invalid.
        """
        source, years = read_data_file(path)
        return cls(years, source)

    @classmethod
    def default(cls, reload: bool = False) -> WorkingCalendar:
        """The calendar from :data:`DATA_FILE`, loaded once and cached; ``reload=True`` re-reads the file."""
        global _default
        if _default is None or reload:
            _default = cls.from_file(DATA_FILE)
        return _default

    def with_year(
        self, year: int, holidays: Iterable[date], workdays: Iterable[date], source: str | None = None
    ) -> WorkingCalendar:
        """A new calendar with ``year``'s official schedule added or replaced; ``self`` is unchanged.

        Args:
            year: The schedule's year.
            holidays: Its official days off.
            workdays: Its make-up working days (Saturdays/Sundays).
            source: New ``source`` text; None keeps the current one.

        Raises:
            CalendarDataError: If the entry is invalid or contradicts another year's entry.
        """
        years = dict(self._years)
        years[year] = (frozenset(holidays), frozenset(workdays))
        return WorkingCalendar(years, self.source if source is None else source)

    def save(self, path: str | Path) -> None:
        """Write the official data (not the fallback) to ``path``."""
        write_data_file(path, self.source, self._years)

    def known_years(self) -> tuple[int, ...]:
        """The years with official data, ascending."""
        return tuple(self._years)

    def year_data(self, year: int) -> YearData | None:
        """``(holidays, workdays)`` of an official year, or None for a year without data."""
        return self._years.get(year)

    def estimated_year(self, year: int) -> YearData:
        """``(days off, make-up working days)`` the calendar assumes for a year without official data: the
        ``holidays`` package's days off (plus any day an official schedule of a neighbouring year lists) and no
        make-up days but those a neighbouring schedule lists; weekends are off besides."""
        holidays = self._fallback_days_off(year) | {d for d in self._holidays if d.year == year}
        return frozenset(holidays), frozenset(d for d in self._workdays if d.year == year)

    # ----- day-level queries ----------------------------------------------------------------------------------
    def is_estimated(self, d: DayLike) -> bool:
        """True if the answer for this day comes from the rule-based fallback (its year has no official data)."""
        day = to_day(d)
        return day.year not in self._years and day not in self._holidays and day not in self._workdays

    def is_estimated_between(self, start: DayLike, end: DayLike) -> bool:
        """True if any day from ``start``'s day to ``end``'s day (inclusive, either order) is estimated."""
        a, b = sorted((to_day(start), to_day(end)))
        for year in range(a.year, b.year + 1):
            if year in self._years:
                continue
            day, last = max(a, date(year, 1, 1)), min(b, date(year, 12, 31))
            while day <= last:
                if self.is_estimated(day):
                    return True
                day += timedelta(days=1)
        return False

    def _fallback_days_off(self, year: int) -> frozenset[date]:
        cached = self._fallback_cache.get(year)
        if cached is None:
            cached = frozenset(country_holidays("CN", years=year))  # = holidays.China(years=year)
            self._fallback_cache[year] = cached
        return cached

    def is_working_day(self, d: DayLike) -> bool:
        """Whether the (Shanghai-local) day is a working day; never raises for a year without data."""
        day = to_day(d)
        if day in self._workdays:
            return True
        if day in self._holidays or day.weekday() >= 5:
            return False
        return day.year in self._years or day not in self._fallback_days_off(day.year)

    def add_working_days(self, d: DayLike, n: int) -> date:
        """The ``n``-th working day after day ``d``.

        For ``n >= 1``: the day ``x > d`` such that exactly ``n`` working days lie in ``(d, x]`` and ``x`` is one of
        them (``d`` itself never counts). For ``n == 0``: ``d`` if it is a working day, else the next working day.

        Raises:
            ValueError: If ``n < 0`` or ``d`` is a naive datetime.
            CalendarDataError: If the data has more than :data:`MAX_DAYS_OFF_RUN` consecutive days off.
        """
        _check_count(n)
        day = to_day(d)
        if n == 0 and self.is_working_day(day):
            return day
        count = max(n, 1)
        run = 0
        while count:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
                run = 0
            else:
                run += 1
                if run > MAX_DAYS_OFF_RUN:
                    raise CalendarDataError(f"more than {MAX_DAYS_OFF_RUN} consecutive days off before {day}")
        return day

    def deadline(self, start: DayLike, days: int) -> datetime:
        """End (23:59:59 +08:00) of the ``days``-th working day after the Shanghai-local day of ``start``.

        ``working_days_between(start, deadline(start, n)) == n`` for every ``n >= 1`` (and for ``n == 0`` when the
        start day is a working day; otherwise ``deadline(start, 0)`` is the end of the next working day). Check
        :meth:`is_estimated_between` to know whether fallback data was involved.

        Raises:
            ValueError: If ``days < 0`` or ``start`` is naive.
        """
        return datetime.combine(self.add_working_days(start, days), time(23, 59, 59), tzinfo=TZ)

    def postponed(self, deadline: datetime, days: int) -> datetime:
        """``deadline`` moved ``days`` working days later, at the same time of day: a time limit after a suspension
        of that many working days (``services._pause_deadlines``, ``script_engine.sla_deadline``)."""
        return datetime.combine(self.add_working_days(deadline, days), deadline.timetz())

    def working_days_between(self, start: DayLike, end: DayLike) -> int:
        """Number of working days strictly after ``start``'s day up to and including ``end``'s day; 0 if end <= start.

        The time of day is ignored (only the Shanghai-local days count).

        Raises:
            ValueError: If either value is naive.
        """
        day, last = to_day(start), to_day(end)
        count = 0
        while day < last:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


_default: WorkingCalendar | None = None
