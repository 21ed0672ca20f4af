"""``runner.state``: a case's stored state (no spec) restores to the same workflow, onto the version's shared,
cached spec objects — at every user task of a case, and for many cases in a row."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import zstandard
from SpiffWorkflow.util.task import TaskState

from runner import state_dictionary
from runner.case import HumanTask
from runner.process_folder import ProcessBundle
from runner.serialization import SERIALIZER
from runner.state import (
    LEGACY_FORMAT,
    STATE_FORMAT,
    pack_format_2_state,
    pack_legacy_state,
    pack_state,
    state_format,
    unpack_state,
)
from runner.state_codec import finished_steps
from runner.store import load_case
from runner.trial import TrialDriver, TrialOptions, TrialResult
from tests.db import CaseDriver, Db, case_row, start, visited

DICTIONARY_SHA256 = {1: "5fb6c72c3bb651b4ff45839bfd1647b36c0b4c5da69fbb68b0f143d099427454",
                     2: "20b1cca2821110087fa90694b8aa4294d00df8396c747a5e769c387887a24405",
                     3: "609c50572458d5a93f4b7994d3a68141e19738ffed7164a2dd17837907fc1f51",
                     4: "38313f382f9d665f02f68dd4e453e6932f1d9583ddf088d869c1f905e231bee1"}
FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
CASES = [("lv_residential", False), ("lv_other", False), ("hv_ordinary", True), ("hv_important", False)]


class ReplayDriver(TrialDriver):
    """Before every user task, packs the workflow with ``pack``, restores it, checks that the restored workflow is
    the live one (``pack`` may change the live one first: ``pack_state`` drops finished subprocesses), on the
    version's shared spec and the case's script engine, then ``check(blob, restored, live)``; runs on with the
    restored one: it must run as well as the original."""

    def __init__(self, bundle: ProcessBundle, options: TrialOptions, pack: Callable[[Any], bytes],
                 check: Callable[[bytes, Any, Any], None]) -> None:
        super().__init__(bundle, options)
        self.pack, self.check, self.round_trips = pack, check, 0

    def answer(self, task: HumanTask) -> None:
        workflow = self.case.workflow
        blob = self.pack(workflow)
        restored = unpack_state(blob, self.bundle.spec, self.bundle.subprocess_specs, self.case.engine)
        assert SERIALIZER.to_dict(restored) == SERIALIZER.to_dict(workflow), \
            f"round trip changed the workflow at {task.element_id}"
        assert restored.spec is self.bundle.spec  # the shared spec, not a copy
        assert restored.script_engine is self.case.engine
        self.check(blob, restored, workflow)
        self.case.workflow = restored
        self.round_trips += 1
        super().answer(task)


def replays_like_a_plain_trial(bundle: ProcessBundle, category: str, dual: bool, pack: Callable[[Any], bytes],
                               check: Callable[[bytes, Any, Any], None]) -> None:
    """A trial restored from ``pack``'s bytes before every user task ends as the plain trial does."""
    driver = ReplayDriver(bundle, TrialOptions(category=category, dual_supply=dual), pack, check)
    result = driver.run()
    plain = TrialDriver(bundle, TrialOptions(category=category, dual_supply=dual)).run()
    assert result.completed and driver.round_trips >= 4
    assert result.visited == plain.visited and result.summary == plain.summary


@pytest.mark.parametrize(("category", "dual"), CASES, ids=[f"{c}{'-dual' if d else ''}" for c, d in CASES])
def test_pack_unpack_round_trip_at_every_user_task(bundle: ProcessBundle, category: str, dual: bool) -> None:
    def check(blob: bytes, restored: Any, live: Any) -> None:
        assert finished_steps(restored) == finished_steps(live)
        assert pack_state(restored) == blob

    replays_like_a_plain_trial(bundle, category, dual, pack_state, check)


def _packed_payload(blob: bytes) -> tuple[dict[str, Any], list[uuid.UUID]]:
    """The JSON part of a format-4 state and its id table (raw bytes after the Zstandard frame)."""
    assert state_format(blob) == STATE_FORMAT
    raw = zstandard.ZstdCompressionDict(state_dictionary.dictionary(blob[1]), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    decompressor = zstandard.ZstdDecompressor(dict_data=raw).decompressobj()
    payload: dict[str, Any] = json.loads(decompressor.decompress(blob[2:]))
    table = decompressor.unused_data
    assert decompressor.eof and len(table) % 16 == 0
    return payload, [uuid.UUID(bytes=table[i:i + 16]) for i in range(0, len(table), 16)]


def test_the_packed_state_leaves_the_spec_out(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="hv_ordinary"))
    driver.case.start(driver.start_data)
    blob = pack_state(driver.case.workflow)
    assert blob[:2] == bytes((STATE_FORMAT, state_dictionary.CURRENT_DICTIONARY))
    payload, ids = _packed_payload(blob)
    assert "spec" not in payload["workflow"] and "subprocess_specs" not in payload["workflow"]
    assert payload["workflow"]["tasks"]
    assert len(ids) == len(set(ids)) == len({row[0] for row in payload["workflow"]["tasks"]})  # each id once
    assert {task.id for task in driver.case.workflow.get_tasks()} <= set(ids)


def test_format_4_states_written_with_level_3s_own_tables_load(bundle: ProcessBundle) -> None:
    """Until ``ZSTD_TABLE_LOG`` (decisions 44) format 4 was compressed with level 3's default tables: the same
    frames to a decompressor. Such a state restores to a workflow that packs as the live one does today."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    driver.case.start(driver.start_data)
    live = driver.case.workflow
    blob = pack_state(live)
    payload, ids = _packed_payload(blob)
    raw = zstandard.ZstdCompressionDict(state_dictionary.dictionary(blob[1]), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    old_frame = zstandard.ZstdCompressor(level=3, dict_data=raw, write_checksum=True).compress(
        json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    old_blob = blob[:2] + old_frame + b"".join(task_id.bytes for task_id in ids)
    assert old_blob != blob  # other tables, other frame
    restored = unpack_state(old_blob, bundle.spec, bundle.subprocess_specs, driver.case.engine)
    assert pack_state(restored) == blob


def test_unpacking_needs_a_spec_and_a_known_format(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="lv_residential"))
    driver.case.start(driver.start_data)
    blob = pack_state(driver.case.workflow)
    with pytest.raises(ValueError, match="spec"):
        unpack_state(blob, None, {}, driver.case.engine)
    with pytest.raises(ValueError, match="format 9"):
        unpack_state(bytes((9,)) + blob[1:], bundle.spec, bundle.subprocess_specs, driver.case.engine)
    with pytest.raises(ValueError, match="dictionary 99"):
        unpack_state(bytes((STATE_FORMAT, 99)) + blob[2:], bundle.spec, bundle.subprocess_specs, driver.case.engine)
    with pytest.raises(ValueError, match="truncated"):  # the id table after the frame is cut short
        unpack_state(blob[:-5], bundle.spec, bundle.subprocess_specs, driver.case.engine)
    frame_end = len(blob) - 16 * len(_packed_payload(blob)[1])
    with pytest.raises(ValueError, match="truncated"):  # the frame itself is cut short
        unpack_state(blob[:frame_end - 3], bundle.spec, bundle.subprocess_specs, driver.case.engine)
    damaged = bytearray(blob)
    damaged[frame_end - 6] ^= 0x55  # a byte of the compressed data: the frame's checksum no longer matches
    with pytest.raises(ValueError, match="damaged case state"):
        unpack_state(bytes(damaged), bundle.spec, bundle.subprocess_specs, driver.case.engine)
    legacy = json.loads(zlib.decompress(pack_legacy_state(driver.case.workflow)))
    legacy["format"] = LEGACY_FORMAT + 5
    with pytest.raises(ValueError, match="format"):
        unpack_state(zlib.compress(json.dumps(legacy).encode()), bundle.spec, bundle.subprocess_specs,
                     driver.case.engine)


@pytest.mark.parametrize(("category", "dual"), CASES[2:], ids=[f"{c}{'-dual' if d else ''}" for c, d in CASES[2:]])
def test_a_format_1_state_loads_and_the_case_goes_on(bundle: ProcessBundle, category: str, dual: bool) -> None:
    """Rows written before format 2 (plain zlib JSON, subprocesses kept): restored at every user task, they give
    the same workflow as the new format, and the case runs on to the same end."""

    def check(blob: bytes, _restored: Any, _live: Any) -> None:
        assert state_format(blob) == LEGACY_FORMAT and blob[0] == 0x78

    replays_like_a_plain_trial(bundle, category, dual, pack_legacy_state, check)


def test_finished_subprocesses_are_dropped_leaving_a_summary_of_their_steps(bundle: ProcessBundle) -> None:
    """Once a subprocess has completed and its calling task has finished, the stored state (and the live workflow)
    leave it out whole; what stays is the summary a migration checks (calling element, subprocess spec, the task
    specs that completed in it). Running subprocesses stay as they are, the case runs on from the restored state at
    every user task and ends as the plain run, which keeps every subprocess."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    seen_running = seen_dropped = 0
    expected: dict[tuple[str, str], set[str]] = {}
    original = driver.answer

    def answer(task: HumanTask) -> None:
        nonlocal seen_running, seen_dropped
        workflow = driver.case.workflow
        finished = {key for key, sub in workflow.subprocesses.items()
                    if sub.completed and workflow.get_task_from_id(key).state & FINISHED}
        for key in finished:
            caller = workflow.get_task_from_id(key)
            sub = workflow.subprocesses[key]
            expected.setdefault((caller.task_spec.bpmn_id, sub.spec.name), set()).update(
                t.task_spec.name for t in sub.tasks.values() if t.state == TaskState.COMPLETED)
        kept = {key: [(t.task_spec.name, t.state) for t in sub.tasks.values()]
                for key, sub in workflow.subprocesses.items() if key not in finished}
        blob = pack_state(workflow)
        payload, ids = _packed_payload(blob)
        stored = {ids[index]: sub for index, sub in payload["workflow"]["subprocesses"]}
        assert set(stored) == set(workflow.subprocesses) == set(kept)  # the finished ones are gone, live too
        for key, sub in workflow.subprocesses.items():
            assert [(t.task_spec.name, t.state) for t in sub.tasks.values()] == kept[key]
            assert [(row[5], row[4]) for row in stored[key]["tasks"]] == kept[key]
            assert sub.tasks[sub.task_tree.id].data  # a running subprocess keeps its data
        summary = [[caller, spec, sorted(names)] for (caller, spec), names in sorted(expected.items())]
        assert finished_steps(workflow) == summary == payload["workflow"].get("finished", [])
        restored = unpack_state(blob, bundle.spec, bundle.subprocess_specs, driver.case.engine)
        assert finished_steps(restored) == summary
        assert SERIALIZER.to_dict(restored) == SERIALIZER.to_dict(workflow)
        driver.case.workflow = restored
        seen_running += bool(workflow.subprocesses)
        seen_dropped += bool(finished)
        original(task)

    driver.answer = answer  # type: ignore[method-assign]
    result = driver.run()
    plain = TrialDriver(bundle, TrialOptions(category="hv_important")).run()
    assert result.completed and seen_running and seen_dropped
    assert result.visited == plain.visited and result.summary == plain.summary
    assert "review_plan" in expected["plan_stage", "plan_stage"]


def test_a_finished_subprocess_goes_only_with_every_subprocess_nested_in_it(bundle: ProcessBundle) -> None:
    """Nested subprocesses (the feedback stage inside the 回访 call), finished at the end of a case whose state
    still has them (format 2): both go, each in the summary. With the inner one marked as still running, the outer
    one stays too, only without its data; with the outer one marked as running, the finished inner one goes."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    assert driver.run().completed
    workflow = driver.case.workflow
    [(inner_key, inner)] = [(key, sub) for key, sub in workflow.subprocesses.items()
                            if workflow.get_task_from_id(key).workflow is not workflow]
    outer_key = inner.parent_workflow.parent_task_id
    names = {key: sub.spec.name for key, sub in workflow.subprocesses.items()}
    assert inner.completed and workflow.subprocesses[outer_key].completed

    def copy() -> Any:
        return unpack_state(pack_format_2_state(workflow), bundle.spec, bundle.subprocess_specs, driver.case.engine)

    both = copy()
    pack_state(both)
    assert not {outer_key, inner_key} & set(both.subprocesses)
    assert {spec for _caller, spec, _names in finished_steps(both)} >= {names[outer_key], names[inner_key]}

    inner_running = copy()
    inner_running.subprocesses[inner_key].completed = False
    pack_state(inner_running)
    assert {outer_key, inner_key} <= set(inner_running.subprocesses)
    assert not {names[outer_key], names[inner_key]} & {spec for _caller, spec, _names in finished_steps(inner_running)}
    assert not any(task.data for task in inner_running.subprocesses[outer_key].tasks.values())

    outer_running = copy()
    outer_running.subprocesses[outer_key].completed = False
    pack_state(outer_running)
    assert outer_key in outer_running.subprocesses and inner_key not in outer_running.subprocesses
    assert names[inner_key] in {spec for _caller, spec, _names in finished_steps(outer_running)}


@pytest.mark.parametrize(("category", "dual"), CASES[2:], ids=[f"{c}{'-dual' if d else ''}" for c, d in CASES[2:]])
def test_a_format_2_state_loads_and_the_case_goes_on(bundle: ProcessBundle, category: str, dual: bool) -> None:
    """Rows written in format 2 (hex id table in the JSON, finished subprocesses kept without their data): restored
    at every user task, they give the same workflow as that release kept, and the case runs on to the same end."""

    kept = []

    def check(blob: bytes, restored: Any, _live: Any) -> None:
        assert blob[:2] == bytes((2, 1)) and state_format(blob) == 2
        assert finished_steps(restored) == []
        kept.append(any(sub.completed for sub in restored.subprocesses.values()))

    # pack_format_2_state empties finished subprocesses' data in the live workflow, as format 2 did
    replays_like_a_plain_trial(bundle, category, dual, pack_format_2_state, check)
    assert any(kept)


def test_state_change_times_come_back_exactly(bundle: ProcessBundle) -> None:
    """``last_state_change`` is stored as a difference of 2**-22 s ticks; a value that is no whole number of
    ticks (or not a float) is stored as it is."""
    driver = TrialDriver(bundle, TrialOptions(category="lv_residential"))
    driver.case.start(driver.start_data)
    workflow = driver.case.workflow
    tasks = list(workflow.get_tasks())
    odd = [0.1, 7, 1e-300, 1764163200.123456, 2.0 ** 40 + 0.5, -3.25]
    for task, value in zip(tasks, odd, strict=False):
        task.last_state_change = value
    restored = unpack_state(pack_state(workflow), bundle.spec, bundle.subprocess_specs, driver.case.engine)
    for task in tasks:
        again = restored.get_task_from_id(task.id).last_state_change
        assert (again, type(again)) == (task.last_state_change, type(task.last_state_change)), task.task_spec.name


@pytest.mark.parametrize("number", sorted(DICTIONARY_SHA256))
def test_the_released_dictionaries_are_unchanged(number: int) -> None:
    """A stored state names its dictionary; a released one must never change (retrain under the next number)."""
    record = json.loads(state_dictionary.dictionary_path(number).read_text(encoding="utf-8"))
    content = base64.b64decode(record["zlib_dictionary_base64"])
    assert hashlib.sha256(content).hexdigest() == record["sha256"] == DICTIONARY_SHA256[number]
    assert state_dictionary.dictionary(number) == content and len(content) <= state_dictionary.MAX_BYTES
    assert state_dictionary.CURRENT_DICTIONARY == max(DICTIONARY_SHA256)


def _trial(bundle: ProcessBundle, category: str) -> TrialResult:
    return TrialDriver(bundle, TrialOptions(category=category)).run()


def test_many_cases_in_a_row_share_one_parsed_version(db: Db, bundle: ProcessBundle) -> None:
    """Cases of different categories advanced in turn, one step each, all unpacked onto the same cached spec
    objects of one runtime: each ends exactly as it would alone, and the shared spec is not changed."""
    runtime = db.new_runtime()  # parses the version from the database, once
    categories = ["lv_residential", "lv_other", "lv_smallmicro", "lv_residential", "lv_other", "lv_smallmicro"]
    numbers = [start(db, category, runtime=runtime, customer_name=f"客户{i}") for i, category in enumerate(categories)]
    assert list(runtime.bundles) == [db.version_id]
    shared = runtime.bundles[db.version_id]
    spec_before: dict[str, Any] = SERIALIZER.to_dict(shared.spec)
    running = [CaseDriver(db, number, runtime=runtime) for number in numbers]
    for _ in range(200):
        for driver in list(running):
            if case_row(db, driver.case_number).status == "completed":
                running.remove(driver)
            else:
                assert driver.step(), f"{driver.case_number} is stuck"
        if not running:
            break
    assert not running
    assert list(runtime.bundles) == [db.version_id] and runtime.bundles[db.version_id] is shared
    expected = {category: _trial(bundle, category).visited for category in set(categories)}
    for i, (number, category) in enumerate(zip(numbers, categories, strict=True)):
        with db.reading() as session:
            loaded = load_case(session, runtime, number)
            assert loaded.case.workflow.spec is shared.spec
            data = loaded.case.data
        assert (data["case_number"], data["category"]) == (number, category)
        assert data["application"]["customer_name"] == f"客户{i}"
        assert visited(db, number) == expected[category], number
    assert SERIALIZER.to_dict(shared.spec) == spec_before


def test_data_beyond_plain_json_packs_as_spiffworkflow_serializes_it(bundle: ProcessBundle) -> None:
    """Values the serializer's registry converts (datetimes, ids) come back as the same types; callables and
    modules in task data are dropped, as the registry's cleaning drops them; a set still cannot be stored."""
    driver = TrialDriver(bundle, TrialOptions(category="lv_residential"))
    driver.case.start(driver.start_data)
    workflow = driver.case.workflow
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    when = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    task.data["checks"] = {"when": when, "ids": [uuid.UUID(int=7)], "note": "抄表", "by": None}
    restored = unpack_state(pack_state(workflow), bundle.spec, bundle.subprocess_specs, driver.case.engine)
    assert restored.get_task_from_id(task.id).data["checks"] == task.data["checks"]
    assert SERIALIZER.to_dict(restored) == SERIALIZER.to_dict(workflow)

    task.data["helper"] = len
    task.data["checks"]["module"] = json
    restored = unpack_state(pack_state(workflow), bundle.spec, bundle.subprocess_specs, driver.case.engine)
    data = restored.get_task_from_id(task.id).data
    assert "helper" not in data and "module" not in data["checks"] and data["checks"]["when"] == when
    assert {**data, "helper": len, "checks": {**data["checks"], "module": json}} == task.data

    task.data["tags"] = {"a"}
    with pytest.raises(TypeError, match="set"):
        pack_state(workflow)


def running_subprocess(bundle: ProcessBundle) -> tuple[Any, Any, Any]:
    """An hv_important trial case run until a subprocess runs: its workflow, the calling task and the subprocess's
    root task."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    driver.case.start(driver.start_data)
    workflow = driver.case.workflow
    while not any(not sub.completed for sub in workflow.subprocesses.values()):
        assert driver.step(), "no subprocess ran"
    key, sub = next((key, sub) for key, sub in workflow.subprocesses.items() if not sub.completed)
    return workflow, workflow.get_task_from_id(key), sub.task_tree


def test_a_running_subprocess_root_keeps_its_own_data_beside_its_callers(bundle: ProcessBundle) -> None:
    """A subprocess's root task is stored as a delta against its caller's data: what differs, even only by type
    (1 == 1.0 == True), and what the root lacks come back as they were."""
    workflow, caller, root = running_subprocess(bundle)
    assert set(caller.data) & set(root.data)  # the stage started with a copy of the case data
    caller.data.update(flag=1, ratio=2, only_caller="x")
    root.data.update(flag=True, ratio=2.0, only_root=[1])
    root.data.pop("only_caller", None)
    restored = unpack_state(pack_state(workflow), bundle.spec, bundle.subprocess_specs, workflow.script_engine)
    again = restored.subprocesses[caller.id].task_tree.data
    assert again == root.data and "only_caller" not in again
    assert (type(again["flag"]), type(again["ratio"])) == (bool, float)
    assert restored.get_task_from_id(caller.id).data == caller.data
