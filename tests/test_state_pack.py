"""``runner.state.pack_state`` writes exactly the bytes of a plain reference encoder (decisions 42 and 44).

``Reference`` below is the encoder as it was at commit 34d7560 (``runner/state_codec.py`` and ``pack_state``), line
for line, with only what decisions 44 changed on purpose: a task with empty data is written as ``{}`` (it was
``[{}, every key of its parent's]``, which reads back the same: ``test_format_3_states_of_the_old_layout_load``), a
task whose data equal its parent's (one comparison of the dicts) as ``[{}, []]``, and the state is format 4
(Zstandard at ``state.ZSTD_LEVEL`` with ``state.ZSTD_TABLE_LOG``-sized tables, the current dictionary as raw
content). The JSON payload, the id table and the
whole state must come out byte for byte the same — at every save of the same live workflow through every
trial variant (every sample category, timers, escalations, loops, races), on workflows restored from those states,
on a durable case saved through ``runner.store`` with its live workflow kept between transactions (both databases),
on random data (NaN, -0.0, 1 == 1.0 == True, shared values, empty data) and random trees, and where packing fails
(the same exception). Do not "fix" ``Reference``: it is the definition of the bytes. ``Reference(old_rows=True)``
writes the rows of 34d7560 exactly (format 3, zlib), for the test that such stored states still load.
"""

from __future__ import annotations

import json
import math
import random
import uuid
import zlib
from copy import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zstandard
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

import runner.case
from runner import state
from runner.fast_workflow import FastBpmnWorkflow, FastTask
from runner.process_folder import ProcessBundle
from runner.state import (
    CURRENT_DICTIONARY,
    STATE_CODEC,
    STATE_FORMAT,
    pack_format_2_state,
    pack_format_3_state,
    pack_state,
    state_format,
    unpack_state,
)
from runner.state_codec import StateCodec, _NeedsCleaning, drop_finished_subprocesses, strip_finished_subprocesses
from runner.state_dictionary import dictionary
from runner.task_queries import find_task
from runner.trial import TrialDriver, TrialOptions
from tests.db import CaseDriver, Db, complete, open_tasks, start
from tests.test_fast_workflow import VARIANTS
from tests.test_state import running_subprocess

# -- the encoder as it was (do not change) --------------------------------------------------------------------------

_TICKS_PER_SECOND = 2 ** 22
FINISHED_STEPS = "finished_subprocess_steps"


def _as_is(value: Any) -> Any:
    return value


def _json(value: Any, default: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=default).encode()


def _ticks(value: Any) -> int | None:
    if type(value) is not float or not math.isfinite(value):
        return None
    ticks = int(value * _TICKS_PER_SECOND)
    return ticks if ticks / _TICKS_PER_SECOND == value else None


def _finished_steps(workflow: Any) -> list[list[Any]]:
    steps: list[list[Any]] = getattr(workflow, FINISHED_STEPS, None) or []
    return steps


class Reference:
    """``StateCodec``'s encoding side and ``pack_state``'s assembly before the change, line for line (the value
    conversions, ``to_json`` and ``_default``, were not changed: they are the codec's own)."""

    def __init__(self, registry: Any, old_rows: bool = False) -> None:
        self.registry, self.old_rows = registry, old_rows
        codec = StateCodec(registry)
        self.to_json, self._default = codec.to_json, codec._default

    def dumps(self, workflow: Any, version: int = 3) -> tuple[bytes, list[uuid.UUID]]:
        try:
            dct, ids = self.encode(workflow, convert=False, version=version)
            return _json(dct, self._default), ids
        except _NeedsCleaning:
            dct, ids = self.encode(workflow, version=version)
            return _json(dct, None), ids

    def encode(self, workflow: Any, convert: bool = True, version: int = 3
               ) -> tuple[dict[str, Any], list[uuid.UUID]]:
        to_json = self.to_json if convert else _as_is
        ids: list[uuid.UUID] = []
        indexes: dict[int, int] = {}

        def ref(task_id: uuid.UUID | None) -> int | None:
            if task_id is None:
                return None
            index = indexes.get(task_id.int)
            if index is None:
                index = indexes[task_id.int] = len(ids)
                ids.append(task_id)
            return index

        top = self._workflow(workflow, ref, to_json, version, None)
        top["subprocesses"] = [[ref(key), self._subworkflow(sub, ref, to_json, version, find_task(workflow, key))]
                               for key, sub in workflow.subprocesses.items()]
        top["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        if version == 2:
            return {"ids": "".join(task_id.hex for task_id in ids), "workflow": top}, []
        steps = _finished_steps(workflow)
        if steps:
            top["finished"] = steps
        return {"workflow": top}, ids

    def _subworkflow(self, workflow: Any, ref: Any, to_json: Any, version: int, caller: Any) -> dict[str, Any]:
        dct = self._workflow(workflow, ref, to_json, version, caller)
        dct["parent_task_id"] = ref(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct

    def _workflow(self, workflow: Any, ref: Any, to_json: Any, version: int, caller: Any) -> dict[str, Any]:
        last = workflow.last_task
        if version == 2:
            tasks = [self._task(task, ref, to_json, task.last_state_change, None, True)
                     for task in workflow.tasks.values()]
        else:
            tasks, previous = [], 0
            base = caller.data if caller is not None else None
            for task in workflow.tasks.values():
                changed = task.last_state_change
                ticks = _ticks(changed)
                if ticks is None:
                    stamp: Any = [changed]
                else:
                    stamp, previous = ticks - previous, ticks
                tasks.append(self._task(task, ref, to_json, stamp, base, self.old_rows))
        return {
            "data": to_json(workflow.data),
            "correlations": to_json(workflow.correlations),
            "last_task": ref(last.id) if last is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "root": ref(workflow.task_tree.id),
            "tasks": tasks,
        }

    @staticmethod
    def _task(task: Any, ref: Any, to_json: Any, stamp: Any, base: dict[str, Any] | None, old_rows: bool
              ) -> list[Any]:
        parent = task.parent
        own = task.data
        if parent is None and base is None:
            data: Any = to_json(own)
        elif not old_rows and type(own) is dict and not own:
            data = {}
        elif not old_rows and parent is not None and own == parent.data:
            data = [{}, []]
        else:
            parent_data: Any = parent.data if parent is not None else base
            if parent is not None:
                updates = {key: value for key, value in own.items()
                           if key not in parent_data or value != parent_data[key]}
            else:
                updates = {key: value for key, value in own.items() if key not in parent_data
                           or value != parent_data[key] or type(value) is not type(parent_data[key])}
            data = [to_json(updates), [key for key in parent_data if key not in own]]
        return [ref(task.id), ref(task._parent), [ref(child) for child in task._children], stamp,
                task.state, task.task_spec.name, task.triggered, to_json(task.internal_data), data]

    def pack(self, workflow: Any) -> bytes:
        """``pack_state``, after the same ``drop_finished_subprocesses`` and ``strip``: format 4, or with
        ``old_rows`` format 3 as at 34d7560."""
        drop_finished_subprocesses(workflow)
        strip_finished_subprocesses(workflow)
        payload, ids = self.dumps(workflow)
        if self.old_rows:
            compressor = zlib.compressobj(state.COMPRESSION_LEVEL, zdict=dictionary(CURRENT_DICTIONARY))
            blob = bytes((3, CURRENT_DICTIONARY)) + compressor.compress(payload) + compressor.flush()
        else:
            raw = zstandard.ZstdCompressionDict(dictionary(CURRENT_DICTIONARY),
                                                dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            parameters = zstandard.ZstdCompressionParameters.from_level(
                state.ZSTD_LEVEL, hash_log=state.ZSTD_TABLE_LOG, chain_log=state.ZSTD_TABLE_LOG, write_checksum=1)
            compressed = zstandard.ZstdCompressor(dict_data=raw, compression_params=parameters).compress(payload)
            blob = bytes((STATE_FORMAT, CURRENT_DICTIONARY)) + compressed
        return blob + b"".join(task_id.bytes for task_id in ids)


REFERENCE = Reference(STATE_CODEC.registry)
OLD_ROWS = Reference(STATE_CODEC.registry, old_rows=True)


def same_as_before(workflow: Any) -> bytes:
    """Pack ``workflow`` both ways (each as the runner would: ``pack_state`` drops finished subprocesses first) and
    check every part: the payload, the id table, the stored bytes. The new bytes."""
    new = pack_state(workflow)
    old = REFERENCE.pack(workflow)
    if new != old:  # say which part differs
        assert STATE_CODEC.dumps(workflow) == REFERENCE.dumps(workflow)
        assert new == old
    return new


def same_failure(workflow: Any) -> BaseException:
    """Packing fails both ways, with the same exception (type and message)."""
    with pytest.raises(Exception) as old:  # noqa: PT011 - whatever the old code raised
        REFERENCE.pack(workflow)
    with pytest.raises(type(old.value)) as new:
        pack_state(workflow)
    if not isinstance(old.value, RecursionError):  # its message names the function it hit the limit in
        assert str(new.value) == str(old.value)
    return new.value


# -- trials: every save of the live workflow, and of restored ones --------------------------------------------------


class PackingDriver(TrialDriver):
    """Packs the case's workflow before and after every step (where the durable runner saves), both ways. With
    ``restore``, goes on from the workflow restored from the bytes (library ``Task`` trees) after every step; else
    keeps the same live workflow throughout (``FastTask`` trees, consecutive saves of one workflow)."""

    def __init__(self, bundle: ProcessBundle, options: TrialOptions, restore: bool) -> None:
        super().__init__(bundle, options)
        self.restore, self.saves = restore, 0

    def save(self) -> None:
        blob = same_as_before(self.case.workflow)
        self.saves += 1
        if self.restore:
            restored = unpack_state(blob, self.bundle.spec, self.bundle.subprocess_specs, self.case.engine)
            assert same_as_before(restored) == blob
            self.case.workflow = restored

    def step(self) -> bool:
        self.save()
        done = super().step()
        self.save()
        return done


@pytest.mark.parametrize("restore", [False, True], ids=["live", "restored"])
@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=[name for name, _ in VARIANTS])
def test_every_save_of_every_trial_is_byte_for_byte_as_before(bundle: ProcessBundle, name: str,
                                                              options: TrialOptions, restore: bool) -> None:
    driver = PackingDriver(bundle, options, restore)
    result = driver.run()
    assert result.completed and driver.saves >= 2, name
    same_as_before(driver.case.workflow)  # the completed case


def test_the_trials_cover_the_samples_and_subprocesses(bundle: ProcessBundle) -> None:
    """The variants run every sample category (with its dual-supply sample) and keep subprocesses alive and
    finished ones dropped, so that every branch of the encoder is met."""
    samples = {path.stem for path in (bundle.root / "samples").glob("*.json")}
    assert {f"{o.category}{'_dual' if o.dual_supply else ''}" for _, o in VARIANTS} >= samples
    seen = {"subprocess": 0, "dropped": 0}

    class Watching(PackingDriver):
        def save(self) -> None:
            workflow = self.case.workflow
            seen["subprocess"] += bool(workflow.subprocesses)
            super().save()
            seen["dropped"] += bool(getattr(workflow, FINISHED_STEPS, None))

    Watching(bundle, TrialOptions(category="hv_important"), restore=False).run()
    assert seen["subprocess"] > 5 and seen["dropped"] > 5


def test_a_durable_case_saves_as_before_with_its_live_workflow_kept(db: Db) -> None:
    """Through ``runner.store``: every ``pack_state`` of a case driven to its end, checked against the old encoder
    at each save; first task by task with nothing but completions in between, so that ``runner.workflow_cache``
    hands the same live workflow to every transaction (consecutive saves of one workflow), then by ``CaseDriver``
    (whose reads between transactions make the next one restore)."""
    saves: list[int] = []
    packing = runner.case.pack_state

    def checked(workflow: Any) -> bytes:
        blob = packing(workflow)
        assert REFERENCE.pack(workflow) == blob
        saves.append(id(workflow))
        return blob

    runner.case.pack_state = checked  # type: ignore[attr-defined]
    try:
        number = start(db, "hv_important")
        for step in range(12):
            task = open_tasks(db, number)[0]
            complete(db, number, task.element_id, user=f"{task.lane or 'staff'}.{1 + step % 2}")
        kept = saves.copy()
        result = CaseDriver(db, number).run()
    finally:
        runner.case.pack_state = packing  # type: ignore[attr-defined]
    assert result.completed and len(saves) >= len(kept) + result.steps > len(kept) + 3
    assert db.runtime.workflows.counts.hits >= 12  # the live workflow was kept between transactions …
    assert len(kept) >= 13 and len(set(kept)) == 1  # … and the same one packed again and again


def test_format_2_is_byte_for_byte_as_before(bundle: ProcessBundle) -> None:
    """``pack_format_2_state`` (tests and benchmarks that check old rows still load) writes what it wrote."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_ordinary", dual_supply=True))
    driver.case.start(driver.start_data)
    packed = 0
    while not driver.case.completed:
        workflow = driver.case.workflow
        blob = pack_format_2_state(workflow)
        compressor = zlib.compressobj(state.COMPRESSION_LEVEL, zdict=dictionary(1))
        payload = REFERENCE.dumps(workflow, version=2)[0]
        assert blob == bytes((2, 1)) + compressor.compress(payload) + compressor.flush()
        packed += 1
        assert driver.step()
    assert packed > 10


# -- data and trees the trials never make ---------------------------------------------------------------------------


def _started(bundle: ProcessBundle, category: str = "hv_important", steps: int = 12) -> Any:
    driver = TrialDriver(bundle, TrialOptions(category=category))
    driver.case.start(driver.start_data)
    for _ in range(steps):
        driver.step()
    return driver.case.workflow


def _all_tasks(workflow: Any) -> list[Any]:
    return [task for flow in (workflow, *workflow.subprocesses.values()) for task in flow.tasks.values()]


NAN = float("nan")


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 3 else 6)
    if kind < 6:
        return rng.choice(["x", "客户", "", 3, 1, 0, 1.0, 2.5, -0.0, True, False, None, NAN, float("inf"), 10 ** 20])
    if kind < 8:
        return {rng.choice(["a", "b", "名称", "typ"]) + str(i): _random_value(rng, depth + 1)
                for i in range(rng.randrange(4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _scramble(workflow: Any, rng: random.Random) -> None:
    """Random data changes of the kinds the engine makes (a key set, changed, removed, a nested value changed in
    place, data emptied, a parent's value shared or copied) plus odd values and state-change times."""
    tasks = _all_tasks(workflow)
    for task in rng.sample(tasks, min(len(tasks), 25)):
        data = task.data
        parent = task.parent
        change = rng.randrange(9)
        if change == 0:
            data[rng.choice(["new", "flag", "名称", *data][:6])] = _random_value(rng)
        elif change == 1 and data:
            del data[rng.choice(list(data))]
        elif change == 2:
            task.data = {}
        elif change == 3 and parent is not None and parent.data:  # the parent's very objects, or copies of them
            key = rng.choice(list(parent.data))
            data[key] = parent.data[key] if rng.random() < 0.5 else copy(parent.data[key])
        elif change == 4:
            for value in data.values():
                if type(value) is dict:
                    value[rng.choice(["x", "y"])] = _random_value(rng)
                    break
                if type(value) is list:
                    value.append(_random_value(rng))
                    break
        elif change == 5 and parent is not None:  # the same NaN object on both sides: != says it changed
            parent.data["nan"] = data["nan"] = NAN
        elif change == 6:
            task.last_state_change = rng.choice([0.0, 1.5, -2.0, 1e-300, 7, None, "2026", math.nan, math.inf,
                                                 -math.inf, 1764151200 + 2 ** -30, 1764151200.123456])
        elif change == 7:
            task.internal_data = {"n": _random_value(rng), "when": datetime(2026, 11, 26, tzinfo=UTC)}
        else:
            data["typed"] = rng.choice([1, 1.0, True, uuid.UUID(int=5), timedelta(hours=2), datetime(2026, 1, 1)])


@pytest.mark.parametrize("seed", range(8))
def test_random_data_packs_as_before(bundle: ProcessBundle, seed: int) -> None:
    rng = random.Random(seed)
    workflow = _started(bundle, rng.choice(["hv_important", "hv_ordinary", "lv_other"]), rng.randrange(4, 30))
    for _ in range(12):
        _scramble(workflow, rng)
        blob = same_as_before(workflow)
        same_as_before(unpack_state(blob, bundle.spec, bundle.subprocess_specs, None))


@pytest.mark.parametrize("seed", range(4))
def test_random_trees_pack_as_before(bundle: ProcessBundle, seed: int) -> None:
    """``FastTask`` trees grown at random (random states, several children, deep chains), random data."""
    rng = random.Random(100 + seed)
    workflow = FastBpmnWorkflow(bundle.spec, bundle.subprocess_specs)
    spec = next(spec for spec in bundle.spec.task_specs.values() if spec.manual)
    tasks = list(workflow.tasks.values())
    states = [TaskState.MAYBE, TaskState.LIKELY, TaskState.FUTURE, TaskState.WAITING, TaskState.READY,
              TaskState.COMPLETED, TaskState.CANCELLED]
    for _ in range(150):
        parent = tasks[-1] if rng.random() < 0.6 else rng.choice(tasks)
        task = FastTask(workflow, spec, parent, state=rng.choice(states))
        task.data = {**parent.data, **{f"v{i}": _random_value(rng) for i in range(rng.randrange(3))}}
        tasks.append(task)
    for _ in range(5):
        _scramble(workflow, rng)
        same_as_before(workflow)


def test_a_subprocess_root_against_its_caller_as_before(bundle: ProcessBundle) -> None:
    """The root of a running subprocess: a delta against the caller's data, types compared too."""
    workflow, caller, root = running_subprocess(bundle)
    for caller_value, root_value in [(1, True), (1, 1.0), (NAN, NAN), (-0.0, 0.0), ([1], [1.0]), ({}, None)]:
        caller.data["x"], root.data["x"] = caller_value, root_value
        same_as_before(workflow)
    root.data.clear()
    same_as_before(workflow)
    root.data["only_root"] = 1
    caller.data.pop("x")
    same_as_before(workflow)


def test_values_json_cannot_write_and_failures_as_before(bundle: ProcessBundle) -> None:
    """Registry values, callables and modules (the slow, cleaning path), a set (TypeError), a cycle
    (ValueError, or on the cleaning path RecursionError), an infinite stamp's overflow: as before."""
    workflow = _started(bundle, "lv_residential", 3)
    task = next(task for task in _all_tasks(workflow) if task.parent is not None and task.data)
    task.data["checks"] = {"when": datetime(2026, 11, 26, 9, 30, tzinfo=UTC), "ids": [uuid.UUID(int=7)],
                           "span": timedelta(days=2)}
    same_as_before(workflow)
    task.data["helper"] = len
    task.data["checks"]["module"] = json
    same_as_before(workflow)
    del task.data["helper"], task.data["checks"]["module"]

    task.data["tags"] = {"a"}
    assert isinstance(same_failure(workflow), TypeError)
    del task.data["tags"]

    loop: dict[str, Any] = {"name": "x"}
    loop["self"] = loop
    task.data["loop"] = loop
    error = same_failure(workflow)
    assert isinstance(error, ValueError) and "Circular reference" in str(error)
    task.internal_data["loop"] = [loop]
    assert isinstance(same_failure(workflow), ValueError)
    del task.internal_data["loop"]
    loop["f"] = len  # met after the cycle: still the circular reference
    assert isinstance(same_failure(workflow), ValueError)
    task.data["loop"] = {"f": len, "inner": loop}  # a callable met first: the cleaning path recurses without end
    assert isinstance(same_failure(workflow), RecursionError)
    del task.data["loop"]
    same_as_before(workflow)

    task.last_state_change = 1e308  # finite, but too large for ticks
    assert isinstance(same_failure(workflow), OverflowError)
    task.last_state_change = 1e300 * 1e10  # inf: written as [inf]
    same_as_before(workflow)


def test_deep_data_below_the_recursion_limit_packs_as_before(bundle: ProcessBundle) -> None:
    """Nesting close to the limit takes the unchecked encoder's path as the checked one's."""
    workflow = _started(bundle, "lv_other", 2)
    task = next(task for task in _all_tasks(workflow) if task.parent is not None)
    deep: Any = "end"
    for _ in range(300):
        deep = [deep]
    task.data["deep"] = {"a": deep}
    same_as_before(workflow)


def test_tasks_of_the_library_class_pack_as_before(bundle: ProcessBundle) -> None:
    """Trees mixing ``FastTask`` and SpiffWorkflow's own ``Task`` (restored trees, tests) pack the same."""
    workflow = _started(bundle, "hv_ordinary", 6)
    parent = next(task for task in workflow.tasks.values() if task.state == TaskState.COMPLETED and task.children)
    child = Task(workflow, parent.task_spec, parent, state=TaskState.FUTURE)
    child.data = dict(parent.data)
    same_as_before(workflow)


def test_the_compression_levels_are_decisions() -> None:
    """The tests above compare at ``state.ZSTD_LEVEL`` and ``state.ZSTD_TABLE_LOG``; changing either changes every
    state's bytes (still readable: a frame says nothing of its level or tables). Level 3 was chosen after measuring
    1, 3 and 6, tables of 2**12 entries after measuring 2**11–2**16 (decisions 44); zlib's level 6 for formats 2 and 3
    after measuring 1–9 (decisions 42)."""
    assert state.ZSTD_LEVEL == 3 and state.ZSTD_TABLE_LOG == 12 and state.COMPRESSION_LEVEL == 6


class OldRowsDriver(TrialDriver):
    """At every step, the live workflow packed as 34d7560 stored it (format 3, empty data as every key deleted),
    and as format 3 with today's rows: both must restore to a workflow that packs as the live one."""

    def __init__(self, bundle: ProcessBundle, options: TrialOptions) -> None:
        super().__init__(bundle, options)
        self.checked = self.all_deleted = 0

    def step(self) -> bool:
        workflow = self.case.workflow
        now = pack_state(workflow)
        for blob in (OLD_ROWS.pack(workflow), pack_format_3_state(workflow)):
            assert state_format(blob) == 3
            restored = unpack_state(blob, self.bundle.spec, self.bundle.subprocess_specs, self.case.engine)
            assert pack_state(restored) == now
        rows = json.loads(OLD_ROWS.dumps(workflow)[0])["workflow"]["tasks"]
        self.all_deleted += sum(1 for row in rows if isinstance(row[8], list) and not row[8][0] and row[8][1])
        self.checked += 1
        return super().step()


@pytest.mark.parametrize(("name", "options"), VARIANTS[:4], ids=[name for name, _ in VARIANTS[:4]])
def test_format_3_states_of_the_old_layout_load(bundle: ProcessBundle, name: str, options: TrialOptions) -> None:
    driver = OldRowsDriver(bundle, options)
    assert driver.run().completed and driver.checked >= 5, name
    assert driver.all_deleted > driver.checked  # rows of the old layout's "every key deleted" were met
