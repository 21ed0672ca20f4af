"""Helpers the benchmarks share: paths, fresh databases, the recorded script of a sample case, statistics.

Not a benchmark itself (no ``bench_`` prefix) and not a test: pytest only collects ``tests/``.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
SAMPLE_CATEGORIES = ("lv_residential", "lv_smallmicro", "lv_other", "hv_ordinary", "hv_important",
                     "hv_ordinary_dual")

if str(ROOT) not in sys.path:  # run as ``python bench/bench_x.py`` from anywhere
    sys.path.insert(0, str(ROOT))


# -- statistics ----------------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def machine_note() -> str:
    cpus = os.cpu_count()
    return (f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {platform.node()} {platform.machine()}, {cpus} CPUs "
            f"(shared, noisy); Python {platform.python_version()}")


# -- databases -----------------------------------------------------------------------------------------------------


def fresh_sqlite_url(name: str) -> tuple[str, Path]:
    """A URL for a new, empty SQLite file under the temp folder (removed together with its WAL files)."""
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    return f"sqlite:///{folder / 'bench.sqlite3'}", folder


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not available for the benchmark"
        return False


@contextmanager
def fresh_postgres_database(prefix: str, keep: bool = False) -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its SQLAlchemy URL, and drop it afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        if not keep:  # callers dispose their engines first
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the recorded script of one sample case --------------------------------------------------------------------------


@dataclass
class Step:
    """One thing that happens to a case from outside: a task answered, a message delivered, due timers fired."""

    kind: str  # complete | message | timers
    at: datetime
    element: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    user: str = ""


@dataclass
class Script:
    """What ``baozhuang try`` does to a sample case, replayable against any engine wrapper."""

    category: str
    start_data: dict[str, Any]
    steps: list[Step]
    visited: list[str]
    boundaries: list[bytes] = field(default_factory=list)
    """``pack_state`` output after the start and after every step (for the state-size benchmark)."""
    full_dumps: list[str] = field(default_factory=list)
    """``dump_workflow`` output at the same points."""


def record_script(bundle: Any, category: str, keep_states: bool = False) -> Script:
    """Run the trial driver on a sample and record each outside interaction (same answers, users and clock)."""
    from runner.case import element_id
    from runner.serialization import dump_workflow
    from runner.state import pack_state
    from runner.trial import TrialDriver, TrialOptions

    dual = category.endswith("_dual")
    base = category.removesuffix("_dual")
    driver = TrialDriver(bundle, TrialOptions(category=base, dual_supply=dual))
    case, clock = driver.case, driver.clock
    steps: list[Step] = []
    script = Script(category, copy.deepcopy(driver.start_data), steps, [])

    def snapshot() -> None:
        if keep_states:
            script.boundaries.append(pack_state(case.workflow))
            script.full_dumps.append(dump_workflow(case.workflow))

    original_start, original_complete = case.start, case.complete_task
    original_deliver, original_fire = case.deliver_message, case.fire_due_timers

    def start(data: dict[str, Any]) -> None:
        original_start(data)
        snapshot()

    def complete(task_id: str, data: dict[str, Any], user: str) -> None:
        task = case.workflow.get_task_from_id(UUID(task_id))
        steps.append(Step("complete", clock.now(), element_id(task) or "", copy.deepcopy(data), user))
        original_complete(task_id, data, user)
        snapshot()

    def deliver(name: str, payload: dict[str, Any]) -> None:
        steps.append(Step("message", clock.now(), name, copy.deepcopy(payload)))
        original_deliver(name, payload)
        snapshot()

    def fire() -> int:
        now = clock.now()
        if any(timer.deadline <= now for timer in case.pending_timers()):
            steps.append(Step("timers", now))
            fired = original_fire()
            snapshot()
            return fired
        return 0

    case.start, case.complete_task = start, complete  # type: ignore[method-assign]
    case.deliver_message, case.fire_due_timers = deliver, fire  # type: ignore[method-assign]
    result = driver.run()
    if not result.completed:
        raise RuntimeError(f"the {category} sample did not complete")
    script.visited = result.visited
    return script
