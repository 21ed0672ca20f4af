"""R replications of one scenario, or of a base and a variant with common random numbers, optionally in parallel.

Replication ``r`` of both scenarios runs with the same seed and replication number, so both draw the same arrivals,
case data and durations wherever their processes agree (common random numbers): their paired difference then shows
the effect of the change, not noise. With ``jobs > 1`` the replications run in a ``ProcessPoolExecutor``; each
worker process loads each scenario's process folder once (the pool's initializer) and sends back only the KPIs of
its replication — and the log itself for replication 0, which the event-log files are written from. So memory stays
small however many replications run: a :class:`BatchResult` holds per-replication KPIs (``compute_kpis``) and two
logs at most. A variant overlay (``process: ../variants/<name>``) is materialized over its base
(:mod:`runner.simulation.variants`) before anything is loaded.

UI-free: the command line and the web page's background runner both call :func:`run_batch`; progress goes to a
callback as the fraction done (which may raise to abort, e.g. ``runs.RunAborted``). It moves within each
replication (the engine reports every few hundred events, as cases close), also with ``jobs > 1``: each worker
puts its replication's fraction on a ``multiprocessing`` queue that the batch reads while it waits for results,
and reports the mean over all replications. Progress is only reported; it changes no result.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from ..process_folder import ProcessBundle, content_hash, load_process_folder
from .engine import simulate
from .kpis import compute_kpis, flat_kpis
from .model import SimulationLog
from .scenario import Scenario
from .variants import process_names, resolve_process_folder
from .whatif import Comparison, compare_flat

Progress = Callable[[float], None]
BASE, VARIANT = "base", "variant"
PROGRESS_POLL_SECONDS = 0.2
"""How often the batch reads the workers' progress while it waits for their results."""
PARENT_CHECK_SECONDS = 1.0
"""How often a worker process (and the web page's run process) looks whether the process that started it is
still there."""


@dataclass
class BatchResult:
    """What a batch produced: per-replication KPIs of each side, replication 0's logs, and the comparison."""

    seed: int
    replications: int
    cases: int | None
    base_name: str
    base_kpis: list[dict[str, Any]] = field(default_factory=list)
    base_log: SimulationLog | None = None
    variant_name: str | None = None
    variant_kpis: list[dict[str, Any]] = field(default_factory=list)
    variant_log: SimulationLog | None = None
    comparison: Comparison | None = None
    names: dict[str, str] = field(default_factory=dict)  # role / element id → name, from the processes' BPMN

    def flat(self, side: str = BASE) -> list[dict[str, float]]:
        """The flat KPIs of each replication of ``side``."""
        return [flat_kpis(k) for k in (self.base_kpis if side == BASE else self.variant_kpis)]


def mean_flat(flats: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each flat KPI over the replications that have it."""
    keys = sorted(set().union(*flats)) if flats else []
    return {key: sum(f[key] for f in flats if key in f) / sum(key in f for f in flats) for key in keys}


def prepare(scenario: Scenario) -> Scenario:
    """The scenario with an overlay ``process`` replaced by its materialized folder."""
    folder = resolve_process_folder(scenario.process_dir)
    return scenario if folder == scenario.process_dir else replace(scenario, process=str(folder))


# -- one replication (in this process or a worker) ------------------------------------------------------------------

_bundles: dict[tuple[str, str], ProcessBundle] = {}
"""Parsed process folders by (folder, content hash): each process (a pool worker, or this one) parses a folder once
and sees an edited folder afresh."""


def _bundle(scenario: Scenario) -> ProcessBundle | None:
    """The scenario's bundle, parsed on first use; None when the scenario overrides branch probabilities (the engine
    then parses the folder itself, with its gateway overrides)."""
    if scenario.branch_probabilities:
        return None
    folder = scenario.process_dir
    key = (str(folder), content_hash(folder))
    if key not in _bundles:
        _bundles[key] = load_process_folder(folder)
    return _bundles[key]


_progress_queue: Any = None
"""In a worker process: the queue its replications' progress goes to, ``(side, replication, fraction)``."""


def watch_parent(parent: int) -> None:
    """End this process within ``PARENT_CHECK_SECONDS`` of process ``parent`` going away (this one is then handed to
    init, maybe even before this is called: ``parent`` is the pid its starter gave, not ``os.getppid()``): nobody
    will read its result. A daemon thread; a killed batch or run leaves no worker simulating on.

    Started by ``parent`` itself (fork or spawn, Python 3.11's ways), this process's parent pid changes when that
    one dies, zombie or not. Started through another process (a fork server: ``parent`` is alive and not this
    one's parent), ``parent`` is looked for instead (``os.kill(pid, 0)``)."""

    def parent_is_there() -> bool:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # there, under another user
            return True
        return True

    direct = os.getppid() == parent or not parent_is_there()

    def exit_with_parent() -> None:
        while os.getppid() == parent if direct else parent_is_there():
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="exit-with-parent", daemon=True).start()


def _init_worker(scenarios: dict[str, Scenario], progress_queue: Any = None, parent: int | None = None) -> None:
    """A pool worker's set-up: end with the batch's process ``parent`` (``watch_parent``: a pool's workers outlive
    a process killed with its replications running), parse each scenario's process folder once, keep the progress
    queue."""
    global _progress_queue
    if parent is not None:
        watch_parent(parent)
    _progress_queue = progress_queue
    for scenario in scenarios.values():
        _bundle(scenario)


def _run_in_worker(scenario: Scenario, side: str, seed: int, cases: int | None,
                   replication: int) -> tuple[str, int, dict[str, Any], SimulationLog | None]:
    """``run_replication`` in a pool worker, its progress put on the batch's queue."""
    report = None
    if _progress_queue is not None:
        target = _progress_queue

        def report(fraction: float) -> None:
            target.put((side, replication, fraction))
    return run_replication(scenario, side, seed, cases, replication, report)


def run_replication(scenario: Scenario, side: str, seed: int, cases: int | None, replication: int,
                    progress: Progress | None = None) -> tuple[str, int, dict[str, Any], SimulationLog | None]:
    """Simulate one replication; (side, replication, its KPIs, its log for replication 0 else None)."""
    log = simulate(scenario, _bundle(scenario), seed=seed, cases=cases, replication=replication,
                   progress=progress)
    return side, replication, compute_kpis(log), log if replication == 0 else None


# -- the batch --------------------------------------------------------------------------------------------------------

def run_batch(base: Scenario, variant: Scenario | None = None, replications: int = 1, seed: int | None = None,
              cases: int | None = None, jobs: int = 1, progress: Progress | None = None) -> BatchResult:
    """Run ``replications`` of ``base`` (and of ``variant``), paired by seed, on ``jobs`` processes.

    Args:
        base: Today's scenario.
        variant: The what-if scenario, or None to run the base alone.
        replications: R ≥ 1; a comparison needs R ≥ 2 for its confidence intervals.
        seed: The seed of both sides (default: the base scenario's), replication r uses streams of (seed, r).
        cases: Override the scenarios' case counts.
        jobs: Worker processes (1: run here, with progress inside each replication).
        progress: Called with the fraction done, 0…1.

    Raises:
        ValueError: If ``replications`` or ``jobs`` is below 1.
    """
    if replications < 1 or jobs < 1:
        raise ValueError(f"replications and jobs must be at least 1, got {replications} and {jobs}")
    scenarios = {BASE: prepare(base)}
    if variant is not None:
        scenarios[VARIANT] = prepare(variant)
    run_seed = base.seed if seed is None else seed
    tasks = [(side, r) for r in range(replications) for side in scenarios]
    names: dict[str, str] = {}
    for scenario in reversed(scenarios.values()):  # the base's names win
        names.update(process_names(scenario.process_dir))
    result = BatchResult(seed=run_seed, replications=replications, cases=cases, base_name=base.name,
                         variant_name=variant.name if variant is not None else None, names=names)
    outcomes: dict[tuple[str, int], tuple[dict[str, Any], SimulationLog | None]] = {}
    report = progress or (lambda _fraction: None)
    report(0.0)
    if jobs == 1 or len(tasks) == 1:  # one replication runs here: no worker to start, progress within it
        for done, (side, r) in enumerate(tasks):
            def step(fraction: float, done: int = done) -> None:
                report((done + min(max(fraction, 0.0), 1.0)) / len(tasks))
            _side, _r, kpis, log = run_replication(scenarios[side], side, run_seed, cases, r, step)
            outcomes[(side, r)] = (kpis, log)
            report((done + 1) / len(tasks))
    else:
        _run_in_pool(scenarios, tasks, run_seed, cases, jobs, outcomes, report)
    for side in scenarios:
        kpis_list = [outcomes[(side, r)][0] for r in range(replications)]
        first_log = outcomes[(side, 0)][1]
        if side == BASE:
            result.base_kpis, result.base_log = kpis_list, first_log
        else:
            result.variant_kpis, result.variant_log = kpis_list, first_log
    if variant is not None:
        result.comparison = compare_flat(result.flat(BASE), result.flat(VARIANT), names)
    return result


def _run_in_pool(scenarios: dict[str, Scenario], tasks: list[tuple[str, int]], run_seed: int, cases: int | None,
                 jobs: int, outcomes: dict[tuple[str, int], tuple[dict[str, Any], SimulationLog | None]],
                 report: Progress) -> None:
    """Run ``tasks`` on ``jobs`` worker processes into ``outcomes``, reporting the mean fraction done of all
    replications (read from the workers' progress queue) as it grows."""
    progress_queue = multiprocessing.get_context().Queue()
    fractions = dict.fromkeys(tasks, 0.0)
    shown = 0.0

    def show() -> None:
        nonlocal shown
        while True:
            try:
                side, r, fraction = progress_queue.get_nowait()
            except queue.Empty:
                break
            if (side, r) not in outcomes:
                fractions[(side, r)] = max(fractions[(side, r)], min(max(fraction, 0.0), 1.0))
        total = sum(fractions.values()) / len(tasks)
        if total > shown:
            shown = total
            report(total)

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), initializer=_init_worker,
                               initargs=(scenarios, progress_queue, os.getpid()))
    try:
        pending: set[Future[tuple[str, int, dict[str, Any], SimulationLog | None]]] = {
            pool.submit(_run_in_worker, scenarios[side], side, run_seed, cases, r) for side, r in tasks
        }
        while pending:
            finished, pending = wait(pending, timeout=PROGRESS_POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                side, r, kpis, log = future.result()
                outcomes[(side, r)] = (kpis, log)
                fractions[(side, r)] = 1.0
            show()
    except BaseException:
        # aborted (or a replication failed): drop what has not started, do not wait for what runs
        pool.shutdown(wait=False, cancel_futures=True)
        progress_queue.cancel_join_thread()
        raise
    pool.shutdown()
    progress_queue.close()
