"""``execute(params, progress) -> result`` for stored runs: the real engine, KPIs and the what-if comparison.

Steps: copy each chosen process into the run's folder (``run_processes.materialize``), then, in a child process of
its own, read the scenarios (``scenario_from_dict``) and run the replications with the batch layer
(``batch.run_batch``: replication r of base and variant share seed + r, common random numbers), and summarise.
The child process gives every run a fresh interpreter (``run_batch`` caches parsed processes per side for the life
of a process, which a long-lived worker must not inherit from one run to the next), returns the memory of large runs
when it ends, and can be stopped at once when the lease is lost or the worker stops. Progress and the result come
back over a queue.

Only what the report needs is kept — never the raw logs: the KPIs of replication 0, the mean flat KPIs, the
comparison with its confidence intervals and verdicts, the chart series, the cycle times of replication 0 (for the
distribution chart) and the mean waiting time per element over all replications (the heatmap). JSON-ready:

    {"replications": R, "seed": S, "cases": N | None,
     "sides": {"base": SIDE, "variant": SIDE | absent},
     "comparison": Comparison.to_dict() | None,
     "charts": {"cycle_time": {...}, "on_time_steps": {...}, "utilisation": {...}, "queues": {...}},
     "warnings": {"shortfalls": [...], "open_at_stop": [...], "off_shift": [...]},   (report.warnings_of)
     "estimated_days": [[first, last] …]}   (report.estimated_days: every replication of both sides, merged)
    SIDE = {"process": key, "scenario": name, "kpis": compute_kpis of replication 0, "flat": mean flat KPIs,
            "heatmap": {element_id: {"name", "mean_waiting_hours", "count", "open"}}, "cycle_days": [working days …],
            "cases_arrived": [per replication], "unmeasured_loads": [utilisation keys without on-shift time]}
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue as queues
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from .kpis import pool_load_keys, queue_chart_span, queued_pools, unmeasured_load_keys
from .report import estimated_days, warnings_of
from .run_processes import materialize
from .run_request import with_project_paths
from .runs import RunFailed

Progress = Callable[[float], None]
HISTOGRAM_BINS = 12
SIDES = ("base", "variant")
STAFF_KINDS = ("user", "customer", "task")
"""Activities that wait for someone (a staff pool or the customer): the heatmap colours these."""
PROGRESS_SECONDS = 0.5
"""The child reports progress at most this often."""
WAIT_SECONDS = 1.0
"""The parent looks at least this often whether it should stop (lease lost, worker stopping) or the child died."""


class SimulationFailed(RunFailed):
    """The simulation itself failed (a scenario the engine refuses, an error in the process …)."""


def make_execute(sessions: sessionmaker[Session], jobs: int = 1
                 ) -> Callable[[dict[str, Any], Progress], dict[str, Any]]:
    """The ``execute`` of stored runs on this database (deployed versions are read from it), running each run's
    replications on ``jobs`` processes (the worker's ``--simulation-jobs``)."""

    def execute(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return run(sessions, params, progress, jobs)

    return execute


def side_requests(sessions: sessionmaker[Session], params: Mapping[str, Any], output_dir: Path
                  ) -> dict[str, dict[str, Any]]:
    """Materialize each side's process under ``output_dir/<side>_process``; each side's scenario data pointing
    at it."""
    found: dict[str, dict[str, Any]] = {}
    with sessions() as session:
        for side in SIDES:
            request = params.get(side)
            if not request:
                continue
            folder = output_dir / f"{side}_process"
            if not folder.exists():  # a run taken over from a dead worker finds its folders already there
                materialize(session, str(request["process"]), folder)
            found[side] = with_project_paths(request["scenario"], folder)
    return found


def run(sessions: sessionmaker[Session], params: Mapping[str, Any], progress: Progress, jobs: int = 1
        ) -> dict[str, Any]:
    """Run what ``params`` asks for (see ``run_request``) in a child process and return its summary; with
    ``jobs`` > 1 the child runs the replications on that many worker processes of its own (``run_batch``: the same
    results, replication r of each side drawing from seed + r wherever it runs)."""
    output_dir = Path(str(params["output_dir"]))
    requests = side_requests(sessions, params, output_dir)
    cases = params.get("cases")
    options = {"replications": int(params.get("replications") or 1), "seed": params.get("seed"),
               "cases": cases if isinstance(cases, int) else None, "jobs": jobs,
               "output_dir": str(output_dir), "parent_pid": os.getpid()}
    context = multiprocessing.get_context("spawn")
    channel: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    child = context.Process(target=child_main, args=(requests, options, channel), name="simulation-run",
                            daemon=False)  # not a daemon: run_batch may start worker processes of its own
    child.start()
    done = 0.0
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=WAIT_SECONDS)
            except queues.Empty:
                if not child.is_alive():
                    raise SimulationFailed(
                        f"the simulation process ended unexpectedly (exit code {child.exitcode})") from None
                progress(done)  # lets a lost lease or a stop request interrupt the run
                continue
            if kind == "progress":
                done = float(payload)
                progress(done)
            elif kind == "error":
                raise SimulationFailed(str(payload))
            else:
                result: dict[str, Any] = payload
                for side, request in result["sides"].items():
                    request["process"] = params[side]["process"]
                return result
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=30)
        channel.close()


def child_main(requests: dict[str, dict[str, Any]], options: dict[str, Any],
               channel: multiprocessing.Queue[tuple[str, Any]]) -> None:
    """The child process: read the scenarios, run the batch, send the summary (or the error) back."""
    from .batch import run_batch, watch_parent
    from .engine import SimulationError
    from .scenario import ScenarioError, scenario_from_dict

    last = [0.0]
    watch_parent(options["parent_pid"])  # the worker was killed: nobody will read the result, stop simulating

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_SECONDS or fraction >= 1.0:
            last[0] = now
            channel.put(("progress", fraction))

    try:
        output_dir = Path(options["output_dir"])
        scenarios = {side: scenario_from_dict(data, f"simulation run ({side})", output_dir)
                     for side, data in requests.items()}
        batch = run_batch(scenarios["base"], scenarios.get("variant"), options["replications"],
                          options["seed"], options["cases"], options["jobs"], report)
        channel.put(("result", summarise(batch, scenarios)))
    except (ScenarioError, SimulationError) as err:  # the scenario's own problem, already said in plain words
        channel.put(("error", str(err)))
    except Exception as err:
        traceback.print_exc()  # the whole story goes to the worker's log; the run keeps the message
        channel.put(("error", f"{type(err).__name__}: {err}"))


def summarise(batch: Any, scenarios: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The stored result of a ``batch.BatchResult`` (see the module docstring); ``scenarios`` (per side) tell
    which sides count on the official working days (``report.estimated_days``)."""
    from ..workdays import WorkingCalendar
    from .batch import mean_flat

    calendar = WorkingCalendar.default()
    sides: dict[str, Any] = {}
    for side, kpis_list, log, name in (("base", batch.base_kpis, batch.base_log, batch.base_name),
                                       ("variant", batch.variant_kpis, batch.variant_log, batch.variant_name)):
        if not kpis_list:
            continue
        sides[side] = {"scenario": name, "kpis": kpis_list[0], "flat": mean_flat(batch.flat(side)),
                       "heatmap": heatmap(kpis_list),
                       "cycle_days": [float(calendar.working_days_between(case.arrival, case.end))
                                      for case in (log.cases if log is not None else []) if case.end is not None]}
    by_side = {side: kpis_list for side, kpis_list in (("base", batch.base_kpis), ("variant", batch.variant_kpis))
               if kpis_list}
    for side, kpis_list in by_side.items():
        sides[side]["cases_arrived"] = [int(kpis["cycle_time"]["all"]["arrived"]) for kpis in kpis_list]
        sides[side]["unmeasured_loads"] = sorted(unmeasured_load_keys(kpis_list))
    names = {"base": batch.base_name, "variant": batch.variant_name or ""}
    return {"replications": batch.replications, "seed": batch.seed, "cases": batch.cases, "sides": sides,
            "comparison": batch.comparison.to_dict() if batch.comparison is not None else None,
            "charts": charts(sides, batch.names),
            "warnings": warnings_of(by_side, names, dict.fromkeys(by_side, batch.cases)),
            "estimated_days": [list(span) for span in estimated_days(batch, scenarios)]}


def heatmap(kpis_list: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean waiting hours (ready → started, calendar hours) per element, for the steps that wait for staff or the
    customer (``STAFF_KINDS``): the mean over the replications that ran the step of each one's mean per instance —
    the figure of ``waiting.<step>.mean_hours`` in the mean flat KPIs and the comparison, so the heat map and the
    full list show one number per step (pooling every replication's instances gave another: 15.5 against 17.40 h).
    The waits count the work still open at the stop (``kpis.activity_kpis``): a step whose queue never moved has
    one too. ``count``: the instances over all replications; ``open``: those still waiting at the stop, counted up
    to it (the page marks the figure †: at least this)."""
    totals: dict[str, list[Any]] = {}
    for kpis in kpis_list:
        for eid, activity in kpis["activities"].items():
            if activity["kind"] not in STAFF_KINDS or activity["mean_waiting_hours"] is None:
                continue
            entry = totals.setdefault(eid, [activity["activity"], [], 0, 0])
            entry[1].append(activity["mean_waiting_hours"])
            entry[2] += activity.get("waiting_count", activity["count"])
            entry[3] += activity.get("waiting_open", 0)
    return {eid: {"name": name, "mean_waiting_hours": sum(means) / len(means), "count": count, "open": still}
            for eid, (name, means, count, still) in sorted(totals.items())}


def histogram(values: Mapping[str, Sequence[float]], bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Shared bins over every side's values: ``{"edges": [...], "<side>": [share of cases per bin] …}``. The bins
    are even: a round width (1, 2 or 5 × 10ⁿ, at least 1) from a multiple of it, so the labels read 0–10, 10–20 …
    (at most ``bins`` + 1 of them); a bin holds its lower edge, the last one its upper edge too."""
    everything = [value for side in values.values() for value in side]
    if not everything:
        return {"edges": []}
    low, high = min(everything), max(everything)
    width = round_width((high - low) / bins)
    start = math.floor(low / width) * width
    count = max(1, math.ceil((high - start) / width))
    edges = [start + width * index for index in range(count + 1)]
    result: dict[str, Any] = {"edges": edges}
    for side, side_values in values.items():
        counts = [0] * count
        for value in side_values:
            counts[min(count - 1, int((value - start) // width))] += 1
        result[side] = [count / len(side_values) if side_values else 0.0 for count in counts]
    return result


def round_width(width: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50 … that is at least ``width`` (a bin width people read at a glance)."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= width:
                return step * scale
        scale *= 10


ON_TIME_STEP = ("on_time.step.", ".share")
"""Prefix and suffix of a step's on-time share among the flat KPIs."""


def charts(sides: Mapping[str, Mapping[str, Any]], names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The series the report's four charts draw, base and variant side by side. The on-time chart has every step
    some replication ran (a rare branch taken only after replication 0 too); ``names``: element id → name, for a
    step replication 0 did not name."""
    prefix, suffix = ON_TIME_STEP
    steps = sorted({eid for side in sides.values() for eid in side["kpis"]["on_time"]["steps"]}
                   | {key.removeprefix(prefix).removesuffix(suffix) for side in sides.values()
                      for key in side["flat"] if key.startswith(prefix) and key.endswith(suffix)})

    def step_name(eid: str) -> str:
        for side in sides.values():
            if eid in side["kpis"]["on_time"]["steps"]:
                return str(side["kpis"]["on_time"]["steps"][eid]["activity"])
        return (names or {}).get(eid, eid)

    return {
        "cycle_time": histogram({side: data["cycle_days"] for side, data in sides.items()}),
        # the mean over the replications, as the tables and verdicts show it (replication 0's alone disagreed)
        "on_time_steps": {"ids": steps, "labels": [step_name(eid) for eid in steps],
                          **{side: [data["flat"].get(f"{prefix}{eid}{suffix}") for eid in steps]
                             for side, data in sides.items()}},
        "utilisation": utilisation_chart(sides),
        "queues": queue_chart(sides),
    }


def queue_chart(sides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Daily mean queue per pool that ever queued, every side on one day axis (the days of all sides, up to the
    last day some pool's mean queue reached ``kpis.QUEUE_SHOWN``, as the CLI report's chart):
    ``{"pools", "days", "<side>": {pool: [mean or None]}}``. A side's day without a figure (its run ended earlier)
    is None, not 0. A side has the pools that queued on it (``kpis.queued_pools``), as in a run of its own: a
    pool that queued on the other side only has no flat line at 0 there."""
    series = {side: data["kpis"]["queues"] for side, data in sides.items()}
    pools, last = queue_chart_span(series.values())
    days = sorted({point["day"] for by_pool in series.values() for pool in pools for point in by_pool.get(pool, [])
                   if point["day"] <= last})
    chart: dict[str, Any] = {"pools": pools, "days": days}
    for side, by_pool in series.items():
        chart[side] = {}
        for pool in queued_pools(by_pool):
            means = {point["day"]: point["mean"] for point in by_pool.get(pool, [])}
            chart[side][pool] = [means.get(day) for day in days]
    return chart


def unmeasured(side: Mapping[str, Any]) -> list[str]:
    """The utilisation keys of a side's pools with no on-shift time while cases arrived (n/a, not 0 %); a result
    stored before they were kept: replication 0's."""
    if "unmeasured_loads" in side:
        return list(side["unmeasured_loads"])
    return sorted(unmeasured_load_keys([side["kpis"]])) if "kpis" in side else []


def utilisation_chart(sides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per pool, the utilisation the tables and verdicts show: the mean over the replications of the load while
    cases arrive, else over the whole run (``kpis.pool_load_keys``) — not replication 0's figure alone; None for a
    pool with no on-shift time then."""
    loads = pool_load_keys({key for data in sides.values() for key in [*data["flat"], *unmeasured(data)]})
    return {"pools": list(loads), **{side: [data["flat"].get(key) for key in loads.values()]
                                     for side, data in sides.items()}}
