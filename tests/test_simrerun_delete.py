"""删除此仿真: an ended run's row and files go, a queued or running one stays (cancel first), and a later run that
gets the same id never reads a deleted run's files (``runs.delete``, ``runs.run_next``). Real HTTP on both
databases; the worker's step runs the real engine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from runner.models import SimulationRun
from runner.simulation import runs
from tests.test_simulation_runs import small_request
from tests.test_webui_simulation import queue_run, run_worker_step
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def simulations(web: Web) -> Path:
    return Path(web.app.instance_path) / "simulations"


def test_an_ended_run_goes_with_its_files(web: Web) -> None:
    run_id = queue_run(web, small_request())
    outcome = run_worker_step(web, simulations(web))
    assert outcome is not None and outcome.outcome == "done", outcome
    folder = simulations(web) / str(run_id)
    assert (folder / "base_process").is_dir()
    client = web.client("process_owner")
    assert "删除此仿真" in text_of(client.get(f"/simulation/{run_id}"))
    response = client.post(f"/simulation/{run_id}/delete")
    assert response.status_code == 302 and response.headers["Location"] == "/simulation/"
    assert "已删除仿真“基线”。" in text_of(client.get("/simulation/"))
    assert client.get(f"/simulation/{run_id}").status_code == 404
    assert not folder.exists()
    assert client.post(f"/simulation/{run_id}/delete").status_code == 404  # twice: gone


def test_a_queued_or_running_run_is_not_deleted(web: Web) -> None:
    queued = queue_run(web)
    client = web.client("process_owner")
    assert "删除此仿真" not in text_of(client.get(f"/simulation/{queued}"))
    response = client.post(f"/simulation/{queued}/delete")
    assert response.status_code == 302 and response.headers["Location"] == f"/simulation/{queued}"
    assert "排队中或运行中的仿真不能删除：请先取消。" in text_of(client.get(f"/simulation/{queued}"))
    assert runs.claim(web.db.sessions, owner="w", now=web.db.clock.now(), lease=timedelta(minutes=5)) == queued
    client.post(f"/simulation/{queued}/delete")
    with web.db.reading() as session:
        assert runs.get_run(session, queued).status == "running"
    assert web.client("surveyor").post(f"/simulation/{queued}/delete").status_code == 403


def test_files_outside_the_instance_are_never_removed(web: Web, tmp_path: Path) -> None:
    run_id = queue_run(web)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine", encoding="utf-8")
    with web.db.transaction() as session:
        session.execute(update(SimulationRun).where(SimulationRun.id == run_id)
                        .values(status="failed", output_dir=str(elsewhere)))
    assert web.client("process_owner").post(f"/simulation/{run_id}/delete").status_code == 302
    assert (elsewhere / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_a_run_never_reads_the_files_of_a_deleted_run_with_its_id(web: Web, tmp_path: Path) -> None:
    """SQLite may give the newest row's id again once it is deleted: the new run's folder must start empty."""
    root = tmp_path / "simulations"
    run_id = queue_run(web)
    stale = root / str(run_id)
    (stale / "base_process").mkdir(parents=True)
    (stale / "base_process" / "baozhuang.bpmn").write_text("<not the process asked for/>", encoding="utf-8")
    seen: dict[str, Any] = {}

    def execute(params: dict[str, Any], progress: runs.Progress) -> dict[str, Any]:
        seen["files"] = sorted(path.name for path in Path(params["output_dir"]).rglob("*"))
        return {"ok": True}

    outcome = runs.run_next(web.db.sessions, owner="w", clock=web.db.clock, lease=timedelta(minutes=5),
                            output_root=root, execute=execute)
    assert outcome is not None and outcome.outcome == "done"
    assert seen["files"] == []
