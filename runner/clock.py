"""Clocks for cases: the real one for production, a virtual one for trials and simulation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from .workdays import TZ as SHANGHAI
from .workdays import to_iso

__all__ = ["SHANGHAI", "Clock", "SystemClock", "VirtualClock", "parse_iso", "to_iso"]


class Clock(Protocol):
    """Something that tells the current time as an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in Asia/Shanghai."""

    def now(self) -> datetime:
        return datetime.now(SHANGHAI)


class VirtualClock:
    """A clock that only moves when told to: trials and simulations run on it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a virtual clock needs an aware start time")
        self._now = start.astimezone(SHANGHAI)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta`` (never backwards)."""
        if delta < timedelta(0):
            raise ValueError("a clock cannot go backwards")
        self._now += delta

    def advance_to(self, moment: datetime) -> None:
        """Move forward to ``moment`` if it lies ahead; a moment in the past changes nothing."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        moment = moment.astimezone(SHANGHAI)
        if moment > self._now:
            self._now = moment


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 datetime (or date) string into an aware Asia/Shanghai datetime."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI)



def shown_time(value: datetime | None) -> str:
    """A time as the command line shows it: Shanghai time to the minute, ``-`` for none."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value is not None else "-"
