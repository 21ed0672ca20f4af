"""Arrival times of new applications per category, generated lazily in time order.

- ``per_working_day: λ`` — on every arrival day of the calendar the number of applications is Poisson(λ), each
  placed in one of the day's windows chosen by weight, uniformly inside it (a non-homogeneous Poisson process);
- ``per_day: λ`` — the same on every calendar day, holidays and weekends included;
- ``interarrival_hours: <distribution>`` — a renewal process whose gaps count only the calendar's window hours
  (weights ignored); a 24/7 calendar gives the plain textbook process. With ``interarrival_mode: prosimos`` (what a
  converted Prosimos model uses) the gaps follow Prosimos 2.1.0 instead (``prosimos_arrival_times``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from runner.workdays import TZ, WorkingCalendar

from .distributions import Distribution
from .scenario import PROSIMOS_ARRIVALS, ArrivalCalendar, ArrivalSpec, Scenario
from .staff import ShiftCalendar, parse_shift


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson(mean) count: the number of unit-rate exponential gaps that fit in ``mean``."""
    if mean <= 0:
        return 0
    if mean > 500:  # normal approximation keeps huge rates cheap
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def pick_window(windows: list[tuple[tuple[int, int], float]], pick: float) -> tuple[int, int]:
    """The window (start, end seconds) whose cumulative weight slot holds ``pick``."""
    for hours, weight in windows:
        pick -= weight
        if pick < 0:
            return hours
    return windows[-1][0]


def arrival_times(spec: ArrivalSpec, calendar: ArrivalCalendar, start: datetime, until: datetime | None,
                  rng: random.Random, workdays: WorkingCalendar | None = None) -> Iterator[datetime]:
    """Arrival moments in ``[start, until)`` (unbounded when ``until`` is None), ascending."""
    shift = ShiftCalendar(calendar.as_shifts("all" if spec.per_day is not None else None), workdays)
    if spec.interarrival_hours is not None and spec.interarrival_mode == PROSIMOS_ARRIVALS:
        yield from prosimos_arrival_times(spec.interarrival_hours, shift, start, until, rng)
        return
    if spec.interarrival_hours is not None:
        moment = shift.next_on_shift(start)
        while True:
            moment = shift.add_working_time(moment, spec.interarrival_hours.sample(rng) * 3600.0)
            if until is not None and moment >= until:
                return
            yield moment
    rate = spec.per_day if spec.per_day is not None else (spec.per_working_day or 0.0)
    by_weekday = [[(parse_shift(w.hours), w.weight) for w in calendar.windows_on(weekday)] for weekday in range(7)]
    day = start.astimezone(TZ).date()
    idle = 0
    while until is None or datetime.combine(day, time(0), tzinfo=TZ) < until:
        windows = by_weekday[day.weekday()]
        if shift.is_work_day(day) and rate > 0 and windows:
            idle = 0
            total_weight = sum(weight for _hours, weight in windows)
            midnight = datetime.combine(day, time(0), tzinfo=TZ)
            moments = []
            for _ in range(poisson(rng, rate)):
                low, high = pick_window(windows, rng.random() * total_weight)
                moments.append(midnight + timedelta(seconds=rng.uniform(low, high)))
            for moment in sorted(moments):
                if moment >= start and (until is None or moment < until):
                    yield moment
        else:
            idle += 1
            if idle > 400:
                return
        day += timedelta(days=1)


def prosimos_arrival_times(gaps: Distribution, shift: ShiftCalendar, start: datetime, until: datetime | None,
                           rng: random.Random) -> Iterator[datetime]:
    """Arrival moments as Prosimos 2.1.0 makes them (``SimulationSetup.set_starting_datetime``,
    ``generate_all_arrival_events`` and ``next_arrival_time``), every gap a draw of elapsed time (hours):

    - the first case arrives at ``start`` when ``start`` lies in a window of the arrival calendar, its end included
      (pix-framework's ``is_working_datetime``); otherwise one gap after ``start``, moved to the next opening when
      that moment lies outside the windows;
    - each next case one gap after the previous arrival, moved to the next opening when outside the windows
      (``RCalendar.next_available_time``: a window holds its start, not its end); the gap after it counts from
      there.

    No gap is counted in opening hours only: with a low rate, nights and weekends swallow gaps instead of pushing
    the arrivals into the next days."""
    def moved(moment: datetime) -> datetime:
        return shift.next_on_shift(moment + timedelta(seconds=gaps.sample(rng) * 3600.0))

    local = start.astimezone(TZ)
    inside = any(begin <= local <= end for begin, end in shift.intervals(local.date()))
    moment = start if inside else moved(start)
    while until is None or moment < until:
        yield moment
        moment = moved(moment)


def expected_arrivals(scenario: Scenario, workdays: WorkingCalendar | None = None) -> float:
    """How many applications one replication's arrival window (``horizon_days``) brings on average, before any
    case count cuts it: counted day by day on the real arrival calendar of the window, so that a window of holidays
    (a Spring Festival week on ``working_days: cn``) brings none. Without ``horizon_days`` the case count ends the
    arrivals: infinite."""
    if scenario.horizon_days is None:
        return math.inf
    until = scenario.start + timedelta(days=scenario.horizon_days)
    return sum(_expected_in_window(spec, spec.calendar or scenario.arrival_calendar, scenario.start, until,
                                   workdays or WorkingCalendar.default())
               for spec in scenario.arrivals.values())


def _expected_in_window(spec: ArrivalSpec, calendar: ArrivalCalendar, start: datetime, until: datetime,
                        workdays: WorkingCalendar) -> float:
    """A category's mean arrivals in ``[start, until)``: per arrival day its rate times the share of the day's
    (weighted) windows inside the period, or the open window hours over the mean gap."""
    shift = ShiftCalendar(calendar.as_shifts("all" if spec.per_day is not None else None), workdays)
    rate = spec.per_day if spec.per_day is not None else spec.per_working_day
    gap = spec.interarrival_hours.mean if spec.interarrival_hours is not None else None
    if not rate and not (gap and gap > 0):
        return 0.0
    total, day = 0.0, start.astimezone(TZ).date()
    while datetime.combine(day, time(0), tzinfo=TZ) < until:
        windows = calendar.windows_on(day.weekday())
        if shift.is_work_day(day) and windows:
            midnight = datetime.combine(day, time(0), tzinfo=TZ)
            weights = sum(window.weight for window in windows) or 1.0
            for window in windows:
                low, high = parse_shift(window.hours)
                opens, closes = midnight + timedelta(seconds=low), midnight + timedelta(seconds=high)
                inside = max(0.0, (min(closes, until) - max(opens, start)).total_seconds())
                if rate:
                    total += rate * window.weight / weights * inside / max(1.0, high - low)
                elif gap:
                    total += inside / 3600.0 / gap
        day += timedelta(days=1)
    return total
