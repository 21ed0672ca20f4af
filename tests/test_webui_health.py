"""``GET /healthz``: JSON with the database and what can be told about the worker."""

from __future__ import annotations

from datetime import timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import update

from runner.models import Job
from runner.schema import alembic_config
from tests.webui_helpers import Web, start_case, web_fixture  # noqa: F401  (fixture)


def test_healthz_reports_database_and_worker(web: Web) -> None:
    response = web.client().get("/healthz")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert body["status"] == "ok"
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert body["database"] == {"ok": True, "schema_revision": head}
    assert body["worker"]["status"] == "none" and body["worker"]["heartbeat"] is None  # no worker ever beat
    assert body["worker"]["activity"] == "unknown"

    start_case(web.db)  # waits on SLA timers: jobs due in a few working days
    web.db.clock.advance(timedelta(days=30))  # nobody fired them: a stalled (or absent) worker
    worker = web.client().get("/healthz").get_json()["worker"]
    assert worker["activity"] == "stalled" and worker["overdue_jobs"] >= 1

    with web.db.transaction() as session:  # a worker holding a lease now is active
        session.execute(update(Job).values(lease_owner="w1", lease_until=web.db.clock.now() + timedelta(seconds=60)))
    assert web.client().get("/healthz").get_json()["worker"]["activity"] == "active"
