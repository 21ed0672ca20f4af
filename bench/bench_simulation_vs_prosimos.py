"""Our simulator against Prosimos on the same model and scenario: activity instances per second, mean cycle time.

The model is the Prosimos example of the tests (tests/data/prosimos/loan_application.bpmn + .json: 9 plain tasks,
a rework loop, a parallel split, 4 pools with weekly calendars, the manager's Friday afternoons off), as it is:
both simulate the same scenario (until 2026-11-27 the manager was given Friday afternoons here, as our calendars
had the same shifts on every working day); the conversion's remaining gaps are printed. Both simulate the same number of
cases from the same Monday, alternately (``--runs`` each: our replications, Prosimos unseeded) on one core.
Prints the figures and the ratio (ours ÷ Prosimos; target ≥ 1.0); nothing is asserted.

Also the library alone: the library's own ``BpmnWorkflow`` with its ``PythonScriptEngine``, each case run from
start to end with every ready task completed at once (no clock, no resources, no queues, no log; gateways drawn
with the same probabilities), alternated with the other two. It shows what running the model through SpiffWorkflow
costs before any simulation work, and how much of that our engine classes (``runner.fast_workflow``) save.

With ``--jobs N`` (default 2) our side also runs ``--runs`` replications on N processes at once (``run_batch``,
as ``baozhuang simulate --jobs`` does; worker start-up and KPIs included): the issue's "parallel replications across
cores for more", set against Prosimos on one core.

Prosimos runs in this interpreter when it is importable (``pip install -e '.[bench]'``), else in another one given
with ``--prosimos-python`` (e.g. a separate venv: ``python -m venv /tmp/prosimos-venv &&
/tmp/prosimos-venv/bin/pip install prosimos==2.1.0``); without either the bench says so and skips that half.

    python bench/bench_simulation_vs_prosimos.py [--cases 500] [--runs 3] [--seed 7] [--jobs 2]
                                                 [--prosimos-python PATH]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from _common import ROOT, machine_note
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.util.task import TaskState

from runner.process_folder import ProcessBundle
from runner.simulation.batch import run_batch
from runner.simulation.branching import BRANCH_FUNCTION, load_with_overrides
from runner.simulation.engine import simulate
from runner.simulation.prosimos import load_prosimos, load_prosimos_model
from runner.simulation.scenario import Scenario

MODEL = ROOT / "tests" / "data" / "prosimos" / "loan_application.bpmn"
PARAMS = ROOT / "tests" / "data" / "prosimos" / "loan_application.json"
START = date(2026, 11, 2)  # a Monday; Prosimos gets the same moment
PROSIMOS_START = "2026-11-02T00:00:00+08:00"

PROSIMOS_SCRIPT = """
import json, sys, time
from prosimos.simulation_engine import run_simulation
bpmn, params, cases, start, out = sys.argv[1:6]
began = time.perf_counter()
run_simulation(bpmn, params, int(cases), stat_out_path=None, log_out_path=out, starting_at=start)
print(json.dumps({"wall_seconds": time.perf_counter() - began}))
"""


def ours(scenario: Scenario, bundle: ProcessBundle, replication: int) -> dict[str, float]:
    began = time.perf_counter()
    log = simulate(scenario, bundle, replication=replication)
    wall = time.perf_counter() - began
    cycle = [(case.end - case.arrival).total_seconds() / 3600 for case in log.cases if case.end is not None]
    return {"wall_seconds": wall, "activities": len(log.activities), "completed": len(cycle),
            "mean_cycle_hours": statistics.fmean(cycle)}


def ours_in_parallel(scenario: Scenario, replications: int, jobs: int, cases: int) -> dict[str, float]:
    """``replications`` on ``jobs`` worker processes, as ``baozhuang simulate --jobs`` runs them."""
    began = time.perf_counter()
    result = run_batch(scenario, None, replications=replications, jobs=jobs, cases=cases)
    wall = time.perf_counter() - began
    activities = sum(activity["count"] + activity["cancelled"]
                     for kpis in result.base_kpis for activity in kpis["activities"].values())
    return {"wall_seconds": wall, "activities": activities}


def library_alone(scenario: Scenario, bundle: ProcessBundle, replication: int) -> dict[str, float]:
    """The same cases through the library's own classes only: every ready task completed at once, in tree order."""
    spec_bundle, branches = load_with_overrides(Path(bundle.root), scenario.branch_probabilities)
    draws = random.Random(f"{scenario.seed}/{replication}")
    began = time.perf_counter()
    activities = 0
    for _case in range(scenario.cases or 0):
        environment = TaskDataEnvironment({BRANCH_FUNCTION: branches.chooser(lambda _gateway, _visit: draws)})
        workflow = BpmnWorkflow(spec_bundle.spec, spec_bundle.subprocess_specs,
                                script_engine=PythonScriptEngine(environment=environment))
        workflow.do_engine_steps()
        while not workflow.is_completed():
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                raise RuntimeError("a case of the library-alone run waits for something other than a task")
            for task in ready:
                task.run()
                activities += 1
            workflow.do_engine_steps()
    return {"wall_seconds": time.perf_counter() - began, "activities": activities, "completed": scenario.cases or 0}


def prosimos(params: Path, cases: int, python: str | None) -> dict[str, float] | None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "log.csv"
        args = [str(MODEL), str(params), str(cases), PROSIMOS_START, str(out)]
        if importlib.util.find_spec("prosimos") is not None:
            command = [sys.executable, "-c", PROSIMOS_SCRIPT, *args]
        elif python:
            command = [python, "-c", PROSIMOS_SCRIPT, *args]
        else:
            return None
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=folder)
        wall = float(json.loads(done.stdout.strip().splitlines()[-1])["wall_seconds"])
        first: dict[str, datetime] = {}
        last: dict[str, datetime] = {}
        rows = 0
        with out.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows += 1
                enable, end = datetime.fromisoformat(row["enable_time"]), datetime.fromisoformat(row["end_time"])
                case = row["case_id"]
                first[case] = min(first.get(case, enable), enable)
                last[case] = max(last.get(case, end), end)
    cycle = [(last[case] - first[case]).total_seconds() / 3600 for case in first]
    return {"wall_seconds": wall, "activities": rows, "completed": len(cycle),
            "mean_cycle_hours": statistics.fmean(cycle)}


def show(name: str, runs: list[dict[str, float]]) -> tuple[float, float]:
    """Print a side's totals over its runs; return (activity instances per second, mean cycle hours)."""
    wall = sum(run["wall_seconds"] for run in runs)
    activities = sum(run["activities"] for run in runs)
    cycles = [run["mean_cycle_hours"] for run in runs]
    print(f"{name:9s} {wall:8.2f} s  {activities:7.0f} activity instances  {activities / wall:8.0f} /s  "
          f"mean cycle {statistics.fmean(cycles):6.2f} h (runs {min(cycles):.2f}–{max(cycles):.2f})")
    return activities / wall, statistics.fmean(cycles)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="runs of each (replications; Prosimos is not seeded)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=2, help="also run this many replications at once (0: no)")
    parser.add_argument("--prosimos-python", help="an interpreter that has prosimos (when this one has not)")
    args = parser.parse_args()
    print(f"# simulation vs Prosimos — {args.runs} × {args.cases} cases of {MODEL.name}; {machine_note()}")
    params = PARAMS
    began = time.perf_counter()
    conversion, _bundle = load_prosimos_model(MODEL, params, start=START, cases=args.cases, seed=args.seed)
    scenario, bundle = load_prosimos(MODEL, params, start=START, cases=args.cases, seed=args.seed)
    print(f"conversion: {(time.perf_counter() - began) / 2:.2f} s")
    for gap in conversion.gaps:
        print(f"  conversion gap: {gap}")
    mine: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    alone: list[dict[str, float]] = []
    for run in range(args.runs):  # alternating, so that all sides see the same machine load
        mine.append(ours(scenario, bundle, run))
        found = prosimos(params, args.cases, args.prosimos_python)
        if found is not None:
            theirs.append(found)
        alone.append(library_alone(scenario, bundle, run))
    ours_rate, ours_cycle = show("ours:", mine)
    replications = max(args.runs, args.jobs)
    parallel = ours_in_parallel(scenario, replications, args.jobs, args.cases) if args.jobs > 1 else None
    parallel_rate = parallel["activities"] / parallel["wall_seconds"] if parallel else None
    if parallel is not None:
        print(f"ours, --jobs {args.jobs} ({replications} replications on {args.jobs} processes, worker start-up "
              "included): "
              f"{parallel['wall_seconds']:8.2f} s  {parallel['activities']:7.0f} activity instances  "
              f"{parallel_rate:8.0f} /s")
    alone_wall = sum(run["wall_seconds"] for run in alone)
    alone_activities = sum(run["activities"] for run in alone)
    alone_rate = alone_activities / alone_wall
    print(f"library alone (SpiffWorkflow's BpmnWorkflow, no clock, resources or log): {alone_wall:8.2f} s  "
          f"{alone_activities:7.0f} activity instances  {alone_rate:8.0f} /s; ours ÷ library alone: "
          f"{ours_rate / alone_rate:.2f}")
    if not theirs:
        print("Prosimos: not importable here — `pip install -e '.[bench]'`, or pass --prosimos-python PATH of an "
              "interpreter that has prosimos==2.1.0; skipped")
        return 0
    rate, cycle = show("Prosimos:", theirs)
    print(f"ratio (ours ÷ Prosimos activity instances per second): {ours_rate / rate:.2f}  (target ≥ 1.0)")
    if parallel_rate is not None:
        print(f"ratio with --jobs {args.jobs} (ours on {args.jobs} processes ÷ Prosimos on one core): "
              f"{parallel_rate / rate:.2f}")
    print(f"mean cycle time ours ÷ Prosimos: {ours_cycle / cycle:.2f}")
    print(f"library alone ÷ Prosimos: {alone_rate / rate:.2f}  (SpiffWorkflow's own classes running the cases, "
          "with no simulation around them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
