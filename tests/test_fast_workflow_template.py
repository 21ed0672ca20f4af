"""A new workflow's predicted tree grown from its spec's template (``runner.prediction_templates.predicted_tree``) is
the tree SpiffWorkflow's own ``BpmnWorkflow`` predicts: same specs, states, parents, children order, threads,
empty data.
"""

from __future__ import annotations

import logging
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow

from runner import prediction_templates
from runner.fast_workflow import FastBpmnWorkflow, FastTask
from runner.process_folder import ProcessBundle, load_process_folder
from runner.simulation.prosimos import load_prosimos_model

LOAN = Path(__file__).resolve().parent / "data" / "prosimos"


def tree(workflow: Any) -> list[tuple[Any, ...]]:
    """Every task in creation order with all that prediction sets on it."""
    position = {task_id: index for index, task_id in enumerate(workflow.tasks)}
    return [(task.task_spec, task.state, position.get(task._parent, -1), [position[c] for c in task._children],
             task.thread_id, task.data, task.internal_data, task.triggered) for task in workflow.tasks.values()]


def specs_of(bundle: ProcessBundle) -> list[Any]:
    return [bundle.spec, *bundle.subprocess_specs.values()]


@pytest.fixture(scope="module")
def bundles(bundle: ProcessBundle, tmp_path_factory: pytest.TempPathFactory) -> list[ProcessBundle]:
    _conversion, loan = load_prosimos_model(LOAN / "loan_application.bpmn", LOAN / "loan_application.json",
                                            start=date(2026, 11, 2), workdir=tmp_path_factory.mktemp("loan"))
    return [bundle, loan, load_process_folder(bundle.root)]  # the last: the same folder parsed again


def test_grown_trees_are_the_library_s_predicted_trees(bundles: list[ProcessBundle]) -> None:
    prediction_templates._TEMPLATES.clear()
    rng = random.Random(5)
    pairs = [(spec, found.subprocess_specs) for found in bundles for spec in specs_of(found)]
    for spec, subprocess_specs in rng.choices(pairs, k=4 * len(pairs)):  # first builds and regrowths, interleaved
        grown = FastBpmnWorkflow(spec, subprocess_specs)
        assert tree(grown) == tree(BpmnWorkflow(spec, subprocess_specs)), spec.name
        assert {type(task) for task in grown.tasks.values()} == {FastTask}
        assert grown.task_tree.state == BpmnWorkflow(spec, subprocess_specs).task_tree.state
    assert {id(spec) for spec, _ in pairs} == set(prediction_templates._TEMPLATES)
    assert all(prediction_templates._TEMPLATES[id(spec)][0] is spec for spec, _ in pairs)  # by identity, never shared


def test_templates_are_not_used_while_state_changes_are_logged(bundle: ProcessBundle,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    FastBpmnWorkflow(bundle.spec, bundle.subprocess_specs)  # a template exists now
    logged = []
    for cls in (BpmnWorkflow, FastBpmnWorkflow):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="spiff"):
            cls(bundle.spec, bundle.subprocess_specs)
        logged.append([(r.name, r.getMessage(), getattr(r, "task_spec", None)) for r in caplog.records])
    assert logged[0] and logged[1] == logged[0]
