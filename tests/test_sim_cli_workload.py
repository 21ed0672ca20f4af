"""``baozhuang simulate`` on a run far bigger than the web page allows (ten years of arrivals, ten replications) says
so, with a rough duration, before the progress bar starts — instead of a silent "simulating" for half an hour; a
run of ordinary size says nothing, and a huge ``--cases`` that the arrival window caps is not huge."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from runner import cli_simulate
from runner.cli import main
from runner.simulation.scenario import load_scenario
from tests.conftest import PROCESSES

TODAY = PROCESSES / "scenarios" / "today.yaml"


def _long(tmp_path: Path) -> Path:
    scenario = tmp_path / "ten_years.yaml"
    scenario.write_text(f"extends: {TODAY}\nname: ten_years\nhorizon_days: 3650\nmax_days: 3650\n", encoding="utf-8")
    return scenario


def test_the_warning_counts_the_cases_the_window_brings(tmp_path: Path) -> None:
    today, long = load_scenario(TODAY), load_scenario(_long(tmp_path))
    assert cli_simulate.workload_warning({"base": today}, {"base": 5_000_000}, 100, 2) is None  # 28 days: ~234
    assert cli_simulate.workload_warning({"base": long}, {"base": None}, 3, 1) is None  # ~87,000 cases
    text = cli_simulate.workload_warning({"base": long, "variant": long}, {"base": None, "variant": 1000}, 10, 2)
    assert text is not None and "more than the web page allows (100,000)" in text
    assert "about 300,160 cases (10 replication(s) × 2 scenario(s))" in text and "--jobs 2" in text, text


def test_simulate_warns_before_it_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(*_args: object, **_kwargs: object) -> None:
        raise click.Abort  # what Ctrl-C does: the warning must already be out

    monkeypatch.setattr(cli_simulate, "run_batch", stop)
    result = CliRunner().invoke(main, ["simulate", str(_long(tmp_path)), "--replications", "10", "--jobs", "2"])
    assert result.exit_code == 1
    [line] = [line for line in result.stderr.splitlines() if line.startswith("warning: this run simulates")]
    assert "290,160 cases" in line and "roughly 36 minutes with --jobs 2" in line, line
