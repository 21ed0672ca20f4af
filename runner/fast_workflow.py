"""SpiffWorkflow's ``BpmnWorkflow`` with cheaper task-tree walks and exactly the library's behaviour.

The engine loop spends most of its time walking the whole task tree (ENGINE-NOTES.md, "Concurrency and
performance"): ``do_engine_steps`` asks every workflow for its READY tasks again and again, every completed task
makes the workflow update its WAITING tasks, and a parallel join looks for its own instances on every update. The
classes here answer the same questions more cheaply, never changing which tasks are found or their order:

* a pre-check over the flat ``tasks`` dicts: if no task in this workflow or in any subprocess has the wanted state
  (and spec name / manual flag), the library's walk would find nothing either, so there is nothing to walk; in
  ``do_engine_steps`` the check is "a READY task that is not manual", as only those are run;
* a few candidates (``MAX_ORDERED_BY_PATH``): each one climbs to the root checking that the walk would reach it
  (``tree_path``), and sorting the paths gives the walk's depth-first order;
* otherwise ``walk_tasks``, a copy of the library's depth-first ``TaskIterator`` / ``BpmnTaskIterator`` (same
  order, same pruning of predicted branches, same depth limit, same laziness: children are read when their parent
  is reached, which ``update_waiting_tasks`` relies on) on a plain stack instead of list concatenation.

Per task (``FastTask``, the class of every task of a new tree; restored trees keep the library's ``Task``): no log
record or extras dict built while the ``spiff`` loggers are off (the workflow's extras walk the whole tree), data
inherited into an empty task by a plain one-level copy instead of the general ``DeepMerge``, ancestry checked in a
loop. A subprocess's query from its root looks only at the subprocesses nested in it.

Only the filters the walk copies are handled here (``state``, ``manual``, ``spec_name``; no ``end_at_spec``,
``skip_subprocesses``, ``task_filter``, ``updated_ts`` …); every other query goes to the library unchanged.
The library's classes are never modified: these are subclasses; ``create_subprocess`` builds the subprocess one.
Subprocesses of the library's class (restored ones) work under a fast top workflow too, just without the gain.

Serialization: ``SERIALIZER_ALIASES`` (in ``runner.dialect``'s serializer config) makes SpiffWorkflow's
serializers write these classes exactly as the library's own (same typename, same converter); restoring gives the
library's classes, which behave the same. tests/test_fast_workflow.py holds the proof of equivalence.
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.task import logger as task_logger
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import logger as workflow_logger

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
_COMPLETED: int = TaskState.COMPLETED


def min_state_for(state: int) -> int:
    """The lowest state whose children the library's iterator visits for a filter on ``state``."""
    if state & _PREDICTED:
        return _MAYBE
    if state & _DEFINITE:
        return _FUTURE
    return _COMPLETED


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


def _any_match(workflows: list[Any], state: int, manual: bool | None, spec_name: str | None) -> bool:
    """Whether any task of these workflows has the state, manual flag and spec name asked for."""
    for workflow in workflows:
        for task in workflow.tasks.values():
            if task._state & state and (manual is None or task.task_spec.manual == manual) \
                    and (spec_name is None or task.task_spec.name == spec_name):
                return True
    return False


def _task_count(workflows: list[Any]) -> int:
    return sum(len(workflow.tasks) for workflow in workflows)


def _matching_tasks(workflows: list[Any], state: int, manual: bool | None, spec_name: str | None,
                    limit: int) -> list[Any] | None:
    """The tasks of these workflows that the filter accepts, in no particular order; None if more than ``limit``."""
    found = []
    for workflow in workflows:
        for task in workflow.tasks.values():
            if task._state & state and task.last_state_change >= 0 \
                    and (manual is None or task.task_spec.manual == manual) \
                    and (spec_name is None or task.task_spec.name == spec_name):
                found.append(task)
                if len(found) > limit:
                    return None
    return found


def _find_task(top_workflow: Any, task_id: Any) -> Any:
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
    subprocesses = top_workflow.subprocesses
    path = []
    current = task
    while current is not start:
        workflow = current.workflow
        parent_id = current._parent
        if parent_id is None:  # the root of a subprocess, entered from the subprocess's task
            if current is not workflow.task_tree or workflow is top_workflow:
                return None
            parent = _find_task(top_workflow, workflow.parent_task_id)
            if parent is None or subprocesses.get(parent.id) is not workflow \
                    or (parent._state >= _FINISHED and state <= _FINISHED):
                return None
            path.append(-1)
        else:
            parent = workflow.tasks.get(parent_id)
            if parent is None or not (parent._state >= min_state or subprocesses.get(parent_id) is not None):
                return None
            try:
                path.append(parent._children.index(current.id))
            except ValueError:  # not among its parent's children: no walk reaches it
                return None
        current = parent
    path.reverse()
    return tuple(path)


_ATOMIC = frozenset({str, int, float, bool, type(None)})
_SHALLOW_COPIED = (dict, list, set)  # what DeepMerge.merge copies one level deep
_INFO = logging.INFO
_DEBUG = logging.DEBUG


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts with string keys, lists, str, int, float, bool, None) without
    ``copy.deepcopy``'s memo and dispatch; anything else is handed to ``copy.deepcopy``. The one difference: an
    object referenced twice is copied twice instead of staying shared (JSON cannot express sharing either)."""
    kind = type(value)
    if kind in _ATOMIC:
        return value
    if kind is dict:
        result = {}
        for key, item in value.items():
            if type(key) is not str:
                return copy.deepcopy(value)
            result[key] = item if type(item) in _ATOMIC else json_copy(item)
        return result
    if kind is list:
        return [item if type(item) in _ATOMIC else json_copy(item) for item in value]
    return copy.deepcopy(value)


class FastTask(Task):  # type: ignore[misc]
    """SpiffWorkflow's ``Task`` with the same results and less bookkeeping per task:

    * ``_set_state`` builds the log message and its extras dict only when the ``spiff.task`` logger is enabled for
      that level (the library builds them on every state change and throws them away);
    * ``_inherit_data`` into empty data (a task reached for the first time) is ``DeepMerge.merge({}, parent data)``
      spelled out: each value taken over, dicts/lists/sets copied one level deep, as the merge does;
    * ``is_descendant_of`` climbs in a loop instead of recursing;
    * ``_add_child`` builds a ``FastTask``, so that the whole tree below a ``FastTask`` root is made of them, and
      ``_assign_new_thread_id`` counts on the library class's pool, as a library task would.
    """

    serialized_as = Task
    _state: int

    def _add_child(self, task_spec: Any, state: int = TaskState.MAYBE) -> Any:
        """``Task._add_child`` of SpiffWorkflow 3.2, line for line, building a ``FastTask``."""
        if self.has_state(TaskState.PREDICTED_MASK) and state & TaskState.PREDICTED_MASK == 0:
            raise WorkflowException('Attempt to add non-predicted child to predicted task', task_spec=self.task_spec)
        task = FastTask(self.workflow, task_spec, self, state=state)
        task.thread_id = self.thread_id
        if state == TaskState.READY:
            task._ready()
        return task

    def _set_state(self, value: int) -> None:
        if value != self._state:
            if task_logger.isEnabledFor(_INFO):
                super()._set_state(value)
            else:
                self.last_state_change = time.time()
                self._state = value
        elif task_logger.isEnabledFor(_DEBUG):
            super()._set_state(value)

    def _assign_new_thread_id(self, recursive: bool = True) -> int:
        """``Task._assign_new_thread_id`` on the library class's pool (``self.__class__`` would start a new one)."""
        Task.thread_id_pool += 1
        self.thread_id = Task.thread_id_pool
        if not recursive:
            return int(self.thread_id)
        for child in self:
            child.thread_id = self.thread_id
        return int(self.thread_id)

    def _inherit_data(self) -> None:
        data = self.data
        parent = self.parent
        if data or type(data) is not dict or parent is None or type(parent.data) is not dict:
            super()._inherit_data()
            return
        for key, value in parent.data.items():
            kind = type(value)
            if kind is dict or kind is list or kind is set:
                data[key] = value.copy()
            elif isinstance(value, _SHALLOW_COPIED):
                data[key] = copy.copy(value)
            else:
                data[key] = value

    def is_descendant_of(self, task: Any) -> bool:
        parent = self.parent
        while parent is not None:
            if parent == task:
                return True
            parent = parent.parent
        return False


class FastWorkflowMixin:
    """The cheaper walks, for the top workflow and its subprocesses alike; a new workflow's tree is made of
    ``FastTask``."""

    tasks: dict[Any, Any]
    task_tree: Any
    top_workflow: Any
    completed: bool
    spec: Any

    def __init__(self, spec: Any, *args: Any, deserializing: bool = False, **kwargs: Any) -> None:
        super().__init__(spec, *args, deserializing=True, **kwargs)  # type: ignore[call-arg]
        if not deserializing:  # the end of Workflow.__init__ of SpiffWorkflow 3.2, with a FastTask as the root
            self.task_tree = FastTask(self, self.spec.start, state=TaskState.FUTURE)
            self.task_tree.task_spec._predict(self.task_tree, mask=TaskState.NOT_FINISHED_MASK)
            if workflow_logger.isEnabledFor(_INFO):  # its extras walk the whole tree
                workflow_logger.info('Initialized workflow', extra=self.collect_log_extras())  # type: ignore[attr-defined]
            self.task_tree._ready()

    def _mark_complete(self, task: Any) -> None:
        """``Workflow._mark_complete`` of SpiffWorkflow 3.2, with the log record (whose extras walk the whole tree)
        built only when the ``spiff.workflow`` logger is enabled for it."""
        if workflow_logger.isEnabledFor(_INFO):
            workflow_logger.info('Workflow completed', extra=self.collect_log_extras())  # type: ignore[attr-defined]
        self.data.update(task.data)  # type: ignore[attr-defined]
        self.completed = True

    def _reachable_workflows(self) -> list[Any]:
        """This workflow and every subprocess (a superset of the ones a walk from here descends into)."""
        return [self, *(sub for sub in self.top_workflow.subprocesses.values() if sub is not self)]

    def _nested_workflows(self) -> list[Any]:
        """The workflows a walk from this workflow's root can reach: this one and the subprocesses started by a
        task of it or of one of them (all of them for the top workflow). A subprocess whose chain of calling
        tasks cannot be followed is kept: a superset is always safe."""
        top = self.top_workflow
        subprocesses = top.subprocesses
        if self is top or len(subprocesses) < 2:
            return self._reachable_workflows()
        nested = [self]
        for sub in subprocesses.values():
            if sub is self:
                continue
            current, steps = sub, 0
            while current is not self and current is not top:
                parent_task = _find_task(top, current.parent_task_id) if steps <= len(subprocesses) else None
                if parent_task is None:
                    current = self
                    break
                current = parent_task.workflow
                steps += 1
            if current is self:
                nested.append(sub)
        return nested

    def _fast_query(self, first_task: Any, kwargs: dict[str, Any]) -> Iterator[Any] | None:
        """The walk answering ``get_tasks(first_task, **kwargs)`` (to be consumed before the tree changes), an
        empty one when the pre-check finds no candidate, or None when ``walk_tasks`` does not copy the query."""
        if not FAST_FILTERS.issuperset(kwargs):
            return None
        state: int = kwargs.get("state", TaskState.ANY_MASK)
        manual: bool | None = kwargs.get("manual")
        spec_name: str | None = kwargs.get("spec_name")
        workflows = self._reachable_workflows() if first_task is not None else self._nested_workflows()
        candidates = _matching_tasks(workflows, state, manual, spec_name, MAX_ORDERED_BY_PATH)
        if candidates == []:
            return iter(())
        start = first_task or self.task_tree
        small = _task_count(workflows) < MAX_DEPTH  # the walk's depth limit cannot be reached
        if candidates is None or not small:
            return walk_tasks(start, state, manual, spec_name, track_depth=not small)
        paths = [(path, task) for task in candidates if (path := tree_path(task, start, state)) is not None]
        paths.sort(key=lambda item: item[0])
        return iter([task for _path, task in paths])

    def get_tasks(self, first_task: Any = None, **kwargs: Any) -> list[Any]:
        walk = self._fast_query(first_task, kwargs)
        if walk is None:
            tasks: list[Any] = super().get_tasks(first_task, **kwargs)  # type: ignore[misc]
            return tasks
        return list(walk)

    def get_next_task(self, first_task: Any = None, **kwargs: Any) -> Any:
        walk = self._fast_query(first_task, kwargs)
        if walk is None:
            return super().get_next_task(first_task, **kwargs)  # type: ignore[misc]
        return next(walk, None)

    def has_engine_work(self) -> bool:
        """Whether ``get_tasks(state=READY)`` could hold a task that is not manual (here or in a subprocess)."""
        return _any_match(self._nested_workflows(), TaskState.READY, False, None)

    def update_waiting_tasks(self) -> None:
        """``Workflow.update_waiting_tasks``: update every WAITING task of this workflow's own tree (a
        ``TaskIterator``, not descending into subprocesses) as the walk reaches it."""
        if not _any_match([self], TaskState.WAITING, None, None):
            return
        # Updates may add tasks while the walk goes on: keep the depth bookkeeping unless the tree is small.
        for task in walk_tasks(self.task_tree, TaskState.WAITING, into_subprocesses=False,
                               track_depth=len(self.tasks) >= MAX_DEPTH // 2):
            task.task_spec._update(task)

    def is_completed(self) -> bool:
        """``Workflow.is_completed``: true once no task of this workflow's own tree is unfinished."""
        if not self.completed:
            unfinished = _any_match([self], TaskState.NOT_FINISHED_MASK, None, None) and next(
                walk_tasks(self.task_tree, TaskState.NOT_FINISHED_MASK, into_subprocesses=False,
                           track_depth=len(self.tasks) >= MAX_DEPTH), None) is not None
            if not unfinished:
                self.completed = True
        return self.completed


class FastBpmnSubWorkflow(FastWorkflowMixin, BpmnSubWorkflow):  # type: ignore[misc]
    """A subprocess of a ``FastBpmnWorkflow``."""

    serialized_as = BpmnSubWorkflow


class FastBpmnWorkflow(FastWorkflowMixin, BpmnWorkflow):  # type: ignore[misc]
    """``BpmnWorkflow`` with the cheaper walks; its subprocesses are ``FastBpmnSubWorkflow``."""

    serialized_as = BpmnWorkflow
    subprocess_class: type[Any] = FastBpmnSubWorkflow

    def _do_engine_steps(self, will_complete_task: Any = None, did_complete_task: Any = None) -> bool:
        """``BpmnWorkflow._do_engine_steps`` of SpiffWorkflow 3.2, line for line, except that a workflow without a
        READY task that is not manual (``has_engine_work``) is not walked: the library's walk would run nothing there.
        (tests/test_fast_workflow.py fails when a library upgrade changes the code copied here.)"""

        def update_workflow(wf: Any) -> int:
            count = 0
            if isinstance(wf, FastWorkflowMixin) and not wf.has_engine_work():
                return count
            for task in wf.get_tasks(state=TaskState.READY):
                if not task.task_spec.manual:
                    if will_complete_task is not None:
                        will_complete_task(task)
                    task.run()
                    count += 1
                    if did_complete_task is not None:
                        did_complete_task(task)
            return count

        active_subprocesses = self.get_active_subprocesses()
        for subprocess in sorted(active_subprocesses, key=lambda v: v.depth, reverse=True):
            count = None
            while count is None or count > 0:
                count = update_workflow(subprocess)
            if subprocess.parent_task_id is not None:
                task = self.get_task_from_id(subprocess.parent_task_id)
                task.task_spec._update(task)

        count = update_workflow(self)
        return count > 0 or len(self.get_active_subprocesses()) > len(active_subprocesses)

    def create_subprocess(self, my_task: Any, spec_name: str) -> Any:
        """``BpmnWorkflow.create_subprocess``, building a ``subprocess_class``."""
        subprocess = self.subprocess_class(self.subprocess_specs[spec_name], parent_task_id=my_task.id,
                                           top_workflow=self)
        self.subprocesses[my_task.id] = subprocess
        return subprocess


class SerializedAsLibraryClass:
    """A serializer "converter" that makes a registry write a subclass exactly as its library base class (same
    typename, hence same converter and same output; restoring gives the base class)."""

    def __init__(self, target_class: type[Any], registry: Any) -> None:
        base: type[Any] = target_class.serialized_as
        registry.typenames[target_class] = registry.typenames.get(base, base.__name__)


SERIALIZER_ALIASES: dict[type[Any], type[Any]] = {
    FastTask: SerializedAsLibraryClass,
    FastBpmnWorkflow: SerializedAsLibraryClass,
    FastBpmnSubWorkflow: SerializedAsLibraryClass,
}
"""Entries for a ``BpmnWorkflowSerializer.configure`` config (``runner.dialect.SERIALIZER_CONFIG``)."""
