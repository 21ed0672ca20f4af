"""Arrival times of new applications per category, generated lazily in time order.

- ``per_working_day: λ`` — on every arrival day of the calendar the number of applications is Poisson(λ), each
  placed in one of the day's windows chosen by weight, uniformly inside it (a non-homogeneous Poisson process);
- ``per_day: λ`` — the same on every calendar day, holidays and weekends included;
- ``interarrival_hours: <distribution>`` — a renewal process whose gaps count only the calendar's window hours
  (weights ignored); a 24/7 calendar gives the plain textbook process.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from runner.workdays import TZ, WorkingCalendar

from .scenario import ArrivalCalendar, ArrivalSpec
from .staff import ShiftCalendar, ShiftSpec, parse_shift


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
    shift = ShiftCalendar(ShiftSpec("all" if spec.per_day is not None else calendar.working_days,
                                    tuple(w.hours for w in calendar.windows)), workdays)
    if spec.interarrival_hours is not None:
        moment = shift.next_on_shift(start)
        while True:
            moment = shift.add_working_time(moment, spec.interarrival_hours.sample(rng) * 3600.0)
            if until is not None and moment >= until:
                return
            yield moment
    rate = spec.per_day if spec.per_day is not None else (spec.per_working_day or 0.0)
    windows = [(parse_shift(w.hours), w.weight) for w in calendar.windows]
    total_weight = sum(weight for _hours, weight in windows)
    day = start.astimezone(TZ).date()
    idle = 0
    while until is None or datetime.combine(day, time(0), tzinfo=TZ) < until:
        if shift.is_work_day(day) and rate > 0:
            idle = 0
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
