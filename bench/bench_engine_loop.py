"""The engine loop on SpiffWorkflow's ``BpmnWorkflow`` and on ``runner.fast_workflow.FastBpmnWorkflow``.

One process runs N trials per sample category (``baozhuang try``: answers from the form defaults, virtual clock,
real handlers and DMN) on each class, interleaved with the order rotating every round, and prints the median CPU
time per case of each class and the ratio library/fast. Every pair of trials is checked to have visited the same
elements with the same events, so the figures compare equal work. ``--profile`` adds a cProfile top list of the
fast class.

    .venv/bin/python bench/bench_engine_loop.py [-n 30] [--categories hv_important,lv_residential] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import time
from typing import Any

from _common import PROCESSES, machine_note, median
from SpiffWorkflow.bpmn import BpmnWorkflow

from runner.case import Case
from runner.fast_workflow import FastBpmnWorkflow
from runner.process_folder import ProcessBundle, load_process_folder
from runner.trial import TrialDriver, TrialOptions

CLASSES: dict[str, type[Any]] = {"library": BpmnWorkflow, "fast": FastBpmnWorkflow}


def one_trial(bundle: ProcessBundle, category: str, cls: type[Any]) -> tuple[float, list[tuple[str, str, str]]]:
    """CPU seconds of one whole trial on ``cls``, and its events (element, lifecycle, time)."""
    Case.workflow_class = cls
    try:
        driver = TrialDriver(bundle, TrialOptions(category=category))
        started = time.process_time()
        driver.run()
        elapsed = time.process_time() - started
    finally:
        Case.workflow_class = FastBpmnWorkflow
    return elapsed, [(event.element_id, event.lifecycle, event.at) for event in driver.case.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="trials per category and class (default 30)")
    parser.add_argument("--categories", default="hv_important,lv_residential")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top 20 of the fast class")
    args = parser.parse_args()
    bundle = load_process_folder(PROCESSES)
    categories = args.categories.split(",")
    print(f"# engine loop, {args.n} trials per category and class — {machine_note()}")
    for category in categories:  # warm up (imports, DMN and expression caches)
        for cls in CLASSES.values():
            one_trial(bundle, category, cls)
    times: dict[tuple[str, str], list[float]] = {(c, name): [] for c in categories for name in CLASSES}
    names = list(CLASSES)
    for round_number in range(args.n):
        order = names[round_number % len(names):] + names[:round_number % len(names)]
        for category in categories:
            events: dict[str, list[tuple[str, str, str]]] = {}
            for name in order:
                gc.collect()
                elapsed, events[name] = one_trial(bundle, category, CLASSES[name])
                times[(category, name)].append(elapsed)
            if events["fast"] != events["library"]:
                raise SystemExit(f"{category}: the two classes disagree; see tests/test_fast_workflow.py")
    print(f"{'category':<16} {'library ms/case':>16} {'fast ms/case':>13} {'library/fast':>13}")
    all_library: list[float] = []
    all_fast: list[float] = []
    for category in categories:
        library, fast = median(times[(category, "library")]), median(times[(category, "fast")])
        all_library += times[(category, "library")]
        all_fast += times[(category, "fast")]
        print(f"{category:<16} {library * 1000:>16.1f} {fast * 1000:>13.1f} {library / fast:>12.2f}x")
    library, fast = sum(all_library) / len(all_library), sum(all_fast) / len(all_fast)
    print(f"{'mean, all':<16} {library * 1000:>16.1f} {fast * 1000:>13.1f} {library / fast:>12.2f}x")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for category in categories:
            for _ in range(5):
                one_trial(bundle, category, FastBpmnWorkflow)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())


if __name__ == "__main__":
    main()
