"""Predicted tasks grown from templates instead of predicted again (``runner.fast_workflow``'s trees).

SpiffWorkflow predicts the tasks that may follow (MAYBE / LIKELY / FUTURE) from the specs alone: no data, no
conditions. So the tree a new workflow predicts (``predicted_tree``) and the changes a gateway's prediction of its
chosen branch makes to a subtree (``predict_branch``) are the same for the same specs and shape; the first time
they are kept as a template, later they are made again by the same methods. ``FastTask`` and
``FastWorkflowMixin._remove_task`` report each change to ``recording`` while one is watched.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from SpiffWorkflow.bpmn.specs.control import EventSplit
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.specs.MultiChoice import MultiChoice
from SpiffWorkflow.task import logger as task_logger
from SpiffWorkflow.util.task import TaskState

from . import fast_workflow  # FastTask, read when called (the two modules use each other)

_INFO = logging.INFO

_TREE_ONLY_PREDICT_HOOKS = frozenset({TaskSpec._predict_hook, MultiChoice._predict_hook, CatchingEvent._predict_hook,
                                      EventSplit._predict_hook, EventBasedGateway._predict_hook})
"""The ``_predict_hook`` implementations of SpiffWorkflow 3.2 that read nothing but the spec and the task's
subtree, and change the tree only through ``_sync_children``, ``_add_child`` and ``_set_state``."""
_PREDICTS_FROM_TREE: dict[type[Any], bool] = {}


def _predicts_from_tree(spec: Any) -> bool:
    kind = type(spec)
    known = _PREDICTS_FROM_TREE.get(kind)
    if known is None:
        known = _PREDICTS_FROM_TREE[kind] = kind._predict is TaskSpec._predict \
            and kind._predict_hook in _TREE_ONLY_PREDICT_HOOKS
    return known and (getattr(spec, "choice", None) is None)  # MultiChoice narrowed by a Choose trigger: no


_ADD, _STATE, _REMOVE = range(3)
_BRANCH_TEMPLATES: dict[tuple[Any, ...], tuple[tuple[Any, ...], ...] | None] = {}
"""``predict_branch``'s templates: per subtree before the prediction (``_branch_key``), the changes the prediction
made, or None when they cannot be replayed."""
_MAX_BRANCH_TEMPLATES = 4096
_RECORDING_LOCK = threading.Lock()
recording: _Recording | None = None
"""While ``predict_branch`` watches the library predict a branch: where ``FastTask`` and ``_remove_task`` report
each change they make to the tree."""


class _Recording:
    """The changes made to a subtree, in order: (``_ADD``, parent, spec, state), (``_STATE``, task, state),
    (``_REMOVE``, task), each task as its position in ``_branch_key``'s preorder, then in creation order."""

    def __init__(self, tasks: list[Any]) -> None:
        self.position = {task.id: index for index, task in enumerate(tasks)}
        self.ops: list[tuple[Any, ...]] = []
        self.added_specs: list[Any] = []
        self.valid = True
        self.removing = 0

    def added(self, parent: Any, task_spec: Any, state: int, task: Any) -> None:
        at = self.position.get(parent.id)
        if at is None or state == TaskState.READY or self.removing:
            self.valid = False
            return
        self.position[task.id] = len(self.position)
        self.ops.append((_ADD, at, task_spec, state))
        self.added_specs.append(task_spec)

    def state_set(self, task: Any, state: int) -> None:
        at = self.position.get(task.id)
        if at is None or state == TaskState.READY or self.removing:
            self.valid = False
            return
        self.ops.append((_STATE, at, state))

    def removed(self, task_id: Any) -> None:
        at = self.position.get(task_id)
        if at is None:
            self.valid = False
            return
        self.ops.append((_REMOVE, at))

    def template(self) -> tuple[tuple[Any, ...], ...] | None:
        if not self.valid or not all(map(_predicts_from_tree, self.added_specs)):
            return None
        return tuple(self.ops)


def _branch_key(task: Any, mask: int) -> tuple[tuple[Any, ...] | None, list[Any]]:
    """All that ``task.task_spec._predict(task, mask=mask)`` reads, when that is the subtree alone: per task of the
    subtree in preorder (children in list order) its spec, state, trigger flag and number of children; with the
    tasks in that order. None when a task is not a ``FastTask`` or its spec may predict from anything else."""
    tasks = task.workflow.tasks
    key: list[Any] = [mask]
    order: list[Any] = []
    stack = [task]
    while stack:
        current = stack.pop()
        if type(current) is not fast_workflow.FastTask or not _predicts_from_tree(current.task_spec):
            return None, order
        children = current._children
        order.append(current)
        key += (current.task_spec, current._state, current.triggered, len(children))
        if children:
            stack.extend(map(tasks.get, reversed(children)))
    return tuple(key), order


def predict_branch(task: Any, mask: int) -> None:
    """``task.task_spec._predict(task, mask=mask)``, as a gateway predicts the branch it chose. Prediction depends
    on the specs and the subtree below ``task`` alone (no data, no conditions), so the changes the library makes to
    one subtree (the tasks it adds, the states it sets, the branches it removes, in order) are kept as a template
    and made again, by the same methods, to the next subtree of the same specs, states, triggers and shape, instead
    of predicting it again. Not while the ``spiff.task`` logger records state changes.

    Only specs whose ``_predict_hook`` is one of ``_TREE_ONLY_PREDICT_HOOKS`` take part. A recording is kept only
    if every change it saw was to a task of that subtree, none made a task READY (``_ready`` runs the spec's own
    code) and nothing raised. One thread records at a time (``_RECORDING_LOCK``; meanwhile the others predict as
    the library does); the changes they make touch other tasks, so they can only spoil a recording, never slip
    into one."""
    global recording
    if recording is not None or task_logger.isEnabledFor(_INFO):
        task.task_spec._predict(task, mask=mask)
        return
    key, order = _branch_key(task, mask)
    if key is None:
        task.task_spec._predict(task, mask=mask)
        return
    ops = _BRANCH_TEMPLATES.get(key, _BRANCH_TEMPLATES)
    if ops is _BRANCH_TEMPLATES:  # not seen yet: watch the library predict it (one recording at a time)
        if not _RECORDING_LOCK.acquire(blocking=False):
            task.task_spec._predict(task, mask=mask)
            return
        try:
            watched = recording = _Recording(order)
            try:
                task.task_spec._predict(task, mask=mask)
            finally:
                recording = None
        finally:
            _RECORDING_LOCK.release()
        if len(_BRANCH_TEMPLATES) >= _MAX_BRANCH_TEMPLATES:
            _BRANCH_TEMPLATES.clear()
        _BRANCH_TEMPLATES[key] = watched.template()
        return
    if ops is None:
        task.task_spec._predict(task, mask=mask)
        return
    workflow = task.workflow
    for op in ops:
        kind = op[0]
        if kind == _ADD:  # Task._add_child (its checks passed on the same states; never READY here)
            parent = order[op[1]]
            added = fast_workflow.FastTask(workflow, op[2], parent, state=op[3])
            added.thread_id = parent.thread_id
            order.append(added)
        elif kind == _STATE:
            order[op[1]]._set_state(op[2])
        else:
            workflow._remove_task(order[op[1]].id)


_TEMPLATES: dict[int, tuple[Any, tuple[tuple[Any, int, int], ...]]] = {}
"""Per workflow spec (by identity, the spec kept so that an id is never reused): the tree a new workflow predicts
from its start task, as (task spec, index of the parent or -1, state) in creation order (``_predicted_tree``)."""
_MAX_TEMPLATES = 256


def predicted_tree(workflow: Any) -> Any:
    """``FastTask(workflow, spec.start, state=FUTURE)`` and its ``_predict(mask=NOT_FINISHED_MASK)``, as the
    library's ``Workflow.__init__`` builds a new tree. Prediction depends on the specs alone (no data, no
    conditions evaluated), so from the second workflow of a spec on the predicted tree is grown from the first
    one's template instead: the same specs, states, parents and children in the same order (a task's children
    are its children in creation order), new ids, empty data. Not while the ``spiff.task`` logger records state
    changes, which prediction makes."""
    spec = workflow.spec
    kept = _TEMPLATES.get(id(spec))
    if kept is not None and kept[0] is spec and not task_logger.isEnabledFor(_INFO):
        tasks: list[Any] = []
        for task_spec, parent, state in kept[1]:
            above = tasks[parent] if parent >= 0 else None
            task = fast_workflow.FastTask(workflow, task_spec, above, state=state)
            if above is not None:
                task.thread_id = above.thread_id  # as Task._add_child
            tasks.append(task)
        return tasks[0]
    root = fast_workflow.FastTask(workflow, spec.start, state=TaskState.FUTURE)
    root.task_spec._predict(root, mask=TaskState.NOT_FINISHED_MASK)
    template = _tree_template(workflow, root)
    if template is not None:
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        _TEMPLATES[id(spec)] = (spec, template)
    return root


def _tree_template(workflow: Any, root: Any) -> tuple[tuple[Any, int, int], ...] | None:
    """The template of a freshly predicted tree, or None when growing it again would not give the same tree (a
    task with data, internal data, a trigger, a thread of its own or the READY state that ``_add_child`` acts on)."""
    position = {task_id: index for index, task_id in enumerate(workflow.tasks)}
    template = []
    for task in workflow.tasks.values():
        if task.data or task.internal_data or task.triggered or task.thread_id != root.thread_id \
                or task._state == TaskState.READY:
            return None
        template.append((task.task_spec, -1 if task is root else position[task._parent], task._state))
    return tuple(template)
