"""A stored case survives a process restart between any two steps: driven through the database with a new
``Runtime`` (fresh parse, empty cache) and a new session for every step, an HV case ends exactly as the same case
driven in memory by ``runner.trial.TrialDriver`` — same answers, users and clock steps."""

from __future__ import annotations

import uuid
import zlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from runner import services
from runner.clock import parse_iso
from runner.models import Case as CaseRow
from runner.models import Job, OpenTask
from runner.process_folder import ProcessBundle
from runner.serialization import dump_workflow
from runner.state import LEGACY_FORMAT, STATE_FORMAT, pack_legacy_state, state_format
from runner.store import Runtime, load_case
from runner.trial import TrialDriver, TrialOptions
from tests.db import (
    CaseDriver,
    Db,
    DriveResult,
    advance_to,
    case_row,
    complete,
    drive_case_to_end,
    events,
    fire_due_timers,
    form_defaults,
    open_tasks,
    sample,
    shared_bundle,
    start,
    visited,
)

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


# -- live workflows kept between requests (runner.workflow_cache) ------------------------------------------------


def _ready(db: Db, runtime: Runtime, number: str) -> list[str]:
    """The element ids of the case's ready tasks as ``runtime`` loads the case (the load is rolled back)."""
    with db.reading() as session:
        return [task.element_id for task in load_case(session, runtime, number).case.ready_tasks()]


def _sibling_runtime(db: Db) -> Runtime:
    """Another process on the same database: its own caches, the parsed version borrowed to save the parse."""
    other = db.new_runtime()
    other.bundles.update(db.runtime.bundles)
    return other


def test_a_kept_workflow_is_used_only_while_the_row_is_unchanged(db: Db) -> None:
    """Two runtimes (two processes) take turns on one case: each reuses its live workflow while nobody else
    changed the case, and restores from the row as soon as the other one did — never a stale workflow."""
    first, second = db.runtime, _sibling_runtime(db)
    number = start(db, "hv_ordinary", runtime=first)
    assert len(first.workflows) == 1

    def complete_next(runtime: Runtime) -> str:
        task = open_tasks(db, number)[0]
        with db.transaction() as session:
            services.complete_task(session, runtime, task.id, form_defaults(db, task), f"{task.lane}.1",
                                   uuid.uuid4().hex)
        return task.element_id

    done = [complete_next(first)]  # the row is as `first` saved it: kept workflow, no restore
    assert (first.workflows.counts.hits, first.workflows.counts.stale) == (1, 0)
    done.append(complete_next(second))  # another process moves the case on; `first` keeps an older revision
    assert (second.workflows.counts.hits, second.workflows.counts.misses) == (0, 1)
    done.append(complete_next(first))
    assert (first.workflows.counts.hits, first.workflows.counts.stale) == (1, 1)  # restored, not reused
    assert done[1] != done[2] and done[2] not in _ready(db, _sibling_runtime(db), number)
    done.append(complete_next(first))
    assert first.workflows.counts.hits == 2
    expected = TrialDriver(shared_bundle(), TrialOptions(category="hv_ordinary")).run().visited
    assert [element for element in visited(db, number) if element in done] == done
    assert visited(db, number) == expected[:len(visited(db, number))]


def test_a_rolled_back_change_leaves_no_live_workflow_behind(db: Db) -> None:
    """A change saved but then rolled back (and a load that never saves) must not leave its in-memory workflow to
    the next request: the next load restores the committed state."""
    runtime = db.runtime
    number = start(db, "lv_residential", runtime=runtime)
    before = _ready(db, _sibling_runtime(db), number)
    task = open_tasks(db, number)[0]
    answer, sibling = form_defaults(db, task), _sibling_runtime(db)
    with pytest.raises(RuntimeError, match="after the save"), db.transaction() as session:
        services.complete_task(session, runtime, task.id, answer, "staff.1", uuid.uuid4().hex)
        assert task.element_id not in [t.element_id for t in load_case(session, sibling, number).case.ready_tasks()]
        raise RuntimeError("something failed after the save")
    assert len(runtime.workflows) == 0
    with db.reading() as session:  # changed in memory, never saved
        loaded = load_case(session, runtime, number)
        loaded.case.complete_task(task.id, answer, "staff.1")
    assert len(runtime.workflows) == 0
    assert _ready(db, runtime, number) == before and task.element_id in before
    complete(db, number, task.element_id)
    assert task.element_id in visited(db, number)


def test_a_case_driven_on_kept_workflows_ends_as_the_trial(db: Db, bundle: ProcessBundle) -> None:
    """The whole HV case with the live workflow reused between steps (no restore, one runtime) ends exactly as
    the in-memory trial, like the restart-every-step drive above."""

    class KeepingDriver(CaseDriver):
        """Reads what to do next through another runtime, so that only the changes go through the kept one."""

        reader = _sibling_runtime(db)

        def _next(self, runtime: Runtime) -> Any:
            return super()._next(self.reader)

    trial = TrialDriver(bundle, TrialOptions(category="hv_important"))
    expected = trial.run()
    number = start_sample(db, "hv_important", False)
    runtime = db.runtime
    stored = KeepingDriver(db, number, runtime=runtime).run()
    assert stored.completed and stored.visited == expected.visited
    data, memory = stored.data, trial.case.data
    for key in COMPARED_KEYS:
        assert data.get(key) == memory.get(key), key
    assert data["timeline"] == memory["timeline"]
    assert runtime.workflows.counts.hits >= 15, runtime.workflows.counts


def test_saves_on_kept_workflows_write_only_the_difference_and_keep_the_side_tables_exact(db: Db) -> None:
    """A save of a kept workflow writes only the open-task rows and timer jobs that changed since its own last save
    (``LoadedCase.written``). After every step of an HV case with late steps (timers fire, 督办 opens and closes),
    the open-task rows are exactly the ready tasks and the pending timer jobs exactly the waiting timers of the
    case as a fresh process restores it."""

    class CheckingDriver(CaseDriver):
        reader = _sibling_runtime(db)
        checked = 0

        def _next(self, runtime: Runtime) -> Any:
            return super()._next(self.reader)

        def step(self) -> bool:
            moved = super().step()
            case_id = case_row(db, self.case_number).id
            with db.reading() as session:
                case = load_case(session, _sibling_runtime(db), self.case_number).case
                ready = {task.id for task in case.ready_tasks()}
                timers = {timer.task_id for timer in case.pending_timers()}
                rows = set(session.scalars(select(OpenTask.id).where(OpenTask.case_number == self.case_number)))
                jobs = set(session.scalars(select(Job.task_id).where(
                    Job.case_id == case_id, Job.kind == "timer", Job.status == "pending")))
            assert rows == ready and jobs == timers, (visited(db, self.case_number)[-3:], rows ^ ready, jobs ^ timers)
            self.checked += 1
            return moved

    number = start_sample(db, "hv_ordinary", False)
    runtime = db.runtime
    driver = CheckingDriver(db, number, runtime=runtime, hours_per_task=40.0)
    stored = driver.run()
    assert stored.completed and driver.checked >= 14  # (no 回访 督办 since the follow-up counts from archiving)
    assert runtime.workflows.counts.hits >= 15, runtime.workflows.counts
    assert any(event.lifecycle == "fired" for event in events(db, number))  # the timer path ran too


def test_a_case_stored_in_format_1_loads_and_goes_on_in_format_2(db: Db) -> None:
    """A row written before format 2 (plain zlib JSON) is read, the case goes on, and its next save writes
    format 2."""
    number = start(db, "lv_residential")
    with db.transaction() as session:
        loaded = load_case(session, _sibling_runtime(db), number)
        old = pack_legacy_state(loaded.case.workflow)
        session.execute(update(CaseRow).where(CaseRow.id == loaded.row.id).values(state=old))
    assert state_format(case_row(db, number).state) == LEGACY_FORMAT
    first = open_tasks(db, number)[0].element_id
    complete(db, number, first)
    assert state_format(case_row(db, number).state) == STATE_FORMAT
    assert db.runtime.workflows.counts.stale == 1  # the row no longer held what this process had saved
    assert first in visited(db, number) and open_tasks(db, number)


def test_each_late_design_review_opens_its_own_supervision_across_restarts(db: Db) -> None:
    """Through the runner, with the worker's timer firing and a process restart between the breaches: a design
    reviewed late twice within one entry into ``customer_works`` leaves two 督办 in the supervisor's queue (the
    stage's non-interrupting escalation event is armed again after the first, ``RearmingBoundaryEvent``)."""
    number = start(db, "hv_important")
    advance_to(db, number, "review_design")

    def breach() -> None:
        review = next(task for task in open_tasks(db, number) if task.element_id == "review_design")
        assert review.due_at is not None
        db.clock.advance_to(review.due_at + timedelta(seconds=1))
        assert fire_due_timers(db, number, db.new_runtime()) >= 1  # a fresh process: the state is restored

    breach()
    first = [task.id for task in open_tasks(db, number) if task.element_id == "supervise_breach"]
    assert len(first) == 1
    complete(db, number, "review_design", {"result": "fail", "defects": "接线图缺失"}, user="inspector.1")
    complete(db, number, "submit_design", user="customer")
    breach()
    supervision = [task for task in open_tasks(db, number) if task.element_id == "supervise_breach"]
    assert len(supervision) == 2 and first[0] in {task.id for task in supervision}
    assert all(task.lane == "supervisor" for task in supervision)
    assert [event.lifecycle for event in events(db, number) if event.element_id == "catch_sla_design_review"] \
        .count("completed") == 2
