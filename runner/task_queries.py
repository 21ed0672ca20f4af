"""Task queries over a SpiffWorkflow task tree with exactly the answers of the library's iterators, cheaper.

``runner.fast_workflow``'s classes answer ``get_tasks`` and friends with these (its module docstring tells when
each one is used):

* ``any_match``: a pre-check over the flat ``tasks`` dicts (or a workflow's index by state): if no task has the
  wanted state, spec name and manual flag, the library's walk would find nothing either;
* ``matching_tasks`` + ``tree_path`` / ``cached_tree_path`` / ``cached_start_path``: for a few candidates, a climb
  from each to the root (or the walk's start) checking that the walk would reach it; sorting the paths gives the
  walk's depth-first order;
* ``walk_tasks``: a copy of the library's depth-first ``TaskIterator`` / ``BpmnTaskIterator`` (same order, same
  pruning of predicted branches, same depth limit, same laziness) on a plain stack;
* ``reached_in_own_tree``: whether the walk of one workflow's own tree reaches a task.

Only the filters the walk copies are handled (``FAST_FILTERS``). tests/test_fast_workflow*.py hold the proof of
equivalence.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from SpiffWorkflow.util.task import TaskState

FAST_FILTERS = frozenset({"state", "manual", "spec_name"})
"""The ``get_tasks`` keyword arguments ``walk_tasks`` copies; any other one is left to the library."""

MAX_DEPTH = 1000  # TaskIterator's default max_depth
MAX_ORDERED_BY_PATH = 8
"""Up to this many candidates, a query climbs from each to the root instead of walking the whole tree."""
_PREDICTED: int = TaskState.PREDICTED_MASK
_DEFINITE: int = TaskState.DEFINITE_MASK
_FINISHED: int = TaskState.FINISHED_MASK
_MAYBE: int = TaskState.MAYBE
_FUTURE: int = TaskState.FUTURE
_WAITING: int = TaskState.WAITING
_COMPLETED: int = TaskState.COMPLETED


def min_state_for(state: int) -> int:
    """The lowest state whose children the library's iterator visits for a filter on ``state``."""
    if state & _PREDICTED:
        return _MAYBE
    if state & _DEFINITE:
        return _FUTURE
    return _COMPLETED


_MIN_STATE: dict[int, int] = {}


def _min_state(state: int) -> int:
    _MIN_STATE[state] = found = min_state_for(state)
    return found


class DepthUnknown(Exception):
    """A walk without depth bookkeeping expanded ``MAX_DEPTH`` tasks: it can no longer tell where the library's
    iterator would stop descending."""


def walk_tasks(root: Any, state: int = TaskState.ANY_MASK, manual: bool | None = None, spec_name: str | None = None,
               into_subprocesses: bool = True, track_depth: bool = True) -> Iterator[Any]:
    """The tasks ``BpmnTaskIterator(root, state=…, manual=…, spec_name=…)`` yields, in the same order and as lazily
    (``TaskIterator`` when ``into_subprocesses`` is false): depth first, a subprocess's tree before the children
    of its task, children of tasks below the filter's minimum state (predicted branches) left out.

    The iterator stops descending when its depth counter reaches ``MAX_DEPTH``. That counter only grows by one per
    expanded task, so while fewer than ``MAX_DEPTH`` tasks have been expanded it cannot have reached it: without
    ``track_depth`` the walk skips the bookkeeping (climbing parents after every leaf) and raises ``DepthUnknown``
    if it ever expands that many tasks."""
    min_state = min_state_for(state)
    subprocesses = root.workflow.top_workflow.subprocesses if into_subprocesses else {}
    stack = [root]  # the iterator's task list, reversed: the next task is the last one
    depth = 0  # the iterator's depth counter (track_depth) or the number of expanded tasks
    while stack:
        task = stack.pop()
        children = task._children
        subprocess = subprocesses.get(task.id) if subprocesses else None
        expandable = (children or subprocess is not None) and (task._state >= min_state or subprocess is not None)
        if expandable and depth < MAX_DEPTH:
            stack.extend(map(task.workflow.tasks.get, reversed(children)))
            # BpmnTaskIterator's test, kept as it is (a single state is never >= FINISHED_MASK)
            if subprocess is not None and not (task._state >= _FINISHED and state <= _FINISHED):
                stack.append(subprocess.task_tree)
            depth += 1
        elif expandable and not track_depth:
            raise DepthUnknown(f"more than {MAX_DEPTH} tasks expanded")
        elif track_depth and stack:  # TaskIterator._handle_leaf_depth
            ancestor = stack[-1].parent
            current = task.parent
            while current is not None and current != ancestor:
                current = current.parent
                depth -= 1
        if task._state & state and task.last_state_change >= 0 \
                and (manual is None or task.task_spec.manual == manual) \
                and (spec_name is None or task.task_spec.name == spec_name):
            yield task


def any_match(workflows: list[Any], state: int, manual: bool | None, spec_name: str | None) -> bool:
    """Whether any task of these workflows has the state, manual flag and spec name asked for."""
    for workflow in workflows:
        for task in _tasks_in_state(workflow, state, spec_name):
            if task._state & state and (manual is None or task.task_spec.manual == manual) \
                    and (spec_name is None or task.task_spec.name == spec_name):
                return True
    return False


def _tasks_in_state(workflow: Any, state: int, spec_name: str | None = None) -> Iterable[Any]:
    """The tasks of a workflow that may have one of these states (and that spec name, if given): from its indexes
    by spec name and by state when it keeps them (``FastWorkflowMixin._by_name``, ``_by_state``), else all of
    them."""
    index: dict[int, dict[Any, Any]] | None = getattr(workflow, "_by_state", None)
    if index is None:
        return workflow.tasks.values()  # type: ignore[no-any-return]
    if spec_name is not None:
        named = workflow.names_indexed().get(spec_name)
        return named.values() if named is not None else ()
    if len(index) == len(SINGLE_STATES):  # only the library's states: the buckets to read are known per mask
        singles = _SINGLES_IN.get(state)
        if singles is None:
            singles = _SINGLES_IN[state] = tuple(single for single in SINGLE_STATES if single & state)
        if len(singles) == 1:
            return index[singles[0]].values()
        if len(singles) == 2:
            return [*index[singles[0]].values(), *index[singles[1]].values()]
        return workflow.tasks.values()  # type: ignore[no-any-return]  # most states: reading all is cheaper
    return [task for single, bucket in index.items() if single & state for task in bucket.values()]


SINGLE_STATES = (TaskState.MAYBE, TaskState.LIKELY, TaskState.FUTURE, TaskState.WAITING, TaskState.READY,
                  TaskState.STARTED, TaskState.COMPLETED, TaskState.ERROR, TaskState.CANCELLED)
_SINGLES_IN: dict[int, tuple[int, ...]] = {}
_SINGLE_STATE_SET = frozenset(SINGLE_STATES)


def task_count(workflows: list[Any]) -> int:
    return sum(len(workflow.tasks) for workflow in workflows)


def matching_tasks(workflows: list[Any], state: int, manual: bool | None, spec_name: str | None,
                    limit: int) -> list[Any] | None:
    """The tasks of these workflows that the filter accepts, in no particular order; None if more than ``limit``."""
    found = []
    single = spec_name is None and state in _SINGLE_STATE_SET  # one bucket to read (_tasks_in_state, inlined)
    for workflow in workflows:
        index: dict[int, dict[Any, Any]] | None = getattr(workflow, "_by_state", None)
        if single and index is not None and len(index) == len(SINGLE_STATES):
            tasks: Iterable[Any] = index[state].values()
        else:
            tasks = _tasks_in_state(workflow, state, spec_name)
        for task in tasks:
            if task._state & state and task.last_state_change >= 0 \
                    and (manual is None or task.task_spec.manual == manual) \
                    and (spec_name is None or task.task_spec.name == spec_name):
                found.append(task)
                if len(found) > limit:
                    return None
    return found


def find_task(top_workflow: Any, task_id: Any) -> Any:
    """The task ``task_id`` of the top workflow or of any of its subprocesses, or None."""
    task = top_workflow.tasks.get(task_id)
    if task is None:
        for subprocess in top_workflow.subprocesses.values():
            task = subprocess.tasks.get(task_id)
            if task is not None:
                break
    return task


def tree_path(task: Any, start: Any, state: int) -> tuple[int, ...] | None:
    """Where a walk from ``start`` for ``state`` (``walk_tasks``, depth limit aside) meets ``task``: the position
    taken at each step down (a subprocess's tree is -1, as the walk enters it before the task's children), so that
    sorting paths gives the walk's order; None if the walk never reaches ``task``."""
    min_state = min_state_for(state)
    top_workflow = task.workflow.top_workflow
    path = []
    current = task
    while current is not start:
        parent = _walk_parent(current, top_workflow, min_state, state <= _FINISHED)
        if parent is None:
            return None
        path.append(-1 if current._parent is None else parent._children.index(current.id))
        current = parent
    path.reverse()
    return tuple(path)


def _walk_parent(current: Any, top: Any, min_state: int, finished_query: bool) -> Any:
    """The task a walk for a state whose minimum is ``min_state`` passes just before ``current`` (for a
    subprocess's root: the task that called it), or None when no walk from the top workflow's root reaches
    ``current`` that way. ``finished_query``: the state asked for holds only finished states or fewer, so the walk
    does not enter the subprocesses of finished tasks (``walk_tasks``)."""
    workflow = current.workflow
    parent_id = current._parent
    subprocesses = top.subprocesses
    if parent_id is None:  # the root of a subprocess, entered from the subprocess's task
        if current is not workflow.task_tree or workflow is top:
            return None
        parent = find_task(top, workflow.parent_task_id)
        if parent is None or subprocesses.get(parent.id) is not workflow \
                or (parent._state >= _FINISHED and finished_query):
            return None
        return parent
    parent = workflow.tasks.get(parent_id)
    if parent is None or not (parent._state >= min_state or subprocesses.get(parent_id) is not None) \
            or current.id not in parent._children:  # not among its parent's children: no walk reaches it
        return None
    return parent


def reached_in_own_tree(task: Any, workflow: Any) -> bool:
    """Whether ``walk_tasks(workflow.task_tree, <a definite state>, into_subprocesses=False)`` reaches ``task`` of
    that workflow (depth limit aside): every task on the way down from the root is at least FUTURE and lists the
    next one among its children."""
    tasks = workflow.tasks
    root = workflow.task_tree
    current = task
    while current is not root:
        parent = tasks.get(current._parent)
        if parent is None or parent._state < _FUTURE or current.id not in parent._children:
            return False
        current = parent
    return True


def cached_tree_path(task: Any, top: Any, state: int) -> tuple[int, ...] | None:
    """``tree_path(task, top.task_tree, state)`` in a tree made only of ``FastTask`` (``top._paths_cached``): the
    same verdict and, between the paths of one query, the same order — each step down is the child's ``_seq``
    instead of its index (same sibling order). A path found is kept on the task (``_tp``) with the
    reachability epoch of the top workflow: the climb of a later query stops at the first ancestor whose path is
    still valid. A kept path stays right until the epoch moves: tasks present have their ancestors present and
    linked (removal takes whole branches), a task's ``_seq`` never changes, and what could make the walk stop
    reaching it — a definite state going back down, a subprocess's calling task finishing, a subprocess deleted —
    moves the epoch (``FastTask._set_state``, ``FastBpmnWorkflow.delete_subprocess`` / ``create_subprocess``).
    A path kept for another kind of query is reused when its climb checked at least as much (the steps are the
    same whatever the query): a minimum state at least as high, and, for a query whose walk leaves out the
    subprocesses of finished tasks (``state <= FINISHED_MASK``), a path kept for such a query too."""
    return _cached_path(task, top.task_tree, top, state, "_tp", None)


def cached_start_path(task: Any, start: Any, top: Any, state: int) -> tuple[int, ...] | None:
    """``tree_path(task, start, state)`` for a walk from another task than the top root (a subprocess's root, as
    ``do_engine_steps`` asks each subprocess), in a tree made only of ``FastTask``: as ``cached_tree_path``
    (``_seq`` steps, the same verdict and order, the same epoch), kept on the task apart (``_sp``) with the
    start's ``_seq``, so that queries from the top root and from a subprocess's root do not drop each other's
    paths. A path kept for another start, epoch or a weaker kind of query is never reused."""
    return _cached_path(task, start, top, state, "_sp", start._seq)


def _cached_path(task: Any, start: Any, top: Any, state: int, slot: str, mark: int | None
                 ) -> tuple[int, ...] | None:
    """The climb of ``cached_tree_path`` (``slot`` "_tp", ``mark`` None) and ``cached_start_path`` ("_sp", the
    start's ``_seq``): a kept path answers when it has the same epoch and start and its climb checked at least as
    much as this query's would."""
    epoch = top._reach_epoch
    min_state = _MIN_STATE.get(state) or _min_state(state)
    finished_query = state <= _FINISHED
    kept = getattr(task, slot)
    if kept is not None and _answers(kept[0], epoch, min_state, finished_query, mark):
        return kept[1]  # type: ignore[no-any-return]
    path = []
    prefix: tuple[int, ...] = ()
    current = task
    while current is not start:
        parent = _walk_parent(current, top, min_state, finished_query)
        if parent is None:
            return None
        path.append(-1 if current._parent is None else current._seq)
        current = parent
        kept = getattr(current, slot)
        if kept is not None and _answers(kept[0], epoch, min_state, finished_query, mark):
            prefix = kept[1]
            break
    path.reverse()
    result = prefix + tuple(path)
    setattr(task, slot, ((epoch, min_state, finished_query, mark), result))
    return result


def _answers(kept_key: tuple[Any, ...], epoch: int, min_state: int, finished_query: bool, mark: int | None) -> bool:
    """Whether a path kept under ``kept_key`` answers a query: same epoch and start, a minimum state at least as
    high, and for a query leaving out finished tasks' subprocesses, kept for such a query too."""
    return (kept_key[0] == epoch and kept_key[3] == mark and kept_key[1] >= min_state
            and (kept_key[2] or not finished_query))
