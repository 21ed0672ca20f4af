"""Prosimos/Simod interop review fixes: conversion gaps on stderr, intermediate events delayed by
``event_distribution``, invalid distributions refused, errors in the user's terms, QBP case count and start, the
simulated XES log's name, and progress across ``--jobs`` workers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from runner.cli import main
from runner.simulation.batch import run_batch
from runner.simulation.engine import simulate
from runner.simulation.prosimos import ProsimosError, load_prosimos, load_prosimos_model

DATA = Path(__file__).resolve().parent / "data" / "prosimos"
BPMN = DATA / "loan_application.bpmn"
PARAMS = DATA / "loan_application.json"
RACE_BPMN = DATA / "offer_race.bpmn"
RACE_PARAMS = DATA / "offer_race.json"
QBP = DATA / "loan_application_qbp.bpmn"
XES = "{http://www.xes-standard.org/}"
WAIT_EVENT = '''<bpmn:intermediateCatchEvent id="wait_customer" name="Customer signs">
      <bpmn:incoming>flow_register</bpmn:incoming>
      <bpmn:outgoing>flow_signed</bpmn:outgoing>
      {definition}
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="flow_signed" sourceRef="wait_customer" targetRef="merge_documents"/>
    '''


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def json_copy(tmp_path: Path, change: Callable[[dict[str, Any]], None], name: str = "loan.json") -> Path:
    data = json.loads(PARAMS.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def bpmn_copy(tmp_path: Path, old: str, new: str, name: str = "loan.bpmn") -> Path:
    text = BPMN.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def with_wait_event(tmp_path: Path, definition: str) -> Path:
    """The loan model with an intermediate catch event between registering and the credit check."""
    register = '<bpmn:sequenceFlow id="flow_register" sourceRef="register_application" targetRef="merge_documents"/>'
    text = BPMN.read_text(encoding="utf-8").replace(
        register, register.replace('targetRef="merge_documents"', 'targetRef="wait_customer"')
        + "\n    " + WAIT_EVENT.format(definition=definition))
    text = text.replace("<bpmn:incoming>flow_register</bpmn:incoming>\n      <bpmn:incoming>flow_documents_back",
                        "<bpmn:incoming>flow_signed</bpmn:incoming>\n      <bpmn:incoming>flow_documents_back")
    path = tmp_path / "loan_wait.bpmn"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    return next(i for i, row in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if fragment in row)


# -- 1: the conversion's approximations reach the user ----------------------------------------------------------------

def test_conversion_gaps_are_warnings_on_stderr(tmp_path: Path) -> None:
    code, _stdout, stderr = invoke("--bpmn", str(BPMN), "--prosimos-json", str(PARAMS), "--cases", "3")
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("warning: ")]
    assert not any("manager_hours" in line for line in warnings)  # Friday's own shifts are kept (weekday_shifts)
    assert any("clipped" in line for line in warnings)


# -- 2: intermediate events wait their event_distribution --------------------------------------------------------------

@pytest.mark.parametrize("definition", ['<bpmn:messageEventDefinition id="m1"/>',
                                        '<bpmn:timerEventDefinition id="t1"><bpmn:timeDuration>PT5H'
                                        '</bpmn:timeDuration></bpmn:timerEventDefinition>'])
def test_an_intermediate_event_waits_its_event_distribution(tmp_path: Path, definition: str) -> None:
    def events(data: dict[str, Any]) -> None:
        data["event_distribution"] = [{"event_id": "wait_customer", "distribution_name": "fix",
                                       "distribution_params": [{"value": 600}]}]

    conversion, _bundle = load_prosimos_model(with_wait_event(tmp_path, definition), json_copy(tmp_path, events),
                                              cases=20, workdir=tmp_path / "work")
    assert not any("event" in gap for gap in conversion.gaps), conversion.gaps
    scenario, bundle = load_prosimos(with_wait_event(tmp_path, definition), json_copy(tmp_path, events), cases=20,
                                     workdir=tmp_path / "work")
    log = simulate(scenario, bundle, seed=3)
    waits = [a for a in log.activities if a.element_id == "wait_customer"]
    assert len(waits) == 20 and all(case.completed for case in log.cases)
    assert {a.end_time - a.enable_time for a in waits} == {timedelta(seconds=600)}


def test_an_event_without_event_distribution_is_warned_about(tmp_path: Path) -> None:
    timer = ('<bpmn:timerEventDefinition id="t1"><bpmn:timeDuration>PT1H</bpmn:timeDuration>'
             '</bpmn:timerEventDefinition>')
    bpmn = with_wait_event(tmp_path, timer)
    code, _stdout, stderr = invoke("--bpmn", str(bpmn), "--prosimos-json", str(PARAMS), "--cases", "3",
                                   "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    line = line_of(bpmn, 'id="wait_customer"')
    assert (f"warning: {PARAMS}: event_distribution: no entry for intermediateCatchEvent wait_customer (line {line} "
            "of the BPMN); it waits its timeDuration (3600 s)") in stderr
    scenario, bundle = load_prosimos(bpmn, PARAMS, cases=5, workdir=tmp_path / "work")
    waits = [a for a in simulate(scenario, bundle).activities if a.element_id == "wait_customer"]
    assert {a.end_time - a.enable_time for a in waits} == {timedelta(hours=1)}
    empty = with_wait_event(tmp_path, '<bpmn:timerEventDefinition id="t1"/>')
    code, _stdout, stderr = invoke("--bpmn", str(empty), "--prosimos-json", str(PARAMS), "--cases", "3")
    assert code == 0, stderr
    assert "wait_customer" in stderr and "(timer); it completes at once" in stderr


def test_an_event_based_gateway_leading_to_tasks_is_refused_at_its_line(tmp_path: Path) -> None:
    """An event-based gateway's flows must lead to intermediate catch events: refused at the gateway, naming the
    flow and what it leads to, before any case runs."""
    bpmn = bpmn_copy(tmp_path, '<bpmn:exclusiveGateway id="eligible" name="Eligible?" gatewayDirection="Diverging">',
                     '<bpmn:eventBasedGateway id="eligible" name="Eligible?">')
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace(
        "</bpmn:exclusiveGateway>\n    <bpmn:task id=\"prepare_offer\"",
        "</bpmn:eventBasedGateway>\n    <bpmn:task id=\"prepare_offer\""), encoding="utf-8")
    line = line_of(bpmn, 'id="eligible"')
    assert error_of(bpmn, PARAMS).startswith(f"error: {bpmn}:{line}: eventBasedGateway eligible: its outgoing "
                                             "sequence flow 'flow_eligible' leads to task 'prepare_offer'")


def test_an_event_based_gateway_takes_the_event_that_happens_first(tmp_path: Path) -> None:
    """Prosimos's rule: each event after the gateway draws its delay, the first one decides. An answer after an
    exponential delay of mean 1 day against a 2-day timeout: answered in 1 − e⁻² = 86.5 % of cases (Prosimos 2.1.0,
    3 × 2,000 cases: 85.9–88.2 %); the losing event leaves no trace and no stray delivery. (It was refused.)"""
    scenario, bundle = load_prosimos(RACE_BPMN, RACE_PARAMS, cases=1500, workdir=tmp_path / "work")
    log = simulate(scenario, bundle, cases=1500, seed=2)
    assert all(case.completed for case in log.cases)
    done = Counter(activity.element_id for activity in log.activities)
    assert done["send_offer"] == 1500 and done["close_deal"] + done["chase"] == 1500
    assert done["answer"] == done["close_deal"] and done["timeout"] == done["chase"]
    assert abs(done["close_deal"] / 1500 - 0.865) < 0.03, done
    timeouts = [a for a in log.activities if a.element_id == "timeout"]
    assert {a.end_time - a.enable_time for a in timeouts} == {timedelta(days=2)}
    answers = [a for a in log.activities if a.element_id == "answer"]
    assert all(a.end_time - a.enable_time < timedelta(days=2) for a in answers)


# -- 3: invalid distribution parameters are refused ---------------------------------------------------------------

@pytest.mark.parametrize(("variance", "shown"), [(-5, "-5"), (0, "0")])
def test_a_gamma_without_variance_is_refused(tmp_path: Path, variance: float, shown: str) -> None:
    def gamma(data: dict[str, Any]) -> None:
        data["arrival_time_distribution"] = {"distribution_name": "gamma", "distribution_params": [
            {"value": 2400}, {"value": variance}, {"value": 0}, {"value": 36000}]}

    path = json_copy(tmp_path, gamma)
    code, stdout, stderr = invoke("--bpmn", str(BPMN), "--prosimos-json", str(path), "--cases", "3")
    assert code == 1 and stdout == "" and "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (f"error: {path}: arrival_time_distribution: gamma needs a variance above 0, "
                                       f"got {shown} (a constant duration is fix)")


def test_a_lognormal_with_a_mean_of_zero_is_refused(tmp_path: Path) -> None:
    def lognorm(data: dict[str, Any]) -> None:
        data["task_resource_distribution"][3]["resources"][0]["distribution_params"][0]["value"] = 0

    path = json_copy(tmp_path, lognorm)
    with pytest.raises(ProsimosError, match=r"task_resource_distribution\[3\]\.resources\[0\]: lognorm needs a mean "
                                            r"above 0, got 0$"):
        load_prosimos_model(BPMN, path, workdir=tmp_path / "work")


# -- 4: errors in the user's terms -------------------------------------------------------------------------------------

def error_of(bpmn: Path, params: Path | None) -> str:
    args = ["--bpmn", str(bpmn), *(["--prosimos-json", str(params)] if params else []), "--cases", "3"]
    code, stdout, stderr = invoke(*args)
    assert code == 1 and stdout == "" and "Traceback" not in stderr, stderr
    assert "simulating" not in stderr  # refused before any case runs
    return stderr.splitlines()[-1]


def test_a_task_that_is_not_in_the_bpmn_is_named_by_its_json_key(tmp_path: Path) -> None:
    path = json_copy(tmp_path, lambda d: d["task_resource_distribution"][2].update(task_id="ghost_task"))
    message = error_of(BPMN, path)
    assert message.startswith(f"error: {path}: task_resource_distribution[2]: task_id 'ghost_task' is not a task of "
                              "the BPMN (its tasks: "), message


@pytest.mark.parametrize("value", [-0.2, 1.2])
def test_a_probability_outside_0_and_1_is_named_by_its_json_key(tmp_path: Path, value: float) -> None:
    path = json_copy(tmp_path, lambda d: d["gateway_branching_probabilities"][0]["probabilities"][1].update(
        value=value))
    assert error_of(BPMN, path) == (f"error: {path}: gateway_branching_probabilities[0].probabilities[1].value: a "
                                    f"probability must be between 0 and 1, got {value:g}")


def test_a_uniform_with_min_above_max_is_named_in_seconds(tmp_path: Path) -> None:
    def uniform(data: dict[str, Any]) -> None:
        data["task_resource_distribution"][0]["resources"][0].update(
            distribution_name="uniform", distribution_params=[{"value": 900}, {"value": 100}])

    path = json_copy(tmp_path, uniform)
    assert error_of(BPMN, path) == (f"error: {path}: task_resource_distribution[0].resources[0]: uniform needs min "
                                    "<= max, got min 900 and max 100 (seconds)")


@pytest.mark.parametrize(("element", "kind", "words"), [
    ("scriptTask", "scriptTask", "script tasks"), ("serviceTask", "serviceTask", "service tasks"),
    ("userTask", "userTask", "user tasks")])
def test_an_unsupported_element_is_named_with_its_type_and_line(tmp_path: Path, element: str, kind: str,
                                                                 words: str) -> None:
    bpmn = bpmn_copy(tmp_path, '<bpmn:task id="approve_application" name="Approve application">',
                     f'<bpmn:{element} id="approve_application" name="Approve application">')
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace(
        '</bpmn:task>\n    <bpmn:task id="notify_rejection"',
        f'</bpmn:{element}>\n    <bpmn:task id="notify_rejection"'), encoding="utf-8")
    line = line_of(bpmn, 'id="approve_application"')
    assert error_of(bpmn, PARAMS) == (f"error: {bpmn}:{line}: {kind} approve_application: {words} are not supported "
                                      "in a Prosimos model: Prosimos simulates plain tasks (bpmn:task), start and "
                                      "end events, exclusive, parallel, inclusive and event-based gateways and "
                                      "intermediate catch events")


def test_an_unknown_gateway_or_flow_is_named_by_its_json_key(tmp_path: Path) -> None:
    path = json_copy(tmp_path, lambda d: d["gateway_branching_probabilities"][1].update(gateway_id="nowhere"))
    message = error_of(BPMN, path)
    assert message.startswith(f"error: {path}: gateway_branching_probabilities[1]: gateway_id 'nowhere' is not a "
                              "gateway of the BPMN"), message
    path = json_copy(tmp_path, lambda d: d["gateway_branching_probabilities"][1]["probabilities"][0].update(
        path_id="f1"), name="flow.json")
    assert error_of(BPMN, path) == (f"error: {path}: gateway_branching_probabilities[1].probabilities[0]: path_id "
                                    "'f1' is not a sequence flow leaving gateway 'eligible' (its flows: "
                                    "flow_eligible, flow_not_eligible)")


def test_probabilities_that_do_not_add_up_are_named_by_their_json_key(tmp_path: Path) -> None:
    path = json_copy(tmp_path, lambda d: d["gateway_branching_probabilities"][0]["probabilities"][0].update(
        value=0.5))
    message = error_of(BPMN, path)
    assert message.startswith(f"error: {path}: gateway_branching_probabilities[0].probabilities[0]: gateway "
                              "documents_complete: probabilities add up to 0.7"), message


# -- 5: QBP processInstances and startDateTime ------------------------------------------------------------------------

def test_qbp_instances_and_start_are_used_unless_given(tmp_path: Path) -> None:
    code, stdout, stderr = invoke("--bpmn", str(QBP), "--out", str(tmp_path / "qbp"))
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["base"]["cases_requested"] == 200 and summary["base"]["cases_arrived"] == [200]
    assert f"start: 2026-11-02 (the startDateTime of {QBP}" in stderr
    assert f"cases: 200 (the processInstances of {QBP}" in stderr
    kpis = json.loads((tmp_path / "qbp" / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["base"]["replications"][0]["period"]["start"].startswith("2026-11-02")
    code, stdout, stderr = invoke("--bpmn", str(QBP), "--cases", "4", "--start", "2026-03-02")
    assert code == 0, stderr
    assert json.loads(stdout)["base"]["cases_requested"] == 4
    assert "start: 2026-03-02\n" in stderr and "processInstances" not in stderr


# -- 6: the simulated XES log's name --------------------------------------------------------------------------------

def test_the_xes_log_is_named_after_the_simulated_model(tmp_path: Path) -> None:
    code, _stdout, stderr = invoke("--bpmn", str(BPMN), "--prosimos-json", str(PARAMS), "--cases", "2",
                                   "--out", str(tmp_path))
    assert code == 0, stderr
    root = etree.parse(str(tmp_path / "event_log.xes")).getroot()
    name = root.find(f"{XES}string[@key='concept:name']")
    assert name is not None and name.get("value") == "loan_application (仿真, simulated)"
    trace = root.find(f"{XES}trace")
    assert trace is not None and trace.find(f"{XES}string[@key='concept:name']").get("value") == "SIM-000001"


# -- 7: progress across worker processes ------------------------------------------------------------------------------

def test_progress_moves_within_replications_on_workers_with_the_same_results(tmp_path: Path) -> None:
    scenario, _bundle = load_prosimos(BPMN, PARAMS, cases=300, workdir=tmp_path)
    seen: list[float] = []
    parallel = run_batch(scenario, replications=2, jobs=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert any(0 < fraction < 1 and fraction != 0.5 for fraction in seen), seen  # not only whole replications
    alone = run_batch(scenario, replications=2, jobs=1)
    assert parallel.base_kpis == alone.base_kpis
