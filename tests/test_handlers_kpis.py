"""Tests for handlers.kpis: Getting-Electricity indicators across the 2026 Mid-Autumn and National Day holidays."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from handlers.common import SHANGHAI
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.kpis import case_kpis


class FakeCalendar:
    """Weekends and the given holidays are days off; the given make-up days (调休) are working days.

    ``working_days_between`` counts working days strictly after ``start``'s day up to and including ``end``'s day,
    as the runner's calendar does.
    """

    def __init__(self, holidays: set[date], makeup_days: set[date]) -> None:
        self.holidays = holidays
        self.makeup_days = makeup_days

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    @staticmethod
    def _day(value: datetime | str) -> date:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert moment.tzinfo is not None, "the handler must pass aware datetimes"
        return moment.astimezone(SHANGHAI).date()

    def working_days_between(self, start: datetime | str, end: datetime | str) -> int:
        day, last, count = self._day(start), self._day(end), 0
        while day < last:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def deadline(self, start: datetime | str, days: int) -> datetime:
        day = self._day(start)
        while days > 0:
            day += timedelta(days=1)
            days -= self.is_working_day(day)
        return datetime.combine(day, time(23, 59, 59), SHANGHAI)


# 2026 (State Council schedule): 中秋节 Fri 25 Sep (with the weekend, 25–27 Sep off); 国庆节 1–7 Oct off;
# make-up working days Sun 20 Sep and Sat 10 Oct.
HOLIDAYS_2026 = {date(2026, 9, 25)} | {date(2026, 10, d) for d in range(1, 8)}
MAKEUP_2026 = {date(2026, 9, 20), date(2026, 10, 10)}
CALENDAR = FakeCalendar(HOLIDAYS_2026, MAKEUP_2026)


def make_ctx(now: datetime | None = None) -> HandlerContext:
    moment = now or datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
    return HandlerContext(
        case_number="BZ-2026-0200",
        now=lambda: moment,
        calendar=CALENDAR,
        outbox=MemoryOutbox(),
        archive=MemoryArchive(),
    )


# A 10 kV ordinary customer (4 steps) applying just before the holidays.
TIMELINE: dict[str, Any] = {
    "applied": "2026-09-24T09:00:00+08:00",  # Thu
    "accepted": "2026-09-24T15:00:00+08:00",
    "plan_answered": "2026-09-30T10:00:00+08:00",  # Wed
    "plan_signed": "2026-10-09T10:00:00+08:00",  # Fri
    "completion_reported": "2026-10-16T10:00:00+08:00",  # Fri
    "contract_sent": "2026-10-19T10:00:00+08:00",  # Mon
    "contract_signed": "2026-10-20T10:00:00+08:00",  # Tue
    "energized": "2026-10-22T16:00:00+08:00",  # Thu
}


def test_calendar_fixture_is_right() -> None:
    assert not CALENDAR.is_working_day(date(2026, 10, 5))  # a Monday in the holiday
    assert CALENDAR.is_working_day(date(2026, 10, 10))  # a Saturday made up
    assert CALENDAR.deadline("2026-09-30T10:00:00+08:00", 2) == datetime(2026, 10, 9, 23, 59, 59, tzinfo=SHANGHAI)


def test_kpis_across_national_day() -> None:
    result = case_kpis(make_ctx(), TIMELINE, "hv_ordinary", 4, 0, income_per_capita=40000)
    # Working days after 24 Sep up to 22 Oct:
    #   25–27 Sep off (中秋 + weekend)                   0
    #   28, 29, 30 Sep                                   3
    #   1–7 Oct off (国庆)                               0
    #   8, 9 Oct                                         2   (5)
    #   Sat 10 Oct make-up day                           1   (6)
    #   12–16 Oct                                        5   (11)
    #   19–22 Oct                                        4   (15)
    # A weekday-only count would give 20; the holiday-aware one gives 15.
    assert result["working_days"] == 15
    # calendar days: 24 Sep → 22 Oct = 6 + 22 = 28
    assert result["calendar_days"] == 28
    # customer-held:
    #   plan_signing      30 Sep → 9 Oct:  8, 9 Oct                       2
    #   construction       9 Oct → 16 Oct: 10 Oct (make-up), 12–16 Oct    6
    #   contract_signing  19 Oct → 20 Oct: 20 Oct                         1
    assert result["customer_held_working_days"] == 9
    # utility-held 15 − 9 = 6: 28–30 Sep (acceptance + plan), 19 Oct (contract), 21–22 Oct (energising)
    assert result["utility_held_working_days"] == 6
    assert [(p["period"], p["working_days"]) for p in result["customer_held_periods"]] == [
        ("plan_signing", 2),
        ("construction", 6),
        ("contract_signing", 1),
    ]
    assert result["steps"] == 4
    assert result["in_progress"] is False
    assert result["applied"] == "2026-09-24T09:00:00+08:00"
    assert result["energized"] == "2026-10-22T16:00:00+08:00"
    # derived visits: plan_signed, completion_reported, contract_signed (no design submitted) → 3
    assert (result["customer_visits"], result["customer_visits_source"]) == (3, "derived")
    assert result["cost_cny"] == 0.0
    assert result["cost_pct_income_per_capita"] == 0.0


def test_design_review_is_utility_time_when_recorded() -> None:
    timeline = {
        **TIMELINE,
        "design_submitted": "2026-10-12T10:00:00+08:00",  # Mon
        "design_reviewed": "2026-10-14T10:00:00+08:00",  # Wed
    }
    result = case_kpis(make_ctx(), timeline, "hv_important", 6, 104265, customer_visits=1, income_per_capita=40000)
    # customer-held: plan_signing 30 Sep → 9 Oct = 2; design 9 → 12 Oct = 10 Oct, 12 Oct = 2;
    # construction 14 → 16 Oct = 15, 16 Oct = 2; contract_signing = 1 → 7. The review, 13–14 Oct, is the utility's.
    assert result["customer_held_working_days"] == 7
    assert result["utility_held_working_days"] == 8
    # without design_reviewed the review cannot be separated and counts as the customer's construction
    without = {key: value for key, value in timeline.items() if key != "design_reviewed"}
    assert case_kpis(make_ctx(), without, "hv_important", 6, 0)["utility_held_working_days"] == 6
    # cost: 104 265 / 40 000 = 260.6625 % → 260.66
    assert result["cost_cny"] == 104265.0
    assert result["cost_pct_income_per_capita"] == 260.66
    assert (result["customer_visits"], result["customer_visits_source"]) == (1, "given")


def test_two_step_residential_case() -> None:
    timeline = {
        "applied": "2026-09-30T16:00:00+08:00",
        "accepted": "2026-09-30T16:30:00+08:00",
        "energized": "2026-10-09T11:00:00+08:00",
    }
    result = case_kpis(make_ctx(), timeline, "lv_residential", 2, 0)
    # 1–7 Oct off, then 8 and 9 Oct: 2 working days, 9 calendar days, all the utility's
    assert (result["working_days"], result["calendar_days"]) == (2, 9)
    assert result["utility_held_working_days"] == 2
    assert result["customer_held_periods"] == []
    assert result["customer_visits"] == 0  # online, 零上门
    assert result["cost_pct_income_per_capita"] is None


def test_case_in_progress_is_measured_to_now() -> None:
    timeline = {key: TIMELINE[key] for key in ("applied", "accepted", "plan_answered", "plan_signed")}
    ctx = make_ctx(datetime(2026, 10, 12, 12, 0, tzinfo=SHANGHAI))
    result = case_kpis(ctx, timeline, "hv_ordinary", 4, 0)
    # 28–30 Sep, 8, 9, 10, 12 Oct = 7; customer-held plan_signing = 2 (construction still open: not deducted)
    assert result["in_progress"] is True
    assert result["energized"] is None
    assert result["working_days"] == 7
    assert result["utility_held_working_days"] == 5


def test_unknown_timeline_keys_are_ignored_and_bad_values_rejected() -> None:
    result = case_kpis(make_ctx(), {**TIMELINE, "plan_expires_at": "soon"}, "hv_ordinary", 4, 0)
    assert result["working_days"] == 15
    with pytest.raises(ValueError, match="plan_signed"):
        case_kpis(make_ctx(), {**TIMELINE, "plan_signed": "9 Oct"}, "hv_ordinary", 4, 0)


@pytest.mark.parametrize(
    ("timeline", "kwargs", "message"),
    [
        ({"energized": TIMELINE["energized"]}, {}, "applied"),
        ({**TIMELINE, "energized": "2026-09-01T10:00:00+08:00"}, {}, "before"),
        (TIMELINE, {"ge_steps": 0}, "ge_steps"),
        (TIMELINE, {"fees_total": -1}, "fees_total"),
        (TIMELINE, {"customer_visits": -1}, "customer_visits"),
        (TIMELINE, {"income_per_capita": 0}, "income_per_capita"),
    ],
)
def test_kpis_validate(timeline: dict[str, Any], kwargs: dict[str, Any], message: str) -> None:
    params: dict[str, Any] = {"ge_steps": 4, "fees_total": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        case_kpis(make_ctx(), timeline, "hv_ordinary", **params)


# The same customer, who turned the first plan and the first contract down (暂不签署 / 暂不签订, decisions 58).
REFUSED_TIMELINE: dict[str, Any] = {
    "applied": "2026-09-24T09:00:00+08:00",  # Thu
    "accepted": "2026-09-24T15:00:00+08:00",
    "plan_refused_answered": "2026-09-28T10:00:00+08:00",  # Mon: the first plan
    "plan_refused": "2026-09-30T10:00:00+08:00",  # Wed: refused
    "plan_answered": "2026-10-09T10:00:00+08:00",  # Fri: the revised plan
    "plan_signed": "2026-10-12T10:00:00+08:00",  # Mon
    "completion_reported": "2026-10-16T10:00:00+08:00",  # Fri
    "contract_refused_sent": "2026-10-19T10:00:00+08:00",  # Mon: the first contract
    "contract_refused": "2026-10-20T10:00:00+08:00",  # Tue: refused
    "contract_sent": "2026-10-21T10:00:00+08:00",  # Wed: the revised contract
    "contract_signed": "2026-10-22T10:00:00+08:00",  # Thu
    "energized": "2026-10-23T16:00:00+08:00",  # Fri
}


def test_refused_rounds_are_customer_time() -> None:
    result = case_kpis(make_ctx(), REFUSED_TIMELINE, "hv_ordinary", 4, 0)
    # working days after 24 Sep up to 23 Oct: 28–30 Sep, 8, 9, 10 (make-up), 12–16, 19–23 Oct = 16
    assert result["working_days"] == 16
    assert [(p["period"], p["working_days"]) for p in result["customer_held_periods"]] == [
        ("plan_signing", 2),  # 10 Oct (make-up), 12 Oct
        ("construction", 4),  # 13–16 Oct
        ("contract_signing", 1),  # 22 Oct
        ("plan_refused", 2),  # 29, 30 Sep: considering the plan they refused
        ("contract_refused", 1),  # 20 Oct
    ]
    assert result["customer_held_working_days"] == 10
    # the utility's: 28 Sep (first plan), 8, 9 Oct (revising it), 19 Oct (first contract), 21 Oct (revising it),
    # 23 Oct (energising) = 6; counting the refused rounds as the utility's gave 9
    assert result["utility_held_working_days"] == 6


def test_a_refusal_without_the_round_s_start_deducts_nothing_more() -> None:
    timeline = {key: value for key, value in REFUSED_TIMELINE.items()
                if key not in ("plan_refused_answered", "contract_refused_sent")}
    result = case_kpis(make_ctx(), timeline, "hv_ordinary", 4, 0)
    assert [p["period"] for p in result["customer_held_periods"]] == [
        "plan_signing", "construction", "contract_signing"]
    assert result["customer_held_working_days"] == 7


def test_a_refused_round_of_a_case_in_progress_is_deducted_once_closed() -> None:
    ctx = make_ctx(now=datetime(2026, 10, 8, 18, 0, tzinfo=SHANGHAI))  # the revised plan is being drafted
    timeline = {key: REFUSED_TIMELINE[key] for key in ("applied", "accepted", "plan_refused_answered",
                                                         "plan_refused")}
    result = case_kpis(ctx, timeline, "hv_ordinary", 4, 0)
    # 28, 29, 30 Sep, 8 Oct = 4; the refused round (29, 30 Sep) is the customer's
    assert (result["working_days"], result["customer_held_working_days"]) == (4, 2)
    assert result["utility_held_working_days"] == 2
