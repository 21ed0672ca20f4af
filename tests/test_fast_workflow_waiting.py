"""``FastWorkflowMixin.update_waiting_tasks`` with one WAITING task updates exactly what the library's walk updates.

The shortcut rests on two facts, checked here: ``reached_in_own_tree`` tells whether the library's walk of a
workflow's own tree reaches a task (random trees, changed at random), and updating the one WAITING task of a
workflow never leaves another task WAITING (every update the trials make), so the library's walk, which goes on
after that update, finds nothing more to update.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskIterator, TaskState

from runner.fast_workflow import FastBpmnSubWorkflow, FastBpmnWorkflow
from runner.process_folder import ProcessBundle
from runner.task_queries import reached_in_own_tree
from tests.test_fast_workflow import VARIANTS, change_at_random, fast_random_tree, run_trial


class WaitingCheckedMixin:
    """Checks the shortcut's premises at every update of a workflow with exactly one WAITING task."""

    problems: list[str] = []
    shortcuts = 0

    def update_waiting_tasks(self) -> None:
        workflow: Any = self
        waiting = [task for task in workflow.tasks.values() if task.state == TaskState.WAITING]
        if len(waiting) != 1:
            super().update_waiting_tasks()  # type: ignore[misc]
            return
        WaitingCheckedMixin.shortcuts += 1
        task = waiting[0]
        library = list(TaskIterator(workflow.task_tree, state=TaskState.WAITING))
        if library != ([task] if reached_in_own_tree(task, workflow) else []):
            WaitingCheckedMixin.problems.append(f"reach of {task.task_spec.name}")
        super().update_waiting_tasks()  # type: ignore[misc]
        others = [t.task_spec.name for t in workflow.tasks.values() if t.state == TaskState.WAITING and t is not task]
        if others:
            WaitingCheckedMixin.problems.append(f"updating {task.task_spec.name} left {others} WAITING")


class WaitingCheckedSubWorkflow(WaitingCheckedMixin, FastBpmnSubWorkflow):
    pass


class WaitingCheckedWorkflow(WaitingCheckedMixin, FastBpmnWorkflow):
    subprocess_class = WaitingCheckedSubWorkflow


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=[name for name, _ in VARIANTS])
def test_one_waiting_task_is_all_the_walk_updates(bundle: ProcessBundle, name: str, options: Any) -> None:
    WaitingCheckedMixin.problems = []
    WaitingCheckedMixin.shortcuts = 0
    checked = run_trial(bundle, options, WaitingCheckedWorkflow)
    assert WaitingCheckedMixin.problems == []
    assert checked == run_trial(bundle, options, BpmnWorkflow), name


def test_the_trials_take_the_shortcut(bundle: ProcessBundle) -> None:
    WaitingCheckedMixin.shortcuts = 0
    for _name, options in VARIANTS[:3]:
        run_trial(bundle, options, WaitingCheckedWorkflow)
    assert WaitingCheckedMixin.shortcuts > 10


@pytest.mark.parametrize("seed", range(6))
def testreached_in_own_tree_follows_every_change_of_the_tree(bundle: ProcessBundle, seed: int) -> None:
    """As states go up and down and branches come and go, ``reached_in_own_tree`` says of every task whether the
    library's walk for definite states (the minimum state of a WAITING query) reaches it."""
    rng = random.Random(seed)
    workflow = fast_random_tree(bundle, rng, 150)
    spec = next(spec for spec in bundle.spec.task_specs.values() if spec.manual)
    for _ in range(200):
        change_at_random(workflow, rng, spec)
        reached = {task.id for task in TaskIterator(workflow.task_tree, state=TaskState.DEFINITE_MASK)}
        for task in workflow.tasks.values():
            if task.state & TaskState.DEFINITE_MASK:
                assert reached_in_own_tree(task, workflow) == (task.id in reached)

