"""The compact form of a workflow's state (formats 2 and 3 of ``runner.state``): a JSON-ready dict, written and
read directly from the live SpiffWorkflow objects instead of through the serializer's generic registry walk.

What it stores is what SpiffWorkflow's own converters store (``TaskConverter``, ``WorkflowConverter``,
``BpmnSubWorkflowConverter``, ``BpmnWorkflowConverter`` without the specs), with these differences:

* every task id is written once, in an id table (version 2: 32 hex digits each in the dict; version 3: returned
  apart, stored as raw bytes); the tree refers to ids by their index;
* a task is a fixed-order list instead of a dict with repeated keys;
* version 3: a subprocess that has completed, called by a task that has finished, is left out whole
  (``drop_finished_subprocesses`` removes it from the live workflow first, so a cached workflow and a restored one
  stay the same); a summary of its completed steps stays for version migrations, which refuse a case whose
  completed steps the new version changes. The caller's data carries its result and the event log its history.
  (Version 2 kept such subprocesses' tasks without their data, ``strip_finished_subprocesses``.)
* version 3: ``last_state_change`` is a difference of 2**-22 s ticks from the previous task's, and a subprocess's
  root task holds its data as a delta against its caller's (it starts as a copy of them).

Values in task data that are not plain JSON (dates, decimals …) go through the serializer's registry exactly as
before, so the data round-trips the same; plain JSON values are copied without the registry's dispatch.
"""

from __future__ import annotations

import json
from copy import copy
from math import isfinite
from types import ModuleType
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .fast_workflow import FastBpmnSubWorkflow, FastBpmnWorkflow, task_id_of
from .task_queries import find_task

_PLAIN = (str, int, float, bool, type(None))
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_LIVE = TaskState.WAITING | TaskState.READY | TaskState.STARTED | TaskState.ERROR
"""Task states that keep a finished subprocess whole: something in it still waits, runs or failed."""
VERSION = 3
"""The layout ``encode`` writes (format 3 of ``runner.state``); ``decode`` also reads version 2."""
_TICKS_PER_SECOND = 2 ** 22
"""A ``time.time()`` float after 2004 is a whole multiple of 2**-22 s: stored as such ticks, it comes back exact."""
FINISHED_STEPS = "finished_subprocess_steps"
"""The attribute of a top workflow holding the summary of its dropped subprocesses (``finished_steps``)."""


class StateCodec:
    """Encodes a workflow to the compact dict and restores it onto the version's specs; ``registry`` is the
    serializer registry of our dialect (for values that are not plain JSON)."""

    workflow_class: Any = FastBpmnWorkflow
    subworkflow_class: Any = FastBpmnSubWorkflow
    """The classes a restore builds: ``runner.fast_workflow``'s, as for new cases (the library's own classes, whose
    state they share, may be set instead)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=self._default,
                                         check_circular=False)
        """``_json``'s encoder without the check for circular references (``_json_unchecked``)."""

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

    def dumps(self, workflow: Any, version: int = VERSION) -> tuple[bytes, list[UUID]]:
        """The compact state as UTF-8 JSON, and the task ids it refers to by index (in version 2, the JSON holds
        them itself and the list is empty). Task data go to ``json`` as they are, and only values it cannot
        write reach the registry (``_default``); data holding a callable or a module are converted the slow way,
        which drops them as SpiffWorkflow's serializer does."""
        try:
            dct, ids = self.encode(workflow, convert=False, version=version)
            return self._json_unchecked(dct), ids
        except _NeedsCleaning:
            dct, ids = self.encode(workflow, version=version)
            return _json(dct, None), ids

    def _json_unchecked(self, dct: dict[str, Any]) -> bytes:
        """``_json(dct, self._default)``, the same bytes, without ``json``'s check for circular references (a dict
        of the containers being written, kept for every dict and list). Only task data could hold a cycle (a
        script's doing); the unchecked encoder then recurses until Python's recursion limit, and the checked one
        runs again, raising what it always raised (``ValueError: Circular reference detected``, or what it meets
        first on its way: ``_NeedsCleaning``, a ``TypeError``)."""
        try:
            return self._encoder.encode(dct).encode()
        except RecursionError:
            return _json(dct, self._default)

    def encode(self, workflow: Any, convert: bool = True, version: int = VERSION
               ) -> tuple[dict[str, Any], list[UUID]]:
        """The compact dict of a top-level workflow (after ``drop_finished_subprocesses``) and its id table; with
        ``convert`` false, task and workflow data are left as they are, for ``dumps``. ``version`` 2 writes what
        format 2 stored (for tests and benchmarks: ids as hex in the dict, no summary of dropped subprocesses).

        Ids are numbered in the order they are first referred to (a task's own id, its parent's, its children's,
        task by task; then the workflow's last and root task; a subprocess's calling task before its tasks)."""
        to_json = self.to_json if convert else None
        table = _IdTable()
        top = self._workflow(workflow, table, to_json, version, None)
        top["subprocesses"] = [[table.ref(key), self._subworkflow(sub, table, to_json, version,
                                                                  find_task(workflow, key))]
                               for key, sub in workflow.subprocesses.items()]
        top["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        if version == 2:
            return {"ids": "".join(task_id.hex for task_id in table.ids), "workflow": top}, []
        steps = finished_steps(workflow)
        if steps:
            top["finished"] = steps
        return {"workflow": top}, table.ids

    def _subworkflow(self, workflow: Any, table: _IdTable, to_json: Any, version: int, caller: Any
                     ) -> dict[str, Any]:
        dct = self._workflow(workflow, table, to_json, version, caller)
        dct["parent_task_id"] = table.ref(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct

    def _workflow(self, workflow: Any, table: _IdTable, to_json: Any, version: int, caller: Any) -> dict[str, Any]:
        base = caller.data if caller is not None and version != 2 else None
        tasks = _tasks(workflow, table, to_json, version, base)
        last = workflow.last_task
        as_json = _as_is if to_json is None else to_json
        return {
            "data": as_json(workflow.data),
            "correlations": as_json(workflow.correlations),
            "last_task": table.ref(last.id) if last is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "root": table.ref(workflow.task_tree.id),
            "tasks": tasks,
        }

    # -- decoding ---------------------------------------------------------------------------------------------------

    def decode(self, dct: dict[str, Any], spec: Any, subprocess_specs: dict[str, Any],
               ids: list[UUID] | None = None) -> Any:
        """A ``BpmnWorkflow`` restored from ``encode`` output onto the given specs (as SpiffWorkflow's
        ``from_dict`` does: tasks parent before child, then workflow attributes, then subprocesses, then events).
        Version 3 comes with its id table (``ids``); version 2 holds it as hex under ``"ids"``."""
        if ids is None:
            text = dct["ids"]
            ids = [task_id_of(int(text[i:i + 32], 16)) for i in range(0, len(text), 32)]
            version = 2
        else:
            version = VERSION
        top = dct["workflow"]
        workflow = self.workflow_class(spec, subprocess_specs, deserializing=True)
        self._restore_workflow(workflow, top, ids, version, None)
        pending = {ids[key]: sub for key, sub in top["subprocesses"]}
        self._restore_subprocesses(workflow, workflow, pending, ids, version)
        workflow.bpmn_events = self.registry.restore(top.get("bpmn_events", []))
        if top.get("finished"):
            setattr(workflow, FINISHED_STEPS, [[caller, spec, list(names)] for caller, spec, names in top["finished"]])
        return workflow

    def _restore_workflow(self, workflow: Any, dct: dict[str, Any], ids: list[UUID], version: int,
                          caller: Any) -> None:
        top_workflow = workflow.top_workflow
        ticks = 0
        for row in dct["tasks"]:
            task_id, parent, children, changed, state, spec_name, triggered, internal, data = row
            task_spec = workflow.spec.task_specs.get(spec_name)
            task = Task(workflow, task_spec, state=state, id=ids[task_id])
            task._parent = ids[parent] if parent is not None else None
            task._children = [ids[child] for child in children]
            if version == 2:
                task.last_state_change = changed
            elif type(changed) is int:
                ticks += changed
                task.last_state_change = ticks / _TICKS_PER_SECOND
            else:
                task.last_state_change = changed[0]
            task.triggered = triggered
            task.internal_data = self.from_json(internal)
            if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
                top_workflow.event_manager.add_task(task)
            parent_task = task.parent
            base = parent_task.data if parent_task is not None else caller.data if caller is not None else None
            if not isinstance(data, list):
                task.data = self.from_json(data)
            elif base is None or (parent_task is None and version == 2):
                task.data = {}  # a delta without its parent: SpiffWorkflow restores empty data too
            else:
                updates, deletions = data
                restored = _merged_copy(base)
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
                              ids: list[UUID], version: int) -> None:
        """Parents before children, as ``BpmnWorkflowConverter.subprocesses_from_dict``."""
        for task in list(workflow.tasks.values()):
            if isinstance(task.task_spec, SubWorkflowTask) and task.id in pending:
                dct = pending.pop(task.id)
                sub = self.subworkflow_class(top_workflow.subprocess_specs.get(task.task_spec.spec), task.id,
                                             top_workflow, deserializing=True)
                self._restore_workflow(sub, dct, ids, version, task)
                top_workflow.subprocesses[task.id] = sub
                sub.completed_event.connect(task.task_spec._on_subworkflow_completed, task)
                self._restore_subprocesses(sub, top_workflow, pending, ids, version)


class _NeedsCleaning(Exception):
    """Task data hold a callable or a module: encode through the cleaning registry walk instead."""


def _as_is(value: Any) -> Any:
    return value


class _IdTable:
    """The task ids of a state in the order they are first referred to (``ids``), and each one's number
    (``indexes``, keyed by the id's integer: a UUID's own ``__hash__`` is a Python call)."""

    __slots__ = ("ids", "indexes")

    def __init__(self) -> None:
        self.ids: list[UUID] = []
        self.indexes: dict[int, int] = {}

    def ref(self, task_id: UUID | None) -> int | None:
        """The id's number, numbering it if it is new."""
        if task_id is None:
            return None
        index = self.indexes.get(task_id.int)
        if index is None:
            index = self.indexes[task_id.int] = len(self.ids)
            self.ids.append(task_id)
        return index


def _tasks(workflow: Any, table: _IdTable, to_json: Any, version: int, base: dict[str, Any] | None
           ) -> list[list[Any]]:
    """The rows of a (sub)workflow's tasks, in its ``tasks`` order: [id, parent, children, last_state_change, state,
    task_spec, triggered, internal_data, data or [updates, deletions]] — data as a delta against the parent's, or
    for a subprocess's root task (version 3) against the data of the task that called it (``base``); full data on
    the top workflow's root (and, in version 2, on a subprocess's). A task with empty data (not reached yet) has
    ``{}``: full data, empty (until decisions 44 it had ``[{}, every key of its parent's]``, which reads back the
    same, and version 2 still has). A task whose data equal its parent's has ``[{}, []]``, found by one comparison
    of the two dicts before the key-by-key one. Ids are numbered into ``table`` (``_IdTable.ref``, written out: this
    loop runs for every task of every save); ``to_json`` None leaves data as they are. ``last_state_change`` in
    version 3: whole 2**-22 s ticks since the previous row's when that restores it exactly (a finite float), else
    ``[value]``.

    Nothing is kept between saves: every row is written again from the live task (completed tasks' data can
    change: the library's one-level copy shares nested values). ``tests/test_state_pack.py`` holds a plain
    reference encoder and checks that both write the same bytes."""
    rows: list[list[Any]] = []
    ids, indexes = table.ids, table.indexes
    index_of = indexes.get
    tasks_get = workflow.tasks.get  # Task.parent is task.workflow.tasks.get(task._parent), and Task.__init__ puts
    # a task in its own workflow's dict; Task.state is a property returning _state
    previous = 0
    for task in workflow.tasks.values():
        changed = task.last_state_change
        if version == 2:
            stamp: Any = changed
        elif type(changed) is float and isfinite(changed) and (
                ticks := int(changed * _TICKS_PER_SECOND)) / _TICKS_PER_SECOND == changed:
            stamp, previous = ticks - previous, ticks
        else:
            stamp = [changed]
        parent = tasks_get(task._parent)
        if parent is None and base is None:
            data: Any = task.data if to_json is None else to_json(task.data)
        else:
            parent_data: Any = parent.data if parent is not None else base
            own = task.data
            if not own and type(own) is dict:  # a task not reached yet: no data (version 2: every key deleted)
                data = {} if version != 2 else [{}, list(parent_data)]
            elif parent is not None and version != 2 and own == parent_data:  # the most common row: one C call
                data = [{}, []]
            else:
                if parent is not None:
                    updates = {key: value for key, value in own.items()
                               if key not in parent_data or value != parent_data[key]}  # DeepMerge.get_updated_keys
                else:  # against the caller's data: types too (1 == 1.0 == True), nothing the library would restore
                    updates = {key: value for key, value in own.items() if key not in parent_data
                               or value != parent_data[key] or type(value) is not type(parent_data[key])}
                data = [updates if to_json is None else to_json(updates),  # + DeepMerge.get_deleted_keys:
                        [] if parent_data.keys() <= own.keys() else [key for key in parent_data if key not in own]]
        task_id = task.id
        number = index_of(task_id.int)
        if number is None:
            number = indexes[task_id.int] = len(ids)
            ids.append(task_id)
        parent_id = task._parent
        if parent_id is None:
            parent_number = None
        else:
            parent_number = index_of(parent_id.int)
            if parent_number is None:
                parent_number = indexes[parent_id.int] = len(ids)
                ids.append(parent_id)
        children = []
        for child in task._children:
            child_number = index_of(child.int)
            if child_number is None:
                child_number = indexes[child.int] = len(ids)
                ids.append(child)
            children.append(child_number)
        internal = task.internal_data
        rows.append([number, parent_number, children, stamp, task._state, task.task_spec.name, task.triggered,
                     internal if to_json is None else to_json(internal), data])
    return rows


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

    Format 2 did this to every finished subprocess; format 3 drops those whole (``drop_finished_subprocesses``)
    and strips only what that keeps: a finished subprocess with one still running inside it. Their data are never
    read again — the caller took the result when the subprocess completed, and the event log has the history."""
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


def finished_steps(workflow: Any) -> list[list[Any]]:
    """What the dropped subprocesses of a top workflow did: ``[caller element, subprocess spec name, [names of
    its task specs that completed]]`` per calling element and subprocess spec (a loop's runs are merged), sorted."""
    steps: list[list[Any]] = getattr(workflow, FINISHED_STEPS, None) or []
    return steps


def drop_finished_subprocesses(workflow: Any) -> int:
    """Remove from the top ``workflow`` every subprocess that has completed, whose calling task has finished and
    in which no task waits, runs or failed — with the subprocesses nested in it, which must all be such too —
    recording which of its task specs completed in ``finished_steps`` (what ``baozhuang migrate`` checks against
    the new version). Return how many were dropped now.

    Nothing reads a finished subprocess's tasks while the case runs: its caller took the result when it completed,
    the engine never walks back into it (a loop calls a new subprocess), and the event log has the history."""
    subprocesses = workflow.subprocesses
    if not subprocesses:
        return 0
    callers = {key: find_task(workflow, key) for key in subprocesses}
    holders: dict[UUID, UUID | None] = {  # the subprocess holding the caller; None: the top workflow
        key: caller.workflow.parent_task_id if caller is not None else None for key, caller in callers.items()}
    done = {key for key, sub in subprocesses.items()
            if sub.completed and callers[key] is not None and callers[key].state & _FINISHED
            and not any(task.state & _LIVE for task in sub.tasks.values())}
    if not done:
        return 0
    droppable = set(done)
    for key in subprocesses.keys() - done:  # a subprocess still alive keeps every subprocess around it
        holder = holders[key]
        while holder is not None and holder in holders:
            droppable.discard(holder)
            holder = holders[holder]
    if not droppable:
        return 0
    merged: dict[tuple[str, str], set[str]] = {(caller, spec): set(names)
                                               for caller, spec, names in finished_steps(workflow)}
    for key in droppable:
        sub = subprocesses[key]
        caller_spec = callers[key].task_spec
        names = merged.setdefault((getattr(caller_spec, "bpmn_id", None) or caller_spec.name, sub.spec.name), set())
        names.update(task.task_spec.name for task in sub.tasks.values() if task.state == TaskState.COMPLETED)
    for key in droppable:
        del subprocesses[key]
    setattr(workflow, FINISHED_STEPS, [[caller, spec, sorted(merged[caller, spec])] for caller, spec in sorted(merged)])
    return len(droppable)
