"""``GET /healthz``: JSON with the database and what can be told about the worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text, update

from runner.models import Job
from runner.schema import alembic_config
from tests.webui_helpers import Web, build_app, start_case, web_fixture  # noqa: F401  (fixture)
from webui.extensions import db as flask_db


def test_healthz_reports_database_and_worker(web: Web) -> None:
    response = web.client().get("/healthz")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert body["status"] == "degraded"  # serving, but no worker is alive
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


def test_a_database_not_at_this_releases_revision_is_not_served(web: Web, tmp_path: Path) -> None:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert web.client("account_manager").get("/tasks/").status_code == 200
    with web.db.transaction() as session:  # as if nobody ran `baozhuang db upgrade` after installing this release
        session.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    app = build_app(web.db, tmp_path / "other-instance")  # a server started afresh on that database
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"] == {
        "ok": False, "schema_revision": "0005", "expected_revision": head, "error": "run `baozhuang db upgrade`"}
    api = client.post("/api/v1/applications", json={})
    assert api.status_code == 503 and "run `baozhuang db upgrade`" in api.get_json()["error"]["message"]
    page = client.get("/auth/login")
    assert page.status_code == 503 and "schema revision 0005" in page.get_data(as_text=True)
    with web.db.transaction() as session:
        session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    assert client.get("/auth/login").status_code == 200 and client.get("/healthz").status_code == 200
    with app.app_context():
        flask_db.engine.dispose()  # its own pool: no connection left for the collector to find later
