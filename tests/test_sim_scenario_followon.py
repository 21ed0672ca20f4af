"""A scenario with a broken calendar (no shifts) and a pool count of 0, as a process owner types them: every problem
is reported once, where it is written; the pools that use the broken calendar are not said to name an *unknown*
calendar (it is there, only wrong), while a misspelt calendar name still is. Through ``baozhuang simulate``, as the
owner runs it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from runner.cli import main
from tests.conftest import PROCESSES

TODAY = PROCESSES / "scenarios" / "today.yaml"


def _simulate(scenario: Path) -> list[str]:
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--cases", "5"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_pools_on_a_broken_calendar_are_not_said_to_name_an_unknown_one(tmp_path: Path) -> None:
    scenario = tmp_path / "what_if.yaml"
    scenario.write_text(f"extends: {TODAY}\nname: what_if\npools:\n  surveyor: {{count: 0}}\n"
                        "  installer: {count: 5, calendar: feild}\n"
                        "calendars:\n  field: {working_days: cn, shifts: []}\n", encoding="utf-8")
    errors = _simulate(scenario)
    assert any(f"{scenario}:4: pools.surveyor.count:" in line for line in errors), errors
    assert any(f"{scenario}:7: calendars.field.shifts:" in line for line in errors), errors
    # today.yaml's inspector is on the calendar `field`, which is there, only without shifts
    assert not [line for line in errors if "unknown calendar 'field'" in line], errors
    assert any(f"{scenario}:5: pools.installer.calendar: unknown calendar 'feild'" in line for line in errors), errors
