"""Review of the ``baozhuang calibrate`` report: branch rates and lane utilisation compared with the history (and
warned about when they are off), figures per category, distances explained, ``--out`` and ``--processes`` refused
clearly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from runner.simulation import calibration, engine
from runner.simulation.calibration import (
    Gateway,
    baseline_from_history,
    branch_warning,
    check_baseline,
    compare_branches,
)
from runner.simulation.model import SimulationLog
from tests.db import PROCESSES, Db, run_cli, shared_bundle
from tests.test_simulation_calibration import make_history

HIGH_RISK = Gateway((("flow_to_approve", "approve_high_risk"), ("flow_to_skip", "gw_plan_approved")),
                    default="flow_to_skip", reads=frozenset({"risk"}))


def test_a_branch_rate_lost_in_the_simulation_is_told_apart_from_sampling_noise() -> None:
    """The reviewer's gateway: 52 of 56 cases to the supervisor in the history, 4 of 54 in the simulation."""
    lost = compare_branches({"gw_high_risk": Counter(flow_to_approve=52, flow_to_skip=4)},
                            {"gw_high_risk": Counter(flow_to_approve=4, flow_to_skip=50)}, {"gw_high_risk": HIGH_RISK})
    fact = lost["gw_high_risk"]
    assert fact["differs"] and fact["history_visits"] == 56 and fact["simulated_visits"] == 54
    assert fact["flows"]["flow_to_approve"]["history_rate"] == pytest.approx(52 / 56, abs=1e-6)
    assert fact["flows"]["flow_to_approve"]["simulated_rate"] == pytest.approx(4 / 54, abs=1e-6)
    warning = branch_warning("gw_high_risk", fact)
    assert "gateway gw_high_risk" in warning and "52 of 56" in warning and "4 of 54" in warning
    assert "branch_probabilities: {flow_to_approve: 0.93}" in warning and "(risk)" in warning
    assert "case_data" in warning
    noise = compare_branches({"g": Counter(flow_to_approve=10, flow_to_skip=10)},
                             {"g": Counter(flow_to_approve=13, flow_to_skip=7)}, {"g": HIGH_RISK})
    assert not noise["g"]["differs"]  # 50 % against 65 % of 20 visits: sampling noise
    few = compare_branches({"g": Counter(flow_to_approve=5)}, {"g": Counter(flow_to_skip=5)}, {"g": HIGH_RISK})
    assert not few["g"]["differs"]  # too few visits to tell


def _skewed(monkeypatch: pytest.MonkeyPatch, busy: float) -> None:
    """Simulations whose cases all go down gw_survey's plan stage (the history's low-voltage cases did not) and
    whose account managers are ``busy`` while cases arrive."""
    real = engine.simulate

    def simulate(*args: Any, **kwargs: Any) -> SimulationLog:
        log = real(*args, **kwargs)
        for case in log.cases:
            case.visited = ["gw_plan_loop" if element == "assess_risk_direct" else element for element in case.visited]
        log.stats.setdefault("utilisation_while_arriving", {})["account_manager"] = busy
        return log

    monkeypatch.setattr(engine, "simulate", simulate)
    monkeypatch.setattr(calibration, "MIN_BRANCH_VISITS", 1)  # a small history: compare from the first visit


def test_the_check_compares_branch_rates_and_utilisation_and_warns(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the check compared distances and overall cycle times only: a gateway whose simulated rates were off
    (and the lane behind it idle) went unnoticed."""
    numbers = make_history(db, ("lv_residential", "lv_residential", "lv_smallmicro", "hv_ordinary"))
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle())
    _skewed(monkeypatch, 0.9)
    result = check_baseline(db.sessions, scenario, facts, process=str(PROCESSES), samples=str(PROCESSES / "samples"),
                            bundle=shared_bundle(), replications=3)
    survey = result.reference["branches"]["gw_survey"]
    assert survey["history_visits"] == len(numbers) and survey["differs"]
    direct = survey["flows"]["flow_gw_survey_to_assess_risk_direct"]
    assert direct["history_rate"] == pytest.approx((len(numbers) - 1) / len(numbers), abs=1e-6)
    assert direct["simulated_rate"] == 0
    assert any(w.startswith("gateway gw_survey: the history sent") and "branch_probabilities" in w
               for w in result.warnings), result.warnings
    history_busy = result.reference["history"]["utilisation_while_arriving"]["account_manager"]
    assert history_busy is not None and history_busy < 0.5
    assert result.reference["simulated"]["utilisation_while_arriving"]["account_manager"] == 0.9
    assert any(w.startswith("lane account_manager: busy") for w in result.warnings), result.warnings
    assert result.to_dict()["check_warnings"] == result.warnings
    # per category, in working days, on both sides
    categories = result.reference["history"]["categories"]
    assert categories["lv_residential"]["cases"] == len(numbers) - 2  # the claimed case is one too
    assert categories["hv_ordinary"]["completed"] == 1
    assert categories["lv_residential"]["p90_cycle_working_days"] >= categories["lv_residential"][
        "mean_cycle_working_days"] > 0
    assert set(result.reference["simulated"]["categories"]) >= {"lv_residential", "hv_ordinary"}
    assert result.distances["absolute_event_emd_hours"]["unit"] == "hours"
    assert "average number of hours" in result.distances["absolute_event_emd_hours"]["measures"]


def test_a_faithful_check_warns_about_nothing(db: Db) -> None:
    make_history(db, ("lv_residential", "lv_residential", "lv_smallmicro"))
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle())
    result = check_baseline(db.sessions, scenario, facts, process=str(PROCESSES), samples=str(PROCESSES / "samples"),
                            bundle=shared_bundle(), replications=2)
    assert not any(comparison["differs"] for comparison in result.reference["branches"].values())
    assert not any(w.startswith("gateway ") for w in result.warnings), result.warnings


def test_the_summary_shows_categories_lanes_branches_and_warnings(db: Db, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_history(db, ("lv_residential", "lv_residential", "lv_smallmicro", "hv_ordinary"))
    _skewed(monkeypatch, 0.9)
    result = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(PROCESSES), "--replications", "3")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["reference"]["branches"]["gw_survey"]["differs"]
    assert printed["reference"]["history"]["categories"]["hv_ordinary"]["cases"] == 1
    assert any(w.startswith("gateway gw_survey") for w in printed["check_warnings"])
    err = result.stderr
    assert "per category, history | simulated (cycle time from arrival to end in working days" in err
    assert "    hv_ordinary: cases 1 | " in err
    assert "lane utilisation while cases arrive (busy ÷ on-shift time), history | simulated: " in err
    assert "account_manager " in err and "| 90%" in err
    assert "    gw_survey (5 | " in err and "differs beyond sampling noise" in err
    assert "warning: gateway gw_survey: the history sent 1 of 5 cases (20%) to gw_plan_loop" in err
    assert "warning: lane account_manager: busy" in err
    assert "absolute_event_emd_hours:" in err and "average number of hours a step must move" in err


@pytest.mark.parametrize("name", ["b.txt", "b", "b.yaml.bak"])
def test_out_must_be_a_scenario_file_name(db: Db, tmp_path: Path, name: str) -> None:
    """Before: ``--out b.txt`` wrote YAML that ``baozhuang simulate`` then refused."""
    out = tmp_path / "x" / name
    result = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES))
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and "a scenario file ends in .yaml, .yml or .json" in result.output
    assert not out.exists() and not out.parent.exists()


def test_out_upper_case_json_is_written_as_json(db: Db, tmp_path: Path) -> None:
    make_history(db, ("lv_residential",))
    out = tmp_path / "b.JSON"
    result = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES),
                     "--no-simulate")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["name"] == "calibrated"


def test_a_processes_folder_without_a_process_says_so(db: Db, tmp_path: Path) -> None:
    """Before: ``error: /tmp:0: -: The process 'baozhuang' was not found. Did you mean one of the following: ?.``"""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no process here", encoding="utf-8")
    result = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(empty))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: --processes: {empty.resolve()}: no .bpmn file (not a process folder)"
