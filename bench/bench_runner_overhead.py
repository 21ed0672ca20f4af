"""What the durable runner costs on top of the bare engine, for one full 业扩报装 case.

The same case (a sample category, default ``hv_important``: same answers from the form defaults, same users, same
virtual clock, as ``baozhuang try`` drives it) is run

(a) raw: a plain ``BpmnWorkflow`` on the parsed spec with ``CaseScriptEngine`` (the same expression functions and
    handlers, in-memory outbox and archive), no persistence, answering the tasks in the same order; and
(b) durable: ``services.start_case`` and then, for every step, one transaction that loads the case, changes it
    (``services.complete_task`` / ``services.send_message`` / firing due timers as the worker would) and saves it
    (state, open tasks, hash-chained events, timer jobs) — on a fresh SQLite file, and on a fresh PostgreSQL
    database when one is reachable. One process: loads reuse the live workflow kept by the last save
    (``runner.workflow_cache``). With ``--uncached``, each database also runs without it (``-nc``).

Runs are interleaved (the order rotates every case) and the medians per case are compared within this one run.
If the ratio misses the target, one more batch runs under cProfile and the top functions are printed.

    .venv/bin/python bench/bench_runner_overhead.py [-n 20] [--category hv_important] [--no-postgres] [--uncached]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import io
import pstats
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import (
    PROCESSES,
    Script,
    fresh_postgres_database,
    fresh_sqlite_url,
    machine_note,
    median,
    postgres_reachable,
    record_script,
)
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from handlers import build_registry
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.registry import HandlerRegistry
from runner import schema, services, store
from runner.clock import VirtualClock, parse_iso
from runner.database import make_engine, session_factory
from runner.models import Case as CaseRow
from runner.models import Event, OpenTask
from runner.process_folder import ProcessBundle, load_process_folder
from runner.script_engine import CaseScriptEngine
from runner.store import Runtime, deploy
from runner.workdays import WorkingCalendar
from runner.workflow_cache import WorkflowCache

TARGET_RATIO = 1.5


def case_start_data(script: Script, number: str, index: int) -> dict[str, Any]:
    """The sample's start data for case ``index``: its own case number and address (so that the archive's
    repeated-application count, and with it the path, is the same in every case)."""
    data = copy.deepcopy(script.start_data)
    data["case_number"] = number
    data["application"]["address"] = f"{data['application']['address']}{index}栋"
    return data


# -- (a) the bare engine -------------------------------------------------------------------------------------------


def run_raw(bundle: ProcessBundle, registry: HandlerRegistry, calendar: WorkingCalendar, script: Script,
            number: str, index: int, trace: list[str] | None = None) -> None:
    """Drive a plain ``BpmnWorkflow`` through the script; ``trace`` collects completed element ids."""
    start_data = case_start_data(script, number, index)
    clock = VirtualClock(parse_iso(start_data["applied_at"]))
    outbox, archive = MemoryOutbox(), MemoryArchive()

    def context(_task: Any) -> HandlerContext:
        return HandlerContext(number, clock.now, calendar, outbox, archive)

    def completed(task: Any) -> None:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if trace is not None and bpmn_id:
            trace.append(bpmn_id)

    callback = completed if trace is not None else None
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs,
                            script_engine=CaseScriptEngine(clock, calendar, registry, context))
    start = workflow.get_next_task(state=TaskState.READY)
    start.data.update(start_data)
    workflow.do_engine_steps(did_complete_task=callback)
    for step in script.steps:
        clock.advance_to(step.at)
        if step.kind == "timers":
            now = clock.now()
            for task in workflow.get_tasks(state=TaskState.WAITING):
                value = task.internal_data.get("event_value")
                if (isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition) and value
                        and parse_iso(value) <= now):
                    task.internal_data["event_fired"] = True
            workflow.refresh_timers()
        elif step.kind == "message":
            workflow.catch(BpmnEvent(MessageEventDefinition(step.element), payload=copy.deepcopy(step.data)))
        else:
            task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.bpmn_id == step.element)
            task.data[step.element] = copy.deepcopy(step.data)
            task.run()
            if trace is not None:
                trace.append(step.element)
        workflow.do_engine_steps(did_complete_task=callback)
    if not workflow.is_completed():
        raise RuntimeError("raw run did not complete")


# -- (b) the durable runner ----------------------------------------------------------------------------------------


class Durable:
    """A fresh database with the process deployed, and a runtime whose clock each case resets."""

    def __init__(self, label: str, url: str, cache_dir: Path, keep_workflows: bool = True) -> None:
        self.label = label
        self.url = url
        if keep_workflows:
            schema.upgrade(url)
        self.engine: Engine = make_engine(url)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self.runtime = Runtime(cache_dir=cache_dir)
        self.prefix = ""
        if not keep_workflows:  # as with many processes and no sticky routing: every load restores the state
            self.runtime.workflows = WorkflowCache(capacity=0)
            self.prefix = "NC-"  # shares the database of the cached variant: other numbers and addresses
        with self.sessions.begin() as session:
            version, _ = deploy(session, self.runtime, PROCESSES, "bench")
            self.runtime.bundle(version)  # parse once, outside the timings

    def run(self, script: Script, number: str, index: int) -> None:
        """Play the script as separate requests, one transaction each (start, then one per step)."""
        number = self.prefix + number
        start_data = case_start_data(script, number, index + (500_000 if self.prefix else 0))
        clock = VirtualClock(parse_iso(start_data["applied_at"]))
        self.runtime.clock = clock
        with self.sessions.begin() as session:
            services.start_case(session, self.runtime, start_data, "bench.clerk", case_number=number)
        for step in script.steps:
            clock.advance_to(step.at)
            with self.sessions.begin() as session:
                if step.kind == "timers":
                    fire_due_timers(session, self.runtime, number)
                elif step.kind == "message":
                    services.send_message(session, self.runtime, number, step.element, copy.deepcopy(step.data))
                else:
                    task_id = session.scalar(OPEN_TASK_OF_ELEMENT, {"number": number, "element": step.element})
                    if task_id is None:
                        raise RuntimeError(f"{self.label}: {number} has no open {step.element}")
                    services.complete_task(session, self.runtime, task_id, copy.deepcopy(step.data), step.user,
                                           request_id=uuid.uuid4().hex)

    def visited(self, number: str) -> tuple[str, list[str]]:
        number = self.prefix + number
        with self.sessions.begin() as session:
            status = session.scalar(select(CaseRow.status).where(CaseRow.case_number == number))
            elements = session.scalars(select(Event.element_id).where(
                Event.case_number == number, Event.lifecycle == "completed").order_by(Event.id))
            return str(status), list(elements)

    def close(self) -> None:
        self.engine.dispose()


OPEN_TASK_OF_ELEMENT = (select(OpenTask.id)
                        .where(OpenTask.case_number == bindparam("number"), OpenTask.element_id == bindparam("element"))
                        .limit(1))
"""How a request finds the task to complete (the task list's link): built once, as the runner's own statements are,
so that the bench's lookup costs what running it costs, not what building it costs."""


def fire_due_timers(session: Session, runtime: Runtime, number: str) -> None:
    """What the worker does for a due timer job: load the case, fire what is due, save."""
    loaded = store.load_case(session, runtime, number)
    loaded.case.fire_due_timers()
    store.save_case(session, runtime, loaded)


# -- the benchmark -------------------------------------------------------------------------------------------------


def where_time_goes() -> list[tuple[str, Any, str, Callable[..., bool] | None]]:
    """(title, owner, attribute, which calls) of the functions timed for the breakdown; inclusive times, so an
    indented row is part of the row above it."""
    from SpiffWorkflow.workflow import Workflow
    from sqlalchemy.engine.base import Connection
    from sqlalchemy.engine.default import DefaultDialect
    from sqlalchemy.orm.session import Session as OrmSession

    import runner.audit
    import runner.case
    from runner.models import ProcessVersion
    from runner.sqlite_statements import DriverStatement

    case_class = runner.case.Case
    targets: list[tuple[str, Any, str]] = [
        ("load a case (select + restore)", services, "load_case"),
        ("  restore state (unpack_state)", runner.case, "unpack_state"),
        ("engine change: complete_task", case_class, "complete_task"),
        ("engine change: deliver_message", case_class, "deliver_message"),
        ("engine change: fire_due_timers", case_class, "fire_due_timers"),
        ("engine change: start", case_class, "start"),
        ("  form validation (jsonschema)", runner.case, "validate_form_data"),
        ("  do_engine_steps", BpmnWorkflow, "do_engine_steps"),
        ("start-data check (parses the DMN)", services, "validate_start_data"),
        ("save a case (save_case)", services, "save_case"),
        ("  pack state (pack_state)", runner.case, "pack_state"),
        ("  open-task rows (sync_open_tasks)", store, "sync_open_tasks"),
        ("  event log (audit.append)", runner.audit, "append"),
        ("  timer jobs (sync_timer_jobs)", store, "sync_timer_jobs"),
        ("  case data (main_process_data)", runner.case, "main_process_data"),
        ("  case summary (summarize)", store, "summarize"),
        ("  waiting timers (pending_timers, all)", case_class, "pending_timers"),
        ("services.complete_task (all of it)", services, "complete_task"),
        ("ORM flush (all)", OrmSession, "flush"),
        ("COMMIT (database)", DefaultDialect, "do_commit"),
        ("SQL statements through SQLAlchemy (incl. driver)", Connection, "_execute_context"),
        ("SQLite statements on the driver: execute", DriverStatement, "execute"),
        ("SQLite statements on the driver: executemany", DriverStatement, "executemany"),
        ("engine tree walks: get_tasks (all)", Workflow, "get_tasks"),
    ]
    version_row = ("  process_versions row (~540 KB)", OrmSession, "get",
                   lambda *args, **kwargs: len(args) > 1 and args[1] is ProcessVersion)
    rows: list[tuple[str, Any, str, Callable[..., bool] | None]] = [(*t, None) for t in targets]
    return rows[:2] + [version_row] + rows[2:]


def breakdown(label: str, run: Callable[[], None], total_cases: int) -> None:
    """Time the functions of ``where_time_goes`` with plain wrappers (microseconds of overhead, unlike cProfile)."""
    targets = where_time_goes()
    spent: dict[str, float] = {title: 0.0 for title, *_ in targets}
    calls: dict[str, int] = {title: 0 for title, *_ in targets}
    depth: dict[str, int] = {title: 0 for title, *_ in targets}
    originals = []
    for title, owner, name, which in targets:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        originals.append((owner, name, original))

        def wrapper(*args: Any, _f: Any = original, _t: str = title, _w: Any = which, **kwargs: Any) -> Any:
            if depth[_t] or (_w is not None and not _w(*args, **kwargs)):  # count the outermost call only
                return _f(*args, **kwargs)
            depth[_t] += 1
            began = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                depth[_t] -= 1
                spent[_t] += time.perf_counter() - began
                calls[_t] += 1

        setattr(owner, name, wrapper)
    began = time.perf_counter()
    try:
        run()
    finally:
        total = time.perf_counter() - began
        for owner, name, original in originals:
            setattr(owner, name, original)
    print(f"\n--- where the time goes, {label}: inclusive time per case, no profiler "
          f"(total {total / total_cases * 1000:.0f} ms per case) ---")
    for title, *_ in targets:
        if calls[title]:
            print(f"  {title:<38} {spent[title] / total_cases * 1000:8.1f} ms  {spent[title] / total * 100:5.1f} %"
                  f"   ({calls[title] / total_cases:.0f} calls)")


def profile(label: str, run: Callable[[], None], total_cases: int, out: str | None = None) -> None:
    """Run under cProfile; print the top 15 functions by cumulative time, then by own time (and write the
    statistics to ``out`` when given)."""
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    if out:
        profiler.dump_stats(out)
    for order, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(15)
        print(f"\n--- cProfile, {label}, {total_cases} case(s): top 15 by {title} (profiler overhead included) ---")
        print("\n".join(line for line in stream.getvalue().splitlines() if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--cases", type=int, default=20, help="cases per variant (default 20)")
    parser.add_argument("--category", default="hv_important", help="sample category (default hv_important)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL even if it is reachable")
    parser.add_argument("--profile-cases", type=int, default=5, help="cases to profile when the target is missed")
    parser.add_argument("--always-profile", action="store_true", help="profile even when the target is met")
    parser.add_argument("--profile-out", metavar="FILE", help="also write the cProfile statistics to FILE "
                        "(pstats format; one file per database: FILE.sqlite, FILE.postgresql)")
    parser.add_argument("--uncached", action="store_true",
                        help="also run each database without the live-workflow cache (label suffix -nc): every "
                             "load restores the state, as with many processes and no sticky routing")
    args = parser.parse_args()

    print(f"runner overhead — {machine_note()}")
    bundle = load_process_folder(PROCESSES)
    script = record_script(bundle, args.category)
    registry, calendar = build_registry(), WorkingCalendar.default()
    counts = {kind: sum(step.kind == kind for step in script.steps) for kind in ("complete", "message", "timers")}
    print(f"case: {args.category}, {len(script.visited)} elements completed; outside interactions: "
          f"{counts['complete']} tasks, {counts['message']} messages, {counts['timers']} timer firings "
          f"→ {len(script.steps) + 1} transactions in the durable runner")

    with ExitStack() as cleanup:
        cache_dir = Path(tempfile.mkdtemp(prefix="bench-runner-cache-"))
        cleanup.callback(shutil.rmtree, cache_dir, True)
        sqlite_url, sqlite_dir = fresh_sqlite_url("bench-runner")
        cleanup.callback(shutil.rmtree, sqlite_dir, True)
        backends = [Durable("sqlite", sqlite_url, cache_dir)]
        cleanup.callback(backends[0].close)
        if args.uncached:
            backends.append(Durable("sqlite-nc", sqlite_url, cache_dir, keep_workflows=False))
            cleanup.callback(backends[-1].close)
        if not args.no_postgres and postgres_reachable():
            pg_url = cleanup.enter_context(fresh_postgres_database("bench_runner"))
            backends.append(Durable("postgresql", pg_url, cache_dir))
            cleanup.callback(backends[-1].close)
            if args.uncached:
                backends.append(Durable("postgres-nc", pg_url, cache_dir, keep_workflows=False))
                cleanup.callback(backends[-1].close)
        elif not args.no_postgres:
            print("PostgreSQL not reachable: SQLite only")
        compare(args, bundle, registry, calendar, script, backends)


def compare(args: argparse.Namespace, bundle: ProcessBundle, registry: HandlerRegistry, calendar: WorkingCalendar,
            script: Script, backends: list[Durable]) -> None:
    """Check, time interleaved, report the ratios; profile a variant that misses the target."""
    # Warm-up, and a check that every variant walks the same path as `baozhuang try`.
    trace: list[str] = []
    run_raw(bundle, registry, calendar, script, "BENCH-W-raw", 0, trace)
    assert trace == script.visited, "raw run took another path than the trial"
    for backend in backends:
        number = f"BENCH-W-{backend.label}"
        backend.run(script, number, 0)
        status, visited = backend.visited(number)
        assert status == "completed" and visited == script.visited, f"{backend.label} took another path"
    print("check: raw and durable runs complete and visit the same elements as `baozhuang try`")

    variants: list[tuple[str, Callable[[str, int], None]]] = [
        ("raw", lambda number, index: run_raw(bundle, registry, calendar, script, number, index)),
        *[(b.label, lambda number, index, b=b: b.run(script, number, index)) for b in backends],
    ]
    times: dict[str, list[float]] = {label: [] for label, _ in variants}
    cpu: dict[str, list[float]] = {label: [] for label, _ in variants}
    for index in range(1, args.cases + 1):
        shift = index % len(variants)
        for label, run in variants[shift:] + variants[:shift]:  # rotate the order every case
            gc.collect()
            began, began_cpu = time.perf_counter(), time.process_time()
            run(f"BENCH-{index:05d}", index)
            times[label].append(time.perf_counter() - began)
            cpu[label].append(time.process_time() - began_cpu)

    raw_median = median(times["raw"])
    transactions = len(script.steps) + 1
    print(f"\n{args.cases} cases each, interleaved; median per case (min–max):")
    for label, values in times.items():
        per_tx = "" if label == "raw" else f"   {median(values) / transactions * 1000:6.2f} ms per transaction"
        print(f"  {label:<11} {median(values) * 1000:8.1f} ms  ({min(values) * 1000:.1f}–{max(values) * 1000:.1f})"
              f"{per_tx}")
    missed = []
    for backend in backends:
        ratio = median(times[backend.label]) / raw_median
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        extra = (median(times[backend.label]) - raw_median) / transactions * 1000
        print(f"  ratio durable/raw on {backend.label:<10}: {ratio:5.2f}×   (target ≤ {TARGET_RATIO}×: {verdict});"
              f" {extra:.1f} ms added per transaction")
        if ratio > TARGET_RATIO:
            missed.append(backend)
    print("  less sensitive to a shared machine's pauses (same runs):")
    for backend in backends:
        label = backend.label
        server = " (this process only: not the database server's work)" if label.startswith("postgres") else ""
        print(f"    {label:<11}: ratio of minimums {min(times[label]) / min(times['raw']):5.2f}×, "
              f"ratio of median CPU times {median(cpu[label]) / median(cpu['raw']):5.2f}×{server}")
    for backend in backends:
        counts = backend.runtime.workflows.counts
        print(f"  live workflows on {backend.label:<11}: {counts.hits} loads reused the kept workflow, "
              f"{counts.misses} restored the state ({counts.stale} of them found an outdated one)")

    to_profile = (backends if args.always_profile else missed) if args.profile_cases > 0 else []
    for position, backend in enumerate(to_profile):
        cases = args.profile_cases

        def batch(b: Durable = backend, p: int = position, cases: int = cases) -> None:
            for index in range(cases):
                b.run(script, f"BENCH-P{p}-{index:03d}", 10_000 + index)

        profile(f"durable on {backend.label}", batch, cases,
                f"{args.profile_out}.{backend.label}" if args.profile_out else None)
        breakdown(f"durable on {backend.label}", lambda b=backend, p=position, c=cases: [
            b.run(script, f"BENCH-B{p}-{index:03d}", 30_000 + index) for index in range(c)], cases)
    if to_profile:
        breakdown("raw engine", lambda: [run_raw(bundle, registry, calendar, script, f"BENCH-BR-{i}", 40_000 + i)
                                         for i in range(args.profile_cases)], args.profile_cases)


if __name__ == "__main__":
    main()
