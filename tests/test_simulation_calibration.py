"""Calibration from the event history: fitting, estimating a baseline from a real database, ``baozhuang calibrate``."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import distinct, select

from runner import services
from runner.models import Event
from runner.simulation.branching import check_overrides
from runner.simulation.calibration import (
    CalibrationError,
    Gateway,
    HistoryCase,
    baseline_from_history,
    branch_rates,
    calibrate,
    condition_names,
    estimate_shift,
    fit_distribution,
    log_distances,
    why_left_to_conditions,
)
from runner.simulation.scenario import DEFAULT_SHIFTS, load_scenario, scenario_from_dict
from runner.store import Runtime
from runner.workdays import TZ, WorkingCalendar
from tests.db import PROCESSES, Db, drive_case_to_end, form_defaults, open_task, run_cli, shared_bundle, start
from tests.worker_helpers import registry_with

HISTORY = ("lv_residential", "hv_ordinary", "lv_residential", "lv_smallmicro", "lv_residential")


# -- pure functions ------------------------------------------------------------------------------------------------


def test_fitting_picks_the_generating_family_and_its_parameters() -> None:
    rng = random.Random(5)
    gamma = fit_distribution([rng.gammavariate(4.0, 0.5) for _ in range(600)])
    assert gamma.method == "mle:gamma" and gamma.n == 600
    assert isinstance(gamma.distribution, dict)
    assert gamma.distribution["shape"] == pytest.approx(4.0, rel=0.2)
    assert gamma.distribution["shape"] * gamma.distribution["scale"] == pytest.approx(2.0, rel=0.1)
    assert gamma.ks_pvalue is not None and gamma.ks_pvalue > 0.01
    assert set(gamma.aic) == {"exponential", "gamma", "lognormal", "normal"}
    assert min(gamma.aic, key=lambda kind: gamma.aic[kind]) == "gamma"
    lognormal = fit_distribution([rng.lognormvariate(0.0, 0.8) for _ in range(600)])
    assert lognormal.method == "mle:lognormal"
    assert isinstance(lognormal.distribution, dict)
    assert lognormal.distribution["mean"] == pytest.approx(1.377, rel=0.15)  # e^(0.8²/2)
    normal = fit_distribution([rng.gauss(8.0, 0.5) for _ in range(600)])
    assert normal.method in ("mle:normal", "mle:gamma", "mle:lognormal")  # all fit a narrow bell; the mean counts
    assert normal.mean == pytest.approx(8.0, rel=0.02)
    exponential = fit_distribution([rng.expovariate(1 / 3) for _ in range(600)] + [0.0])
    assert exponential.method == "mle:exponential"  # the zero rules gamma and lognormal out
    assert isinstance(exponential.distribution, dict)
    assert exponential.distribution["mean"] == pytest.approx(3.0, rel=0.15)
    # the fitted forms are valid scenario distributions
    scenario_from_dict({"name": "fits", "start": "2026-12-01", "cases": 1,
                        "arrivals": {"lv_residential": {"per_day": 1}}, "pools": {"surveyor": {"count": 1}},
                        "durations": {"a": gamma.distribution, "b": lognormal.distribution,
                                      "c": normal.distribution, "d": exponential.distribution}})


def test_few_or_equal_observations_are_kept_as_they_are() -> None:
    few = fit_distribution([1.0, 2.5, 2.0])
    assert few.method == "empirical" and few.distribution == {"distribution": "empirical",
                                                               "samples": [1.0, 2.0, 2.5]}
    same = fit_distribution([2.0] * 40)
    assert same.method == "fixed" and same.distribution == 2.0
    with pytest.raises(CalibrationError):
        fit_distribution([])


def test_shift_estimate_from_times_of_day() -> None:
    calendar = WorkingCalendar.default()
    rng = random.Random(1)
    thursday = datetime(2026, 11, 26, tzinfo=TZ)
    moments = [thursday + timedelta(days=7 * (i % 3), seconds=rng.uniform(9 * 3600, 17 * 3600)) for i in range(200)]
    spec = estimate_shift(moments, calendar)
    assert spec.working_days == "cn" and spec.shifts == ("09:00-17:00",)
    weekends = moments + [datetime(2026, 11, 28, 10, tzinfo=TZ)] * 30  # a Saturday, a day off
    assert estimate_shift(weekends, calendar).working_days == "all"
    assert estimate_shift(moments[:5], calendar) == DEFAULT_SHIFTS


def test_branch_rates_count_the_next_target_after_each_gateway_visit() -> None:
    def case(elements: list[str]) -> HistoryCase:
        return HistoryCase("C", "lv_residential", "completed", datetime(2026, 11, 26, tzinfo=TZ), None, None, [],
                           elements)

    gateways = {"gw": Gateway((("to_a", "a"), ("to_b", "b")), default="to_b")}
    history = [case(["x", "gw", "a", "y"]), case(["gw", "z", "b", "gw", "a"]), case(["x"])]
    rates = branch_rates(history, gateways)
    assert rates["to_a"] == {"gateway": "gw", "taken": 2, "visits": 3, "rate": pytest.approx(0.666667),
                             "default": False}
    assert rates["to_b"]["taken"] == 1 and rates["to_b"]["default"] is True


def test_only_gateways_decided_by_answers_may_be_estimated() -> None:
    assert condition_names('route["survey"]') == {"route"}
    assert condition_names('"high" in risk.get("severity", []) and len(fees) > 0') == {"risk", "fees"}
    assert condition_names("review_plan[") is None
    answers = {"review_plan", "accept_application"}
    flows = (("to_a", "a"), ("to_b", "b"))
    by_answer = Gateway(flows, "to_b", frozenset({"review_plan"}))  # the answers' weights decide it
    assert "decided by the answers of user tasks (review_plan)" in str(why_left_to_conditions(by_answer, 3, answers))
    unset = Gateway(flows, "to_b", frozenset({"review_plan", "external_flag"}))  # nothing simulated sets the flag
    assert why_left_to_conditions(unset, 3, answers, generated={"route"}) is None
    assert why_left_to_conditions(unset, 3, answers, generated={"external_flag"}) == \
        "decided by case data: external_flag"
    assert why_left_to_conditions(by_answer, 0, answers) == "never passed in the history"
    by_data = Gateway(flows, "to_b", frozenset({"review_plan", "route"}))
    assert why_left_to_conditions(by_data, 3, answers) == "decided by case data: route"
    assert why_left_to_conditions(Gateway(flows, "to_b", None), 3, answers) == "a condition could not be read"


def test_identical_logs_are_at_distance_zero() -> None:
    base = datetime(2026, 11, 26, 9, tzinfo=TZ)
    rows = [(f"c{i}", activity, base + timedelta(hours=i + k), base + timedelta(hours=i + k + 1), "r")
            for i in range(6) for k, activity in enumerate(("受理", "勘查", "装表"))]
    same = log_distances(rows, list(rows))
    assert same == {"cycle_time_emd_days": 0.0, "case_arrival_emd_hours": 0.0, "absolute_event_emd_hours": 0.0,
                    "circadian_event_emd_hours": 0.0, "control_flow_log_distance": 0.0}
    later = [(case, activity, s + timedelta(days=2), e + timedelta(days=2), r) for case, activity, s, e, r in rows]
    shuffled = [(case, {"受理": "勘查", "勘查": "受理"}.get(activity, activity), s, e, r)
                for case, activity, s, e, r in rows]
    assert log_distances(rows, later)["case_arrival_emd_hours"] == pytest.approx(48.0)
    assert log_distances(rows, shuffled)["control_flow_log_distance"] > 0


# -- a real history ------------------------------------------------------------------------------------------------


def claimed_case(db: Db) -> str:
    """A case whose first task is claimed at 09:00 and completed 90 minutes later, then driven to its end."""
    number = start(db, "lv_residential")
    task = open_task(db, number, "accept_application")
    db.clock.advance_to(db.clock.now().replace(hour=9, minute=0) + timedelta(days=1))
    with db.transaction() as session:
        services.claim_task(session, task.id, "account_manager.7", now=db.clock.now())
    db.clock.advance(timedelta(minutes=90))
    with db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, form_defaults(db, task), "account_manager.7",
                               uuid.uuid4().hex)
    drive_case_to_end(db, number)
    return number


NEED_MORE = {"decision": "need_more", "missing_materials": ["load_list"]}


def make_history(db: Db, categories: tuple[str, ...] = HISTORY) -> list[str]:
    """A claimed case, then one case per category; the first of them is sent back once for a missing load list."""
    numbers = [claimed_case(db)]
    for index, category in enumerate(categories):
        number = start(db, category)
        drive_case_to_end(db, number, {"accept_application": [NEED_MORE, {}]} if index == 0 else None)
        numbers.append(number)
    return numbers


def test_baseline_from_a_real_history(db: Db) -> None:
    numbers = make_history(db)
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle())
    assert facts.cases == len(numbers) == facts.completed
    assert {category: fact["cases"] for category, fact in facts.categories.items()} == {
        "lv_residential": 4, "hv_ordinary": 1, "lv_smallmicro": 1}
    rate = facts.categories["lv_residential"]["per_working_day"]
    assert rate == pytest.approx(4 / facts.working_days, rel=1e-4)
    assert scenario["arrivals"]["lv_residential"] == {"per_working_day": rate}
    assert scenario["cases"] == len(numbers)
    # staff per lane: the distinct people the event log names
    with db.reading() as session:
        managers = set(session.scalars(select(distinct(Event.user)).where(
            Event.role == "account_manager", Event.lifecycle == "completed", Event.user.is_not(None))))
    assert set(facts.lanes["account_manager"]["staff"]) == managers >= {"account_manager.7", "account_manager.1"}
    assert scenario["pools"]["account_manager"]["count"] == len(managers)
    assert scenario["pools"]["supervisor"] == {"count": 1}  # never at work here, but the process needs it
    assert facts.lanes["supervisor"]["observed"] is False
    # the claimed task counts from its claim: 1.5 working hours among the observations
    assert facts.duration_basis["claim"] == 1
    accept = scenario["durations"]["accept_application"]
    assert isinstance(accept, dict) and 1.5 in accept["samples"]
    assert facts.durations["accept_application"]["n"] == len(numbers) + 1  # one case was accepted twice
    # answers: the decision fields as given, weighted, the others from the sample answer; need_more brings the
    # materials its form then requires
    defaults = {"commitment_signed": False, "contract_signed": True, "one_certificate": False}
    assert scenario["answers"]["accept_application"] == [
        {"weight": len(numbers), "data": {**defaults, "decision": "accept"}},
        {"weight": 1, "data": {**defaults, "decision": "need_more", "missing_materials": ["load_list"]}},
    ]
    assert facts.answers["accept_application"] == {"observed": len(numbers) + 1, "alternatives": 2,
                                                   "refused_over_defaults": 0}
    # customer-side steps are delays in calendar days; the driver answers after two hours
    assert scenario["customer_delays"]["wait_meter_online"] == pytest.approx(2 / 24, rel=1e-3)
    assert "accept_application" not in scenario["customer_delays"]
    # nobody was refused; one of the seven acceptance decisions asked for more
    assert facts.branches["flow_gw_acceptance_to_notify_rejection"]["rate"] == 0.0
    assert facts.branches["flow_gw_acceptance_to_supply_materials"]["taken"] == 1
    assert scenario_from_dict(scenario).cases == len(numbers)
    assert "branch_probabilities" not in scenario
    # on request the observed rates become branch probabilities the simulator accepts, but not for gateways the
    # answers decide: their weights reproduce the rates
    with_branches, branch_facts = baseline_from_history(db.sessions, bundle=shared_bundle(), with_branches=True)
    overrides = with_branches["branch_probabilities"]
    assert not any(flow.startswith("flow_gw_acceptance_") for flow in overrides)
    assert "gw_acceptance" in branch_facts.branch_gateways["left_to_answers"]
    check_overrides([etree.parse(str(path)) for path in sorted(PROCESSES.glob("*.bpmn"))], overrides)
    # since: only the later cases; nothing left is an error
    with db.reading() as session:
        second = session.scalar(select(Event.at).where(Event.case_number == numbers[1]).order_by(Event.id))
    assert second is not None
    _later, later_facts = baseline_from_history(db.sessions, since=second, bundle=shared_bundle())
    assert later_facts.cases == len(numbers) - 1
    with pytest.raises(CalibrationError, match="no cases"):
        baseline_from_history(db.sessions, since=db.clock.now() + timedelta(days=1))


def test_calibrated_baseline_is_simulated_and_compared(db: Db) -> None:
    numbers = make_history(db)
    result = calibrate(db.sessions, bundle=shared_bundle(), process=str(PROCESSES),
                       samples=str(PROCESSES / "samples"))
    assert result.simulated_cases == len(numbers)
    distances = result.distances
    assert set(distances) == {"cycle_time_emd_days", "case_arrival_emd_hours", "absolute_event_emd_hours",
                              "circadian_event_emd_hours", "control_flow_log_distance"}
    for value in distances.values():
        assert value["mean"] is not None and value["mean"] >= 0
    cfld = distances["control_flow_log_distance"]["mean"]
    assert cfld is not None and cfld < 1


def test_calibrate_command_writes_a_scenario_that_loads(db: Db, tmp_path: Path) -> None:
    numbers = make_history(db, ("hv_ordinary",))
    out = tmp_path / "scenarios" / "baseline.yaml"
    out.parent.mkdir()
    result = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES),
                     "--no-simulate")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["scenario"] == str(out) and printed["facts"]["cases"] >= len(numbers)
    scenario = load_scenario(out)
    assert scenario.process_dir == PROCESSES.resolve()
    assert scenario.samples_dir == (PROCESSES / "samples").resolve()
    assert scenario.pools["account_manager"].count >= 1
    future = (db.clock.now() + timedelta(days=3)).date().isoformat()
    empty = run_cli(db, tmp_path / "instance", "calibrate", "--since", future, "--processes", str(PROCESSES))
    assert empty.exit_code == 1 and "no cases" in empty.stderr
    bad = run_cli(db, tmp_path / "instance", "calibrate", "--since", "yesterday")
    assert bad.exit_code == 2 and "not an ISO date" in bad.output


def test_branch_rates_never_override_gateways_decided_by_case_data(db: Db) -> None:
    """Pooled over low- and high-voltage cases, the survey gateway's rate would send low-voltage cases into the plan
    stage, whose data they lack: such gateways keep their conditions, and the baseline simulates."""
    numbers = make_history(db, ("hv_ordinary", "lv_residential", "hv_ordinary"))
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle(), with_branches=True)
    overrides = scenario["branch_probabilities"]
    assert facts.branches["flow_gw_survey_to_gw_plan_loop"]["visits"] == len(numbers)
    assert facts.branches["flow_gw_survey_to_gw_plan_loop"]["estimated"] is False
    assert not any(flow.startswith(("flow_gw_survey_", "flow_gw_customer_works_", "flow_gw_payment_"))
                   for flow in overrides)
    left = facts.branch_gateways["left_to_conditions"]
    assert left["gw_survey"] == "decided by case data: route"
    assert left["gw_payment"] == "decided by case data: fees"
    assert left["gw_proof_verified"] == "never passed in the history"
    estimated = facts.branch_gateways["estimated"]
    assert "gw_acceptance" in facts.branch_gateways["left_to_answers"]  # one case was sent back: the answers say so
    assert set(estimated) <= {fact["gateway"] for fact in facts.branches.values() if fact["estimated"]}
    assert {facts.branches[flow]["gateway"] for flow in overrides} <= set(estimated)
    result = calibrate(db.sessions, bundle=shared_bundle(), with_branches=True, process=str(PROCESSES),
                       samples=str(PROCESSES / "samples"))
    assert result.simulated_cases == len(numbers)
    assert result.scenario["branch_probabilities"] == overrides


def off_shift_history(db: Db) -> list[str]:
    """Two cases worked through before office hours with the clock standing still, as ``make run`` seeds them."""
    db.clock.advance_to(db.clock.now().replace(hour=6) + timedelta(days=1))  # Friday 06:00, a working day
    numbers = [start(db, "lv_residential") for _ in range(2)]
    for number in numbers:
        drive_case_to_end(db, number, hours_per_task=0)
    return numbers


def test_thin_and_off_shift_history_is_warned_about_and_unmeasured_durations_fall_back(db: Db) -> None:
    numbers = off_shift_history(db)
    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle())
    accept = facts.durations["accept_application"]
    assert accept["method"] == "scenario default" and accept["n"] == len(numbers)
    assert "accept_application" not in scenario["durations"]  # defaults.task_hours applies, not a 0.0
    assert 0.0 not in scenario["durations"].values()
    warnings = "\n".join(facts.warnings)
    assert f"arrival windows rest on fewer than 20 observations: arrivals {len(numbers)}" in warnings
    assert f"arrival rates per category rest on fewer than 20 observations (cases): lv_residential {len(numbers)}" \
        in warnings
    assert "the default office hours are proposed: account_manager" in warnings
    outside = next(w for w in facts.warnings if w.startswith("recorded work outside the proposed calendars"))
    account_manager = facts.lanes["account_manager"]["actions"]
    assert f"account_manager {account_manager} of {account_manager}" in outside
    unmeasured = next(w for w in facts.warnings if w.startswith("durations that measured no time"))
    assert "defaults.task_hours" in unmeasured and "accept_application" in unmeasured
    assert facts.to_dict()["warnings"] == facts.warnings


def test_calibrate_command_reports_warnings_and_chosen_gateways(db: Db, tmp_path: Path) -> None:
    off_shift_history(db)
    result = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(PROCESSES), "--with-branches",
                     "--no-simulate")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["scenario"] is None and printed["facts"]["warnings"]
    for warning in printed["facts"]["warnings"]:
        assert f"warning: {warning}" in result.stderr
    assert "branch probabilities estimated for: none" in result.stderr
    assert "left to the answers' weights (they reproduce the rates): gw_acceptance" in result.stderr
    assert "gw_survey (decided by case data: route)" in result.stderr


def test_calibrate_command_creates_the_folder_or_prints_the_estimate(db: Db, tmp_path: Path) -> None:
    make_history(db, ("lv_residential",))
    out = tmp_path / "new" / "folder" / "baseline.json"
    created = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES),
                      "--no-simulate")
    assert created.exit_code == 0, created.output
    assert load_scenario(out).cases == 2
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    unwritable = blocker / "baseline.yaml"
    refused = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(unwritable), "--processes",
                      str(PROCESSES), "--no-simulate")
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit)  # an error, not a traceback
    assert f"cannot write the baseline scenario to {unwritable}: not a folder ({blocker})" in refused.stderr
    printed = json.loads(refused.stdout)
    assert printed["scenario"] is None
    assert printed["baseline_scenario"]["cases"] == 2  # the estimate is not lost
    assert scenario_from_dict({**printed["baseline_scenario"], "process": str(PROCESSES),
                               "samples": str(PROCESSES / "samples")}).cases == 2


def test_failing_check_simulation_keeps_the_written_scenario(db: Db, tmp_path: Path) -> None:
    make_history(db, ("lv_residential",))
    empty_samples = tmp_path / "no-samples"
    empty_samples.mkdir()
    out = tmp_path / "baseline.yaml"
    result = run_cli(db, tmp_path / "instance", "calibrate", "--out", str(out), "--processes", str(PROCESSES),
                     "--samples", str(empty_samples))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"the check simulation of the calibrated baseline failed; the estimate is kept in {out}" in result.stderr
    assert "no sample application lv_residential.json" in result.stderr
    printed = json.loads(result.stdout)
    assert printed["scenario"] == str(out) and "distances" not in printed
    assert "no sample application" in printed["check_simulation"]["failed"]
    assert load_scenario(out).cases == 2
    without_out = run_cli(db, tmp_path / "instance", "calibrate", "--processes", str(PROCESSES), "--samples",
                          str(empty_samples))
    assert without_out.exit_code == 1
    assert json.loads(without_out.stdout)["baseline_scenario"]["cases"] == 2  # no file: the estimate is printed


def test_a_case_stopped_before_its_category_is_left_out_with_a_warning(db: Db) -> None:
    make_history(db, ("lv_residential",))
    failing = Runtime(cache_dir=db.cache_dir, clock=db.clock,
                      registry=registry_with("capacity_assessment", _capacity_service_down))
    failing.bundles.update(db.runtime.bundles)
    stopped = start(db, "hv_ordinary", runtime=failing)  # fails before the category decision: none recorded

    scenario, facts = baseline_from_history(db.sessions, bundle=shared_bundle())

    assert "unknown" not in scenario["arrivals"] and "unknown" not in facts.categories
    assert any(stopped in warning and "without a category" in warning for warning in facts.warnings)
    result = calibrate(db.sessions, bundle=shared_bundle(), process=str(PROCESSES),
                       samples=str(PROCESSES / "samples"))  # the check simulation runs (it failed on "unknown")
    assert result.simulated_cases > 0


def _capacity_service_down(ctx: Any, **params: Any) -> dict[str, Any]:
    raise RuntimeError("capacity service unavailable")
