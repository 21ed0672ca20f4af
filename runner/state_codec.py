"""The compact form of a workflow's state (format 2 of ``runner.state``): a JSON-ready dict, written and read
directly from the live SpiffWorkflow objects instead of through the serializer's generic registry walk.

What it stores is what SpiffWorkflow's own converters store (``TaskConverter``, ``WorkflowConverter``,
``BpmnSubWorkflowConverter``, ``BpmnWorkflowConverter`` without the specs), with three differences:

* every task id is written once, in an id table (32 hex digits each); the tree refers to ids by their index;
* a task is a fixed-order list instead of a dict with repeated keys;
* a subprocess that has completed, called by a task that has finished, keeps its tasks but not their data
  (``strip_finished_subprocesses`` empties them in the live workflow first, so a cached workflow and a restored one
  stay the same). The caller's data carries its result and the event log its history; its steps and their states
  stay for version migrations, which refuse a case whose completed steps the new version changes.

Values in task data that are not plain JSON (dates, decimals …) go through the serializer's registry exactly as
before, so the data round-trips the same; plain JSON values are copied without the registry's dispatch.
"""

from __future__ import annotations

import json
from copy import copy
from types import ModuleType
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .fast_workflow import FastBpmnSubWorkflow, FastBpmnWorkflow

_PLAIN = (str, int, float, bool, type(None))
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED


class StateCodec:
    """Encodes a workflow to the compact dict and restores it onto the version's specs; ``registry`` is the
    serializer registry of our dialect (for values that are not plain JSON)."""

    workflow_class: Any = FastBpmnWorkflow
    subworkflow_class: Any = FastBpmnSubWorkflow
    """The classes a restore builds: ``runner.fast_workflow``'s, as for new cases (the library's own classes, whose
    state they share, may be set instead)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    # -- values -----------------------------------------------------------------------------------------------------

    def to_json(self, value: Any) -> Any:
        """``registry.convert`` (which also drops callables and modules from dicts) with a fast path for JSON."""
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is dict:
            return {key: self.to_json(item) for key, item in value.items()
                    if not callable(item) and not isinstance(item, ModuleType)}
        if kind is list:
            return [self.to_json(item) for item in value]
        return self.registry.convert(value)

    def from_json(self, value: Any) -> Any:
        """``registry.restore`` with a fast path for plain JSON."""
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is dict:
            if "typename" in value:
                return self.registry.restore(value)
            return {key: self.from_json(item) for key, item in value.items()}
        if kind is list:
            return [self.from_json(item) for item in value]
        return self.registry.restore(value)

    def _default(self, value: Any) -> Any:
        """``json.dumps``'s hook for what is not plain JSON: what the registry makes of it. A callable or module
        (which the registry's cleaning drops from dicts) sends the whole state down the slow, cleaning path."""
        if callable(value) or isinstance(value, ModuleType):
            raise _NeedsCleaning
        converted = self.registry.convert(value)
        if type(converted) is type(value):
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
        return converted

    # -- encoding ---------------------------------------------------------------------------------------------------

    def dumps(self, workflow: Any) -> bytes:
        """The compact state as UTF-8 JSON. Task data go to ``json.dumps`` as they are, and only values it cannot
        write reach the registry (``_default``); data holding a callable or a module are converted the slow way,
        which drops them as SpiffWorkflow's serializer does."""
        try:
            return _json(self.encode(workflow, convert=False), self._default)
        except _NeedsCleaning:
            return _json(self.encode(workflow), None)

    def encode(self, workflow: Any, convert: bool = True) -> dict[str, Any]:
        """The compact dict of a top-level workflow (after ``strip_finished_subprocesses``); with ``convert``
        false, task and workflow data are left as they are, for ``dumps``."""
        to_json = self.to_json if convert else _as_is
        ids: dict[UUID, int] = {}

        def ref(task_id: UUID | None) -> int | None:
            if task_id is None:
                return None
            index = ids.get(task_id)
            if index is None:
                index = ids[task_id] = len(ids)
            return index

        top = self._workflow(workflow, ref, to_json)
        top["subprocesses"] = [[ref(key), self._subworkflow(sub, ref, to_json)]
                               for key, sub in workflow.subprocesses.items()]
        top["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return {"ids": "".join(task_id.hex for task_id in ids), "workflow": top}

    def _subworkflow(self, workflow: Any, ref: Any, to_json: Any) -> dict[str, Any]:
        dct = self._workflow(workflow, ref, to_json)
        dct["parent_task_id"] = ref(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct

    def _workflow(self, workflow: Any, ref: Any, to_json: Any) -> dict[str, Any]:
        last = workflow.last_task
        return {
            "data": to_json(workflow.data),
            "correlations": to_json(workflow.correlations),
            "last_task": ref(last.id) if last is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "root": ref(workflow.task_tree.id),
            "tasks": [self._task(task, ref, to_json) for task in workflow.tasks.values()],
        }

    @staticmethod
    def _task(task: Any, ref: Any, to_json: Any) -> list[Any]:
        """[id, parent, children, last_state_change, state, task_spec, triggered, internal_data, data or
        [updates, deletions]] — full data on a root task, a delta against the parent's data otherwise."""
        parent = task.parent
        if parent is None:
            data: Any = to_json(task.data)
        else:
            parent_data, own = parent.data, task.data
            data = [to_json({key: value for key, value in own.items() if key not in parent_data
                             or value != parent_data[key]}),  # DeepMerge.get_updated_keys
                    [key for key in parent_data if key not in own]]  # DeepMerge.get_deleted_keys
        return [ref(task.id), ref(task._parent), [ref(child) for child in task._children], task.last_state_change,
                task.state, task.task_spec.name, task.triggered, to_json(task.internal_data), data]

    # -- decoding ---------------------------------------------------------------------------------------------------

    def decode(self, dct: dict[str, Any], spec: Any, subprocess_specs: dict[str, Any]) -> Any:
        """A ``BpmnWorkflow`` restored from ``encode`` output onto the given specs (as SpiffWorkflow's
        ``from_dict`` does: tasks parent before child, then workflow attributes, then subprocesses, then events)."""
        text = dct["ids"]
        ids = [UUID(hex=text[i:i + 32]) for i in range(0, len(text), 32)]
        top = dct["workflow"]
        workflow = self.workflow_class(spec, subprocess_specs, deserializing=True)
        self._restore_workflow(workflow, top, ids)
        pending = {ids[key]: sub for key, sub in top["subprocesses"]}
        self._restore_subprocesses(workflow, workflow, pending, ids)
        workflow.bpmn_events = self.registry.restore(top.get("bpmn_events", []))
        return workflow

    def _restore_workflow(self, workflow: Any, dct: dict[str, Any], ids: list[UUID]) -> None:
        top_workflow = workflow.top_workflow
        for row in dct["tasks"]:
            task_id, parent, children, changed, state, spec_name, triggered, internal, data = row
            task_spec = workflow.spec.task_specs.get(spec_name)
            task = Task(workflow, task_spec, state=state, id=ids[task_id])
            task._parent = ids[parent] if parent is not None else None
            task._children = [ids[child] for child in children]
            task.last_state_change = changed
            task.triggered = triggered
            task.internal_data = self.from_json(internal)
            if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
                top_workflow.event_manager.add_task(task)
            parent_task = task.parent
            if not isinstance(data, list):
                task.data = self.from_json(data)
            elif parent_task is None:  # a delta without its parent: SpiffWorkflow restores empty data too
                task.data = {}
            else:
                updates, deletions = data
                restored = _merged_copy(parent_task.data)
                restored.update(self.from_json(updates))
                for key in deletions:
                    restored.pop(key, None)
                task.data = restored
        workflow.task_tree = workflow.tasks.get(ids[dct["root"]])
        workflow.success = dct["success"]
        workflow.completed = dct.get("completed", False)
        workflow.correlations = self.from_json(dct.get("correlations", {}))
        last = dct["last_task"]
        workflow.last_task = workflow.tasks.get(ids[last]) if last is not None else None
        workflow.data = self.from_json(dct.get("data", {}))

    def _restore_subprocesses(self, workflow: Any, top_workflow: Any, pending: dict[UUID, dict[str, Any]],
                              ids: list[UUID]) -> None:
        """Parents before children, as ``BpmnWorkflowConverter.subprocesses_from_dict``."""
        for task in list(workflow.tasks.values()):
            if isinstance(task.task_spec, SubWorkflowTask) and task.id in pending:
                dct = pending.pop(task.id)
                sub = self.subworkflow_class(top_workflow.subprocess_specs.get(task.task_spec.spec), task.id,
                                             top_workflow, deserializing=True)
                self._restore_workflow(sub, dct, ids)
                top_workflow.subprocesses[task.id] = sub
                sub.completed_event.connect(task.task_spec._on_subworkflow_completed, task)
                self._restore_subprocesses(sub, top_workflow, pending, ids)


class _NeedsCleaning(Exception):
    """Task data hold a callable or a module: encode through the cleaning registry walk instead."""


def _as_is(value: Any) -> Any:
    return value


def _json(value: Any, default: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default).encode()


_MUTABLE = (dict, list, set)


def _merged_copy(data: dict[str, Any]) -> dict[str, Any]:
    """``DeepMerge.merge({}, data)``: a new dict whose dict, list and set values are shallow copies."""
    return {key: (value.copy() if type(value) in _MUTABLE else copy(value) if isinstance(value, _MUTABLE) else value)
            for key, value in data.items()}


def strip_finished_subprocesses(workflow: Any) -> int:
    """Empty the data of every subprocess that has completed and whose calling task has finished (or is itself
    in such a subprocess): the workflow's data and each task's data. Return how many were stripped now.

    The tasks themselves stay (their steps and states are what a version migration checks: a completed step that
    the new version changes makes it refuse the case); their data are never read again — the caller took the
    result when the subprocess completed, and the event log has the history."""
    stripped = 0
    for key, sub in workflow.subprocesses.items():
        if not sub.completed:
            continue
        caller = workflow.tasks.get(key)
        for other in workflow.subprocesses.values():
            caller = caller or other.tasks.get(key)
        if caller is not None and not caller.state & _FINISHED:
            continue
        if sub.data or any(task.data for task in sub.tasks.values()):
            sub.data = {}
            for task in sub.tasks.values():
                task.data = {}
            stripped += 1
    return stripped
