"""Tests for the Chinese working-day calendar (runner.workdays, runner.calendar_data).

Expected dates are hard-coded from the State Council schedule for 2026 (国办发明电〔2025〕7号) and cross-checked against
PyPI chinese-calendar, which serves as an independent oracle for 2004–2026.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from runner.workdays import (
    DATA_FILE,
    TZ,
    CalendarDataError,
    WorkingCalendar,
    load_year_file,
    seed_from_chinese_calendar,
    to_iso,
)

D = date.fromisoformat


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.default()


def at(text: str) -> datetime:
    """An aware datetime from an ISO string with offset."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value


# ----- the committed data --------------------------------------------------------------------------------------------
def test_committed_data_equals_seed_for_2004_to_2026() -> None:
    committed = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    seed = seed_from_chinese_calendar(2004, 2026)
    assert {y: committed["years"][y] for y in seed["years"]} == seed["years"]
    assert "chinese-calendar" in committed["source"]


def test_known_years(cal: WorkingCalendar) -> None:
    assert cal.known_years()[:1] == (2004,)
    assert set(range(2004, 2027)) <= set(cal.known_years())
    assert WorkingCalendar.default() is cal


def test_every_day_2004_2026_agrees_with_chinese_calendar(cal: WorkingCalendar) -> None:
    day, mismatches = date(2004, 1, 1), []
    while day <= date(2026, 12, 31):
        if cal.is_working_day(day) != chinese_calendar.is_workday(day) or cal.is_estimated(day):
            mismatches.append(day)
        day += timedelta(days=1)
    assert mismatches == []


def test_save_reproduces_committed_file(cal: WorkingCalendar, tmp_path: Path) -> None:
    out = tmp_path / "copy.json"
    cal.save(out)
    assert out.read_text(encoding="utf-8") == DATA_FILE.read_text(encoding="utf-8")


# ----- National Day and Mid-Autumn 2026 -----------------------------------------------------------------------------
def test_national_day_2026_days_off(cal: WorkingCalendar) -> None:
    for n in range(1, 8):
        assert not cal.is_working_day(date(2026, 10, n)), f"2026-10-0{n} is a National Day holiday"
    assert cal.is_working_day(D("2026-10-08")) and cal.is_working_day(D("2026-10-09"))
    assert not cal.is_working_day(D("2026-10-11"))  # an ordinary Sunday


def test_national_day_2026_make_up_working_days(cal: WorkingCalendar) -> None:
    # Official 2026 schedule: Sunday 20 Sep and Saturday 10 Oct are worked for National Day.
    sunday, saturday = D("2026-09-20"), D("2026-10-10")
    assert (sunday.weekday(), saturday.weekday()) == (6, 5)
    assert cal.is_working_day(sunday) and cal.is_working_day(saturday)
    # The same facts read from chinese-calendar, independently of our data file.
    assert chinese_calendar.is_workday(sunday) and chinese_calendar.is_workday(saturday)
    assert chinese_calendar.get_holiday_detail(saturday)[1] == chinese_calendar.Holiday.national_day.value
    data = cal.year_data(2026)
    assert data is not None
    assert sorted(d for d in data[1] if d.month in (9, 10)) == [sunday, saturday]


def test_mid_autumn_2026_is_off(cal: WorkingCalendar) -> None:
    for day in ("2026-09-25", "2026-09-26", "2026-09-27"):
        assert not cal.is_working_day(D(day))
    # Friday 25 Sep is Mid-Autumn Festival itself: a 3-working-day limit counts Mon 28, Tue 29, Wed 30.
    assert to_iso(cal.deadline(at("2026-09-25T09:00:00+08:00"), 3)) == "2026-09-30T23:59:59+08:00"


def test_deadline_before_national_day_skips_the_holiday(cal: WorkingCalendar) -> None:
    start = at("2026-09-30T16:30:00+08:00")  # Wednesday, the last working day before the holiday
    assert to_iso(cal.deadline(start, 1)) == "2026-10-08T23:59:59+08:00"
    # Thu 8, Fri 9 and the make-up Saturday 10 Oct: a weekend-only rule would say Monday 12 Oct.
    assert to_iso(cal.deadline(start, 3)) == "2026-10-10T23:59:59+08:00"
    assert to_iso(cal.deadline(start, 4)) == "2026-10-12T23:59:59+08:00"
    assert cal.working_days_between(start, "2026-10-07T23:59:59+08:00") == 0


def test_make_up_sunday_counts(cal: WorkingCalendar) -> None:
    assert cal.deadline("2026-09-18T10:00:00+08:00", 1).date() == D("2026-09-20")
    assert cal.working_days_between("2026-09-18", "2026-09-21") == 2  # Sun 20 (make-up) and Mon 21


# ----- Spring Festival 2026 -----------------------------------------------------------------------------------------
def test_spring_festival_2026(cal: WorkingCalendar) -> None:
    for n in range(15, 24):
        assert not cal.is_working_day(date(2026, 2, n)), f"2026-02-{n} is off (Spring Festival)"
    assert cal.is_working_day(D("2026-02-14")) and cal.is_working_day(D("2026-02-28"))  # make-up Saturdays
    start = "2026-02-13T11:00:00+08:00"
    assert cal.deadline(start, 1).date() == D("2026-02-14")
    assert cal.deadline(start, 2).date() == D("2026-02-24")
    assert cal.working_days_between("2026-02-13", "2026-02-28") == 6  # 14, 24, 25, 26, 27, 28


# ----- beyond the official data -------------------------------------------------------------------------------------
def test_december_2026_start_lands_in_2027_estimated(cal: WorkingCalendar) -> None:
    start = at("2026-12-20T10:00:00+08:00")
    end = cal.deadline(start, 20)
    # Dec 21-25, 28-31 (9); Jan 1 off; Jan 4-8 (14), 11-15 (19), 18 (20).
    assert to_iso(end) == "2027-01-18T23:59:59+08:00"
    assert cal.is_estimated(end)
    assert cal.is_estimated_between(start, end)
    assert not cal.is_estimated(D("2026-12-31"))
    assert not cal.is_estimated_between(start, "2026-12-31")
    assert cal.working_days_between(start, end) == 20


def test_new_year_2027_off_in_fallback(cal: WorkingCalendar) -> None:
    assert 2027 not in cal.known_years()
    assert cal.is_estimated(D("2027-01-01"))
    assert not cal.is_working_day(D("2027-01-01"))  # Friday, New Year's Day
    assert cal.is_working_day(D("2027-01-04"))
    assert not cal.is_working_day(D("2027-01-09"))  # a Saturday: no make-up days in the fallback


def test_years_before_the_data_use_the_fallback(cal: WorkingCalendar) -> None:
    assert cal.is_estimated(D("2003-10-01"))
    assert not cal.is_working_day(D("2003-10-01"))  # Wednesday, National Day
    assert cal.is_working_day(D("2003-10-08"))
    assert cal.is_working_day(D("2150-06-01"))  # beyond the holidays package's range: weekends only


# ----- consistency ---------------------------------------------------------------------------------------------------
def test_deadline_and_working_days_between_agree(cal: WorkingCalendar) -> None:
    offsets = ("T00:00:00+08:00", "T12:00:00+08:00", "T23:59:59+08:00")
    day = D("2025-09-01")
    checked = 0
    while day <= D("2027-02-28"):
        start = day.isoformat() + offsets[day.toordinal() % 3]
        previous = None
        for n in range(1, 26):
            end = cal.deadline(start, n)
            assert end.tzinfo is not None and end.utcoffset() == timedelta(hours=8)
            assert (end.hour, end.minute, end.second) == (23, 59, 59)
            assert cal.is_working_day(end), (start, n)
            assert cal.working_days_between(start, end) == n, (start, n)
            assert cal.working_days_between(start, end - timedelta(days=1)) == n - 1, (start, n)
            assert previous is None or end > previous
            previous = end
            checked += 1
        day += timedelta(days=2)
    assert checked > 5000


def test_working_days_between_matches_chinese_calendar_oracle(cal: WorkingCalendar) -> None:
    for start in (D("2024-12-25"), D("2025-01-20"), D("2025-09-26"), D("2026-02-10"), D("2026-09-15")):
        for length in (0, 1, 5, 13, 40):
            end = start + timedelta(days=length)
            expected = sum(chinese_calendar.is_workday(start + timedelta(days=k)) for k in range(1, length + 1))
            assert cal.working_days_between(start, end) == expected, (start, end)


def test_add_working_days_zero_and_order(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(D("2026-09-30"), 0) == D("2026-09-30")
    assert cal.add_working_days(D("2026-10-01"), 0) == D("2026-10-08")
    assert cal.deadline("2026-10-03T08:00:00+08:00", 0).date() == D("2026-10-08")
    assert cal.working_days_between("2026-10-12", "2026-10-01") == 0
    with pytest.raises(ValueError):
        cal.add_working_days(D("2026-10-01"), -1)
    with pytest.raises(TypeError):
        cal.deadline("2026-10-01", 2.0)  # type: ignore[arg-type]


def test_start_day_is_taken_in_shanghai(cal: WorkingCalendar) -> None:
    # 20:00 UTC on Thu 17 Sep is 04:00 on Fri 18 Sep in Shanghai; one working day later is make-up Sunday 20 Sep.
    start = datetime(2026, 9, 17, 20, 0, tzinfo=UTC)
    assert cal.deadline(start, 1).date() == D("2026-09-20")
    assert cal.is_working_day(datetime(2026, 10, 7, 17, 0, tzinfo=UTC))  # 01:00 on Thu 8 Oct, Shanghai
    assert cal.deadline(start, 1).tzinfo is TZ


def test_naive_datetimes_are_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.deadline(datetime(2026, 9, 30, 10, 0), 3)
    with pytest.raises(ValueError, match="naive"):
        cal.deadline("2026-09-30T10:00:00", 3)
    with pytest.raises(ValueError, match="naive"):
        cal.working_days_between("2026-09-30T10:00:00+08:00", datetime(2026, 10, 9))
    with pytest.raises(ValueError, match="naive"):
        cal.is_working_day(datetime(2026, 10, 9, 9, 0))
    with pytest.raises(ValueError, match="naive"):
        to_iso(datetime(2026, 11, 26, 23, 59, 59))
    with pytest.raises(ValueError):
        cal.deadline("30/09/2026", 3)


def test_to_iso() -> None:
    assert to_iso(datetime(2026, 11, 26, 15, 59, 59, 123456, tzinfo=UTC)) == "2026-11-26T23:59:59+08:00"
    assert to_iso("2026-11-26T23:59:59+08:00") == "2026-11-26T23:59:59+08:00"


# ----- admin year files ----------------------------------------------------------------------------------------------
# The 2027 schedule below is fictitious test data, not the official one.
CSV_2027 = """date,kind
# fictitious 2027 schedule for tests
2027-01-01,holiday
2027-02-06,holiday
2027-02-08,holiday
2027-02-20,workday
"""


def test_admin_csv_round_trip(cal: WorkingCalendar, tmp_path: Path) -> None:
    src = tmp_path / "2027.csv"
    src.write_text(CSV_2027, encoding="utf-8")
    year, hol, work = load_year_file(src)
    assert (year, sorted(hol), sorted(work)) == (
        2027,
        [D("2027-01-01"), D("2027-02-06"), D("2027-02-08")],
        [D("2027-02-20")],
    )
    updated = cal.with_year(year, hol, work, source="test")
    out = tmp_path / "cn_workdays.json"
    updated.save(out)
    reloaded = WorkingCalendar.from_file(out)
    assert 2027 in reloaded.known_years() and reloaded.source == "test"
    assert reloaded.is_working_day(D("2027-02-20"))  # the make-up Saturday
    assert not reloaded.is_working_day(D("2027-02-08"))
    assert reloaded.is_working_day(D("2027-02-09"))  # the fallback would call it a day off; the data rules now
    assert not reloaded.is_estimated(D("2027-06-01"))
    # the original calendar is unchanged
    assert 2027 not in cal.known_years() and not cal.is_working_day(D("2027-02-20"))


def test_admin_json_round_trip_and_edge_month(tmp_path: Path) -> None:
    src = tmp_path / "2030.json"
    doc = {"year": 2030, "holidays": ["2029-12-31", "2030-01-01"], "workdays": ["2029-12-29"]}
    src.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    year, hol, work = load_year_file(src)
    assert (year, hol, work) == (2030, frozenset({D("2029-12-31"), D("2030-01-01")}), frozenset({D("2029-12-29")}))
    empty = WorkingCalendar({})
    assert empty.known_years() == () and empty.is_estimated(D("2026-10-08"))
    updated = empty.with_year(year, hol, work)
    assert updated.is_working_day(D("2029-12-29")) and not updated.is_estimated(D("2029-12-29"))
    assert not updated.is_working_day(D("2029-12-31")) and updated.is_estimated(D("2029-12-28"))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("date,kind\n2027-01-01,holiday\n2027-02-30,holiday\n", 3, "bad date"),
        ("date,kind\n2027-01-01,vacation\n", 2, "unknown kind"),
        ("2027-01-01,holiday\n2027-01-02,holiday\n\n2027-01-01,workday\n", 4, "duplicate date 2027-01-01"),
        ("date,kind\n2027-01-01,holiday\n2027-02-22,workday\n", 3, "not a Saturday or Sunday"),
        ("date,kind\n2027-01-01,holiday\n2027-01-04,holiday,extra\n", 3, "2 columns"),
        ("date,kind\n2027-01-01,holiday\n2027-01-02,holiday\n2025-05-01,holiday\n", 4, "outside year 2027"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    src = tmp_path / "bad_2027.csv"
    src.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarDataError) as info:
        load_year_file(src)
    assert info.value.line == line
    assert f"bad_2027.csv:{line}:" in str(info.value)
    assert message in str(info.value)


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text('{\n  "year": 2027,\n  "holidays": [\n    "2027-01-01",\n    "2027-13-01"\n  ]\n}\n', "utf-8")
    with pytest.raises(CalendarDataError, match=r"bad\.json:5: bad date '2027-13-01'"):
        load_year_file(src)
    src.write_text('{\n  "holidays": ["2027-01-01"],\n  "workdays": [\n    "2027-01-01"\n  ]\n}\n', "utf-8")
    with pytest.raises(CalendarDataError, match=r"bad\.json:4: duplicate date 2027-01-01 \(first on line 2\)"):
        load_year_file(src)
    src.write_text('{\n  "holidays": [\n    "2027-01-01",\n  ]\n}\n', "utf-8")
    with pytest.raises(CalendarDataError, match=r"bad\.json:4: invalid JSON"):
        load_year_file(src)


def test_bad_data_file_and_conflicts(tmp_path: Path) -> None:
    bad = tmp_path / "cal.json"
    bad.write_text(json.dumps({"years": {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-1-2"]}}}), "utf-8")
    with pytest.raises(CalendarDataError, match=r"cal\.json: 2027: bad date"):
        WorkingCalendar.from_file(bad)
    cal = WorkingCalendar({2026: (frozenset({D("2026-12-27")}), frozenset())})  # Sunday 27 Dec 2026, made a day off
    with pytest.raises(CalendarDataError, match="2026-12-27 is both a day off and a make-up working day"):
        cal.with_year(2027, [], [D("2026-12-27")])
    with pytest.raises(CalendarDataError, match="outside year 2027"):
        cal.with_year(2027, [D("2026-11-30")], [])
