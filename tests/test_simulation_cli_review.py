"""The simulator's command line and scenario checks after review: ``python -m runner.cli``, a warning for cases still
open when ``max_days`` stopped the clock, the estimated-holidays warning only for runs that count on the official
working days, overlapping shifts named, per-weekday shifts and windows of weekdays that are never worked refused, and
a malformed shift reported once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.simulation import prosimos
from runner.simulation.batch import BatchResult
from runner.simulation.report import open_at_stop
from runner.simulation.scenario import SHIFT_TEXT, ScenarioError, load_scenario, scenario_from_dict, scenario_schema
from runner.simulation.staff import CalendarError, ShiftCalendar, ShiftSpec, parse_shifts
from runner.workdays import WorkingCalendar

ROOT = Path(__file__).resolve().parent.parent
TODAY = ROOT / "processes" / "scenarios" / "today.yaml"
ONE_STEP = ROOT / "tests" / "data" / "simulation" / "one_step"
PROSIMOS = ROOT / "tests" / "data" / "prosimos"
WEEKDAYS_ONLY = ["mon", "tue", "wed", "thu", "fri"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def extending_today(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"extends: {TODAY}\n{text}", encoding="utf-8")
    return path


def one_step(**changes: object) -> dict[str, Any]:
    """The one-step model with a clerk pool on office hours."""
    return {"name": "one", "start": "2026-11-02", "horizon_days": 14, "max_days": 60, "seed": 5, "process": ".",
            "samples": "samples", "arrivals": {"one": {"per_working_day": 5}},
            "calendars": {"office": {"working_days": "cn", "shifts": ["08:30-12:00", "13:30-17:30"]}},
            "pools": {"clerk": {"count": 1, "calendar": "office"}}, "durations": {"work": 2}, **changes}


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data, base_dir=ONE_STEP)
    return [problem.text for problem in caught.value.problems]


# -- 1. python -m runner.cli -------------------------------------------------------------------------------------------

def test_python_dash_m_runs_the_command_line() -> None:
    shown = subprocess.run([sys.executable, "-m", "runner.cli", "simulate", "--help"], capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    assert shown.returncode == 0 and "Usage:" in shown.stdout and "--replications" in shown.stdout
    missing = subprocess.run([sys.executable, "-m", "runner.cli", "simulate", "nowhere.yaml"], capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
    assert missing.returncode == 1 and "nowhere.yaml" in missing.stderr and "cannot read" in missing.stderr


def test_the_entry_point_still_runs_the_same_group() -> None:
    script = Path(sys.executable).with_name("baozhuang")
    if not script.is_file():
        pytest.skip("no baozhuang script next to the interpreter")
    shown = subprocess.run([str(script), "simulate", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert shown.returncode == 0 and "Usage: baozhuang simulate" in shown.stdout


# -- 2. cases still open when max_days stopped the clock ---------------------------------------------------------------

def test_cases_open_at_max_days_are_warned_about_on_stderr_and_in_the_report(tmp_path: Path) -> None:
    short = extending_today(tmp_path, "name: short-clock\nmax_days: 12\n")
    code, stdout, stderr = invoke(str(short), "--cases", "20", "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    document = json.loads((tmp_path / "out" / "kpis.json").read_text(encoding="utf-8"))
    kpis = document["base"]["replications"][0]
    assert kpis["period"]["stopped_by"] == "max_days"
    still_open = kpis["cycle_time"]["all"]["arrived"] - kpis["cycle_time"]["all"]["count"]
    assert still_open > 0
    assert (f"warning: short-clock: {still_open} of 20 cases were still open when the clock stopped (max_days: 12 "
            "days after the start): their cycle times are missing from the KPIs; raise max_days to let them finish"
            ) in stderr
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert (f"<p class=warning>注意：基准方案（short-clock）：时钟在开始后 12 天（max_days）停止时，"
            f"到达的 20 户中仍有 {still_open} 户未办结") in html
    assert json.loads(stdout)["base"]["kpis"]["cycle_time.all.completed_share"] < 1


def test_a_run_whose_cases_all_finish_gives_no_open_case_warning(tmp_path: Path) -> None:
    code, _stdout, stderr = invoke(str(TODAY), "--cases", "3", "--out", str(tmp_path))
    assert code == 0, stderr
    assert "still open" not in stderr
    kpis = json.loads((tmp_path / "kpis.json").read_text(encoding="utf-8"))["base"]["replications"][0]
    assert kpis["period"]["stopped_by"] == "last_case_completed"
    assert "未办结" not in (tmp_path / "report.html").read_text(encoding="utf-8")


def _replication(arrived: int, completed: int, stopped_by: str) -> dict[str, Any]:
    return {"period": {"start": "2026-01-05T00:00:00+08:00", "end": "2027-01-05T00:00:00+08:00",
                       "stopped_by": stopped_by},
            "cycle_time": {"all": {"arrived": arrived, "count": completed}}}


def test_the_open_case_warning_over_several_replications() -> None:
    every = BatchResult(seed=1, replications=3, cases=2000, base_name="today", base_kpis=[
        _replication(2000, 1865, "max_days"), _replication(2000, 1880, "max_days"),
        _replication(2000, 1860, "max_days")])
    [cut] = open_at_stop(every)
    assert cut.message() == ("today: 120–140 of 2,000 cases per replication were still open when the clock stopped "
                             "(max_days: 365 days after the start): their cycle times are missing from the KPIs; "
                             "raise max_days to let them finish")
    assert "每次重复到达的 2,000 户中仍有 120–140 户未办结" in cut.message_zh()
    some = BatchResult(seed=1, replications=3, cases=2000, base_name="today", base_kpis=[
        _replication(2000, 1865, "max_days"), _replication(2000, 2000, "last_case_completed"),
        _replication(2000, 2000, "max_days")])  # every case done just as the clock stopped: nothing left out
    [cut] = open_at_stop(some)
    assert cut.message().startswith("today: 135 of 2,000 cases in 1 of the 3 replications were still open")
    stored = BatchResult(seed=1, replications=1, cases=5, base_name="old", base_kpis=[
        {"period": {"start": "2026-01-05T00:00:00+08:00", "end": "2026-02-05T00:00:00+08:00"},
         "cycle_time": {"all": {"arrived": 5, "count": 3}}}])  # stored before stopped_by: cannot tell
    assert open_at_stop(stored) == []


# -- 3. estimated holidays only matter to runs that count on the official working days ---------------------------------

def test_a_prosimos_model_on_weekday_calendars_is_not_warned_about_estimated_holidays(tmp_path: Path) -> None:
    last_year = max(WorkingCalendar.default().known_years())
    code, _stdout, stderr = invoke("--bpmn", str(PROSIMOS / "loan_application.bpmn"), "--prosimos-json",
                                   str(PROSIMOS / "loan_application.json"), "--cases", "30", "--seed", "3",
                                   "--start", f"{last_year}-12-30", "--out", str(tmp_path))
    assert code == 0, stderr
    assert "estimated" not in stderr
    assert "之后的工作日为估算" not in (tmp_path / "report.html").read_text(encoding="utf-8")
    kpis = json.loads((tmp_path / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["base"]["replications"][0]["calendar"]["estimated"] is True  # the KPIs still say so


def test_today_past_the_official_holiday_data_is_warned_about(tmp_path: Path) -> None:
    last_year = max(WorkingCalendar.default().known_years())
    late = extending_today(tmp_path, f'name: late\nstart: "{last_year}-12-21"\n')
    code, _stdout, stderr = invoke(str(late), "--cases", "3", "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    assert f"warning: working days after {last_year}-12-31 are estimated" in stderr
    assert f"{last_year}-12-31 之后的工作日为估算" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_which_scenarios_use_the_official_working_days() -> None:
    assert load_scenario(TODAY).uses_official_workdays()
    weekdays = {"working_days": WEEKDAYS_ONLY, "windows": [{"hours": "09:00-17:00"}]}
    plain = one_step(arrival_calendar=weekdays,
                     calendars={"office": {"working_days": WEEKDAYS_ONLY, "shifts": ["09:00-17:00"]}})
    assert not scenario_from_dict(plain, base_dir=ONE_STEP).uses_official_workdays()
    cn_arrivals = {**plain, "arrival_calendar": {**weekdays, "working_days": "cn"}}
    assert scenario_from_dict(cn_arrivals, base_dir=ONE_STEP).uses_official_workdays()
    every_day = {**cn_arrivals, "arrivals": {"one": {"per_day": 5}}}  # per_day: every calendar day, not cn's
    assert not scenario_from_dict(every_day, base_dir=ONE_STEP).uses_official_workdays()
    undefined = {**plain, "pools": {"clerk": {"count": 1, "calendar": "office"}}, "calendars": {}}
    assert scenario_from_dict(undefined, base_dir=ONE_STEP).uses_official_workdays()  # the default office: cn
    conversion, _bundle = prosimos.load_prosimos_model(PROSIMOS / "loan_application.bpmn",
                                                       PROSIMOS / "loan_application.json")
    assert not scenario_from_dict(conversion.scenario).uses_official_workdays()


# -- 4. overlapping shifts are named -----------------------------------------------------------------------------------

def test_overlapping_shifts_and_windows_are_named() -> None:
    with pytest.raises(CalendarError, match="^shifts 09:00-12:00 and 11:00-13:00 overlap$"):
        parse_shifts(("11:00-13:00", "09:00-12:00"))
    with pytest.raises(CalendarError, match="^shifts 08:00-12:00 and 11:00-13:00 overlap$"):
        ShiftCalendar(ShiftSpec("cn", ("08:00-12:00", "11:00-13:00", "14:00-17:00")))
    assert problems_of(one_step(calendars={"office": {"working_days": "cn", "shifts": ["08:30-17:30"],
                                                      "weekday_shifts": {"fri": ["09:00-12:00", "11:00-13:00"]}}})
                       ) == ["<scenario>: calendars.office.weekday_shifts.fri: shifts 09:00-12:00 and 11:00-13:00 "
                             "overlap"]
    assert problems_of(one_step(calendars={"office": {"shifts": ["08:30-12:00", "11:30-17:30"]}})) == [
        "<scenario>: calendars.office.shifts: shifts 08:30-12:00 and 11:30-17:30 overlap"]
    windows = {"windows": [{"hours": "08:30-12:00"}, {"hours": "11:00-13:00"}]}
    assert problems_of(one_step(arrival_calendar=windows)) == [
        "<scenario>: arrival_calendar.windows: windows 08:30-12:00 and 11:00-13:00 overlap"]


# -- 5a. per-weekday shifts and windows of weekdays that are never worked ----------------------------------------------

def test_weekday_shifts_of_a_weekday_not_worked_are_refused_naming_the_key() -> None:
    calendar = {"working_days": WEEKDAYS_ONLY, "shifts": ["09:00-17:00"],
                "weekday_shifts": {"sun": ["09:00-12:00"], "fri": ["09:00-12:00"], "sat": []}}
    assert problems_of(one_step(calendars={"office": calendar})) == [
        "<scenario>: calendars.office.weekday_shifts.sat: sat is not one of this calendar's working_days "
        "(mon tue wed thu fri): add it there, or drop the entry",
        "<scenario>: calendars.office.weekday_shifts.sun: sun is not one of this calendar's working_days "
        "(mon tue wed thu fri): add it there, or drop the entry"]
    for days in ("cn", "all"):  # a 调休 Sunday is worked; every day is
        scenario_from_dict(one_step(calendars={"office": {**calendar, "working_days": days}}), base_dir=ONE_STEP)
    scenario_from_dict(one_step(calendars={"office": {**calendar, "working_days": [*WEEKDAYS_ONLY, "sat", "sun"]}}),
                       base_dir=ONE_STEP)


def test_weekday_windows_of_a_day_without_arrivals_are_refused_naming_the_key(tmp_path: Path) -> None:
    hall = {"working_days": ["sat", "mon"], "windows": [{"hours": "09:00-17:00"}],
            "weekday_windows": {"sun": [{"hours": "09:00-12:00"}]}}
    message = ("sun is not one of this calendar's working_days (mon sat): add it there, or drop the entry")
    assert problems_of(one_step(arrival_calendar=hall)) == [f"<scenario>: arrival_calendar.weekday_windows.sun: "
                                                            f"{message}"]
    own = one_step(arrivals={"one": {"per_working_day": 5, "calendar": hall}})
    assert problems_of(own) == [f"<scenario>: arrivals.one.calendar.weekday_windows.sun: {message}"]
    # per_day arrivals come on every calendar day: the Sunday windows are used
    scenario_from_dict(one_step(arrival_calendar=hall, arrivals={"one": {"per_day": 5}}), base_dir=ONE_STEP)
    scenario_from_dict(one_step(arrivals={"one": {"per_day": 5, "calendar": hall}}), base_dir=ONE_STEP)
    scenario_from_dict(one_step(arrival_calendar={**hall, "working_days": "cn"}), base_dir=ONE_STEP)
    path = extending_today(tmp_path, "calendars:\n  office:\n    working_days: [mon, tue, wed, thu, fri]\n"
                                     "    weekday_shifts:\n      sun: [\"09:00-12:00\"]\n")
    code, stdout, stderr = invoke(str(path), "--cases", "2")
    assert code == 1 and stdout == ""
    assert (f"error: {path}:6: calendars.office.weekday_shifts.sun: sun is not one of this calendar's working_days "
            "(mon tue wed thu fri): add it there, or drop the entry") in stderr


# -- 5b. a malformed shift is one problem ------------------------------------------------------------------------------

@pytest.mark.parametrize(("calendar", "key"), [
    ({"shifts": ["9-12"]}, "calendars.office.shifts[0]"),
    ({"shifts": ["08:30-17:30"], "weekday_shifts": {"fri": ["09:00-12:00", "9-12"]}},
     "calendars.office.weekday_shifts.fri[1]"),
])
def test_a_malformed_shift_is_reported_once(calendar: dict[str, Any], key: str) -> None:
    assert problems_of(one_step(calendars={"office": calendar})) == [
        f"<scenario>: {key}: shift '9-12' is not HH:MM-HH:MM"]


def test_a_malformed_shift_in_a_file_is_one_error_line_with_its_line(tmp_path: Path) -> None:
    path = extending_today(tmp_path, "calendars:\n  office:\n    weekday_shifts:\n      fri: [\"9-12\"]\n"
                                     "pools:\n  surveyor: {count: three}\n")
    code, _stdout, stderr = invoke(str(path), "--cases", "2")
    assert code == 1
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}:5: calendars.office.weekday_shifts.fri[0]: shift '9-12' is not HH:MM-HH:MM",
                      f"error: {path}:7: pools.surveyor.count: 'three' is not of type 'integer'"]


def test_the_shift_pattern_is_the_schemas() -> None:
    """``SHIFT_TEXT`` words the schema's pattern errors as ``parse_shift`` does: it must be the schema's pattern."""
    definitions = scenario_schema()["$defs"]
    shifts = definitions["shift_calendar"]["properties"]
    assert shifts["shifts"]["items"]["pattern"] == SHIFT_TEXT
    assert shifts["weekday_shifts"]["additionalProperties"]["items"]["pattern"] == SHIFT_TEXT
    assert definitions["arrival_window"]["properties"]["hours"]["pattern"] == SHIFT_TEXT
