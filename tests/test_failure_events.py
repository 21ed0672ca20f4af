"""Each failed run of an engine task is a ``failed`` event in the hash-chained log (without the error, which only
supervisors see on the retry job and the incident), so the case's history shows where and when it stalled; exports
leave the event out of the activity instances. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner import audit
from runner.store import Runtime
from tests.db import Db, case_row, events, start
from tests.worker_helpers import registry_with, run_retries_out


def unavailable(ctx: Any, **params: Any) -> dict[str, Any]:
    raise RuntimeError("capacity service unavailable")


def test_every_failed_run_of_a_service_task_is_a_failed_event(db: Db, tmp_path: Path) -> None:
    runtime = Runtime(cache_dir=db.cache_dir, clock=db.clock, registry=registry_with("capacity_assessment",
                                                                                     unavailable))
    runtime.bundles.update(db.runtime.bundles)
    number = start(db, "hv_ordinary", runtime=runtime)
    assert run_retries_out(db, runtime, case_row(db, number).id, tmp_path) is not None

    failed = [event for event in events(db, number) if event.lifecycle == "failed"]
    assert [event.element_id for event in failed] == ["assess_capacity"] * 4  # the first run and three retries
    assert {event.activity for event in failed} == {"容量评估"} and all(event.data is None for event in failed)
    assert len({event.at for event in failed}) == 4  # one per attempt, at the time it ran
    with db.reading() as session:
        assert audit.verify(session).ok
