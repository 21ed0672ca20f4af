"""SpiffWorkflow's ``BpmnWorkflow`` with cheaper task-tree walks and the library's behaviour — but for joins in a
loop, which wait for the round's branches (``parallel_join_may_fire``, ``inclusive_join_may_fire``; the dialect's
gateway specs use them too, so restored trees join alike: decisions 55).

The engine loop spends most of its time walking the whole task tree (ENGINE-NOTES.md, "Concurrency and
performance"): ``do_engine_steps`` asks every workflow for its READY tasks again and again, every completed task
makes the workflow update its WAITING tasks, and a parallel join looks for its own instances on every update. The
classes here answer the same questions more cheaply (with the queries of ``runner.task_queries``), never
changing which tasks are found or their order:

* a pre-check over the flat ``tasks`` dicts: if no task in this workflow or in any subprocess has the wanted state
  (and spec name / manual flag), the library's walk would find nothing either, so there is nothing to walk; in
  ``do_engine_steps`` the check is "a READY task that is not manual", as only those are run;
* a few candidates (``MAX_ORDERED_BY_PATH``): each one climbs to the root checking that the walk would reach it
  (``tree_path``), and sorting the paths gives the walk's depth-first order;
* otherwise ``walk_tasks``, a copy of the library's depth-first ``TaskIterator`` / ``BpmnTaskIterator`` (same
  order, same pruning of predicted branches, same depth limit, same laziness: children are read when their parent
  is reached, which ``update_waiting_tasks`` relies on) on a plain stack instead of list concatenation.

In a tree built here (a new case, not a restored one: every task a ``FastTask``) two things are kept up to date
as the tree changes, so that most queries neither scan nor climb:

* ``_by_state``, each workflow's tasks by state: the pre-check and the candidates come from the buckets of the
  states asked for instead of a scan of every task; ``_by_name``, its tasks by spec name, for queries by spec
  name (a parallel join looks for its own instances on every update) — made again after a migration;
* ``cached_tree_path``: a candidate's path (the ``_seq`` of each task on the way down, the same sibling order as
  the index) is kept on the task with the top workflow's reachability epoch; a later query climbs only to the
  first ancestor whose path is still valid (a walk from a subprocess's root: ``cached_start_path``, kept apart).
  The epoch moves when a task could stop being reached (a definite state going back down, a subprocess deleted
  or replaced), and ``is_completed`` asks it for the top workflow.

``do_engine_steps`` asks each workflow once (``ready_engine_tasks``) instead of a check and then a query.
``update_waiting_tasks`` of a workflow with one WAITING task updates that task when the walk would reach it,
without walking. A new tree's predicted tasks are grown from a template kept per workflow spec (prediction depends
on the specs alone) instead of being predicted again; likewise the branch an exclusive gateway chooses
(``FastTask.run``; both in ``runner.prediction_templates``): the changes the library's ``_predict`` made to a
subtree of the same specs, states and shape are made again, by the same methods, in the same order. A
completed task updates its children through ``update_task`` (``FastTask.complete``): a join finds its other waiting
instances among the tasks of its name, and the end join of a process checks for unfinished tasks by climbing from
each of them (``end_join_may_fire``) instead of walking the whole tree.

Per task (``FastTask``, the class of every task of a new tree; restored trees keep the library's ``Task``): no log
record or extras dict built while the ``spiff`` loggers are off (the workflow's extras walk the whole tree), data
inherited into an empty task by a plain one-level copy instead of the general ``DeepMerge``, ancestry checked in a
loop, ``__init__`` with ``fast_uuid4`` (the same random version-4 ids, ``os.urandom`` read for many at once;
their text formatted once). A subprocess's query from its root looks
only at the subprocesses nested in it. Cheaper copies of task data are in ``runner.data_copies``.

Only the filters the walk copies are handled here (``state``, ``manual``, ``spec_name``; no ``end_at_spec``,
``skip_subprocesses``, ``task_filter``, ``updated_ts`` …); every other query goes to the library unchanged.
The library's classes are never modified: these are subclasses; ``create_subprocess`` builds the subprocess one.
Subprocesses of the library's class (restored ones) work under a fast top workflow too, just without the gain.

Serialization: ``SERIALIZER_ALIASES`` (in ``runner.dialect``'s serializer config) makes SpiffWorkflow's
serializers write these classes exactly as the library's own (same typename, same converter); restoring gives the
library's classes, which behave the same. tests/test_fast_workflow*.py hold the proof of equivalence.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from collections import deque
from collections.abc import Iterator
from itertools import count
from typing import Any
from uuid import UUID, SafeUUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.specs import StartTask
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.specs.ExclusiveChoice import ExclusiveChoice
from SpiffWorkflow.task import Task
from SpiffWorkflow.task import logger as task_logger
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import logger as workflow_logger

from . import prediction_templates as templates
from .data_copies import ATOMIC_TYPES, SHALLOW_COPIED_TYPES
from .task_queries import (
    FAST_FILTERS,
    MAX_DEPTH,
    MAX_ORDERED_BY_PATH,
    SINGLE_STATES,
    any_match,
    cached_start_path,
    cached_tree_path,
    find_task,
    matching_tasks,
    reached_in_own_tree,
    task_count,
    tree_path,
    walk_tasks,
)

_FINISHED: int = TaskState.FINISHED_MASK
_FUTURE: int = TaskState.FUTURE
_WAITING: int = TaskState.WAITING
_PREDICTED: int = TaskState.PREDICTED_MASK
_COMPLETED_OR_CANCELLED: int = TaskState.COMPLETED | TaskState.CANCELLED  # single states: either bit is that state
_UNFINISHED_STATES = tuple(single for single in SINGLE_STATES if single & TaskState.NOT_FINISHED_MASK)
_INFO = logging.INFO
_DEBUG = logging.DEBUG


def _register(index: dict[int, dict[Any, Any]], task_id: Any, task: Any, state: int) -> None:
    bucket = index.get(state)
    if bucket is None:
        bucket = index[state] = {}
    bucket[task_id] = task


_TASK_SEQUENCE = count(1)
"""``FastTask._seq``: creation order. A task's children list only ever grows by appending the task just created
and shrinks by removals, so siblings' ``_seq`` order is their order in the list."""


_UUID4_CLEAR = ~((0xc000 << 48) | (0xf000 << 64))  # the variant and version bits UUID(..., version=4) sets
_UUID4_SET = (0x8000 << 48) | (4 << 76)


class TaskId(UUID):
    """A task id: a ``uuid.UUID`` equal to, and hashing as, the plain ``UUID`` of the same value, whose hash is
    worked out once. ``UUID.__hash__`` is a Python call (``hash(self.int)``) made on every lookup in the task
    dicts (thousands per case); here the ``__hash__`` slot holds the bound ``__int__`` of the hash itself, so
    ``hash()`` runs in C. Its text (``str``, the form task ids take in events and lookups) is formatted once, on
    first use. Copies and pickles are plain ``UUID`` objects."""

    __slots__ = ("__hash__", "_str")
    _str: str | None

    def __str__(self) -> str:
        text: str | None = self._str
        if text is None:
            text = UUID.__str__(self)
            _set_str(self, text)
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return UUID, (None, None, None, None, self.int)

    def __repr__(self) -> str:
        return f"UUID({str(self)!r})"


_new_object = object.__new__
_set_int = UUID.__dict__["int"].__set__  # the slots' own setters: what object.__setattr__ finds, without the search
_set_is_safe = UUID.__dict__["is_safe"].__set__
_set_hash = TaskId.__dict__["__hash__"].__set__
_set_str = TaskId.__dict__["_str"].__set__
_SAFE_UNKNOWN = SafeUUID.unknown


def task_id_of(value: int) -> UUID:
    """The ``TaskId`` of a 128-bit integer (without ``UUID.__init__``'s argument checks)."""
    made = _new_object(TaskId)
    _set_int(made, value)
    _set_is_safe(made, _SAFE_UNKNOWN)
    _set_hash(made, hash(value).__int__)
    _set_str(made, None)
    return made


_ID_BATCH = 256
_random_ids: deque[int] = deque()
"""Random version-4 id values not handed out yet (``fast_uuid4``). ``popleft`` is atomic, so threads never share
one; a forked child starts without the parent's."""
os.register_at_fork(after_in_child=_random_ids.clear)


def _more_random_ids() -> int:
    """One id value, the pool refilled with ``_ID_BATCH - 1`` more: one ``os.urandom`` call for many ids."""
    data = os.urandom(16 * _ID_BATCH)
    _random_ids.extend([(int.from_bytes(data[at:at + 16]) & _UUID4_CLEAR) | _UUID4_SET
                        for at in range(16, len(data), 16)])
    return (int.from_bytes(data[:16]) & _UUID4_CLEAR) | _UUID4_SET


def fast_uuid4() -> UUID:
    """``uuid.uuid4()`` (``UUID(bytes=os.urandom(16), version=4)``: the same bits, equal and hashing the same) as
    a ``TaskId``; the random bytes are read from ``os.urandom`` for ``_ID_BATCH`` ids at a time."""
    try:
        value = _random_ids.popleft()
    except IndexError:
        value = _more_random_ids()
    made = _new_object(TaskId)  # task_id_of, inlined
    _set_int(made, value)
    _set_is_safe(made, _SAFE_UNKNOWN)
    _set_hash(made, hash(value).__int__)
    _set_str(made, None)
    return made


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

    def __init__(self, workflow: Any, task_spec: Any, parent: Any = None, state: int = TaskState.MAYBE,
                 id: UUID | None = None) -> None:  # noqa: A002 (the library's keyword)
        """``Task.__init__`` of SpiffWorkflow 3.2, line for line, with ``fast_uuid4`` and the parent looked up once."""
        self.id = task_id = id or fast_uuid4()
        tasks = workflow.tasks
        tasks[task_id] = self
        index = workflow._by_state
        if index is not None:
            _register(index, task_id, self, state)
        self.workflow = workflow
        parent_id = parent.id if parent is not None else None
        self._parent = parent_id
        self._children: list[Any] = []
        self._state = state
        self.triggered = False
        self.task_spec = task_spec = task_spec if task_spec else StartTask(workflow.spec)
        named = workflow._by_name
        if named is not None:
            bucket = named.get(task_spec.name)
            if bucket is None:
                named[task_spec.name] = {task_id: self}
            else:
                bucket[task_id] = self
        self.thread_id = self.__class__.thread_id_pool
        self.data: Any = {}
        self.internal_data: dict[str, Any] = {}
        self.last_state_change = time.time()
        self._seq = next(_TASK_SEQUENCE)
        self._tp: tuple[Any, tuple[int, ...]] | None = None
        self._sp: tuple[Any, tuple[int, ...]] | None = None
        found = tasks.get(parent_id)  # the library's ``self.parent``
        if found is not None:
            if type(found) is FastTask:  # Task._child_added_notify, inlined
                found._children.append(task_id)
            else:
                found._child_added_notify(self)

    def _add_child(self, task_spec: Any, state: int = TaskState.MAYBE) -> Any:
        """``Task._add_child`` of SpiffWorkflow 3.2, line for line, building a ``FastTask``."""
        if self.has_state(TaskState.PREDICTED_MASK) and state & TaskState.PREDICTED_MASK == 0:
            raise WorkflowException('Attempt to add non-predicted child to predicted task', task_spec=self.task_spec)
        task = FastTask(self.workflow, task_spec, self, state=state)
        task.thread_id = self.thread_id
        recording = templates.recording
        if recording is not None:
            recording.added(self, task_spec, state, task)
        if state == TaskState.READY:
            task._ready()
        return task

    def _set_state(self, value: int) -> None:
        old = self._state
        if value != old:
            recording = templates.recording
            if recording is not None:
                recording.state_set(self, value)
            index = self.workflow._by_state
            if index is not None:
                task_id = self.id
                index[old].pop(task_id, None)
                bucket = index.get(value)  # _register, inlined
                if bucket is None:
                    bucket = index[value] = {}
                bucket[task_id] = self
            if (value < old and old >= _FUTURE) or (value >= _FINISHED > old):  # see cached_tree_path
                top = self.workflow.top_workflow
                if value < old or self.id in top.subprocesses:
                    top._reach_epoch += 1
            if task_logger.isEnabledFor(_INFO):
                super()._set_state(value)
            else:
                self.last_state_change = time.time()
                self._state = value
        elif task_logger.isEnabledFor(_DEBUG):
            super()._set_state(value)

    def _ready(self) -> None:
        """``Task._ready`` of SpiffWorkflow 3.2, line for line, with ``has_state`` inlined."""
        if self._state & _COMPLETED_OR_CANCELLED:
            return
        self._set_state(TaskState.READY)
        self.task_spec._on_ready(self)

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
        parent = self.workflow.tasks.get(self._parent)  # Task.parent, inlined
        if data or type(data) is not dict or parent is None or type(parent.data) is not dict:
            super()._inherit_data()
            return
        parent_data = parent.data
        data.update(parent_data)  # every key in the parent's order, every value taken over ...
        for key, value in parent_data.items():  # ... then the containers replaced by their one-level copies
            kind = type(value)
            if kind is dict:  # most values of task data are dicts: tested first
                data[key] = value.copy()
            elif kind in ATOMIC_TYPES:
                continue
            elif kind is list or kind is set:
                data[key] = value.copy()
            elif isinstance(value, SHALLOW_COPIED_TYPES):
                data[key] = copy.copy(value)

    def run(self) -> bool | None:
        """``Task.run`` of SpiffWorkflow 3.2, line for line, except that an exclusive gateway's ``TaskSpec._run``
        is ``_run_exclusive_choice`` (the chosen branch predicted by ``predict_branch``)."""
        spec = self.task_spec
        exclusive = _EXCLUSIVE_RUN.get(type(spec))
        if exclusive is None:
            exclusive = _EXCLUSIVE_RUN[type(spec)] = _runs_exclusive_choice(type(spec))
        retval: bool | None = _run_exclusive_choice(self, spec) if exclusive else spec._run(self)
        if retval is None:
            self._set_state(TaskState.STARTED)
        elif retval is False:
            self.error()
        else:
            self.complete()
        return retval

    def complete(self) -> None:
        """``Task.complete`` of SpiffWorkflow 3.2; when the spec completes as ``TaskSpec._on_complete`` does, that is
        spelled out, line for line, with each unfinished child updated by ``update_task``."""
        self._set_state(TaskState.COMPLETED)
        spec = self.task_spec
        plain = _PLAIN_ON_COMPLETE.get(type(spec))
        if plain is None:
            plain = _PLAIN_ON_COMPLETE[type(spec)] = type(spec)._on_complete is TaskSpec._on_complete
        if not plain:
            spec._on_complete(self)
            return
        spec._on_complete_hook(self)
        for child in self.children:
            if not child._state & _FINISHED:  # Task.has_state, inlined
                update_task(child)
        self.workflow._task_completed_notify(self)

    def is_descendant_of(self, task: Any) -> bool:
        """``Task.is_descendant_of``: whether ``task`` is on the chain of parents within this task's workflow. When
        both tasks of one workflow carry a kept path (``cached_tree_path``), the answer is whether the other's path
        starts this one: a task's parent never changes and ``_seq`` numbers are unique, so a path kept on a task
        stays a faithful record of its ancestry, whatever has happened since."""
        mine = getattr(self, "_tp", None)  # FastTask's; the tests also call this on library tasks
        if mine is not None and type(task) is FastTask and task._tp is not None and task.workflow is self.workflow:
            path, other = mine[1], task._tp[1]
            return len(path) > len(other) and path[:len(other)] == other
        parent = self.parent
        while parent is not None:
            if parent == task:
                return True
            parent = parent.parent
        return False

    @property
    def children(self) -> list[Any]:
        """``Task.children``: this task's child tasks (the workflow's dict looked up once, no Python loop)."""
        return list(map(self.workflow.tasks.get, self._children))

    @children.setter
    def children(self, tasks: list[Any]) -> None:
        self._children = [child.id for child in tasks]


_EXCLUSIVE_RUN: dict[type[Any], bool] = {}


def _runs_exclusive_choice(spec_class: type[Any]) -> bool:
    """Whether a spec class runs as SpiffWorkflow 3.2's ``ExclusiveChoice`` (BPMN's exclusive gateway)."""
    return bool(spec_class._run is TaskSpec._run and spec_class._run_hook is ExclusiveChoice._run_hook)


def _run_exclusive_choice(my_task: Any, spec: Any) -> bool:
    """``TaskSpec._run`` with ``ExclusiveChoice._run_hook`` of SpiffWorkflow 3.2, line for line, except that the
    chosen branch is predicted by ``predict_branch`` (the same tree as ``child.task_spec._predict``)."""
    try:
        output = my_task.workflow.spec.get_task_spec_from_name(spec.default_task_spec)
        for condition, spec_name in spec.cond_task_specs:
            if condition is not None and condition._matches(my_task):
                output = my_task.workflow.spec.get_task_spec_from_name(spec_name)
                break
        if output is None:
            raise WorkflowException(f'No conditions satisfied for {my_task.task_spec.name}', task_spec=spec)
        my_task._sync_children([output], TaskState.FUTURE)
        for child in my_task.children:
            templates.predict_branch(child, TaskState.FUTURE | TaskState.PREDICTED_MASK)
        for assignment in spec.post_assign:
            assignment.assign(my_task, my_task)
        return True
    except Exception as exc:
        my_task.error()
        raise exc


_PLAIN_ON_COMPLETE: dict[type[Any], bool] = {}
_UNSTRUCTURED_JOIN: dict[type[Any], Any] = {}


def _join_check(spec_class: type[Any]) -> Any:
    """For a spec class updated as SpiffWorkflow 3.2's ``UnstructuredJoin`` (``TaskSpec._update`` with
    ``UnstructuredJoin._update_hook``): its ``_check_threshold_unstructured`` (the dialect's gateways: ours), with
    the library's parallel, inclusive and end-join checks replaced by ``parallel_join_may_fire``,
    ``inclusive_join_may_fire`` and ``end_join_may_fire``; None for any other class."""
    if spec_class._update is not TaskSpec._update or spec_class._update_hook is not UnstructuredJoin._update_hook:
        return None
    check = spec_class._check_threshold_unstructured
    if check is ParallelGateway._check_threshold_unstructured:
        return parallel_join_may_fire
    if check is InclusiveGateway._check_threshold_unstructured:
        return inclusive_join_may_fire
    return end_join_may_fire if check is _EndJoin._check_threshold_unstructured else check


def update_task(my_task: Any) -> None:
    """``my_task.task_spec._update(my_task)``. For a join (``UnstructuredJoin``: parallel gateways, the end join of
    a process) ``TaskSpec._update`` and ``UnstructuredJoin._update_hook`` of SpiffWorkflow 3.2, line for line,
    except that the other waiting instances of the join are looked for among the tasks of its spec name
    (``names_indexed``, in the order of the workflow's tasks) instead of among all tasks, and that the end join's
    check is ``end_join_may_fire``."""
    spec = my_task.task_spec
    kind = type(spec)
    check = _UNSTRUCTURED_JOIN.get(kind, _UNSTRUCTURED_JOIN)
    if check is _UNSTRUCTURED_JOIN:
        check = _UNSTRUCTURED_JOIN[kind] = _join_check(kind)
    if check is None:
        spec._update(my_task)
        return
    if my_task._state & _PREDICTED:  # TaskSpec._update
        spec._predict(my_task)
    may_fire = check(spec, my_task)  # UnstructuredJoin._update_hook
    workflow = my_task.workflow
    named = workflow.names_indexed().get(spec.name, {}).values() \
        if getattr(workflow, "_by_name", None) is not None else workflow.tasks.values()
    other_tasks = [t for t in named if t.task_spec == spec and t != my_task and t._state == _WAITING]
    for task in other_tasks:
        task.cancel()
    if not may_fire:
        my_task._set_state(TaskState.WAITING)
    else:
        my_task._inherit_data()
    if may_fire:  # TaskSpec._update
        my_task._ready()


def previous_firing(spec: Any, my_task: Any) -> Any | None:
    """The nearest ancestor of ``my_task`` of the join's spec: where the join fired in the previous round of a loop
    (None in the first round, or outside a loop)."""
    tasks = my_task.workflow.tasks  # a task's parent is in its own workflow (``Task.parent``)
    ancestor = tasks.get(my_task._parent)
    while ancestor is not None and ancestor.task_spec is not spec:
        ancestor = tasks.get(ancestor._parent)
    return ancestor


def parallel_join_may_fire(spec: Any, my_task: Any) -> bool:
    """``ParallelGateway._check_threshold_unstructured`` of SpiffWorkflow 3.2, except that its recursive
    ``remove_ancestor`` is a loop (the recursive inner function referred to itself through its closure, leaving a
    reference cycle for the cyclic garbage collector after every update of a parallel join), and that in a loop an
    instance of the join from an earlier round does not count: the library skipped only the instances above
    ``my_task``, so a branch that arrived in an earlier round (its instance cancelled when the round's join fired)
    counted as arrived, the join fired when the first branch of the next round came, and fired again with the
    second (whose run then dropped the first firing's path: ``'NoneType' object has no attribute 'data'``)."""
    tasks = my_task.workflow.get_tasks(spec_name=spec.name)
    waiting_inputs = set(spec.inputs)
    previous = previous_firing(spec, my_task)
    for task in tasks:
        # Handle the case where the parallel gateway is part of a loop.
        if task.is_descendant_of(my_task):
            # This is the first iteration: trace the task's parents until one has a spec among the inputs
            ancestor = task
            while ancestor is not None:
                if ancestor.task_spec in waiting_inputs:
                    waiting_inputs.remove(ancestor.task_spec)
                    break
                ancestor = ancestor.parent
        elif my_task.is_descendant_of(task):
            # This is an subsequent iteration; we need to ignore the parents of previous iterations
            continue
        elif previous is not None and not task.is_descendant_of(previous):
            continue  # an instance of an earlier round of the loop
        elif task.parent.state == TaskState.COMPLETED and task.parent.task_spec in waiting_inputs:
            waiting_inputs.remove(task.parent.task_spec)
    return len(waiting_inputs) == 0


def _round_tasks(spec: Any, my_task: Any, previous: Any | None) -> list[Any]:
    """The tasks the library's inclusive join looks at (``get_tasks(end_at_spec=…)``: the tree, not below a task of
    the join's spec), in this round of a loop: below the join's previous firing (the library's walk stopped at that
    firing, so in a later round it saw none of the round's tasks). Limit: from the second round on, a token outside
    the loop that could still reach the join is not looked for (a branch entering the loop's join from outside
    it); a loop's own branches are."""
    if previous is None:
        return list(my_task.workflow.get_tasks(end_at_spec=spec.name))
    found, stack = [], list(reversed(previous.children))
    while stack:
        task = stack.pop()
        found.append(task)
        if task.task_spec is not spec:
            stack.extend(reversed(task.children))
    return found


def inclusive_join_may_fire(spec: Any, my_task: Any) -> bool:
    """``InclusiveGateway._check_threshold_unstructured`` of SpiffWorkflow 3.2, except that in a loop it looks at
    the round's tasks (``_round_tasks``): the library's walk stopped at the first firing, so from the second round
    on the join saw no branch still running and fired at each branch's arrival."""
    previous = previous_firing(spec, my_task)
    tasks, sources = [], []
    for task in _round_tasks(spec, my_task, previous):
        if task.task_spec == spec:
            tasks.append(task)
        elif task.has_state(TaskState.READY | TaskState.WAITING):
            sources.append(task.task_spec)
    completed_inputs = {task.parent.task_spec for task in tasks if task.parent.state == TaskState.COMPLETED}
    for task in tasks:
        if task.parent.has_state(TaskState.DEFINITE_MASK) and task.parent.task_spec not in completed_inputs:
            return False
    waiting_inputs = [i for i in spec.inputs if i not in completed_inputs]
    checked: list[Any] = []

    def check(start: Any) -> Any:  # the library's recursion, as a loop over an explicit stack of inputs
        stack = [start]
        while stack:
            current = stack.pop()
            checked.append(current)
            for parent in current.inputs:
                if parent not in checked:
                    if parent in sources:
                        return parent
                    stack.append(parent)
                    break
        return None

    for input_spec in completed_inputs:
        source = check(input_spec)
        if source is not None:
            sources.remove(source)
    return all(check(input_spec) is None for input_spec in waiting_inputs)


def end_join_may_fire(spec: Any, my_task: Any) -> bool:
    """``_EndJoin._check_threshold_unstructured`` of SpiffWorkflow 3.2: true when a ``TaskIterator`` over the
    workflow's tree for unfinished tasks, not descending below tasks of the join's spec name, finds no task but
    ``my_task``. That walk descends below every task (all states are at least MAYBE) but those, so it reaches an
    unfinished task exactly when each task above it is not of that name and lists it among its children: one
    climb from each unfinished task (``_by_state``) instead of the walk. The library's walk for a restored or
    large tree (its depth limit)."""
    workflow = my_task.workflow
    index = getattr(workflow, "_by_state", None)
    if index is None or len(workflow.tasks) >= MAX_DEPTH:
        return bool(_EndJoin._check_threshold_unstructured(spec, my_task))
    tasks, root, end_at = workflow.tasks, workflow.task_tree, spec.name
    for single in _UNFINISHED_STATES:
        for task in index.get(single, {}).values():
            if task is my_task or task.last_state_change < 0:
                continue
            current = task
            while current is not root:
                parent = tasks.get(current._parent)
                if parent is None or parent.task_spec.name == end_at or current.id not in parent._children:
                    break
                current = parent
            else:
                return False
    return True


class FastWorkflowMixin:
    """The cheaper walks, for the top workflow and its subprocesses alike; a new workflow's tree is made of
    ``FastTask``."""

    tasks: dict[Any, Any]
    task_tree: Any
    top_workflow: Any
    completed: bool
    spec: Any
    _reach_epoch: int = 0
    """Moves whenever a task of this (top) workflow's tree may stop being reached by walks (``cached_tree_path``)."""
    _paths_cached: bool = False
    """True on a top workflow built here (not restored): its whole tree is made of ``FastTask``."""
    _by_state: dict[int, dict[Any, Any]] | None = None
    """On a workflow built here (not restored): its tasks by state (state → {id: task}), kept by ``FastTask``'s
    ``__init__`` and ``_set_state`` and by ``_remove_task``, so that a query looks only at the tasks in the states
    it asks for instead of scanning them all."""
    _by_name: dict[str, dict[Any, Any]] | None = None
    """Alongside ``_by_state``: the tasks by spec name (name → {id: task}), for queries by spec name; kept by
    ``FastTask.__init__`` and ``_remove_task``, and made again (``names_indexed``) when the workflow's spec is no
    longer the one it was made for: a migration (``SpiffWorkflow.bpmn.util.diff.migrate_workflow``) gives the
    workflow its new spec first, then gives tasks their new specs — the only change of a task's spec."""
    _named_spec: Any = None

    def names_indexed(self) -> dict[str, dict[Any, Any]]:
        """``_by_name``, made again from the tasks if the workflow's spec changed since it was made."""
        named = self._by_name
        assert named is not None
        if self._named_spec is not self.spec:
            named.clear()
            for task_id, task in self.tasks.items():
                named.setdefault(task.task_spec.name, {})[task_id] = task
            self._named_spec = self.spec
        return named

    def __init__(self, spec: Any, *args: Any, deserializing: bool = False, **kwargs: Any) -> None:
        super().__init__(spec, *args, deserializing=True, **kwargs)  # type: ignore[call-arg]
        if not deserializing:  # the end of Workflow.__init__ of SpiffWorkflow 3.2, with a FastTask as the root
            self._paths_cached = True
            self._by_state = {single: {} for single in SINGLE_STATES}
            self._by_name = {}
            self._named_spec = self.spec
            self.task_tree = templates.predicted_tree(self)
            if workflow_logger.isEnabledFor(_INFO):  # its extras walk the whole tree
                workflow_logger.info('Initialized workflow', extra=self.collect_log_extras())  # type: ignore[attr-defined]
            self.task_tree._ready()

    def _remove_task(self, task_id: Any) -> None:
        """``Workflow._remove_task`` (the task and its branch leave the tree), keeping ``_by_state`` and
        ``_by_name``."""
        task = self.tasks[task_id]
        recording = templates.recording
        if recording is None:
            super()._remove_task(task_id)  # type: ignore[misc]
        else:  # predict_branch watches: one change, whatever the library's recursion removes with it
            if not recording.removing:
                recording.removed(task_id)
            recording.removing += 1
            try:
                super()._remove_task(task_id)  # type: ignore[misc]
            finally:
                recording.removing -= 1
        if self._by_state is not None:
            bucket = self._by_state.get(task._state)
            if bucket is not None:
                bucket.pop(task_id, None)
        if self._by_name is not None:
            bucket = self._by_name.get(task.task_spec.name)
            if bucket is not None:
                bucket.pop(task_id, None)

    def _mark_complete(self, task: Any) -> None:
        """``Workflow._mark_complete`` of SpiffWorkflow 3.2, with the log record (whose extras walk the whole tree)
        built only when the ``spiff.workflow`` logger is enabled for it."""
        if workflow_logger.isEnabledFor(_INFO):
            workflow_logger.info('Workflow completed', extra=self.collect_log_extras())  # type: ignore[attr-defined]
        self.data.update(task.data)  # type: ignore[attr-defined]
        self.completed = True

    def _reachable_workflows(self) -> list[Any]:
        """This workflow and every subprocess (a superset of the ones a walk from here descends into)."""
        top = self.top_workflow
        subprocesses = top.subprocesses
        if not subprocesses:
            return [self]
        if self is top:
            return [self, *subprocesses.values()]
        return [self, *(sub for sub in subprocesses.values() if sub is not self)]

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
                parent_task = find_task(top, current.parent_task_id) if steps <= len(subprocesses) else None
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
        candidates = matching_tasks(workflows, state, manual, spec_name, MAX_ORDERED_BY_PATH)
        if candidates == []:
            return iter(())
        start = first_task or self.task_tree
        small = task_count(workflows) < MAX_DEPTH  # the walk's depth limit cannot be reached
        if candidates is None or not small:
            return walk_tasks(start, state, manual, spec_name, track_depth=not small)
        return iter(self._in_walk_order(candidates, start, state))

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

    def ready_engine_tasks(self) -> list[Any]:
        """``get_tasks(state=READY)`` when it could hold a task that is not manual, else an empty list (only those
        are run): one scan of the flat dicts serves both the check (``has_engine_work``) and the query."""
        workflows = self._nested_workflows()
        candidates = matching_tasks(workflows, TaskState.READY, None, None, MAX_ORDERED_BY_PATH)
        if candidates is not None:
            if all(task.task_spec.manual for task in candidates):
                return []
        elif not any_match(workflows, TaskState.READY, False, None):
            return []
        small = task_count(workflows) < MAX_DEPTH  # the walk's depth limit cannot be reached
        if candidates is None or not small:
            return list(walk_tasks(self.task_tree, TaskState.READY, track_depth=not small))
        return self._in_walk_order(candidates, self.task_tree, TaskState.READY)

    def _in_walk_order(self, candidates: list[Any], start: Any, state: int) -> list[Any]:
        """The candidates that a walk from ``start`` for ``state`` reaches, in the walk's order (their paths, kept
        ones in a tree made here: ``cached_tree_path`` from the top root, ``cached_start_path`` from another task)."""
        top = self.top_workflow
        if start is top.task_tree and top._paths_cached:
            if len(candidates) == 1:  # nothing to order: only whether the walk reaches it
                return candidates if cached_tree_path(candidates[0], top, state) is not None else []
            paths = [(path, task) for task in candidates if (path := cached_tree_path(task, top, state)) is not None]
        elif top._paths_cached and type(start) is FastTask:  # a subprocess's root, or first_task
            if len(candidates) == 1:
                return candidates if cached_start_path(candidates[0], start, top, state) is not None else []
            paths = [(path, task) for task in candidates
                     if (path := cached_start_path(task, start, top, state)) is not None]
        else:
            paths = [(path, task) for task in candidates if (path := tree_path(task, start, state)) is not None]
        paths.sort(key=lambda item: item[0])
        return [task for _path, task in paths]

    def has_engine_work(self) -> bool:
        """Whether ``get_tasks(state=READY)`` could hold a task that is not manual (here or in a subprocess)."""
        return any_match(self._nested_workflows(), TaskState.READY, False, None)

    def update_waiting_tasks(self) -> None:
        """``Workflow.update_waiting_tasks``: update every WAITING task of this workflow's own tree (a
        ``TaskIterator``, not descending into subprocesses) as the walk reaches it.

        With one WAITING task in the workflow (``_by_state``) the walk updates that task if it reaches it, and
        nothing else: an update sets no other task to WAITING (timers and message catches, joins and boundary
        joins wait themselves; the tasks they cancel or make ready leave WAITING). So instead of the walk, one climb
        from that task tells whether the walk would reach it (``reached_in_own_tree``)."""
        waiting = self._by_state[_WAITING] if self._by_state is not None else None
        if waiting is not None and len(waiting) == 1 and len(self.tasks) < MAX_DEPTH:
            (task,) = waiting.values()
            if task.last_state_change >= 0 and reached_in_own_tree(task, self):
                update_task(task)
            return
        if not any_match([self], TaskState.WAITING, None, None):
            return
        # Updates may add tasks while the walk goes on: keep the depth bookkeeping unless the tree is small.
        for task in walk_tasks(self.task_tree, TaskState.WAITING, into_subprocesses=False,
                               track_depth=len(self.tasks) >= MAX_DEPTH // 2):
            update_task(task)

    def is_completed(self) -> bool:
        """``Workflow.is_completed``: true once no task of this workflow's own tree is unfinished."""
        if not self.completed:
            if self is self.top_workflow and self._paths_cached and len(self.tasks) < MAX_DEPTH:
                # the walk below stays in this tree, where cached_tree_path's climb never meets a subprocess; the
                # unfinished tasks are those of the unfinished states' buckets (in no particular order: any one will do)
                index = self._by_state
                assert index is not None
                unfinished = any(cached_tree_path(task, self, TaskState.NOT_FINISHED_MASK) is not None
                                 for single in _UNFINISHED_STATES for task in index.get(single, {}).values()
                                 if task.last_state_change >= 0)
            else:
                unfinished = any_match([self], TaskState.NOT_FINISHED_MASK, None, None) and next(
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
            ready = wf.ready_engine_tasks() if isinstance(wf, FastWorkflowMixin) else \
                wf.get_tasks(state=TaskState.READY)
            for task in ready:
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
        if my_task.id in self.subprocesses:  # replaced: see cached_tree_path
            self._reach_epoch += 1
        subprocess = self.subprocess_class(self.subprocess_specs[spec_name], parent_task_id=my_task.id,
                                           top_workflow=self)
        self.subprocesses[my_task.id] = subprocess
        return subprocess

    def delete_subprocess(self, my_task: Any) -> list[Any]:
        """``BpmnWorkflow.delete_subprocess``, moving the reachability epoch (``cached_tree_path``)."""
        self._reach_epoch += 1
        deleted: list[Any] = super().delete_subprocess(my_task)
        return deleted


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
