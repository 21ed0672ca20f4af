"""case_kpis: every refused round (暂不签署 / 暂不签订) is the customer's time, not only the latest (DOMAIN §2: the
clock pauses for customer-caused delay). Real 2026 official calendar: 中秋 25 Sep, 国庆 1–7 Oct, 调休 10 Oct."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from handlers.common import SHANGHAI
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.kpis import case_kpis
from runner.workdays import WorkingCalendar


def make_ctx() -> HandlerContext:
    return HandlerContext(case_number="SUP2-1", now=lambda: datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI),
                          calendar=WorkingCalendar.default(), outbox=MemoryOutbox(), archive=MemoryArchive())


# The customer turned the plan down twice; the timeline's keys hold the latest round only.
TWICE_REFUSED: dict[str, Any] = {
    "applied": "2026-09-21T09:00:00+08:00",  # Mon
    "accepted": "2026-09-21T15:00:00+08:00",
    "plan_refused_answered": "2026-09-29T10:00:00+08:00",  # Tue: the second plan
    "plan_refused": "2026-10-09T10:00:00+08:00",  # Fri: refused again (over the National Day holiday)
    "plan_answered": "2026-10-12T10:00:00+08:00",  # Mon: the third plan
    "plan_signed": "2026-10-13T10:00:00+08:00",  # Tue
    "energized": "2026-10-16T16:00:00+08:00",  # Fri
}
FIRST_ROUND = ["2026-09-22T10:00:00+08:00", "2026-09-24T10:00:00+08:00"]  # Tue → Thu: the first plan refused
SECOND_ROUND = [TWICE_REFUSED["plan_refused_answered"], TWICE_REFUSED["plan_refused"]]


def test_every_refused_round_is_the_customer_s() -> None:
    timeline = {**TWICE_REFUSED, "plan_refused_rounds": [FIRST_ROUND, SECOND_ROUND]}
    result = case_kpis(make_ctx(), timeline, "hv_ordinary", 4, 0)
    # after Mon 21 Sep up to Fri 16 Oct: 22–24, 28–30 Sep, 8, 9, 10 (调休), 12–16 Oct = 14 (25 Sep, 1–7 Oct off)
    assert result["working_days"] == 14
    assert [(p["period"], p["working_days"]) for p in result["customer_held_periods"]] == [
        ("plan_signing", 1),  # Mon 12 Oct 10:00 → Tue 13 Oct 10:00
        ("plan_refused", 2),  # Tue 22 → Thu 24 Sep 10:00
        ("plan_refused", 3),  # Tue 29 Sep 10:00 → Fri 9 Oct 10:00: 14h 29 Sep, 30 Sep, holiday, 8 Oct, 10h 9 Oct
    ]
    assert result["customer_held_working_days"] == 6
    # the utility's: 3 plans drafted, energising: 14 − 6 = 8 (with the first round counted as theirs it was 10)
    assert result["utility_held_working_days"] == 8


def test_the_latest_round_alone_still_counts_without_the_list() -> None:
    result = case_kpis(make_ctx(), TWICE_REFUSED, "hv_ordinary", 4, 0)
    assert [p["period"] for p in result["customer_held_periods"]] == ["plan_signing", "plan_refused"]
    assert (result["customer_held_working_days"], result["utility_held_working_days"]) == (4, 10)


def test_a_list_missing_the_latest_round_still_deducts_it_once() -> None:
    for rounds in ([FIRST_ROUND], [FIRST_ROUND, SECOND_ROUND, SECOND_ROUND]):
        result = case_kpis(make_ctx(), {**TWICE_REFUSED, "plan_refused_rounds": rounds}, "hv_ordinary", 4, 0)
        assert result["customer_held_working_days"] == 6
        assert result["utility_held_working_days"] == 8


def test_contract_rounds_count_too() -> None:
    timeline = {
        "applied": "2026-11-02T09:00:00+08:00",  # Mon
        "contract_refused_sent": "2026-11-04T09:00:00+08:00",
        "contract_refused": "2026-11-05T09:00:00+08:00",
        "contract_sent": "2026-11-06T09:00:00+08:00",
        "contract_signed": "2026-11-09T09:00:00+08:00",  # Mon (the weekend is not working time)
        "energized": "2026-11-10T09:00:00+08:00",
        "contract_refused_rounds": [["2026-11-03T09:00:00+08:00", "2026-11-04T09:00:00+08:00"],
                                    ["2026-11-04T09:00:00+08:00", "2026-11-05T09:00:00+08:00"]],
    }
    result = case_kpis(make_ctx(), timeline, "lv_other", 3, 0)
    assert result["working_days"] == 6
    assert [p["period"] for p in result["customer_held_periods"]] == [
        "contract_signing", "contract_refused", "contract_refused"]
    assert result["customer_held_working_days"] == 3  # 2 refused days + Fri 09:00 → Mon 09:00 (15h + 9h)


@pytest.mark.parametrize("rounds", ["2026-09-22", [["2026-09-22T10:00:00+08:00"]], [["x", "y"]]])
def test_a_malformed_list_is_a_clear_error(rounds: Any) -> None:
    with pytest.raises(ValueError, match="plan_refused_rounds"):
        case_kpis(make_ctx(), {**TWICE_REFUSED, "plan_refused_rounds": rounds}, "hv_ordinary", 4, 0)
