"""Case KPIs (decision 87): the small/micro whole-process target (≤ 15 working days, DOMAIN §2) comes from the
``time_limits`` DMN and is reported met / missed with the working days used; working-day figures counted over a
year without official holiday data are flagged as estimated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from handlers import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.kpis import case_kpis
from runner.clock import SHANGHAI
from runner.process_folder import ProcessBundle
from runner.trial import TrialDriver, TrialOptions, TrialResult
from runner.workdays import WorkingCalendar

SIX_WEEKS = 24 * 42.0


def trial(bundle: ProcessBundle, category: str, **options: Any) -> TrialResult:
    driver = TrialDriver(bundle, TrialOptions(category=category, **options))
    result = driver.run()
    assert result.completed, result.visited[-10:]
    return result


def test_a_small_micro_case_reports_the_whole_process_target_met(bundle: ProcessBundle) -> None:
    result = trial(bundle, "lv_smallmicro")
    assert result.summary["limits"]["whole_case"] == 15
    whole = result.kpis["whole_case"]
    assert whole == {"limit_days": 15, "working_days_used": result.kpis["utility_held_working_days"], "met": True,
                     "estimated": False}


def test_a_small_micro_case_slower_than_15_working_days_misses_the_target(bundle: ProcessBundle) -> None:
    result = trial(bundle, "lv_smallmicro", delays={"install_meter": SIX_WEEKS})
    whole = result.kpis["whole_case"]
    assert whole["met"] is False and whole["working_days_used"] > 15 and whole["limit_days"] == 15


@pytest.mark.parametrize("category", ["lv_residential", "lv_other", "hv_ordinary"])
def test_other_categories_have_no_whole_process_target(bundle: ProcessBundle, category: str) -> None:
    result = trial(bundle, category)
    assert result.summary["limits"]["whole_case"] is None and result.kpis["whole_case"] is None


def test_figures_counted_over_a_year_without_official_data_are_flagged_estimated(bundle: ProcessBundle) -> None:
    calendar = WorkingCalendar.default()
    assert 2027 not in calendar.known_years(), "the test needs a year without official data after 2026"
    result = trial(bundle, "lv_smallmicro", delays={"install_meter": SIX_WEEKS})  # applied 2026-11-26
    assert result.kpis["energized"] >= "2027-01"
    assert result.kpis["working_days_estimated"] is True and result.kpis["whole_case"]["estimated"] is True
    known = trial(bundle, "lv_smallmicro", delays={"install_meter": 24 * 10.0})
    assert known.kpis["energized"] < "2026-12-31"
    assert known.kpis["working_days_estimated"] is False and known.kpis["whole_case"]["estimated"] is False


class _PlainCalendar:
    """A working-day calendar that cannot tell estimated days (Monday to Friday)."""

    def working_days_between(self, start: datetime | str, end: datetime | str) -> int:
        return WorkingCalendar.default().working_days_between(start, end)

    def deadline(self, start: datetime | str, days: int) -> datetime:
        return WorkingCalendar.default().deadline(start, days)


def test_a_calendar_that_cannot_tell_gives_no_estimate_and_a_limit_is_checked() -> None:
    ctx = HandlerContext("BZ-KPI", lambda: datetime(2027, 2, 1, tzinfo=SHANGHAI), _PlainCalendar(),
                         MemoryOutbox(), MemoryArchive())
    timeline = {"applied": "2027-01-04T10:00:00+08:00", "energized": "2027-01-08T10:00:00+08:00"}
    kpis = case_kpis(ctx, timeline, "lv_smallmicro", 2, 0, whole_case_limit=15)
    assert kpis["working_days_estimated"] is False and kpis["whole_case"]["met"] is True
    with pytest.raises(ValueError, match="whole_case_limit"):
        case_kpis(ctx, timeline, "lv_smallmicro", 2, 0, whole_case_limit=2.5)
