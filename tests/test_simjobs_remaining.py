"""预计还需约 … on a running simulation's page and in its status.json (``runs.remaining_seconds``, issue 5): real
HTTP through the Flask app on both databases; the clock is the test's virtual one."""

from __future__ import annotations

from datetime import datetime, timedelta

from runner.models import SimulationRun
from runner.simulation import runs
from tests.test_webui_simulation import queue_run
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

LEASE = timedelta(minutes=10)


def started(web: Web) -> int:
    run_id = queue_run(web)
    assert runs.claim(web.db.sessions, owner="worker-1", now=web.db.clock.now(), lease=LEASE) == run_id
    return run_id


def report(web: Web, run_id: int, fraction: float) -> None:
    assert runs.progress(web.db.sessions, run_id, owner="worker-1", now=web.db.clock.now(), lease=LEASE,
                         done=fraction)


def test_the_estimate_follows_the_progress(web: Web) -> None:
    run_id = started(web)
    client = web.client("process_owner")
    status = f"/simulation/{run_id}/status.json"
    assert client.get(status).get_json()["remaining_label"] is None  # nothing done yet
    assert 'id="sim-remaining" hidden' in client.get(f"/simulation/{run_id}").get_data(as_text=True)
    web.db.clock.advance(timedelta(seconds=60))
    report(web, run_id, 0.02)
    assert client.get(status).get_json()["remaining_label"] is None  # too little to go by
    report(web, run_id, 0.25)  # a quarter in a minute: three more
    assert client.get(status).get_json()["remaining_label"] == "预计还需约 3 分钟"
    page = client.get(f"/simulation/{run_id}")
    assert "预计还需约 3 分钟" in text_of(page)
    web.db.clock.advance(timedelta(seconds=60))
    report(web, run_id, 0.8)  # 120 s for 80 %: 30 s left
    assert client.get(status).get_json()["remaining_label"] == "预计还需约 30 秒"
    client.get("/auth/language/en")
    assert client.get(status).get_json()["remaining_label"] == "about 30 s left"


def test_no_estimate_for_a_run_that_is_not_running_under_its_lease(web: Web) -> None:
    run_id = started(web)
    queued = queue_run(web)
    web.db.clock.advance(timedelta(seconds=30))
    report(web, run_id, 0.5)
    client = web.client("process_owner")
    assert client.get(f"/simulation/{run_id}/status.json").get_json()["remaining_label"] == "预计还需约 30 秒"
    assert client.get(f"/simulation/{queued}/status.json").get_json()["remaining_label"] is None
    web.db.clock.advance(LEASE + timedelta(seconds=1))  # its worker died: taken over, it starts again from 0 %
    state = client.get(f"/simulation/{run_id}/status.json").get_json()
    assert state["stalled"] is True and state["remaining_label"] is None


def test_remaining_seconds() -> None:
    now = datetime(2026, 11, 28, 12, 0)
    run = SimulationRun(status="running", progress=0.4, started_at=now - timedelta(seconds=40),
                        lease_until=now + LEASE)
    assert runs.remaining_seconds(run, now) == 60.0
    run.progress = 1.0
    assert runs.remaining_seconds(run, now) == 0.0
    run.started_at = now - timedelta(seconds=4)  # too soon
    assert runs.remaining_seconds(run, now) is None
    run.started_at, run.status = now - timedelta(seconds=40), "done"
    assert runs.remaining_seconds(run, now) is None
