"""``runner.state``: a case's stored state (no spec) restores to the same workflow, onto the version's shared,
cached spec objects — at every user task of a case, and for many cases in a row."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from runner.case import HumanTask
from runner.process_folder import ProcessBundle
from runner.serialization import SERIALIZER
from runner.state import STATE_FORMAT, pack_state, unpack_state
from runner.store import load_case
from runner.trial import TrialDriver, TrialOptions, TrialResult
from tests.db import CaseDriver, Db, case_row, start, visited

CASES = [("lv_residential", False), ("lv_other", False), ("hv_ordinary", True), ("hv_important", False)]


class PackingDriver(TrialDriver):
    """Packs and unpacks the workflow before every user task, checks nothing changed, and runs on the copy."""

    round_trips = 0

    def answer(self, task: HumanTask) -> None:
        workflow = self.case.workflow
        before = SERIALIZER.to_dict(workflow)
        blob = pack_state(workflow)
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


def test_the_packed_state_leaves_the_spec_out(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="hv_ordinary"))
    driver.case.start(driver.start_data)
    state = json.loads(zlib.decompress(pack_state(driver.case.workflow)))
    assert state["format"] == STATE_FORMAT
    assert "spec" not in state["workflow"] and "subprocess_specs" not in state["workflow"]
    assert state["workflow"]["tasks"]


def test_unpacking_needs_a_spec_and_a_known_format(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="lv_residential"))
    driver.case.start(driver.start_data)
    blob = pack_state(driver.case.workflow)
    with pytest.raises(ValueError, match="spec"):
        unpack_state(blob, None, {}, driver.case.engine)
    state = json.loads(zlib.decompress(blob))
    state["format"] = STATE_FORMAT + 1
    with pytest.raises(ValueError, match="format"):
        unpack_state(zlib.compress(json.dumps(state).encode()), bundle.spec, bundle.subprocess_specs,
                     driver.case.engine)


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
