"""Review fixes of ``baozhuang calibrate``: branch probabilities that run, shifts from the extremes, one process
version, replicated checks with reference figures, completed cases only, bad options refused up front."""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from runner.process_folder import content_hash
from runner.simulation.calibration import (
    baseline_from_history,
    calibrate,
    estimate_shift,
    history_rows,
    read_history,
    within_office_hours,
)
from runner.simulation.scenario import load_scenario
from runner.store import deploy
from runner.workdays import TZ, WorkingCalendar
from tests.db import PROCESSES, Db, drive_case_to_end, run_cli, shared_bundle, start
from tests.test_simulation_calibration import make_history


def test_gateways_decided_by_answers_follow_the_answers_and_the_baseline_runs(db: Db) -> None:
    """Before: gw_acceptance got a probability drawn independently of the accept_application answers, so a
    need_more answer could go down the accept path (KeyError 'accepted' in a timer)."""
    numbers = make_history(db, ("lv_residential", "hv_ordinary"))
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle(), with_branches=True)
    assert not any(flow.startswith(("flow_gw_acceptance_", "flow_gw_need_proof_", "flow_gw_review_"))
                   for flow in scenario["branch_probabilities"])
    to_answers = facts.branch_gateways["left_to_answers"]
    assert "gw_acceptance" in to_answers and "answers' weights reproduce its rates" in to_answers["gw_acceptance"]
    assert "gw_acceptance" not in facts.branch_gateways["estimated"]
    assert facts.branches["flow_gw_acceptance_to_supply_materials"]["taken"] == 1  # still reported
    assert scenario["answers"]["accept_application"][1]["weight"] == 1  # the need_more answer drives the rate
    result = calibrate(db.sessions, bundle=shared_bundle(), with_branches=True, process=str(PROCESSES),
                       samples=str(PROCESSES / "samples"), replications=1)
    assert result.simulated_cases == len(numbers)


def _moments(day: datetime, hours: list[float]) -> list[datetime]:
    return [day + timedelta(hours=hour) for hour in hours]


def test_shift_runs_from_the_early_claims_to_the_late_completions() -> None:
    """Before: the 5th-95th percentile cut a 09:00-17:00 shift whose claims pile up at 09:00 to 09:00-16:30."""
    calendar = WorkingCalendar.default()
    rng = random.Random(3)
    thursday = datetime(2026, 11, 26, tzinfo=TZ)
    claims = [9.0] * 150 + [rng.uniform(9, 17) for _ in range(50)]  # tasks released overnight: claimed at 09:00
    completions = [min(16.99, 9 + rng.expovariate(1 / 2.5)) for _ in range(200)]
    spec = estimate_shift(_moments(thursday, claims + completions), calendar)
    assert spec.shifts == ("09:00-17:00",)
    stray = estimate_shift(_moments(thursday, claims + completions + [22.5]), calendar)  # one night action
    assert stray.shifts == ("09:00-17:00",)
    # a lane seen only in the morning gets the office hours of all lanes; one working later keeps its own
    office = estimate_shift(_moments(thursday, claims + completions), calendar)
    morning = estimate_shift(_moments(thursday, [9.0] * 40 + [rng.uniform(9, 13.9) for _ in range(40)]), calendar)
    assert morning.shifts == ("09:00-14:00",)
    assert within_office_hours(morning, office).shifts == ("09:00-17:00",)
    late = estimate_shift(_moments(thursday, [rng.uniform(12, 20) for _ in range(80)]), calendar)
    assert within_office_hours(late, office) == late


def _second_version(db: Db, tmp_path: Path) -> tuple[Path, int]:
    """processes/ with the archiving task renamed, deployed: the version new cases start on."""
    folder = tmp_path / "v2"
    shutil.copytree(PROCESSES, folder, ignore=shutil.ignore_patterns("variants", "scenarios"))
    main = folder / "baozhuang.bpmn"
    main.write_text(main.read_text(encoding="utf-8").replace("archive_documents", "archive_case"), encoding="utf-8")
    for form in (folder / "forms").glob("archive_documents.*"):
        form.rename(form.with_name(form.name.replace("archive_documents", "archive_case")))
    with db.transaction() as session:
        version, _ = deploy(session, db.runtime, folder, "test")
        return folder, version.id


def test_a_history_of_two_versions_is_calibrated_on_one(db: Db, tmp_path: Path) -> None:
    """Before: the cases of both versions were pooled and the scenario named tasks of the other version
    ('durations.archive_case: not a staff task of the process', under '<calibrated>')."""
    first = make_history(db, ("lv_residential",))  # 2 cases on version 1 (processes/)
    folder, second = _second_version(db, tmp_path)
    for _ in range(3):
        drive_case_to_end(db, start(db, "lv_residential"))
    out = tmp_path / "out" / "base.yaml"
    result = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES),
                     "--replications", "1")
    assert result.exit_code == 0, result.output
    assert f"the history spans version {second - 1} ({len(first)} cases), version {second} (3 cases); " \
        f"calibrating on version {second}" in result.stderr
    printed = json.loads(result.stdout)
    assert printed["facts"]["version"] == second and printed["facts"]["versions"] == {
        str(second - 1): len(first), str(second): 3}
    scenario = load_scenario(out)
    assert content_hash(scenario.process_dir) == content_hash(folder)  # that version's files, beside the scenario
    assert scenario.process_dir == (tmp_path / "out" / f"base.v{second}.process").resolve()
    assert "archive_case" in printed["facts"]["durations"]
    assert "archive_documents" not in printed["facts"]["durations"]
    assert printed["reference"]["history"]["completed_cases"] == 3
    older = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(tmp_path / "v1.yaml"), "--processes",
                    str(PROCESSES), "--version", str(second - 1), "--no-simulate")
    assert older.exit_code == 0, older.output
    assert load_scenario(tmp_path / "v1.yaml").process_dir == PROCESSES.resolve()  # --processes is version 1
    assert json.loads(older.stdout)["facts"]["cases"] == len(first)
    missing = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(PROCESSES), "--version", "99")
    assert missing.exit_code == 2 and "no case of the history runs version 99" in missing.output


def test_failing_check_names_the_written_file(db: Db, tmp_path: Path) -> None:
    make_history(db, ("lv_residential",))
    empty = tmp_path / "no-samples"
    empty.mkdir()
    out = tmp_path / "baseline.yaml"
    result = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES),
                     "--samples", str(empty))
    assert result.exit_code == 1
    assert f"the estimate is kept in {out}: {out}:" in result.stderr and "<calibrated>" not in result.stderr


def test_the_check_is_replicated_with_reference_figures_and_a_summary(db: Db, tmp_path: Path) -> None:
    """Before: one replication, bare numbers."""
    numbers = make_history(db, ("lv_residential", "hv_ordinary"))
    result = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(PROCESSES), "--replications", "2")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["replications"] == 2
    for figures in printed["distances"].values():
        assert len(figures["replications"]) == 2 and figures["mean"] is not None and figures["sd"] >= 0
        assert figures["min"] <= figures["mean"] <= figures["max"]
    history, simulated = printed["reference"]["history"], printed["reference"]["simulated"]
    assert history["completed_cases"] == len(numbers) and history["mean_cycle_days"] > 0
    assert history["p90_cycle_days"] >= history["mean_cycle_days"] * 0.5
    assert simulated["mean_cycle_days"] > 0 and simulated["cases_per_working_day"] > 0
    assert f"check: 2 simulation(s) of the baseline against the {len(numbers)} completed cases" in result.stderr
    assert "cycle_time_emd_days:" in result.stderr and "days — how far apart" in result.stderr
    assert "cases per working day: history" in result.stderr
    bad = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(PROCESSES), "--replications", "0")
    assert bad.exit_code == 2


def test_open_cases_are_left_out_of_the_comparison(db: Db, tmp_path: Path) -> None:
    """Before: the partial traces of running cases were compared with complete simulated cases."""
    only_open = [start(db, "lv_residential") for _ in range(2)]
    nothing = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(PROCESSES))
    assert nothing.exit_code == 0, nothing.output
    printed = json.loads(nothing.stdout)
    assert "distances cannot be computed" in printed["note"] and "distances cannot be computed" in nothing.stderr
    assert all(figures["mean"] is None for figures in printed["distances"].values())
    assert printed["reference"]["history"]["open_cases_left_out"] == len(only_open)
    completed = make_history(db, ("lv_residential",))
    history = read_history(db.sessions)
    assert {row[0] for row in history_rows(history)} == set(completed)
    result = calibrate(db.sessions, bundle=shared_bundle(), process=str(PROCESSES),
                       samples=str(PROCESSES / "samples"), replications=1)
    assert result.reference["history"]["open_cases_left_out"] == len(only_open)
    assert result.reference["history"]["completed_cases"] == len(completed)
    assert result.distances["cycle_time_emd_days"]["mean"] is not None


def test_bad_options_are_refused_before_anything_is_written(db: Db, tmp_path: Path) -> None:
    make_history(db, ("lv_residential",))
    out = tmp_path / "base.yaml"
    negative = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--seed", "-5", "--no-simulate",
                       "--processes", str(PROCESSES))
    assert negative.exit_code == 2 and "--seed" in negative.output and not out.exists()
    missing = tmp_path / "nonexist"
    samples = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--samples", str(missing),
                      "--processes", str(PROCESSES))
    assert samples.exit_code == 2 and "--samples" in samples.output and str(missing) in samples.output
    assert not out.exists()
    broken = tmp_path / "broken"
    shutil.copytree(PROCESSES, broken, ignore=shutil.ignore_patterns("variants", "scenarios"))
    main = broken / "baozhuang.bpmn"
    main.write_text(main.read_text(encoding="utf-8").replace("</bpmn:definitions>", ""), encoding="utf-8")
    refused = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(broken),
                      "--version", "1", "--no-simulate")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.exit_code != 0 and lines and not out.exists()
    assert all(line.startswith("error: ") for line in lines), refused.stderr
