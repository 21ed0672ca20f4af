"""The simulator's speed-ups of issue 5 give exactly what the code they replace gives.

* ``parallel_join_may_fire`` (a loop instead of the library's recursive inner function, which left a reference
  cycle per parallel-join update) answers as ``ParallelGateway._check_threshold_unstructured``;
* ``json_round_trip`` is ``json.loads(json.dumps(value))``, and a service task stores the same result with it as
  through the library's ``ServiceTask._execute``;
* a finished simulated case leaves nothing to the cyclic garbage collector.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import inspect
import json
import math
import random
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import pytest
from SpiffWorkflow.bpmn.script_engine import TaskDataEnvironment
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.spiff.specs.mixins.service_task import ServiceTask

from runner.data_copies import json_round_trip
from runner.fast_workflow import FastBpmnWorkflow, FastTask, parallel_join_may_fire, previous_firing
from runner.process_folder import ProcessBundle, load_process_folder
from runner.script_engine import CaseScriptEngine
from runner.simulation.engine import SimulationEngine
from runner.simulation.scenario import load_scenario
from runner.trial import TrialOptions
from tests.conftest import PROCESSES
from tests.test_fast_workflow import STATES, run_trial

COPIED_LIBRARY_CODE = {
    (ParallelGateway, "_check_threshold_unstructured"): "f362324db9fe6791",
    (ServiceTask, "_execute"): "8034252a32278414",
    (TaskDataEnvironment, "evaluate"): "bb3a1d688b9b9093",
}


@pytest.mark.parametrize(("owner", "name"), list(COPIED_LIBRARY_CODE), ids=lambda value: getattr(value, "__name__",
                                                                                                 value))
def test_the_library_code_copied_is_unchanged(owner: type[Any], name: str) -> None:
    """A SpiffWorkflow upgrade that changes these must be read against runner/fast_workflow.py,
    runner/dialect.py and runner/script_engine.py first."""
    source = inspect.getsource(getattr(owner, name))
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == COPIED_LIBRARY_CODE[(owner, name)]


def _parallel_joins(bundle: ProcessBundle) -> list[tuple[Any, Any]]:
    """(process spec, join spec) for every parallel gateway with more than one incoming flow."""
    return [(process, spec) for process in [bundle.spec, *bundle.subprocess_specs.values()]
            for spec in process.task_specs.values() if isinstance(spec, ParallelGateway) and len(spec.inputs) > 1]


@pytest.mark.parametrize("seed", range(4))
def test_parallel_join_check_is_the_librarys(bundle: ProcessBundle, seed: int) -> None:
    joins = _parallel_joins(bundle)
    assert joins, "the model has parallel joins"
    rng = random.Random(seed)
    compared = 0
    for process, join in joins:
        if process is not bundle.spec:
            continue  # the trees grown here are of the main process
        workflow = FastBpmnWorkflow(bundle.spec, bundle.subprocess_specs)
        specs = [join, *join.inputs, *rng.sample(list(process.task_specs.values()), 3)]
        tasks = list(workflow.tasks.values())
        for _ in range(80):
            parent = tasks[-1] if rng.random() < 0.6 else rng.choice(tasks)
            tasks.append(FastTask(workflow, rng.choice(specs), parent, state=rng.choice(STATES)))
        instances = workflow.get_tasks(spec_name=join.name)
        assert instances
        for task in instances:
            if previous_firing(join, task) is None:  # the first round: the library's answer
                assert parallel_join_may_fire(join, task) == ParallelGateway._check_threshold_unstructured(join, task)
                compared += 1
            # in a later round of a loop the library counted earlier rounds' branches as arrived (decisions 55;
            # tests/test_prosimos_interop_review.py runs such loops against Prosimos)
    assert compared >= 3, compared


class _Small(IntEnum):
    ONE = 1


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    if depth < 3 and rng.random() < 0.4:
        if rng.random() < 0.5:
            return {f"k{i}": _json_value(rng, depth + 1) for i in range(rng.randrange(4))}
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return rng.choice([None, True, False, 0, -7, 2 ** 70, 1.5, -0.0, 1e-310, "文本", "", rng.random()])


def test_json_round_trip_is_the_json_text_round_trip() -> None:
    rng = random.Random(3)
    shared = {"a": [1, 2]}
    specials: list[Any] = [{"x": shared, "y": shared}, {"e": _Small.ONE}, {"t": (1, 2)}, [math.nan], {"inf": math.inf},
                           {"nested": {"b": [True, None, "s"]}}, {1: "int key"}]
    for value in [*(_json_value(rng) for _ in range(300)), *specials]:
        expected = json.loads(json.dumps(value, ensure_ascii=False))
        copied = json_round_trip(value)
        assert repr(copied) == repr(expected)  # the same values, types and key order (nan compares unequal)
        assert json.dumps(copied) == json.dumps(expected)
    copied = json_round_trip(specials[0])
    assert copied["x"] is not copied["y"] and copied["x"] is not shared  # shared parts come back apart, as JSON does


def test_json_round_trip_with_a_default_is_the_json_text_round_trip_with_it() -> None:
    """``default`` is ``json.dumps``'s: what a value JSON has no type for becomes (``store.summarize`` uses ``str``)."""
    moment = datetime(2026, 11, 26, 11, 30, tzinfo=UTC)
    for value in [{"at": moment}, {"plain": [1, 2.5, "文本", None, True]}, {"t": (1, moment)}, [{"k": math.inf}],
                  {"deep": {"x": [moment, {"y": moment}]}}]:
        expected = json.loads(json.dumps(value, default=str))
        copied = json_round_trip(value, default=str)
        assert repr(copied) == repr(expected)
    with pytest.raises(TypeError):
        json_round_trip({"at": moment})  # without one, as without one in json.dumps


@pytest.mark.parametrize("category", ["hv_important", "lv_residential"])
def test_service_results_are_stored_as_the_library_stores_them(bundle: ProcessBundle, category: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole case with ``CaseServiceTask`` taking its result from ``service_result`` and again through the library's
    ``ServiceTask._execute`` (the JSON text in between): the same events, case data and tree."""
    options = TrialOptions(category=category)
    fast = run_trial(bundle, options, FastBpmnWorkflow)
    monkeypatch.setattr(CaseScriptEngine, "service_result", None)  # CaseServiceTask then runs the library's code
    library = run_trial(bundle, options, FastBpmnWorkflow)
    assert fast == library
    assert fast["data"]  # the case ran


def _garbage_after_run(scenario: Any, bundle: ProcessBundle, cases: int) -> int:
    """How many objects the cyclic collector finds after a run of ``cases`` cases made with it switched off."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        log = SimulationEngine(scenario, bundle, seed=scenario.seed, cases=cases, replication=0).run()
        found = gc.collect()
    finally:
        if enabled:
            gc.enable()
    assert len(log.cases) == cases and all(case.end is not None for case in log.cases)
    return found


def test_a_finished_simulated_case_leaves_no_cyclic_garbage() -> None:
    """Cases are freed by reference counting as they finish: what the collector finds after a run does not grow
    with the number of cases (the run's pools and calendars are garbage of their own). Before, every case left a
    few hundred objects in reference cycles for it."""
    scenario = dataclasses.replace(load_scenario(PROCESSES / "scenarios" / "today.yaml"), max_days=400.0)
    bundle = load_process_folder(scenario.process_dir)
    few, more = _garbage_after_run(scenario, bundle, 20), _garbage_after_run(scenario, bundle, 60)
    assert more - few < 40, (few, more)
