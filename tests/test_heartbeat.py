"""Worker heartbeats: the worker upserts its row every poll and marks it stopped on shutdown; /healthz says
``ok`` while a running worker's heartbeat is fresh, ``stale`` once it is not, ``none`` before any worker ran."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from runner import heartbeat
from runner.delivery import registry_from_env
from runner.models import WorkerHeartbeat
from runner.worker import Worker
from tests.db import Db
from tests.webui_helpers import Web, web_fixture  # noqa: F401  (the web fixture)


def rows(db: Db) -> list[WorkerHeartbeat]:
    with db.reading() as session:
        return list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker_id)))


def test_beat_inserts_then_moves_the_row_and_stopped_marks_it(db: Db) -> None:
    started = db.clock.now()
    heartbeat.beat(db.sessions, "w1", started)
    db.clock.advance(timedelta(seconds=5))
    heartbeat.beat(db.sessions, "w1", db.clock.now())
    [row] = rows(db)
    assert (row.started_at, row.seen_at, row.stopped_at) == (started, db.clock.now(), None)
    heartbeat.stopped(db.sessions, "w1", db.clock.now())
    assert rows(db)[0].stopped_at == db.clock.now()
    heartbeat.beat(db.sessions, "w1", db.clock.now())  # the same id beating again is running again
    assert rows(db)[0].stopped_at is None
    assert heartbeat.stale_after(5) == timedelta(seconds=30) and heartbeat.stale_after(20) == timedelta(seconds=60)


def test_the_worker_beats_each_poll_and_says_when_it_stops(db: Db, tmp_path: Path) -> None:
    worker = Worker(db.sessions, db.runtime, deliverers=registry_from_env(tmp_path / "instance", {}),
                    worker_id="beating", poll_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        for _ in range(200):
            if rows(db):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    [row] = rows(db)
    assert row.worker_id == "beating" and row.stopped_at is not None and row.pid > 0


def test_healthz_reports_the_heartbeat(web: Web) -> None:
    client = web.client()
    worker = client.get("/healthz").get_json()["worker"]
    assert worker["status"] == "none" and worker["heartbeat"] is None

    heartbeat.beat(web.db.sessions, "w1", web.db.clock.now())
    web.db.clock.advance(timedelta(seconds=10))
    response = client.get("/healthz")
    worker = response.get_json()["worker"]
    assert response.status_code == 200 and worker["status"] == "ok"
    assert worker["heartbeat"]["worker_id"] == "w1" and worker["heartbeat"]["age_seconds"] == 10.0
    assert worker["heartbeat"]["alive"] == 1

    web.db.clock.advance(timedelta(seconds=60))  # no beat for over three polls (and MIN_STALE)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["worker"]["status"] == "stale"

    heartbeat.beat(web.db.sessions, "w1", web.db.clock.now())
    assert client.get("/healthz").get_json()["worker"]["status"] == "ok"
    heartbeat.stopped(web.db.sessions, "w1", web.db.clock.now())  # a graceful shutdown: gone at once
    worker = client.get("/healthz").get_json()["worker"]
    assert worker["status"] == "stale" and worker["heartbeat"]["stopped_at"] is not None
