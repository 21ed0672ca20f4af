"""Time to connect ends at energising, paid staff cost, a reproducible Prosimos start, only real case attributes and
the warning for estimated working days (the simulation review, issue 5)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from runner.cli import main
from runner.simulation import prosimos
from runner.simulation.engine import simulate
from runner.simulation.kpis import compute_kpis, flat_kpis
from runner.simulation.scenario import scenario_from_dict
from runner.simulation.whatif import compare
from runner.workdays import TZ, WorkingCalendar
from tests.simulation_fixtures import ALL_DAY, ALWAYS, ROLES, holiday_log

ROOT = Path(__file__).resolve().parent.parent
PROSIMOS = ROOT / "tests" / "data" / "prosimos"
BAOZHUANG_ATTRIBUTES = {"capacity_kva", "dual_supply", "missing_property_proof", "regime"}


def quick(name: str, **changes: Any) -> dict[str, Any]:
    """Three low-voltage residential cases an hour apart, staff always on shift, fast customers."""
    data: dict[str, Any] = {
        "name": name, "start": "2026-11-02T09:00:00+08:00", "cases": 3, "seed": 5,
        "process": str(ROOT / "processes"), "samples": str(ROOT / "processes" / "samples"),
        "arrival_calendar": ALL_DAY,
        "arrivals": {"lv_residential": {"interarrival_hours": 1}},
        "calendars": {"always": ALWAYS},
        "pools": {role: {"count": 3, "calendar": "always", "hourly_cost": 100} for role in ROLES},
        "defaults": {"task_hours": 0.5, "customer_days": 0.2},
        "answers": {"completion_check": {"result": "pass"}},
    }
    data.update(changes)
    return data


def test_a_slower_archive_lengthens_the_whole_case_but_not_the_time_to_connect() -> None:
    slow = {"archive_documents": {"distribution": "fixed", "value": 30}, "followup_call": 20}
    base = compute_kpis(simulate(scenario_from_dict(quick("base"))))
    variant = compute_kpis(simulate(scenario_from_dict(quick("slow-archive", durations=slow))))
    assert base["time_to_connect"]["all"]["count"] == 3
    assert variant["time_to_connect"] == base["time_to_connect"]
    for key in ("days_to_connect", "working_days_to_connect"):
        assert variant["getting_electricity"][key] == base["getting_electricity"][key]
    assert variant["cycle_time"]["all"]["calendar_days"]["mean"] > base["cycle_time"]["all"]["calendar_days"]["mean"]
    # energising comes before the case ends: the whole case is longer than the time to connect
    assert base["cycle_time"]["all"]["calendar_days"]["mean"] > base["getting_electricity"]["days_to_connect"]


def test_time_to_connect_is_measured_to_energising_per_category() -> None:
    log = holiday_log()
    c1 = log.cases[0]  # lv_residential: 2026-09-30 09:00 → energised 10-08 09:00 (1 working day), ended 10-09 17:00
    c1.energized = datetime(2026, 10, 8, 9, tzinfo=TZ)
    kpis = compute_kpis(log, WorkingCalendar.default())
    assert kpis["time_to_connect"]["all"]["count"] == 1
    assert kpis["time_to_connect"]["lv_residential"]["working_days"]["mean"] == 1.0
    assert kpis["time_to_connect"]["hv_ordinary"]["count"] == 0
    assert kpis["getting_electricity"]["days_to_connect"] == pytest.approx(8.0)
    assert kpis["getting_electricity"]["connected_cases"] == 1
    flat = flat_kpis(kpis)
    assert flat["time_to_connect.lv_residential.mean_calendar_days"] == pytest.approx(8.0)
    assert flat["cycle_time.lv_residential.mean_working_days"] == 3.0  # the whole case, unchanged


def test_one_fewer_surveyor_lowers_the_paid_cost_by_that_persons_on_shift_hours() -> None:
    fewer_pools = {**quick("x")["pools"], "surveyor": {"count": 2, "calendar": "always", "hourly_cost": 100}}
    base_logs = [simulate(scenario_from_dict(quick("base")), seed=s) for s in (1, 2)]
    fewer_logs = [simulate(scenario_from_dict(quick("fewer", pools=fewer_pools)), seed=s) for s in (1, 2)]
    base, fewer = compute_kpis(base_logs[0]), compute_kpis(fewer_logs[0])
    start = datetime(2026, 11, 2, 9, tzinfo=TZ)
    last_arrival = datetime.fromisoformat(base_logs[0].stats["arrivals_ended_at"])
    on_shift_hours = (last_arrival - start).total_seconds() / 3600  # 24/7 shifts: every hour is on shift
    assert on_shift_hours > 0
    assert base["cost"]["paid"]["pools"]["surveyor"] == pytest.approx(3 * on_shift_hours * 100)
    saving = base["cost"]["paid"]["pools"]["surveyor"] - fewer["cost"]["paid"]["pools"]["surveyor"]
    assert saving == pytest.approx(on_shift_hours * 100)
    assert base["cost"]["paid"]["total"] - fewer["cost"]["paid"]["total"] == pytest.approx(on_shift_hours * 100)
    assert base["cost"]["paid"]["per_case"] == pytest.approx(base["cost"]["paid"]["total"] / 3)
    comparison = compare(base_logs, fewer_logs)
    assert comparison.row("cost.paid.per_case").outcome == "better"
    assert any(v.startswith("单户人员成本（在岗）降低 ") for v in comparison.verdicts_zh)
    assert any(v.startswith("Paid staff cost per case down by ") for v in comparison.verdicts_en)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def loan_model(out: Path, *extra: str) -> tuple[int, str, str]:
    return invoke("--bpmn", str(PROSIMOS / "loan_application.bpmn"), "--prosimos-json",
                  str(PROSIMOS / "loan_application.json"), "--cases", "5", "--seed", "3", "--out", str(out), *extra)


class _NextYear(datetime):
    """A wall clock a year on (``datetime.now`` patched)."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime(2027, 6, 9, 12, tzinfo=tz)


def test_a_prosimos_model_gives_the_same_files_for_a_seed_whatever_the_date(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    code, _stdout, stderr = loan_model(tmp_path / "a")
    assert code == 0, stderr
    assert f"start: {prosimos.DEFAULT_START.isoformat()}" in stderr
    monkeypatch.setattr(prosimos, "datetime", _NextYear)
    code, _stdout, stderr = loan_model(tmp_path / "b")
    assert code == 0, stderr
    for name in ("event_log.csv", "event_log.xes", "kpis.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_the_start_of_a_prosimos_model_can_be_chosen(tmp_path: Path) -> None:
    code, _stdout, stderr = loan_model(tmp_path, "--start", "2026-03-02")
    assert code == 0, stderr
    assert "start: 2026-03-02" in stderr
    kpis = json.loads((tmp_path / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["base"]["replications"][0]["period"]["start"].startswith("2026-03-02")
    code, _stdout, stderr = loan_model(tmp_path / "bad", "--start", "2026-13-01")
    assert code == 2 and "--start" in stderr and "Traceback" not in stderr
    code, _stdout, stderr = invoke(str(ROOT / "processes" / "scenarios" / "today.yaml"), "--start", "2026-03-02")
    assert code == 2 and "--start is for --bpmn" in stderr


def test_a_prosimos_models_event_log_has_no_baozhuang_attributes(tmp_path: Path) -> None:
    code, _stdout, stderr = loan_model(tmp_path)
    assert code == 0, stderr
    with (tmp_path / "event_log.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert not BAOZHUANG_ATTRIBUTES & set(header)
    traces = etree.parse(str(tmp_path / "event_log.xes")).getroot().findall("{http://www.xes-standard.org/}trace")
    assert traces
    for trace in traces:
        keys = {child.get("key") for child in trace if child.tag != "{http://www.xes-standard.org/}event"}
        assert keys == {"concept:name", "category", "completed"}


def test_a_baozhuang_case_keeps_its_attributes() -> None:
    log = simulate(scenario_from_dict(quick("attributes", cases=1)))
    assert BAOZHUANG_ATTRIBUTES <= set(log.cases[0].attributes)
    assert log.cases[0].attributes["regime"] == "statute"


def test_a_run_beyond_the_official_holiday_data_is_warned_about_only_where_it_matters(tmp_path: Path) -> None:
    """The converted loan model's calendars are plain weekday lists: past the official holiday data nothing of it
    is estimated, so no warning (it warned; tests/test_simulation_cli_review.py: today.yaml, on Chinese working
    days, still warns); kpis.json still records that the run went past the data."""
    calendar = WorkingCalendar.default()
    last_year = max(calendar.known_years())
    code, _stdout, stderr = loan_model(tmp_path, "--start", f"{last_year}-12-30", "--cases", "30")
    assert code == 0, stderr
    assert "estimated" not in stderr
    kpis = json.loads((tmp_path / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["base"]["replications"][0]["calendar"] == {"estimated": True,
                                                           "estimated_after": f"{last_year}-12-31"}
    assert "之后的工作日为估算" not in (tmp_path / "report.html").read_text(encoding="utf-8")
    code, _stdout, stderr = loan_model(tmp_path / "within", "--start", f"{last_year}-03-02")
    assert code == 0, stderr
    assert "estimated" not in stderr
