"""A stored case survives a process restart between any two steps: driven through the database with a new
``Runtime`` (fresh parse, empty cache) and a new session for every step, an HV case ends exactly as the same case
driven in memory by ``runner.trial.TrialDriver`` — same answers, users and clock steps."""

from __future__ import annotations

import zlib

import pytest

from runner import services
from runner.clock import parse_iso
from runner.process_folder import ProcessBundle
from runner.serialization import dump_workflow
from runner.store import load_case
from runner.trial import TrialDriver, TrialOptions
from tests.db import Db, DriveResult, advance_to, case_row, drive_case_to_end, sample

HV_CASES = [pytest.param("hv_important", False, id="hv_important"),
            pytest.param("hv_ordinary", True, id="hv_ordinary-dual")]
COMPARED_KEYS = ("category", "supply_voltage_kv", "route", "limits", "fees", "required_materials", "risk")


def start_sample(db: Db, category: str, dual_supply: bool) -> str:
    """The category's sample case exactly as the trial starts it (its case number, its application time)."""
    data = sample(category, dual_supply)
    db.clock.advance_to(parse_iso(data["applied_at"]))
    with db.transaction() as session:
        return services.start_case(session, db.new_runtime(), data, "portal", case_number=data["case_number"])


@pytest.mark.parametrize(("category", "dual"), HV_CASES)
def test_restart_between_every_step_gives_the_same_case(db: Db, bundle: ProcessBundle, category: str,
                                                        dual: bool) -> None:
    trial = TrialDriver(bundle, TrialOptions(category=category, dual_supply=dual))
    expected = trial.run()
    assert expected.completed

    number = start_sample(db, category, dual)
    stored = drive_case_to_end(db, number, restart_every_step=True)

    assert stored.completed and case_row(db, number).status == "completed"
    assert stored.visited == expected.visited
    data, memory = stored.data, trial.case.data
    for key in COMPARED_KEYS:
        assert data.get(key) == memory.get(key), key
    assert set(data["kpis"]) == set(memory["kpis"])
    assert set(data["timeline"]) == set(memory["timeline"])
    assert data["timeline"] == memory["timeline"]  # same clock steps, same moments
    assert db.clock.now() == trial.clock.now()
    assert case_row(db, number).completed_at is not None
    _report_sizes(category, stored)


def _report_sizes(category: str, stored: DriveResult) -> None:
    sizes = stored.state_sizes
    print(f"\n{category}: stored state per active case {min(sizes)}..{max(sizes)} bytes "
          f"(mean {sum(sizes) // len(sizes)}) over {len(sizes)} steps")


@pytest.mark.parametrize(("category", "dual"), HV_CASES)
def test_the_stored_state_is_smaller_than_the_workflow_with_its_spec(db: Db, category: str, dual: bool) -> None:
    number = start_sample(db, category, dual)
    advance_to(db, number, "completion_check")  # halfway: the plan is signed, the customer's works are done
    with db.reading() as session:
        loaded = load_case(session, db.runtime, number)
        stored = len(loaded.row.state)
        full = dump_workflow(loaded.case.workflow).encode()
    compressed = len(zlib.compress(full, 6))
    print(f"\n{category} at completion_check: stored state {stored} bytes; the whole workflow with its spec "
          f"{len(full)} bytes, {compressed} compressed")
    assert stored < compressed < len(full)
