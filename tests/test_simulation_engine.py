"""The simulation engine: same paths as a normal case, queueing theory, timers, reproducibility, CRN."""

from __future__ import annotations

import gc
import hashlib
import inspect
import math
import random
import shutil
import threading
from collections import Counter
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import Workflow

from runner.case import Case
from runner.clock import VirtualClock
from runner.forms import FormValidationError, ValidatedFormData
from runner.process_folder import ProcessBundle, load_process_folder
from runner.simulation.engine import (
    GC_YOUNG_THRESHOLD,
    SimulatedCase,
    SimulationEngine,
    SimulationError,
    _fewer_collections,
    simulate,
)
from runner.simulation.kpis import compute_kpis
from runner.simulation.model import SimulationLog
from runner.simulation.scenario import load_scenario, scenario_from_dict
from runner.simulation.streams import Streams, stream, stream_seed
from runner.trial import TrialDriver, TrialOptions
from tests.simulation_fixtures import ALL_DAY, ALWAYS, ROLES

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "simulation"


def one_step(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "one-step", "start": "2026-11-02", "cases": 50, "seed": 7, "process": ".", "samples": "samples",
        "arrival_calendar": ALL_DAY,
        "arrivals": {"one": {"interarrival_hours": {"distribution": "exponential", "mean": 1.0}}},
        "calendars": {"always": ALWAYS},
        "pools": {"clerk": {"count": 1, "calendar": "always", "hourly_cost": 50}},
        "durations": {"work": {"distribution": "exponential", "mean": 0.5}},
    }
    data.update(overrides)
    return data


def comparable(log: SimulationLog) -> dict[str, Any]:
    data = asdict(log)
    data["stats"] = {k: v for k, v in data["stats"].items() if "seconds" not in k and "ms_per" not in k}
    return data


# -- differential: the simulator walks the same paths a normal case walks ------------------------------------------

FAST_ANSWERS: dict[str, Any] = {"completion_check": {"result": "pass"}}
# 一证受理: accepted without property proof (on the customer's written commitment); the proof follows later
ONE_CERTIFICATE = {**FAST_ANSWERS, "accept_application": {"one_certificate": True, "commitment_signed": True}}


def fast_scenario(category: str, case_data: dict[str, Any]) -> dict[str, Any]:
    """Instant staff (many people, 24/7, seconds of work) and customers, so that no SLA timer fires."""
    return {
        "name": f"diff-{category}", "start": "2026-12-01T09:00:00+08:00", "cases": 1, "seed": 3,
        "process": str(ROOT / "processes"), "samples": str(ROOT / "processes" / "samples"),
        "arrival_calendar": ALL_DAY,
        "arrivals": {category: {"interarrival_hours": 1}},
        "case_data": {category: case_data},
        "calendars": {"always": ALWAYS},
        "pools": {role: {"count": 3, "calendar": "always"} for role in ROLES},
        "defaults": {"task_hours": 0.01, "customer_days": 0.001},
        "answers": ONE_CERTIFICATE if case_data.get("missing_property_proof") else FAST_ANSWERS,
    }


@pytest.mark.parametrize(("category", "case_data"), [
    ("lv_residential", {"capacity_kva": {"distribution": "uniform", "low": 5, "high": 9}}),
    ("lv_smallmicro", {"missing_property_proof": 1.0}),
    ("hv_ordinary", {"dual_supply": 1.0, "capacity_kva": {"distribution": "fixed", "value": 1800}}),
    ("hv_important", {"risk_flags": {"special_load": 1.0}}),
])
def test_simulated_case_visits_what_a_trial_case_visits(bundle: ProcessBundle, category: str,
                                                        case_data: dict[str, Any]) -> None:
    log = simulate(scenario_from_dict(fast_scenario(category, case_data)), bundle)
    [sim] = log.cases
    assert sim.completed and sim.escalations == 0
    answers = ONE_CERTIFICATE if case_data.get("missing_property_proof") else FAST_ANSWERS
    driver = TrialDriver(bundle, TrialOptions(category=category, answers=answers))
    start_data = simulate_start_data(bundle, category, case_data)
    driver.start_data = start_data
    driver.clock.advance_to(sim.arrival)
    result = driver.run()
    assert Counter(sim.visited) == Counter(result.visited)
    if case_data.get("missing_property_proof"):
        assert "submit_property_proof" in sim.visited and sim.attributes["missing_property_proof"] is True
    if case_data.get("dual_supply"):
        assert sim.attributes["dual_supply"] is True and sim.attributes["supply_voltage_kv"] >= 10


def simulate_start_data(bundle: ProcessBundle, category: str, case_data: dict[str, Any]) -> dict[str, Any]:
    """The start data the engine generated for case 0 (regenerated from the same stream)."""
    from runner.simulation.casedata import SampleLibrary, generate_case
    from runner.simulation.streams import Streams

    scenario = scenario_from_dict(fast_scenario(category, case_data))
    generated = generate_case(scenario.case_data_for(category), SampleLibrary(scenario.samples_dir), category, 0,
                              scenario.start, scenario.regime, Streams(scenario.seed, 0).get("case_data", 0))
    return generated.start_data


def test_simulated_case_records_steps_attributes_and_due_dates(bundle: ProcessBundle) -> None:
    scenario = fast_scenario("hv_ordinary", {"dual_supply": 1.0})
    scenario["answers"] = {**scenario["answers"], "draft_plan": {"supply_points": 2}}  # granted: a fee (decision 103)
    log = simulate(scenario_from_dict(scenario), bundle)
    kinds = Counter(a.kind for a in log.activities)
    assert kinds["user"] and kinds["customer"] and kinds["service"] and kinds["decision"] and kinds["script"]
    assert kinds["message"] == 2  # payment confirmed, meter online
    staff = [a for a in log.activities if a.kind == "user"]
    assert all(a.resource and a.resource.startswith(f"{a.lane}#") for a in staff)
    assert any(a.due_at is not None for a in staff)  # SLA deadlines from Case.due_date
    review = next(a for a in staff if a.element_id == "review_plan")
    draft = next(a for a in staff if a.element_id == "draft_plan")
    assert review.enable_time >= draft.end_time
    assert log.cases[0].attributes["regime"] == "statute"


# -- queueing sanity: M/M/c against Erlang C ------------------------------------------------------------------------

def erlang_c_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    load = arrival_rate / service_rate
    rho = load / servers
    head = sum(load ** k / math.factorial(k) for k in range(servers))
    tail = load ** servers / math.factorial(servers) / (1 - rho)
    return tail / (head + tail) / (servers * service_rate - arrival_rate)


def test_mmc_mean_wait_matches_erlang_c() -> None:
    """λ = 1.2/h, μ = 1/h, c = 2 (ρ = 0.6): Wq = 0.5625 h. 2,500 cases, fixed seed; tolerance ±15 %."""
    data = one_step(cases=2500, seed=11,
                    arrivals={"one": {"interarrival_hours": {"distribution": "exponential", "mean": 1 / 1.2}}},
                    pools={"clerk": {"count": 2, "calendar": "always"}},
                    durations={"work": {"distribution": "exponential", "mean": 1.0}})
    log = simulate(scenario_from_dict(data, base_dir=DATA / "one_step"))
    waits = [a.waiting_seconds / 3600 for a in log.activities if a.kind == "user"]
    assert len(waits) == 2500
    expected = erlang_c_mean_wait(1.2, 1.0, 2)
    assert expected == pytest.approx(0.5625)
    assert sum(waits) / len(waits) == pytest.approx(expected, rel=0.15)
    [pool] = log.pools
    assert pool.utilisation == pytest.approx(0.6, rel=0.08)


def test_single_server_serves_one_at_a_time_in_arrival_order() -> None:
    log = simulate(scenario_from_dict(one_step(cases=200), base_dir=DATA / "one_step"))
    work = sorted((a for a in log.activities if a.kind == "user"), key=lambda a: a.start_time)
    for before, after in zip(work, work[1:], strict=False):
        assert after.start_time >= before.end_time  # one clerk
        assert after.enable_time >= before.enable_time  # FIFO
    arrivals = {c.case_id: c.arrival for c in log.cases}
    assert all(a.enable_time == arrivals[a.case_id] for a in work)
    assert max(q.length for q in log.queues) >= 2
    assert log.costs["clerk"] == pytest.approx(log.pools[0].busy_seconds / 3600 * 50, abs=0.01)


# -- timers ---------------------------------------------------------------------------------------------------------

def test_interrupting_timer_cancels_queued_and_running_work_and_frees_the_clerk() -> None:
    """Work takes 6 h but a boundary timer ends it after 4 h: every case times out, the clerk is freed each time."""
    data = one_step(cases=6, arrivals={"one": {"interarrival_hours": 1}},
                    durations={"work": 6})
    log = simulate(scenario_from_dict(data, base_dir=DATA / "timeout"))
    assert all(c.completed and c.visited[-1] == "end_timeout" for c in log.cases)
    timers = [a for a in log.activities if a.kind == "timer"]
    assert len(timers) == 6
    work = [a for a in log.activities if a.element_id == "work"]
    assert all(a.cancelled for a in work)
    started = [a for a in work if a.resource is not None]
    # the clerk takes case 1 at 1 h, its timer ends it at 5 h; case 2 (ready at 2 h) then starts at 5 h …
    assert [round((a.end_time - a.start_time).total_seconds() / 3600, 6) for a in started][:2] == [4.0, 1.0]
    assert log.pools[0].busy_seconds == pytest.approx(sum(a.processing_seconds for a in started))


def test_branch_probabilities_decide_the_gateway() -> None:
    data = one_step(cases=400, arrivals={"one": {"interarrival_hours": 0.5}}, durations={"work": 0.01, "quick": 0.01},
                    branch_probabilities={"flow_quick": 0.25})
    log = simulate(scenario_from_dict(data, base_dir=DATA / "timeout"))
    quick = sum(1 for c in log.cases if "quick" in c.visited)
    assert 70 <= quick <= 130  # Binomial(400, 0.25): mean 100, sd 8.7
    with pytest.raises(SimulationError, match="branch_probabilities.flow_slow"):
        simulate(scenario_from_dict({**data, "branch_probabilities": {"flow_slow": 0.5}},
                                    base_dir=DATA / "timeout"))


# -- reproducibility ------------------------------------------------------------------------------------------------

def test_same_seed_gives_the_same_log_and_replications_differ() -> None:
    scenario = scenario_from_dict(one_step(cases=40), base_dir=DATA / "one_step")
    first, again = simulate(scenario), simulate(scenario)
    assert comparable(first) == comparable(again)
    other = simulate(scenario, replication=1)
    assert comparable(other) != comparable(first)
    assert [c.arrival for c in other.cases] != [c.arrival for c in first.cases]


def test_common_random_numbers_keep_arrivals_and_durations_when_staff_changes() -> None:
    base = scenario_from_dict(one_step(cases=60), base_dir=DATA / "one_step")
    more = scenario_from_dict(one_step(cases=60, pools={"clerk": {"count": 2, "calendar": "always"}}),
                              base_dir=DATA / "one_step")
    a, b = simulate(base), simulate(more)
    assert [c.arrival for c in a.cases] == [c.arrival for c in b.cases]
    work_a = {x.case_id: x.processing_seconds for x in a.activities}
    work_b = {x.case_id: x.processing_seconds for x in b.activities}
    assert work_a == pytest.approx(work_b)
    assert sum(x.waiting_seconds for x in b.activities) < sum(x.waiting_seconds for x in a.activities)


def test_baseline_scenario_runs_on_the_real_process(bundle: ProcessBundle) -> None:
    scenario = load_scenario(ROOT / "processes" / "scenarios" / "today.yaml")
    fractions: list[float] = []
    log = simulate(scenario, bundle, cases=12, progress=fractions.append)
    assert len(log.cases) == 12 and fractions[-1] == 1.0
    assert {p.pool for p in log.pools} == set(ROLES)
    assert all(0 <= p.utilisation <= 1 for p in log.pools)
    assert log.stats["activity_instances"] == len(log.activities) > 12 * 20
    again = simulate(scenario, bundle, cases=12)
    assert comparable(again) == comparable(log)


def test_a_lane_without_a_pool_is_refused(bundle: ProcessBundle) -> None:
    data = fast_scenario("lv_residential", {})
    del data["pools"]["surveyor"]
    with pytest.raises(SimulationError, match="no pool for lane role 'surveyor'"):
        simulate(scenario_from_dict(data), bundle)


def test_an_answer_the_form_refuses_is_reported_before_the_run(bundle: ProcessBundle) -> None:
    data = fast_scenario("lv_residential", {})
    data["answers"] = {"review_plan": [{"weight": 1, "data": {"decision": "revise", "comment": "typo"}}]}
    with pytest.raises(SimulationError, match=r"answers.review_plan\[0\]: the form refuses .*'comment' was unexpected"):
        simulate(scenario_from_dict(data), bundle)


def test_an_unreached_call_drops_the_sample_rating_and_is_called_again(bundle: ProcessBundle) -> None:
    """``{"reached": false}`` over the sample answer (``reached`` true, rated 满意): the form refuses a rating for a
    customer nobody reached, so the sample's rating is left out (``runner.sample_answers``; the run was refused),
    and with the customer ignoring the survey the agent calls three times and 回访 closes as 未能联系."""
    data = fast_scenario("lv_residential", {})
    data["answers"] = {**FAST_ANSWERS, "followup_call": [{"weight": 1, "data": {"reached": False}}]}
    data["customer_delays"] = {"customer_survey": 30}
    [sim] = simulate(scenario_from_dict(data), bundle).cases
    assert sim.completed
    assert sim.visited.count("followup_call") == 3 and sim.visited.count("timer_call_retry") == 2
    assert "end_call_unreached" in sim.visited and "customer_survey" not in sim.visited


def test_virtual_clock_is_untouched_by_wall_time() -> None:
    clock = VirtualClock(scenario_from_dict(one_step()).start)
    assert clock.now().isoformat() == "2026-11-02T00:00:00+08:00"


# -- run length -----------------------------------------------------------------------------------------------------

def long_timer_model(tmp_path: Path) -> Path:
    """The timeout model with a 60-day boundary timer: each finished case leaves a timer event 60 days ahead."""
    folder = tmp_path / "long_timer"
    shutil.copytree(DATA / "timeout", folder)
    bpmn = folder / "timeout.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    assert text.count("add_calendar_days(now(), 1 / 6)") == 1
    bpmn.write_text(text.replace("add_calendar_days(now(), 1 / 6)", "add_calendar_days(now(), 60)"),
                    encoding="utf-8")
    return folder


def test_run_ends_with_the_last_case_and_utilisation_is_lambda_over_mu(tmp_path: Path) -> None:
    """M/M/1 with λ = 0.8/h, μ = 1/h: ρ = 0.8. Stale 60-day timers must not stretch the run to max_days."""
    data = one_step(cases=1500, seed=5, max_days=400,
                    arrivals={"one": {"interarrival_hours": {"distribution": "exponential", "mean": 1.25}}},
                    durations={"work": {"distribution": "exponential", "mean": 1.0}})
    log = simulate(scenario_from_dict(data, base_dir=long_timer_model(tmp_path)))
    assert all(c.completed and c.visited[-1] == "end" for c in log.cases)
    assert log.ended_at == max(c.end for c in log.cases if c.end is not None)
    assert log.stats["stopped_by"] == "last_case_completed" and log.stats["open_cases"] == 0
    [pool] = log.pools
    assert pool.utilisation == pytest.approx(0.8, rel=0.08)
    assert log.stats["utilisation_while_arriving"]["clerk"] == pytest.approx(0.8, rel=0.08)
    queues = compute_kpis(log)["queues"]["clerk"]
    assert queues[-1]["day"] == log.ended_at.date().isoformat()  # the queue series ends with the run


def test_cases_still_open_at_max_days_are_reported() -> None:
    data = one_step(cases=50, max_days=0.5, durations={"work": 3})  # 1 clerk, 3 h each, one arrival an hour
    log = simulate(scenario_from_dict(data, base_dir=DATA / "one_step"))
    assert log.ended_at == log.started_at + timedelta(days=0.5)
    assert log.stats["stopped_by"] == "max_days"
    assert log.stats["open_cases"] == sum(1 for c in log.cases if not c.completed) > 0


# -- whole-case time limit under the regime --------------------------------------------------------------------------

@pytest.mark.parametrize(("regime", "limit"), [
    ("statute", 1 + 20 + 7 + 5 + 7), ("sgcc_commitment", 1 + 15 + 7 + 5 + 5)])
def test_cases_carry_utility_days_and_the_limit_of_their_regime(bundle: ProcessBundle, regime: str,
                                                                limit: int) -> None:
    data = {**fast_scenario("hv_ordinary", {"dual_supply": 0.0}), "regime": regime}
    log = simulate(scenario_from_dict(data), bundle)
    [case] = log.cases
    assert case.completed and case.attributes["case_limit_working_days"] == limit
    assert case.attributes["utility_working_days"] == 0  # instant staff: the utility held it less than a day
    assert compute_kpis(log)["on_time"]["case"] == {"count": 1, "on_time": 1, "share": 1.0, "undecided": 0}


@pytest.mark.parametrize("category", ["lv_residential", "hv_ordinary"])
def test_getting_electricity_counts_are_the_process_own(bundle: ProcessBundle, category: str) -> None:
    """Procedures and visits per case are what the process's ``compute_kpis`` gives the same case in production
    (``baozhuang try``): the route DMN's ``ge_steps`` for the category, not a count of customer-lane activities."""
    log = simulate(scenario_from_dict(fast_scenario(category, {"dual_supply": 0.0})), bundle)
    [case] = log.cases
    trial = TrialDriver(bundle, TrialOptions(category=category)).run()
    ge = compute_kpis(log)["getting_electricity"]
    assert ge["source"] == "process" and case.completed
    assert (ge["procedures"], ge["customer_visits"]) == (trial.kpis["steps"], trial.kpis["customer_visits"])
    assert ge["procedures"] >= 2


def test_slow_staff_make_the_whole_case_late(bundle: ProcessBundle) -> None:
    """LV residential under the statute: acceptance 1 + energising 3 = 4 working days; every staff step takes 3 days."""
    data = fast_scenario("lv_residential", {})
    data["calendars"] = {"office": {"working_days": "cn", "shifts": ["09:00-17:00"]}}
    data["pools"] = {role: {"count": 3, "calendar": "office"} for role in ROLES}
    data["defaults"] = {"task_hours": 24, "customer_days": 0.001}
    log = simulate(scenario_from_dict(data), bundle)
    [case] = log.cases
    assert case.attributes["case_limit_working_days"] == 4
    assert case.attributes["utility_working_days"] > 4
    assert compute_kpis(log)["on_time"]["case"]["share"] == 0.0


def test_utilisation_while_arriving_leaves_out_the_tail() -> None:
    """One arrival an hour from 01:00, half an hour of work each, ten cases: the last arrives at 10:00 and ends at
    10:30. While arriving: 9 × 0.5 h busy in 10 h; over the run: 10 × 0.5 h in 10.5 h."""
    data = one_step(cases=10, arrivals={"one": {"interarrival_hours": 1}}, durations={"work": 0.5})
    log = simulate(scenario_from_dict(data, base_dir=DATA / "one_step"))
    assert [c.arrival.hour for c in log.cases] == list(range(1, 11))
    assert log.stats["arrivals_ended_at"] == "2026-11-02T10:00:00+08:00"
    assert log.stats["utilisation_while_arriving"] == {"clerk": pytest.approx(0.45)}
    [pool] = log.pools
    assert pool.utilisation == pytest.approx(5 / 10.5)
    pools = compute_kpis(log)["pools"]["clerk"]
    assert (pools["utilisation"], pools["utilisation_while_arriving"]) == (pytest.approx(5 / 10.5), pytest.approx(0.45))


def test_simulated_answers_are_validated_once_and_failures_always() -> None:
    """The simulator's memory of answers that passed (``runner.forms.ValidatedFormData``): an equal answer against
    the same schema object passes without the validator; whatever differs in a way validation could see (``True``
    for ``1``, a tuple for a list, another schema object) and every failure go through ``validate_form_data``."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "items": {"type": "array"}},
              "required": ["n"]}
    memo = ValidatedFormData()
    memo.validate(schema, {"n": 1, "items": ["a"]})
    memo.validate(schema, {"n": 1, "items": ["a"]})  # equal, not the same object: remembered
    assert len(memo._passed) == 1
    for refused in ({"n": True, "items": []}, {"n": 1, "items": ("a",)}, {"items": []}, {"n": 1.5}):
        for _ in range(2):
            with pytest.raises(FormValidationError):
                memo.validate(schema, refused)
    assert len(memo._passed) == 1
    memo.validate(dict(schema), {"n": 1, "items": ["a"]})  # an equal schema, but another object
    assert len(memo._passed) == 2


# -- SimulatedCase: one walk per engine run, the same case ------------------------------------------------------------

class CheckedSimulatedCase(SimulatedCase):
    """Checks at every engine run that the kept walk is the library's and that every deadline handed over from it
    is what ``Case.due_date`` computes on the same tree."""

    mismatches: list[str] = []
    due_dates_checked = 0
    without_timers = 0

    def _record_new_ready_tasks(self) -> None:
        super()._record_new_ready_tasks()
        if self.open_tasks != Workflow.get_tasks(self.workflow, state=TaskState.READY | TaskState.WAITING):
            CheckedSimulatedCase.mismatches.append("open_tasks")
        for task_id, due in self._due.items():
            if Case.due_date(self, task_id) != due:
                CheckedSimulatedCase.mismatches.append(f"due_date {task_id}")
        for task in self.open_tasks:  # the shortcut (no waiting timer, no climb) against the climb itself
            CheckedSimulatedCase.due_dates_checked += 1
            if not self._may_wait_for_a_timer():
                CheckedSimulatedCase.without_timers += 1
            found = Case._task_due_date(self, task)
            self._may_wait_for_a_timer = lambda: True  # type: ignore[method-assign]
            try:
                if Case._task_due_date(self, task) != found:
                    CheckedSimulatedCase.mismatches.append(f"timer shortcut {task.id}")
            finally:
                del self._may_wait_for_a_timer

    def _ready_task(self, task_id: str) -> Any:
        task = super()._ready_task(task_id)
        if task is not Case._ready_task(self, task_id):
            CheckedSimulatedCase.mismatches.append(f"_ready_task {task_id}")
        return task


def _history(bundle: ProcessBundle, options: TrialOptions, simulated: bool) -> list[tuple[Any, ...]]:
    driver = TrialDriver(bundle, options)
    if simulated:
        driver.case = CheckedSimulatedCase(bundle, driver.case.services, driver.case.case_number,
                                           validated=ValidatedFormData())
    result = driver.run()
    assert result.completed
    return [(e.element_id, e.lifecycle, e.at, e.role, e.user, e.data) for e in driver.case.history]


@pytest.mark.parametrize(("category", "delays"), [
    ("hv_important", {}), ("lv_residential", {}), ("hv_ordinary", {"site_survey": 24 * 40.0}),
    ("lv_other", {"install_meter": 24 * 30.0})])
def test_simulated_case_records_exactly_what_a_case_records(bundle: ProcessBundle, category: str,
                                                            delays: dict[str, float]) -> None:
    CheckedSimulatedCase.mismatches = []
    CheckedSimulatedCase.due_dates_checked = CheckedSimulatedCase.without_timers = 0
    options = TrialOptions(category=category, delays=delays)
    simulated = _history(bundle, options, simulated=True)
    assert CheckedSimulatedCase.mismatches == []
    assert CheckedSimulatedCase.due_dates_checked > 0
    # and the shortcut taken where no timer ever fires (a fired one keeps its stage's deadline: no shortcut after it)
    assert CheckedSimulatedCase.without_timers > 0 or category == "lv_residential" or (
        category == "hv_ordinary" and delays)
    assert simulated == _history(bundle, options, simulated=False)
    assert any(event[1] == "enabled" and event[5] for event in simulated)  # due dates handed over


def test_streams_are_the_random_generators_of_their_seeds() -> None:
    for keys in [("duration", 3, "site_survey", 0), ("answer", 0, "x", 2), ("arrivals", "lv")]:
        fast, plain = stream(7, 1, *keys), random.Random(stream_seed(7, 1, *keys))
        assert type(fast) is random.Random and fast.getstate() == plain.getstate()
        assert [fast.random(), fast.gauss(0, 1), fast.gauss(0, 1), fast.expovariate(2.0)] == [
            plain.random(), plain.gauss(0, 1), plain.gauss(0, 1), plain.expovariate(2.0)]
    for seed, replication in [(7, 1), (0, 0), (-3, 12)]:
        streams = Streams(seed, replication)
        for keys in [("duration", 3, "site_survey", 0), ("branch", 12, "gw_勘查", 1), ("arrivals", "lv"), ("x",),
                     ("message", 2, None, 1.5, ("a", 1))]:
            kept, fresh = streams.get(*keys), stream(seed, replication, *keys)
            assert type(kept) is random.Random and kept.getstate() == fresh.getstate() and kept.gauss_next is None


CASE_CODE_MIRRORED = {  # runner.case.Case methods that SimulatedCase restates (engine.py), as they are now
    "_now_iso": "a2c1b9eecab68edf",
    "_ready_task": "62c15efa94e5a223",
}


@pytest.mark.parametrize("name", sorted(CASE_CODE_MIRRORED))
def test_case_code_that_simulated_case_restates_is_unchanged(name: str) -> None:
    """A change to one of these ``Case`` methods must be made in ``SimulatedCase`` too (then update the hash)."""
    source = inspect.getsource(getattr(Case, name))
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == CASE_CODE_MIRRORED[name]


def test_overlapping_runs_leave_the_collector_setting_as_they_found_it() -> None:
    """Runs in two threads: the first ends while the second goes on, which keeps the raised threshold; when the
    second ends, the process's own setting is back."""
    before = gc.get_threshold()
    second_started, first_ended, seen = threading.Event(), threading.Event(), []

    def second() -> None:
        with _fewer_collections():
            second_started.set()
            first_ended.wait(10)
            seen.append(gc.get_threshold()[0])

    with _fewer_collections():
        worker = threading.Thread(target=second)
        worker.start()
        assert second_started.wait(10)
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    first_ended.set()
    worker.join(10)
    assert seen == [GC_YOUNG_THRESHOLD]
    assert gc.get_threshold() == before


def test_a_pool_for_no_lane_of_the_process_is_refused_by_the_engine_constructor() -> None:
    """The web page validates a submission by constructing the engine: a misspelt pool must fail there, with every
    other mismatch of the scenario in the same message."""
    data = one_step(pools={"clerk": {"count": 1}, "clerks": {"count": 2}}, durations={"wrok": 1})
    scenario = scenario_from_dict(data, source="web", base_dir=DATA / "one_step")
    with pytest.raises(SimulationError) as caught:
        SimulationEngine(scenario, load_process_folder(scenario.process_dir), seed=1, cases=1, replication=0)
    assert str(caught.value).splitlines() == [
        "web: pools.clerks: no lane with role 'clerks' in the process (staff lanes: clerk)",
        "web: durations.wrok: not a staff task of the process",
    ]


def test_a_process_folder_without_the_main_process_is_refused_before_parsing(tmp_path: Path) -> None:
    scenario = scenario_from_dict(one_step(), source="web", base_dir=tmp_path)
    with pytest.raises(SimulationError, match=rf"^web: process: no baozhuang\.bpmn in {tmp_path.resolve()}$"):
        simulate(scenario)


def test_an_engine_failure_names_the_case_the_step_and_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug below the simulator (SpiffWorkflow's join failed in a loop with ``AttributeError``) reached the CLI as
    a raw traceback; it is a ``SimulationError`` saying where, the cause chained."""
    def broken(self: Case, task_id: str, data: dict[str, Any], user: str, **_kwargs: Any) -> None:
        raise AttributeError("'NoneType' object has no attribute 'data'")

    monkeypatch.setattr(Case, "complete_task", broken)
    with pytest.raises(SimulationError, match=r"case SIM-000001 \(one\), completing work at 2026-11-02T.*: the engine "
                                              r"failed: AttributeError: 'NoneType' object has no attribute 'data'"):
        simulate(scenario_from_dict(one_step(cases=3), base_dir=DATA / "one_step"))
