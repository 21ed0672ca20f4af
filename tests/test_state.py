"""``runner.state``: a case's stored state (no spec) restores to the same workflow, onto the version's shared,
cached spec objects — at every user task of a case, and for many cases in a row."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState

from runner import state_dictionary
from runner.case import HumanTask
from runner.process_folder import ProcessBundle
from runner.serialization import SERIALIZER
from runner.state import (
    LEGACY_FORMAT,
    STATE_FORMAT,
    pack_legacy_state,
    pack_state,
    state_format,
    unpack_state,
)
from runner.store import load_case
from runner.trial import TrialDriver, TrialOptions, TrialResult
from tests.db import CaseDriver, Db, case_row, start, visited

DICTIONARY_1_SHA256 = "5fb6c72c3bb651b4ff45839bfd1647b36c0b4c5da69fbb68b0f143d099427454"
FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
CASES = [("lv_residential", False), ("lv_other", False), ("hv_ordinary", True), ("hv_important", False)]


class PackingDriver(TrialDriver):
    """Packs and unpacks the workflow before every user task, checks nothing changed, and runs on the copy.
    (``pack_state`` drops finished subprocesses from the live workflow too, so the comparison follows it.)"""

    round_trips = 0

    def answer(self, task: HumanTask) -> None:
        workflow = self.case.workflow
        blob = pack_state(workflow)
        before = SERIALIZER.to_dict(workflow)
        restored = unpack_state(blob, self.bundle.spec, self.bundle.subprocess_specs, self.case.engine)
        assert SERIALIZER.to_dict(restored) == before, f"round trip changed the workflow at {task.element_id}"
        assert pack_state(restored) == blob
        assert restored.spec is self.bundle.spec  # the shared spec, not a copy
        assert restored.script_engine is self.case.engine
        self.case.workflow = restored  # go on with the restored one: it must run as well as the original
        self.round_trips += 1
        super().answer(task)


@pytest.mark.parametrize(("category", "dual"), CASES, ids=[f"{c}{'-dual' if d else ''}" for c, d in CASES])
def test_pack_unpack_round_trip_at_every_user_task(bundle: ProcessBundle, category: str, dual: bool) -> None:
    driver = PackingDriver(bundle, TrialOptions(category=category, dual_supply=dual))
    result = driver.run()
    plain = TrialDriver(bundle, TrialOptions(category=category, dual_supply=dual)).run()
    assert result.completed and driver.round_trips >= 4
    assert result.visited == plain.visited and result.summary == plain.summary


def _packed_payload(blob: bytes) -> dict[str, Any]:
    assert state_format(blob) == STATE_FORMAT
    decompressor = zlib.decompressobj(zdict=state_dictionary.dictionary(blob[1]))
    payload: dict[str, Any] = json.loads(decompressor.decompress(blob[2:]) + decompressor.flush())
    return payload


def test_the_packed_state_leaves_the_spec_out(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="hv_ordinary"))
    driver.case.start(driver.start_data)
    blob = pack_state(driver.case.workflow)
    assert blob[:2] == bytes((STATE_FORMAT, state_dictionary.CURRENT_DICTIONARY))
    payload = _packed_payload(blob)
    assert "spec" not in payload["workflow"] and "subprocess_specs" not in payload["workflow"]
    assert payload["workflow"]["tasks"]
    ids = payload["ids"]
    assert len(ids) == 32 * len({row[0] for row in payload["workflow"]["tasks"]})  # each task id written once
    assert all(str(task.id).replace("-", "") in ids for task in driver.case.workflow.get_tasks())


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
    legacy = json.loads(zlib.decompress(pack_legacy_state(driver.case.workflow)))
    legacy["format"] = LEGACY_FORMAT + 5
    with pytest.raises(ValueError, match="format"):
        unpack_state(zlib.compress(json.dumps(legacy).encode()), bundle.spec, bundle.subprocess_specs,
                     driver.case.engine)


@pytest.mark.parametrize(("category", "dual"), CASES[2:], ids=[f"{c}{'-dual' if d else ''}" for c, d in CASES[2:]])
def test_a_format_1_state_loads_and_the_case_goes_on(bundle: ProcessBundle, category: str, dual: bool) -> None:
    """Rows written before format 2 (plain zlib JSON, subprocesses kept): restored at every user task, they give
    the same workflow as the new format, and the case runs on to the same end."""

    class LegacyDriver(TrialDriver):
        checked = 0

        def answer(self, task: HumanTask) -> None:
            workflow = self.case.workflow
            old = pack_legacy_state(workflow)
            assert state_format(old) == LEGACY_FORMAT and old[0] == 0x78
            restored = unpack_state(old, self.bundle.spec, self.bundle.subprocess_specs, self.case.engine)
            assert SERIALIZER.to_dict(restored) == SERIALIZER.to_dict(workflow)
            self.case.workflow = restored
            self.checked += 1
            super().answer(task)

    driver = LegacyDriver(bundle, TrialOptions(category=category, dual_supply=dual))
    result = driver.run()
    plain = TrialDriver(bundle, TrialOptions(category=category, dual_supply=dual)).run()
    assert result.completed and driver.checked >= 4
    assert result.visited == plain.visited and result.summary == plain.summary


def test_finished_subprocesses_keep_their_steps_but_not_their_data(bundle: ProcessBundle) -> None:
    """Once a subprocess has completed and its calling task has finished, the stored state (and the live workflow)
    keep its tasks and their states — a migration checks them — but no data; running subprocesses keep theirs,
    and the case data are those of the plain run."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    seen_running = seen_stripped = 0
    original = driver.answer

    def answer(task: HumanTask) -> None:
        nonlocal seen_running, seen_stripped
        workflow = driver.case.workflow
        finished = {key for key, sub in workflow.subprocesses.items()
                    if sub.completed and workflow.get_task_from_id(key).state & FINISHED}
        steps = {key: [(t.task_spec.name, t.state) for t in sub.tasks.values()]
                 for key, sub in workflow.subprocesses.items()}
        payload = _packed_payload(pack_state(workflow))
        stored = {payload["ids"][32 * index:32 * index + 32]: sub for index, sub in payload["workflow"]["subprocesses"]}
        assert set(stored) == {key.hex for key in workflow.subprocesses}
        for key, sub in workflow.subprocesses.items():
            assert [(t.task_spec.name, t.state) for t in sub.tasks.values()] == steps[key]  # the steps stay
            assert [(row[5], row[4]) for row in stored[key.hex]["tasks"]] == steps[key]
            data_left = bool(sub.data) or any(t.data for t in sub.tasks.values())
            assert data_left == (key not in finished), key
        seen_running += any(not sub.completed for sub in workflow.subprocesses.values())
        seen_stripped += bool(finished)
        original(task)

    driver.answer = answer  # type: ignore[method-assign]
    result = driver.run()
    plain = TrialDriver(bundle, TrialOptions(category="hv_important")).run()
    assert result.completed and seen_running and seen_stripped
    assert result.visited == plain.visited and result.summary == plain.summary


def test_the_released_dictionary_is_unchanged() -> None:
    """A stored state names its dictionary; a released one must never change (retrain under the next number)."""
    record = json.loads(state_dictionary.dictionary_path(1).read_text(encoding="utf-8"))
    content = base64.b64decode(record["zlib_dictionary_base64"])
    assert hashlib.sha256(content).hexdigest() == record["sha256"] == DICTIONARY_1_SHA256
    assert state_dictionary.dictionary(1) == content and len(content) <= state_dictionary.MAX_BYTES


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
