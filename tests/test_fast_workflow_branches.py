"""The branch an exclusive gateway chooses, predicted from a template
(``runner.prediction_templates.predict_branch``), is
the branch SpiffWorkflow's own ``_predict`` grows: same specs, states, parents, children order, threads, empty data
— for every exclusive gateway and every output of every spec of the baozhuang folder (parsed twice) and of the loan
model, first predicted by the library (the template recorded) and then grown again (the template replayed); and
whole simulations of the loan model give the same log on the library's ``BpmnWorkflow``.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from runner import fast_workflow, prediction_templates
from runner.fast_workflow import FastBpmnWorkflow, FastTask
from runner.prediction_templates import predict_branch
from runner.process_folder import ProcessBundle, load_process_folder
from runner.simulation.engine import simulate
from runner.simulation.prosimos import load_prosimos, load_prosimos_model
from tests.test_fast_workflow import workflow_class

LOAN = Path(__file__).resolve().parent / "data" / "prosimos"
MASK = TaskState.FUTURE | TaskState.PREDICTED_MASK  # what a gateway predicts its chosen branch with


def tree(workflow: Any) -> list[tuple[Any, ...]]:
    """Every task in the order of the workflow's dict with all that prediction sets on it."""
    position = {task_id: index for index, task_id in enumerate(workflow.tasks)}
    return [(task.task_spec, task.state, position.get(task._parent, -1), [position[c] for c in task._children],
             task.thread_id, task.data, task.internal_data, task.triggered) for task in workflow.tasks.values()]


@pytest.fixture(scope="module")
def bundles(bundle: ProcessBundle, tmp_path_factory: pytest.TempPathFactory) -> list[ProcessBundle]:
    _conversion, loan = load_prosimos_model(LOAN / "loan_application.bpmn", LOAN / "loan_application.json",
                                            start=date(2026, 11, 2), workdir=tmp_path_factory.mktemp("loan"))
    return [bundle, loan, load_process_folder(bundle.root)]  # the last: the same folder parsed again


def _choose(workflow: Any, position: int, output: Any) -> list[Any]:
    """The gateway at ``position`` (in creation order) made definite and given ``output`` as ExclusiveChoice's
    ``_run_hook`` does; the children whose branches it then predicts."""
    gateway = list(workflow.tasks.values())[position]
    gateway._set_state(TaskState.READY)
    gateway._sync_children([output], TaskState.FUTURE)
    return list(gateway.children)


def test_chosen_branches_are_the_library_s_predictions(bundles: list[ProcessBundle]) -> None:
    prediction_templates._BRANCH_TEMPLATES.clear()
    cases = []
    for found in bundles:
        for spec in [found.spec, *found.subprocess_specs.values()]:
            sample = BpmnWorkflow(spec, found.subprocess_specs)
            for position, task in enumerate(sample.tasks.values()):
                if fast_workflow._runs_exclusive_choice(type(task.task_spec)):
                    for output in task.task_spec.outputs:
                        cases.append((spec, found.subprocess_specs, position, output))
    assert len({id(spec) for spec, *_ in cases}) >= 4  # gateways in several processes of both folders
    rng = random.Random(11)
    for spec, subprocess_specs, position, output in rng.sample(cases * 3, k=3 * len(cases)):  # record, then replay
        library = BpmnWorkflow(spec, subprocess_specs)
        for child in _choose(library, position, output):
            child.task_spec._predict(child, mask=MASK)
        fast = FastBpmnWorkflow(spec, subprocess_specs)
        for child in _choose(fast, position, output):
            predict_branch(child, MASK)
        assert tree(fast) == tree(library), (spec.name, position, output.name)
        assert {type(task) for task in fast.tasks.values()} == {FastTask}
    replayed = [ops for ops in prediction_templates._BRANCH_TEMPLATES.values() if ops]
    assert replayed and any(op[0] == prediction_templates._ADD for ops in replayed for op in ops)


def test_a_template_is_not_replayed_on_another_subtree(bundles: list[ProcessBundle]) -> None:
    """The key holds the whole subtree: the same gateway output below a changed subtree is predicted again."""
    prediction_templates._BRANCH_TEMPLATES.clear()
    loan = bundles[1]
    sample = FastBpmnWorkflow(loan.spec, loan.subprocess_specs)
    position, output = next((p, t.task_spec.outputs[0]) for p, t in enumerate(sample.tasks.values())
                            if fast_workflow._runs_exclusive_choice(type(t.task_spec)))
    grown = []
    for change in (False, True, False):
        library, fast = BpmnWorkflow(loan.spec, loan.subprocess_specs), FastBpmnWorkflow(loan.spec,
                                                                                         loan.subprocess_specs)
        pairs = list(zip(_choose(library, position, output), _choose(fast, position, output), strict=True))
        for lib_child, fast_child in pairs:
            if change:  # a different subtree below the chosen task: no template fits it
                for child in (lib_child, fast_child):
                    child._children.clear() if not child.children else child.children[0]._set_state(
                        TaskState.MAYBE)
        for lib_child, fast_child in pairs:
            lib_child.task_spec._predict(lib_child, mask=MASK)
            predict_branch(fast_child, MASK)
        assert tree(fast) == tree(library)
        grown.append(len(fast.tasks))
    assert len(prediction_templates._BRANCH_TEMPLATES) == 2 and grown[0] == grown[2]


def test_templates_are_not_used_while_state_changes_are_logged(bundles: list[ProcessBundle],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    loan = bundles[1]
    sample = FastBpmnWorkflow(loan.spec, loan.subprocess_specs)
    position, output = next((p, t.task_spec.outputs[-1]) for p, t in enumerate(sample.tasks.values())
                            if fast_workflow._runs_exclusive_choice(type(t.task_spec)))
    for child in _choose(sample, position, output):
        predict_branch(child, MASK)  # a template exists now
    logged = []
    for cls, predict in ((BpmnWorkflow, lambda task: task.task_spec._predict(task, mask=MASK)),
                         (FastBpmnWorkflow, lambda task: predict_branch(task, MASK))):
        workflow = cls(loan.spec, loan.subprocess_specs)
        children = _choose(workflow, position, output)
        caplog.clear()
        with caplog.at_level("DEBUG", logger="spiff"):
            for child in children:
                predict(child)
        logged.append([(r.name, r.getMessage(), getattr(r, "task_spec", None)) for r in caplog.records])
    assert logged[0] and logged[1] == logged[0]


def _loan_log(tmp_path: Path, cls: type[Any], replication: int) -> list[Any]:
    scenario, bundle = load_prosimos(LOAN / "loan_application.bpmn", LOAN / "loan_application.json",
                                     start=date(2026, 11, 2), cases=120, seed=4, workdir=tmp_path)
    with workflow_class(cls):
        log = simulate(scenario, bundle, replication=replication)
    return [[asdict(activity) for activity in log.activities], [asdict(case) for case in log.cases],
            [asdict(sample) for sample in log.queues], log.costs]


@pytest.mark.parametrize("replication", [0, 1])
def test_loan_simulation_gives_the_library_s_log(tmp_path: Path, replication: int) -> None:
    """The loan model loops back through its exclusive gateways: templates are replayed on grown trees."""
    prediction_templates._BRANCH_TEMPLATES.clear()
    library = _loan_log(tmp_path / "library", BpmnWorkflow, replication)
    fast = _loan_log(tmp_path / "fast", FastBpmnWorkflow, replication)
    assert fast == library and len(library[0]) > 300
    assert any(prediction_templates._BRANCH_TEMPLATES.values())


def test_a_change_to_another_task_spoils_a_recording(bundles: list[ProcessBundle]) -> None:
    """While one case's branch is recorded, another thread may change another case's tree: never replayed."""
    loan = bundles[1]
    mine, other = (list(FastBpmnWorkflow(loan.spec, loan.subprocess_specs).tasks.values()) for _ in range(2))
    for change in (lambda rec: rec.state_set(other[1], TaskState.FUTURE),
                   lambda rec: rec.added(other[1], other[2].task_spec, TaskState.MAYBE, other[2]),
                   lambda rec: rec.removed(other[2].id),
                   lambda rec: rec.state_set(mine[1], TaskState.READY)):
        recording = prediction_templates._Recording(mine[:3])
        recording.state_set(mine[1], TaskState.FUTURE)
        assert recording.template() == ((prediction_templates._STATE, 1, TaskState.FUTURE),)
        change(recording)
        assert recording.template() is None
