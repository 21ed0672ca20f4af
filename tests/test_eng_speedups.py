"""The engine speed-ups of 2026-11-28 (decision 107): exact copies built from C copies, task ids set through their
slots, kept tree paths reused by queries they answer too."""
from __future__ import annotations

import copy
import hashlib
import inspect
import random
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from runner.data_copies import exact_copy
from runner.fast_workflow import FastTask, fast_uuid4, task_id_of
from runner.process_folder import ProcessBundle
from runner.task_queries import cached_start_path, cached_tree_path, tree_path
from tests.test_fast_workflow import change_at_random, fast_random_tree

ATOMS: list[Any] = ["a", "", 0, 7, -1.5, True, False, None, "客户"]


def random_value(rng: random.Random, depth: int, pool: list[Any]) -> Any:
    """JSON-like data, now and then with a container seen twice, a tuple, a set or a dict subclass."""
    roll = rng.random()
    if depth == 0 or roll < 0.35:
        return rng.choice(ATOMS)
    if roll < 0.4 and pool:
        return rng.choice(pool)  # shared: exact_copy must leave it to deepcopy
    if roll < 0.42:
        return (rng.choice(ATOMS), [rng.choice(ATOMS)])
    if roll < 0.44:
        return {rng.choice(ATOMS[:5])}
    if roll < 0.46:
        return OrderedDict(b=[1], a=2)
    if roll < 0.75:
        made: Any = {}
        for index in range(rng.randrange(6)):
            key: Any = f"k{index}" if rng.random() < 0.95 else rng.choice([3, 2.5, None, True, ("t",)])
            made[key] = random_value(rng, depth - 1, pool)
    else:
        made = [random_value(rng, depth - 1, pool) for _ in range(rng.randrange(5))]
    pool.append(made)
    return made


def shape(value: Any, memo: dict[int, int]) -> Any:
    """The value's structure with the identity of each container (numbered in order of appearance) and atoms."""
    if isinstance(value, (dict, list, tuple, set)):
        number = memo.setdefault(id(value), len(memo))
        if isinstance(value, dict):
            return (type(value), number, [(key, shape(item, memo)) for key, item in value.items()])
        return (type(value), number, [shape(item, memo) for item in value])
    return (type(value), value)


def container_ids(value: Any) -> set[int]:
    """The ids of every dict, list and set in ``value``, at any depth."""
    found: set[int] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (dict, list, set)) and id(item) not in found:
            found.add(id(item))
            pending.extend(item.values() if isinstance(item, dict) else item)
    return found


@pytest.mark.parametrize("seed", range(300))
def test_exact_copy_is_deepcopy_structure_and_sharing_alike(seed: int) -> None:
    rng = random.Random(seed)
    value = {f"v{index}": random_value(rng, 4, []) for index in range(rng.randrange(1, 8))}
    copied, expected = exact_copy(value), copy.deepcopy(value)
    assert shape(copied, {}) == shape(expected, {})
    assert not container_ids(copied) & container_ids(value)  # nothing mutable shared with the original


def test_task_ids_from_the_slots_are_plain_uuids_alike() -> None:
    for value in (0, 7, 2**128 - 1, fast_uuid4().int):
        made = task_id_of(value)
        assert made._str is None  # type: ignore[attr-defined]  # formatted on first use only
        plain = UUID(int=value)
        assert made == plain and hash(made) == hash(plain) and made.is_safe is plain.is_safe
        assert str(made) == str(plain) and str(made) is str(made) and repr(made) == repr(plain)
        assert {plain: 1}[made] == 1 and copy.deepcopy(made) == plain and type(copy.copy(made)) is UUID
    fresh = fast_uuid4()
    assert fresh.version == 4 and fresh.variant == uuid4().variant


STATES_ASKED = [TaskState.READY, TaskState.COMPLETED, TaskState.ANY_MASK, TaskState.WAITING | TaskState.READY,
                TaskState.NOT_FINISHED_MASK, TaskState.FINISHED_MASK, TaskState.MAYBE, TaskState.CANCELLED]


def changing_tree(bundle: ProcessBundle, seed: int) -> Iterator[tuple[random.Random, Any, list[Any]]]:
    """A random tree of 150 tasks changed at random 120 times: after each change, the generator, the workflow and its
    tasks."""
    rng = random.Random(seed)
    workflow = fast_random_tree(bundle, rng, 150)
    spec = next(spec for spec in bundle.spec.task_specs.values() if spec.manual)
    for _ in range(120):
        change_at_random(workflow, rng, spec)
        yield rng, workflow, list(workflow.tasks.values())


def assert_answers_as_walked(kept: dict[Any, Any], walked: dict[Any, Any], state: int) -> None:
    """Kept paths give ``tree_path``'s verdicts (reached or not) and, among the reached, its order."""
    assert {key for key, path in kept.items() if path is None} == \
        {key for key, path in walked.items() if path is None}, state
    reached = [key for key, path in walked.items() if path is not None]
    assert sorted(reached, key=lambda key: kept[key]) == sorted(reached, key=lambda key: walked[key])


@pytest.mark.parametrize("seed", range(8))
def test_kept_paths_answer_every_query_as_tree_path(bundle: ProcessBundle, seed: int) -> None:
    """Paths kept for one kind of query (minimum state, finished or not) are reused by the queries they answer
    too: the verdict and the order of the paths stay those of ``tree_path`` whatever the order of the queries."""
    for rng, workflow, tasks in changing_tree(bundle, seed):
        for state in rng.sample(STATES_ASKED, len(STATES_ASKED)):
            sample = rng.sample(tasks, min(12, len(tasks)))
            assert_answers_as_walked({task.id: cached_tree_path(task, workflow, state) for task in sample},
                                     {task.id: tree_path(task, workflow.task_tree, state) for task in sample}, state)


@pytest.mark.parametrize("seed", range(8))
def test_paths_kept_from_other_starts_answer_as_tree_path(bundle: ProcessBundle, seed: int) -> None:
    """``cached_start_path`` (a walk from a subprocess's root or any task) keeps answering as ``tree_path`` while the
    tree changes and the start, the kind of query and the top-root queries interleave."""
    for rng, workflow, tasks in changing_tree(bundle, seed):
        for start in rng.sample(tasks, min(3, len(tasks))):
            for state in rng.sample(STATES_ASKED, 4):
                sample = rng.sample(tasks, min(12, len(tasks)))
                for task in rng.sample(sample, min(3, len(sample))):
                    cached_tree_path(task, workflow, state)  # the top root's paths, kept apart
                assert_answers_as_walked({task.id: cached_start_path(task, start, workflow, state) for task in sample},
                                         {task.id: tree_path(task, start, state) for task in sample}, state)


def test_library_code_relied_on_is_unchanged() -> None:
    """``Task.parent`` is climbed through the workflow's dict (``previous_firing``, ``FastTask._inherit_data``)."""
    fget = Task.parent.fget  # type: ignore[attr-defined]
    assert hashlib.sha256(inspect.getsource(fget).encode()).hexdigest()[:16] == PARENT_SOURCE
    assert FastTask.parent is Task.parent  # type: ignore[attr-defined]


PARENT_SOURCE = "70a7622fce2f348b"
