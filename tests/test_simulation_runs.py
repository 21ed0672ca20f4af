"""Stored simulation runs (runner.simulation.runs) and the worker's share (runner.simulation.run_worker), on real
databases (SQLite and PostgreSQL). ``execute`` is a small fake here, the seam between the storage and the
simulation; tests/test_webui_simulation.py runs the real engine through the same seam."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.clock import VirtualClock
from runner.database import make_engine, session_factory
from runner.models import SimulationRun
from runner.simulation import runs
from runner.simulation.run_execute import make_execute
from runner.simulation.run_request import scenario_templates
from runner.simulation.run_worker import SimulationPoller
from runner.worker import Worker
from tests.db import START, Db

LEASE = timedelta(seconds=60)


def queue(db: Db, name: str = "试算", **params: Any) -> int:
    with db.transaction() as session:
        return runs.create_run(session, name=name, created_by="process_owner", params=params or {"cases": 5},
                               now=db.clock.now())


def row(db: Db, run_id: int) -> SimulationRun:
    with db.reading() as session:
        return runs.get_run(session, run_id)


def fake_execute(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
    """Reports half-way, writes a file into its folder and echoes what it was given."""
    progress(0.5)
    Path(params["output_dir"], "out.txt").write_text("ok", encoding="utf-8")
    return {"echo": {key: value for key, value in params.items() if key != "output_dir"}}


def claim(db: Db, owner: str) -> int | None:
    return runs.claim(db.sessions, owner=owner, now=db.clock.now(), lease=LEASE)


def test_create_list_get(db: Db) -> None:
    first = queue(db, "基线")
    db.clock.advance(timedelta(minutes=1))
    second = queue(db, "少一名勘查员", cases=20)
    with db.reading() as session:
        listed = runs.list_runs(session)
        assert [run.id for run in listed] == [second, first]  # newest first
        assert [run.name for run in runs.list_runs(session, created_by="someone else")] == []
        stored = runs.get_run(session, second)
        assert (stored.status, stored.progress, stored.params, stored.created_by) == (
            "queued", 0.0, {"cases": 20}, "process_owner")
        with pytest.raises(runs.RunNotFound):
            runs.get_run(session, 9999)
    with db.transaction() as session, pytest.raises(ValueError, match="name"):
        runs.create_run(session, name="  ", created_by="x", params={}, now=db.clock.now())


def test_two_claimers_one_wins(db: Db) -> None:
    run_id = queue(db)
    barrier = threading.Barrier(2)
    won: dict[str, int | None] = {}

    def claimer(owner: str) -> None:
        barrier.wait()
        won[owner] = claim(db, owner)

    threads = [threading.Thread(target=claimer, args=(owner,)) for owner in ("worker-a", "worker-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won.values(), key=str) == [run_id, None]
    winner = next(owner for owner, got in won.items() if got == run_id)
    stored = row(db, run_id)
    assert (stored.status, stored.lease_owner, stored.started_at) == ("running", winner, db.clock.now())
    assert claim(db, "worker-c") is None  # running under a live lease


def test_expired_lease_is_taken_over(db: Db) -> None:
    run_id = queue(db)
    assert claim(db, "dead") == run_id
    assert runs.progress(db.sessions, run_id, owner="dead", now=db.clock.now(), lease=LEASE, done=0.4)
    db.clock.advance(LEASE - timedelta(seconds=1))
    assert claim(db, "alive") is None
    db.clock.advance(timedelta(seconds=2))
    assert claim(db, "alive") == run_id
    stored = row(db, run_id)
    assert (stored.lease_owner, stored.progress) == ("alive", 0.0)  # starts again from the beginning
    # the dead worker, should it wake up, can change nothing any more
    assert not runs.progress(db.sessions, run_id, owner="dead", now=db.clock.now(), lease=LEASE, done=0.9)
    assert not runs.finish(db.sessions, run_id, owner="dead", now=db.clock.now(), result={"x": 1})
    assert not runs.fail(db.sessions, run_id, owner="dead", now=db.clock.now(), error="boom")
    assert runs.finish(db.sessions, run_id, owner="alive", now=db.clock.now(), result={"x": 2})
    stored = row(db, run_id)
    assert (stored.status, stored.result, stored.progress, stored.lease_owner) == ("done", {"x": 2}, 1.0, None)
    assert claim(db, "third") is None  # done runs are never claimed again


def test_oldest_first_and_progress_is_clamped(db: Db) -> None:
    first = queue(db, "一")
    db.clock.advance(timedelta(seconds=1))
    second = queue(db, "二")
    assert claim(db, "w") == first
    assert claim(db, "w") == second
    assert runs.progress(db.sessions, first, owner="w", now=db.clock.now(), lease=LEASE, done=7.0)
    assert row(db, first).progress == 1.0
    assert runs.release(db.sessions, first, owner="w")
    assert (row(db, first).status, row(db, first).lease_owner) == ("queued", None)


def test_run_next_stores_the_result(db: Db, tmp_path: Path) -> None:
    run_id = queue(db, cases=7)
    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=fake_execute)
    assert outcome == runs.StepOutcome(run_id, "done")
    stored = row(db, run_id)
    assert (stored.status, stored.progress, stored.result) == ("done", 1.0, {"echo": {"cases": 7}})
    assert stored.output_dir == str(tmp_path / str(run_id))
    assert (tmp_path / str(run_id) / "out.txt").read_text(encoding="utf-8") == "ok"
    assert stored.finished_at == db.clock.now()
    assert runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                         execute=fake_execute) is None


def test_an_error_fails_the_run(db: Db, tmp_path: Path) -> None:
    run_id = queue(db)

    def broken(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        raise ValueError("scenario: staff.surveyor: must be at least 1")

    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=broken)
    assert outcome is not None and outcome.outcome == "failed"
    stored = row(db, run_id)
    assert (stored.status, stored.error, stored.result, stored.lease_owner) == (
        "failed", "scenario: staff.surveyor: must be at least 1", None, None)


def test_a_run_whose_folder_cannot_be_made_fails_saying_why_instead_of_running_forever(db: Db,
                                                                                        tmp_path: Path) -> None:
    """A file where the run's folder goes (or no space, no permission): it failed outside ``execute``, so the run
    stayed "running 0 %" and was claimed again after every lease."""
    run_id = queue(db)
    (tmp_path / str(run_id)).write_text("in the way", encoding="utf-8")
    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=fake_execute)
    assert outcome is not None and outcome.outcome == "failed", outcome
    stored = row(db, run_id)
    assert stored.status == "failed" and stored.lease_owner is None
    assert stored.error.startswith(f"cannot create the run's folder {tmp_path / str(run_id)}: "), stored.error
    assert claim(db, "another") is None  # never claimed again


def test_a_stopping_worker_gives_the_run_back(db: Db, tmp_path: Path) -> None:
    run_id = queue(db)
    stop = threading.Event()

    def stopped_midway(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        progress(0.1)
        stop.set()  # SIGTERM arrives
        progress(0.2)
        raise AssertionError("progress should have interrupted the run")

    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=stopped_midway, stop=stop)
    assert outcome is not None and outcome.outcome == "released"
    stored = row(db, run_id)
    assert (stored.status, stored.lease_owner, stored.progress) == ("queued", None, 0.0)


def test_a_run_whose_lease_was_taken_over_keeps_the_new_result(db: Db, tmp_path: Path) -> None:
    run_id = queue(db)

    def overtaken(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        db.clock.advance(LEASE * 2)  # this worker hung past its lease; another one took the run over
        assert claim(db, "other") == run_id
        progress(0.5)  # the write finds the lease gone, the run is interrupted
        return {"stale": True}

    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=overtaken)
    assert outcome is not None and outcome.outcome == "lost"
    assert outcome.detail == "the lease was lost: the run is running under other"
    stored = row(db, run_id)
    assert (stored.status, stored.lease_owner, stored.result) == ("running", "other", None)


def test_the_lease_is_renewed_while_the_run_says_nothing(db: Db, tmp_path: Path) -> None:
    run_id = queue(db)
    short = timedelta(seconds=0.3)
    seen: list[Any] = []

    def silent(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        first = row(db, run_id).lease_until
        db.clock.advance(timedelta(seconds=10))  # virtual time moves on; the heartbeat renews on it
        renewed = threading.Event()
        for _ in range(100):
            if row(db, run_id).lease_until != first:
                renewed.set()
                break
            threading.Event().wait(0.05)
        seen.append(renewed.is_set())
        return {}

    runs.run_next(db.sessions, owner="w", clock=db.clock, lease=short, output_root=tmp_path, execute=silent)
    assert seen == [True]


def test_poller_runs_the_queue_in_a_thread(db: Db, tmp_path: Path) -> None:
    first, second = queue(db, "一"), queue(db, "二")
    poller = SimulationPoller(db.sessions, db.clock, "worker-1", LEASE, output_root=tmp_path, execute=fake_execute)
    stop = threading.Event()
    poller.poll(stop)
    assert poller.thread is not None
    poller.thread.join(timeout=60)
    assert [row(db, run_id).status for run_id in (first, second)] == ["done", "done"]
    stop.set()
    poller.poll(stop)  # a stopping worker starts nothing
    assert not poller.thread.is_alive()


# -- with the real engine (through the same seam) ----------------------------------------------------------------


def small_request(cases: int = 2) -> dict[str, Any]:
    scenario = {**scenario_templates()["today"], "cases": cases}
    return {"base": {"process": "folder", "scenario": scenario}, "variant": None, "replications": 1,
            "seed": 7, "cases": cases}


def run_by_worker(db: Db, run_id: int, *, worker_id: str = "worker-sim", simulation_jobs: int = 1
                  ) -> SimulationRun:
    """``baozhuang worker``'s loop (``Worker.run_forever``, ``--simulation-jobs``) until the run has ended."""
    worker = Worker(db.sessions, db.runtime, worker_id=worker_id, poll_seconds=0.2, simulation_jobs=simulation_jobs)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        for _ in range(900):
            if row(db, run_id).status in ("done", "failed"):
                break
            stop.wait(0.2)
    finally:
        stop.set()
        thread.join(timeout=120)
    return row(db, run_id)


def test_worker_runs_a_queued_simulation(db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``baozhuang worker``'s loop (Worker.run_forever) takes the queued run and the real engine runs it — with the
    instance folder given relative to the working directory, as `make run` gives it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAOZHUANG_INSTANCE", "instance")
    run_id = queue(db, "工人", **small_request())
    stored = run_by_worker(db, run_id)
    assert (stored.status, stored.error) == ("done", None)
    assert stored.result is not None and stored.result["sides"]["base"]["kpis"]["cycle_time"]["all"]["arrived"] == 2
    assert stored.output_dir == str(tmp_path / "instance" / "simulations" / str(run_id))
    assert (Path(stored.output_dir) / "base_process" / "baozhuang.bpmn").is_file()


def test_a_scenario_the_engine_refuses_fails_the_run(db: Db, tmp_path: Path) -> None:
    run_id = queue(db, **{**small_request(), "base": {"process": "folder", "scenario": {"name": "x"}}})
    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=make_execute(db.sessions))
    assert outcome is not None and outcome.outcome == "failed"
    stored = row(db, run_id)
    assert stored.status == "failed" and stored.error is not None
    assert stored.error.startswith("simulation run (base): ") and "'start' is a required property" in stored.error


def test_a_queued_run_can_be_cancelled_and_is_never_claimed(db: Db) -> None:
    run_id = queue(db)
    with db.transaction() as session:
        assert runs.cancel(session, run_id, by="process_owner", now=db.clock.now())
    stored = row(db, run_id)
    assert (stored.status, stored.error, stored.finished_at is not None) == ("cancelled", "cancelled by process_owner",
                                                                             True)
    assert claim(db, "w") is None
    with db.transaction() as session:
        assert not runs.cancel(session, run_id, by="process_owner", now=db.clock.now())  # already ended
        with pytest.raises(runs.RunNotFound):
            runs.cancel(session, run_id + 1000, by="process_owner", now=db.clock.now())


def test_a_running_run_stops_at_its_next_progress_report_and_stores_nothing(db: Db, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "PROGRESS_WRITE_SECONDS", 0.0)  # every report is written
    run_id = queue(db)
    reports: list[float] = []

    def cancelled_midway(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        progress(0.1)
        reports.append(0.1)
        with db.transaction() as session:  # the process owner presses 取消仿真
            runs.cancel(session, run_id, by="process_owner", now=db.clock.now())
        progress(0.2)
        reports.append(0.2)
        return {"never": "stored"}

    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=cancelled_midway)
    assert outcome is not None and outcome.outcome == "cancelled"
    assert outcome.detail == "cancelled by process_owner"  # the worker's log says who, not "the lease was lost"
    assert reports == [0.1]  # the second report interrupted the run
    stored = row(db, run_id)
    assert (stored.status, stored.result, stored.lease_owner) == ("cancelled", None, None)


def test_a_run_cancelled_just_before_it_finishes_keeps_no_result(db: Db, tmp_path: Path) -> None:
    run_id = queue(db)

    def finishes_after_the_cancel(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        with db.transaction() as session:
            runs.cancel(session, run_id, by="admin", now=db.clock.now())
        return {"late": True}

    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=finishes_after_the_cancel)
    assert outcome is not None and outcome.outcome == "cancelled"
    assert outcome.detail == "cancelled by admin"
    assert (row(db, run_id).status, row(db, run_id).result) == ("cancelled", None)


def test_the_worker_log_names_who_cancelled(db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run_id = queue(db)

    def cancelled(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        with db.transaction() as session:
            runs.cancel(session, run_id, by="admin", now=db.clock.now())
        return {}

    with caplog.at_level("INFO", logger="baozhuang.worker.simulation"):
        runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path, execute=cancelled)
    assert f"worker=w simulation run={run_id} outcome=cancelled cancelled by admin" in caplog.messages
    assert not any("lease was lost" in message for message in caplog.messages)


def test_parameters_that_are_not_json_are_refused(db: Db) -> None:
    for bad in (float("nan"), float("inf"), -float("inf")):
        with db.transaction() as session, pytest.raises(ValueError, match="params"):
            runs.create_run(session, name="坏参数", created_by="x", params={"base": {"horizon_days": bad}},
                            now=db.clock.now())
    with db.reading() as session:
        assert runs.list_runs(session) == []


def test_a_result_with_non_finite_numbers_is_stored_as_json(db: Db, tmp_path: Path) -> None:
    run_id = queue(db)

    def empty_means(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        return {"mean": float("nan"), "series": [1.5, float("inf")], "nested": {"x": -float("inf"), "n": 2}}

    outcome = runs.run_next(db.sessions, owner="w", clock=db.clock, lease=LEASE, output_root=tmp_path,
                            execute=empty_means)
    assert outcome is not None and outcome.outcome == "done"
    assert row(db, run_id).result == {"mean": None, "series": [1.5, None], "nested": {"x": None, "n": 2}}


def test_poller_logs_a_database_outage_in_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A database that cannot be reached (here a SQLite file in a folder that does not exist) is one ERROR line per
    poll, as the worker's own loop logs it (it logged a traceback of about 100 lines every poll interval)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'baozhuang.sqlite3'}")
    try:
        poller = SimulationPoller(session_factory(engine), VirtualClock(START), "worker-1", LEASE,
                                  output_root=tmp_path, execute=fake_execute)
        with caplog.at_level(logging.ERROR, logger="baozhuang.worker.simulation"):
            poller.drain(threading.Event())
    finally:
        engine.dispose()
    [record] = caplog.records
    assert record.exc_info is None
    assert record.getMessage().startswith("worker=worker-1 simulation runs: database error: (sqlite3.OperationalError)")
