"""10,000 baozhuang cases through the simulator: today's scenario with its pools and calendars, one replication.

Prints the wall seconds, activity instances per second and milliseconds per case (target: 10,000 cases in ≤ 30 s
on this 2-core machine), then, when the batch layer (runner/simulation/batch.py) is there, the same with two
replications on ``--jobs 2``. ``--profile N`` profiles a run of N cases instead and prints where the time goes:
the hottest functions by own time and by cumulative time, and the share spent inside SpiffWorkflow. Nothing is
asserted.

    python bench/bench_simulation_10k.py [--cases 10000] [--jobs 2] [--profile 300]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib.util
import io
import math
import pstats
import sys
import time
from typing import Any

from _common import PROCESSES, machine_note

from runner.process_folder import load_process_folder
from runner.simulation.engine import simulate
from runner.simulation.scenario import Scenario, load_scenario

SCENARIO = PROCESSES / "scenarios" / "today.yaml"


def sized(cases: int) -> Scenario:
    """Today's scenario with an arrival window long enough for ``cases`` applications at today's rates (the
    scenario's own four weeks bring about 240), and the clock running 240 days past it."""
    scenario = load_scenario(SCENARIO)
    per_working_day = sum(spec.per_working_day or 0.0 for spec in scenario.arrivals.values())
    days = math.ceil(cases / per_working_day * 7 / 5 * 1.1) + 14
    return dataclasses.replace(scenario, horizon_days=float(days), max_days=float(days + 240), cases=cases)


def one_replication(cases: int, seed: int | None) -> None:
    scenario = sized(cases)
    bundle = load_process_folder(scenario.process_dir)
    shown = [0.0]

    def progress(fraction: float) -> None:
        if fraction - shown[0] >= 0.1:
            shown[0] = fraction
            print(f"  … {fraction:4.0%} after {time.perf_counter() - began:6.1f} s", file=sys.stderr)

    began = time.perf_counter()
    log = simulate(scenario, bundle, cases=cases, seed=seed, progress=progress)
    wall = time.perf_counter() - began
    completed = sum(case.completed for case in log.cases)
    print(f"one replication: {len(log.cases)} cases ({completed} completed), {len(log.activities)} activity "
          f"instances in {wall:.1f} s → {len(log.activities) / wall:,.0f} activity instances/s, "
          f"{1000 * wall / max(1, len(log.cases)):.1f} ms/case  (target ≤ 30 s for 10,000 cases)")


def batch(cases: int, jobs: int, seed: int | None) -> None:
    if importlib.util.find_spec("runner.simulation.batch") is None:
        print(f"--jobs {jobs}: runner/simulation/batch.py is not there yet; skipped")
        return
    from runner.simulation import batch as batch_layer

    scenario = sized(cases)
    began = time.perf_counter()
    run_batch: Any = batch_layer.run_batch
    run_batch(scenario, None, replications=jobs, seed=seed if seed is not None else scenario.seed, cases=cases,
              jobs=jobs, progress=None)
    wall = time.perf_counter() - began
    print(f"--jobs {jobs}: {jobs} replications of {cases} cases in {wall:.1f} s → "
          f"{jobs * cases / wall:,.1f} cases/s overall")


def profile(cases: int, seed: int | None) -> None:
    scenario = sized(cases)
    bundle = load_process_folder(scenario.process_dir)
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    log = simulate(scenario, bundle, cases=cases, seed=seed)
    profiler.disable()
    wall = time.perf_counter() - began
    print(f"profiled run: {len(log.cases)} cases, {len(log.activities)} activity instances, {wall:.1f} s "
          f"({1000 * wall / max(1, len(log.cases)):.1f} ms/case under the profiler)")
    stats = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    spiff = sum(entry[2] for key, entry in stats.stats.items() if "SpiffWorkflow" in key[0])  # type: ignore
    print(f"own time inside SpiffWorkflow: {spiff / total:.0%} of {total:.1f} s")
    for order, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
        print(f"\n## hottest by {title}\n")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2, help="also run this many replications in parallel (0: no)")
    parser.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
    parser.add_argument("--profile", type=int, metavar="N", help="profile a run of N cases instead")
    args = parser.parse_args()
    print(f"# simulation, {SCENARIO.relative_to(PROCESSES.parent)} — {machine_note()}")
    if args.profile:
        profile(args.profile, args.seed)
        return 0
    one_replication(args.cases, args.seed)
    if args.jobs > 1:
        batch(args.cases, args.jobs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
