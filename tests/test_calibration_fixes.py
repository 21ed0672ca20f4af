"""Review fixes of ``baozhuang calibrate``: branch probabilities that run, shifts from the extremes, one process
version, replicated checks with reference figures, completed cases only, bad options refused up front."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runner import services
from runner.process_folder import content_hash
from runner.simulation.calibration import (
    HistoryCase,
    LaneOccupancy,
    baseline_from_history,
    calibrate,
    estimate_answers,
    estimate_shift,
    history_rows,
    pickup_delay_distributions,
    read_history,
    within_office_hours,
)
from runner.simulation.engine import simulate
from runner.simulation.model import SimulationLog
from runner.simulation.scenario import DEFAULT_SHIFTS, load_scenario, scenario_from_dict
from runner.simulation.staff import ShiftCalendar, ShiftSpec
from runner.store import deploy
from runner.workdays import TZ, WorkingCalendar
from tests.db import PROCESSES, Db, drive_case_to_end, form_defaults, open_task, run_cli, shared_bundle, start
from tests.test_simulation_calibration import make_history
from tests.test_simulation_engine import DATA, one_step


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


def _claim_and_complete(db: Db, number: str, user: str, claim_at: datetime, minutes: int) -> None:
    task = open_task(db, number, "accept_application")
    db.clock.advance_to(claim_at)
    with db.transaction() as session:
        services.claim_task(session, task.id, user, now=db.clock.now())
    db.clock.advance(timedelta(minutes=minutes))
    with db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, form_defaults(db, task), user, uuid.uuid4().hex)


def test_pickup_delays_are_the_waits_while_somebody_of_the_lane_was_free(db: Db, tmp_path: Path) -> None:
    """Three applications ready at 09:00 (Thursday). Manager 7 claims the first at 10:30 (1.5 h in the inbox while
    everybody was free), completes it at 11:00 and claims the second at once: 2 h, since manager 8 was free all
    morning and did not take it; manager 8 claims the third at 15:00 (4.5 h on the default office hours
    08:30-12:00, 13:30-17:30: the lunch break is not a delay)."""
    ready = db.clock.now()
    assert ready.hour == 9 and ready.minute == 0
    first, second, third = (start(db, "lv_residential") for _ in range(3))
    _claim_and_complete(db, first, "account_manager.7", ready.replace(hour=10, minute=30), 30)
    _claim_and_complete(db, second, "account_manager.7", db.clock.now(), 20)
    _claim_and_complete(db, third, "account_manager.8", ready.replace(hour=15), 45)
    for number in (first, second, third):
        drive_case_to_end(db, number)
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle())
    assert facts.lanes["account_manager"]["shifts"] == list(DEFAULT_SHIFTS.shifts)  # too few actions for its own
    assert scenario["pickup_delays"]["accept_application"] == {"distribution": "empirical",
                                                               "samples": [1.5, 2.0, 4.5]}
    assert facts.pickup_delays["accept_application"] == {"n": 3, "exact": 3, "mean": 2.66667, "zero_share": 0.0,
                                                         "method": "empirical"}
    # the rest was completed without a claim: no pickup measured (its duration counts from readiness)
    assert set(scenario["pickup_delays"]) == {"accept_application"}
    loaded = scenario_from_dict(scenario)
    assert loaded.pickup_delays["accept_application"].samples == (1.5, 2.0, 4.5)
    # the command says so on stderr and writes them into the scenario
    out = tmp_path / "baseline.yaml"
    result = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES),
                     "--no-simulate")
    assert result.exit_code == 0, result.output
    assert ("pickup delays (working hours in the inbox while somebody of the lane was free): "
            "accept_application mean 2.7 h (3 claimed, 3 exact)") in result.stderr
    assert load_scenario(out).pickup_delays["accept_application"].samples == (1.5, 2.0, 4.5)


def _at(hour: float) -> datetime:
    return datetime(2026, 11, 26, tzinfo=TZ) + timedelta(hours=hour)


AROUND_THE_CLOCK = ShiftCalendar(ShiftSpec("all", ("00:00-24:00",)), WorkingCalendar.default())


def test_a_wait_while_the_whole_lane_was_busy_is_queueing_not_pickup_delay() -> None:
    one = LaneOccupancy({"a": [(_at(9), _at(11))]}, 1)
    assert one.pickup_hours(_at(9.5), _at(11), AROUND_THE_CLOCK) == (0.0, False)  # busy all along: a bound
    assert one.pickup_hours(_at(8), _at(11), AROUND_THE_CLOCK) == (1.0, False)  # free 08:00-09:00, then busy
    assert one.pickup_hours(_at(11.5), _at(13), AROUND_THE_CLOCK) == (1.5, True)  # free before the claim
    early = LaneOccupancy({"a": [(_at(9), _at(10))]}, 1)
    assert early.pickup_hours(_at(9.5), _at(11), AROUND_THE_CLOCK) == (1.5, True)  # free from 10:00, took it at 11
    two = LaneOccupancy({"a": [(_at(9), _at(12))], "b": [(_at(10), _at(11.5))]}, 2)
    # ready 09:30, b claims at 11:30 when its work ends: all busy from 10:00 on, so the delay ended before 10:00
    assert two.pickup_hours(_at(9.5), _at(11.5), AROUND_THE_CLOCK) == (0.5, False)
    assert two.pickup_hours(_at(12.5), _at(14), AROUND_THE_CLOCK) == (1.5, True)
    overlapping = LaneOccupancy({"a": [(_at(9), _at(10)), (_at(9.5), _at(11))], "b": []}, 2)  # b: never busy
    assert overlapping.pickup_hours(_at(9), _at(11), AROUND_THE_CLOCK) == (2.0, True)


def test_exact_pickup_delays_are_preferred_to_lower_bounds() -> None:
    facts: dict[str, dict[str, Any]] = {}
    delays = pickup_delay_distributions({"a": [(1.0, True), (0.0, False), (3.0, True)],
                                         "b": [(0.5, False), (0.0, False)], "c": [(0.0, True), (0.0, False)]}, facts)
    assert delays == {"a": {"distribution": "empirical", "samples": [1.0, 3.0]},
                      "b": {"distribution": "empirical", "samples": [0.0, 0.5]}}
    assert facts["a"]["exact"] == 2 and facts["b"]["method"].startswith("empirical (lower bounds")
    assert facts["c"]["method"].startswith("none")


def test_pickup_delays_estimated_from_a_simulated_log_give_back_its_waits() -> None:
    """Closed loop: simulate a one-step model whose task waits a known pickup delay (exponential, mean 2 h) before
    one of three clerks takes it, estimate the delays from that log as from a history, simulate the estimate: the
    delays' mean comes back, and so do the waits (the queueing behind busy clerks is not counted twice)."""
    truth = one_step(cases=400, arrivals={"one": {"interarrival_hours": {"distribution": "exponential", "mean": 0.5}}},
                     pools={"clerk": {"count": 3, "calendar": "always"}},
                     durations={"work": {"distribution": "exponential", "mean": 1.0}},
                     pickup_delays={"work": {"distribution": "exponential", "mean": 2.0}})
    log = simulate(scenario_from_dict(truth, base_dir=DATA / "one_step"))
    busy: dict[str, list[tuple[datetime, datetime]]] = {}
    for activity in log.activities:
        if activity.resource:
            busy.setdefault(activity.resource, []).append((activity.start_time, activity.end_time))
    lane = LaneOccupancy(busy, 3)
    measured = [lane.pickup_hours(a.enable_time, a.start_time, AROUND_THE_CLOCK)
                for a in log.activities if a.kind == "user"]
    assert 0.4 < sum(exact for _hours, exact in measured) / len(measured) < 1  # the clerks are often all busy
    facts: dict[str, dict[str, Any]] = {}
    estimate = pickup_delay_distributions({"work": measured}, facts)
    assert facts["work"]["mean"] == pytest.approx(2.0, rel=0.15)
    naive = sum(hours for hours, _exact in measured) / len(measured)  # every observation, bounds included
    assert naive < facts["work"]["mean"] * 0.9
    again = simulate(scenario_from_dict({**truth, "pickup_delays": estimate}, base_dir=DATA / "one_step"),
                     replication=1)
    truth_again = simulate(scenario_from_dict(truth, base_dir=DATA / "one_step"), replication=1)

    def mean_wait(result: SimulationLog) -> float:
        waits = [a.waiting_seconds for a in result.activities if a.kind == "user"]
        return sum(waits) / len(waits) / 3600

    assert mean_wait(again) == pytest.approx(mean_wait(truth_again), rel=0.15)
    assert mean_wait(truth_again) > 2.0  # queueing comes on top of the delay


def test_an_unreached_call_in_the_history_becomes_an_answer_without_a_rating() -> None:
    """Observed 回访 calls that did not reach the customer (``reached`` false, no rating) were refused over the
    sample answer (rated 满意, which the form refuses then) and left out, so a calibrated scenario never called
    again; now the sample's rating is left out as the simulator leaves it out."""
    when = datetime(2026, 11, 2, 9, tzinfo=TZ)
    unreached = {"contact_method": "phone", "reached": False}
    reached = {"contact_method": "phone", "reached": True, "satisfaction": "satisfied"}
    history = [HistoryCase(f"H-{i}", "lv_residential", "completed", when, when, False, [],
                           answers=[("followup_call", answer)])
               for i, answer in enumerate([unreached, unreached, reached])]
    facts: Any = SimpleNamespace(answers={})
    answers = estimate_answers(history, shared_bundle(), facts)
    alternatives = {alternative["weight"]: alternative["data"] for alternative in answers["followup_call"]}
    assert alternatives[2]["reached"] is False and "satisfaction" not in alternatives[2]
    assert alternatives[1]["reached"] is True and alternatives[1]["satisfaction"] == "satisfied"
    assert facts.answers["followup_call"]["refused_over_defaults"] == 0
