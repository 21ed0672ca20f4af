"""``baozhuang worker --simulation-jobs``: the processes a simulation run from the web page may use (issue 5).

The stored run no longer says how many processes run it; the worker's setting does, and the results do not depend
on it. Real databases (SQLite and PostgreSQL), the real engine in the run's child process and its worker processes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from runner.simulation import run_execute, runs
from runner.simulation.run_request import scenario_templates
from runner.simulation.run_worker import SimulationPoller
from runner.worker import Worker
from tests.db import ROOT, Db, run_cli
from tests.test_simulation_runs import LEASE, queue, row, run_by_worker
from webui import launch


def request(cases: int = 3, replications: int = 2) -> dict[str, Any]:
    scenario = {**scenario_templates()["today"], "cases": cases}
    return {"base": {"process": "folder", "scenario": scenario}, "variant": None, "replications": replications,
            "seed": 11, "cases": cases}


def run_with_worker(db: Db, run_id: int, simulation_jobs: int) -> dict[str, Any]:
    """The run's result, run by ``baozhuang worker --simulation-jobs N``'s loop."""
    stored = run_by_worker(db, run_id, worker_id=f"worker-jobs-{simulation_jobs}", simulation_jobs=simulation_jobs)
    assert (stored.status, stored.error) == ("done", None)
    assert stored.result is not None
    return stored.result


def test_a_run_on_two_processes_gives_the_results_of_one(db: Db, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BAOZHUANG_INSTANCE", "instance")
    one = run_with_worker(db, queue(db, "一个进程", **request()), 1)
    two = run_with_worker(db, queue(db, "两个进程", **request()), 2)
    assert one["sides"]["base"]["cases_arrived"] == [3, 3]
    assert two["sides"]["base"]["flat"] == one["sides"]["base"]["flat"]
    assert two["sides"]["base"]["kpis"] == one["sides"]["base"]["kpis"]
    assert two["sides"]["base"]["cycle_days"] == one["sides"]["base"]["cycle_days"]


def test_the_worker_setting_reaches_the_batch(db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Poller → execute → the child's options: the worker's number, whatever an old stored run says."""
    seen: list[int] = []

    def recorded(_sessions: Any, params: dict[str, Any], progress: runs.Progress, jobs: int = 1) -> dict[str, Any]:
        seen.append(jobs)
        progress(1.0)
        return {"ok": True}

    monkeypatch.setattr(run_execute, "run", recorded)
    for jobs in (3, 1):
        poller = SimulationPoller(db.sessions, db.clock, f"worker-{jobs}", LEASE, output_root=tmp_path, jobs=jobs)
        run_id = queue(db, "旧参数", **{**request(), "jobs": 1})  # runs stored before the setting held "jobs": 1
        stop = threading.Event()
        poller.poll(stop)
        assert poller.thread is not None
        poller.thread.join(timeout=60)
        assert row(db, run_id).status == "done"
    assert seen == [3, 1]


def test_the_option_is_checked_and_documented(db: Db, tmp_path: Path) -> None:
    refused = run_cli(db, tmp_path, "worker", "--simulation-jobs", "0", "--once")
    assert refused.exit_code == 2
    assert "--simulation-jobs" in refused.output and "0 is not in the range x>=1" in refused.output
    shown = run_cli(db, tmp_path, "worker", "--help")
    assert shown.exit_code == 0 and "--simulation-jobs" in shown.output
    with pytest.raises(ValueError, match="simulation_jobs"):
        Worker(db.sessions, db.runtime, worker_id="w", simulation_jobs=0)


def test_make_run_gives_its_worker_the_cores_it_has(monkeypatch: pytest.MonkeyPatch) -> None:
    command = launch.worker_command()
    assert command is not None
    at = command.index("--simulation-jobs")
    assert command[at - 1] == "worker" and command[at + 1] == str(launch.SIMULATION_JOBS)
    assert 1 <= launch.SIMULATION_JOBS <= 2


def _batch_until_killed(scenario_path: str) -> None:
    """The body of a process that runs a long batch on two worker processes (killed by the test)."""
    from runner.simulation.batch import run_batch
    from runner.simulation.scenario import load_scenario

    scenario = load_scenario(Path(scenario_path))
    run_batch(replace(scenario, horizon_days=900.0, max_days=1200.0, cases=20_000), None, replications=2, jobs=2)


def _state_and_parent(pid: int | str) -> tuple[str, int] | None:
    """A process's state letter and parent pid from /proc, None once it is gone."""
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _children_of(pid: int) -> set[int]:
    """Live (not zombie) pool workers (spawned: ``spawn_main``) whose parent is ``pid``, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        found_here = _state_and_parent(entry.name) if entry.name.isdigit() else None
        if found_here is None or found_here[0] == "Z" or found_here[1] != pid:
            continue
        try:
            if b"spawn_main" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
        except OSError:  # it has just ended
            continue
    return found


def _alive(pid: int) -> bool:
    found = _state_and_parent(pid)
    return found is not None and found[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_a_killed_batch_leaves_no_worker_simulating_on() -> None:
    """The web page's run process is ended with ``terminate`` (a lost lease, a stop) and dies with its worker when
    that is killed: the pool's worker processes it started must not simulate on for minutes, unseen."""
    context = multiprocessing.get_context("spawn")
    batch = context.Process(target=_batch_until_killed, args=(str(ROOT / "processes" / "scenarios" / "today.yaml"),))
    batch.start()
    workers: set[int] = set()
    try:
        for _ in range(300):  # the pool's two workers start, parse the process folder and simulate
            workers = _children_of(batch.pid or 0)
            if len(workers) >= 2 or not batch.is_alive():
                break
            time.sleep(0.1)
        assert batch.is_alive() and len(workers) >= 2
        time.sleep(2.0)
        os.kill(batch.pid or 0, signal.SIGKILL)
        batch.join(timeout=10)
        for _ in range(100):
            if not any(_alive(pid) for pid in workers):
                break
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)]
    finally:
        if batch.is_alive():
            batch.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_started_through_another_process_ends_with_the_batch_too() -> None:
    """``watch_parent`` when the batch's process is not this one's parent (a fork server starts the workers): it
    looks for the batch's process instead, and ends when that is gone."""
    batch = subprocess.Popen(["sleep", "60"])
    watcher = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom runner.simulation.batch import "
                                "watch_parent\nwatch_parent(int(sys.argv[1]))\ntime.sleep(60)", str(batch.pid)],
                               cwd=ROOT)
    try:
        time.sleep(3.0)  # imported and watching
        assert watcher.poll() is None
        batch.kill()
        batch.wait()
        assert watcher.wait(timeout=10) == 1
    finally:
        for process in (batch, watcher):
            if process.poll() is None:
                process.kill()
