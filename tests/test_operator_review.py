"""An operator's review of several web servers and workers on one database: the ``baozhuang.admin`` trail reaches
stderr outside the worker, an unreachable database is not called a missing schema, a missing upload file is logged
as such, each worker is judged by its own poll interval on the wall clock, a restarted worker's row names the new
process, ``/healthz`` says ``degraded`` without a live worker, and ``token list`` has the listing's header lines."""

from __future__ import annotations

import io
import logging
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from runner import accounts, documents, heartbeat, schema
from runner.clock import SystemClock
from runner.delivery import registry_from_env
from runner.environment import OffsetClock
from runner.models import WorkerHeartbeat
from runner.store import Runtime
from runner.worker import Worker
from tests.db import Db, run_cli
from tests.test_documents import fetch
from tests.webui_helpers import FAST_HASH, Web, build_app, web_fixture  # noqa: F401  (the web fixture)
from webui import create_app
from webui.extensions import db as flask_db

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x02" * 300
BAOZHUANG = Path(sys.executable).with_name("baozhuang")


def heartbeat_rows(db: Db) -> list[WorkerHeartbeat]:
    with db.reading() as session:
        return list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker_id)))


def run_worker_briefly(worker: Worker, db: Db) -> None:
    """Run ``worker`` until it wrote its first heartbeat, then stop it gracefully."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    before = {row.worker_id: row.seen_at for row in heartbeat_rows(db)}
    thread.start()
    try:
        for _ in range(200):
            if {row.worker_id: row.seen_at for row in heartbeat_rows(db)} != before:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


# -- 1. the admin trail outside the worker ---------------------------------------------------------------------


def test_a_cli_user_change_writes_the_admin_line_to_stderr(db: Db, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": db.url, "BAOZHUANG_INSTANCE": str(tmp_path / "instance")}
    env.pop("BAOZHUANG_CLOCK_OFFSET_DAYS", None)
    done = subprocess.run([str(BAOZHUANG), "user", "create", "li.lei", "--admin", "--password-stdin"],
                          input="a-good-secret\n", capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    trail = [line for line in done.stderr.splitlines() if "admin=cli action=create_user user=li.lei" in line]
    assert len(trail) == 1 and "INFO baozhuang.admin" in trail[0], done.stderr


def test_the_web_app_sends_the_admin_trail_to_stderr_once(tmp_path: Path) -> None:
    probe = ("import logging; from webui import create_app; app = create_app(); create_app(); "
             "logging.getLogger('baozhuang.admin').info('admin=probe action=test'); app.logger.error('flask line')")
    env = {**os.environ, "BAOZHUANG_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                          check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("admin=probe action=test") == 1, done.stderr  # two apps, one handler
    assert done.stderr.count("flask line") == 1, done.stderr  # Flask's logger finds ours, adds none of its own


def test_create_app_enables_the_trail_without_adding_handlers_under_pytest(db: Db, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ours = logging.getLogger("baozhuang")
    monkeypatch.setattr(ours, "level", logging.NOTSET)  # as in a fresh process
    root_handlers = list(logging.getLogger().handlers)
    app = build_app(db, tmp_path / "instance")
    assert logging.getLogger("baozhuang.admin").isEnabledFor(logging.INFO)
    assert logging.getLogger().handlers == root_handlers and not ours.handlers  # pytest's capture is kept
    with app.app_context():
        flask_db.engine.dispose()


# -- 2. an unreachable database --------------------------------------------------------------------------------


def test_an_unreachable_database_is_named_as_such_logged_once_and_served_when_it_is_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang.web")
    missing = tmp_path / "not-yet" / "baozhuang.sqlite3"  # SQLite cannot open a file in a missing folder
    url = f"sqlite:///{missing}"
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": url,
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    client = app.test_client()
    page = client.get("/auth/login")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert f"cannot connect to the database ({missing})" in text and "without a schema" not in text
    api = client.get("/api/v1/tasks")
    assert api.status_code == 503 and "cannot connect to the database" in api.get_json()["error"]["message"]
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "cannot connect to the database" in errors[0].getMessage()  # not per request

    missing.parent.mkdir()
    schema.upgrade(url)  # the database is back (and at this release's schema)
    assert client.get("/auth/login").status_code == 200
    assert any("serving again" in record.getMessage() for record in caplog.records)
    with app.app_context():
        flask_db.engine.dispose()


def test_a_closed_postgresql_port_names_host_and_port_and_hides_the_password(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "DATABASE_URL": f"postgresql+psycopg://someone:pa55word-x@127.0.0.1:{port}/baozhuang"})
    client = app.test_client()
    for path in ("/", "/auth/login", "/portal/", "/api/v1/openapi.json"):
        response = client.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == 503, path
        assert f"cannot connect to the database (127.0.0.1:{port})" in text and "pa55word-x" not in text, path
        assert "baozhuang db upgrade" not in text, path
    assert client.get("/healthz").status_code == 503
    with app.app_context():
        flask_db.engine.dispose()


# -- 3. an upload whose file is not on this host ---------------------------------------------------------------


def test_a_missing_upload_file_is_logged_with_its_path_and_told_apart(web: Web,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    root = Path(web.app.instance_path)
    with web.db.transaction() as session:
        document = documents.store_document(session, root, documents.Upload(io.BytesIO(JPEG), "meter.jpg",
                                                                            "surveyor"), web.db.clock.now())
        document_id, path = document.id, root / document.storage_key
    surveyor = web.client("surveyor")
    assert fetch(surveyor, f"/documents/{document_id}").status_code == 200
    path.unlink()  # uploaded on another host: the row is shared, the file is not
    caplog.set_level(logging.ERROR, logger="baozhuang.documents")
    missing_page = fetch(surveyor, f"/documents/{document_id}")
    assert missing_page.status_code == 404 and "文件不在本机存储中" in missing_page.get_data(as_text=True)
    [record] = [record for record in caplog.records if record.name == "baozhuang.documents"]
    assert record.levelno == logging.ERROR and str(path) in record.getMessage()
    with web.db.reading() as session, pytest.raises(documents.DocumentFileMissing) as missing:
        documents.read_document(session, root, document_id, documents.Viewer("surveyor"))
    assert missing.value.path == path
    with web.db.reading() as session, pytest.raises(documents.DocumentAccessDenied) as denied:
        documents.read_document(session, root, document_id, documents.Viewer("archivist", ("archivist",)))
    assert not isinstance(denied.value, documents.DocumentFileMissing)  # no reader learns more than before


# -- 4, 6, 8. /healthz: each worker's own poll, degraded without one, wall-clock time -----------------------------


def test_a_worker_is_judged_by_its_own_poll_interval(web: Web) -> None:
    heartbeat.beat(web.db.sessions, "slow", web.db.clock.now(), poll_seconds=45)
    web.db.clock.advance(timedelta(seconds=100))  # beyond 3 x the web's 5 s (and 30 s), within 3 x 45 s
    body = web.client().get("/healthz").get_json()
    assert body["worker"]["status"] == "ok" and body["status"] == "ok"
    beat = body["worker"]["heartbeat"]
    assert beat["poll_seconds"] == 45 and beat["stale_after_seconds"] == 135
    web.db.clock.advance(timedelta(seconds=40))
    assert web.client().get("/healthz").get_json()["worker"]["status"] == "stale"


def test_healthz_is_degraded_but_200_without_a_live_worker(web: Web) -> None:
    response = web.client().get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "degraded"  # no worker ever ran
    heartbeat.beat(web.db.sessions, "w1", web.db.clock.now(), poll_seconds=5)
    assert web.client().get("/healthz").get_json()["status"] == "ok"
    web.db.clock.advance(timedelta(minutes=5))
    response = web.client().get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "degraded" and body["worker"]["status"] == "stale"
    assert body["worker"]["heartbeat"]["alive"] == 0


def test_a_heartbeat_from_the_future_is_reported_and_never_alive(web: Web) -> None:
    heartbeat.beat(web.db.sessions, "offset", web.db.clock.now() + timedelta(days=45), poll_seconds=5)
    body = web.client().get("/healthz").get_json()
    beat = body["worker"]["heartbeat"]
    assert body["status"] == "degraded" and body["worker"]["status"] == "stale"
    assert beat["alive"] == 0 and beat["from_future"] == 1 and beat["age_seconds"] < 0
    heartbeat.beat(web.db.sessions, "live", web.db.clock.now(), poll_seconds=5)  # a live one is shown before it
    beat = web.client().get("/healthz").get_json()["worker"]["heartbeat"]
    assert beat["worker_id"] == "live" and beat["alive"] == 1 and beat["from_future"] == 1


def test_a_worker_on_an_offset_clock_beats_in_wall_clock_time(db: Db, tmp_path: Path) -> None:
    offset = Runtime(cache_dir=tmp_path / "versions", clock=OffsetClock(timedelta(days=45)))
    assert isinstance(heartbeat.heartbeat_clock(offset.clock), SystemClock)
    worker = Worker(db.sessions, offset, deliverers=registry_from_env(tmp_path / "instance", {}),
                    worker_id="offset", poll_seconds=0.05)
    run_worker_briefly(worker, db)
    [row] = heartbeat_rows(db)
    assert abs(row.seen_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert abs(row.started_at - datetime.now(UTC)) < timedelta(minutes=1)


# -- 5. a worker restarted under the same id --------------------------------------------------------------------


def test_a_restart_under_the_same_id_records_the_new_process(db: Db, tmp_path: Path) -> None:
    long_ago = db.clock.now() - timedelta(days=3)
    with db.transaction() as session:
        session.add(WorkerHeartbeat(worker_id="w-fixed", host="old-host", pid=1, started_at=long_ago,
                                    seen_at=long_ago, stopped_at=None))
    worker = Worker(db.sessions, db.runtime, deliverers=registry_from_env(tmp_path / "instance", {}),
                    worker_id="w-fixed", poll_seconds=0.05)
    run_worker_briefly(worker, db)
    [row] = heartbeat_rows(db)
    assert (row.host, row.pid, row.poll_seconds) == (socket.gethostname()[:120], os.getpid(), 0.05)
    assert row.started_at > long_ago


# -- 7. token list ---------------------------------------------------------------------------------------------


def test_token_list_says_its_times_and_has_a_header(db: Db, tmp_path: Path) -> None:
    instance = tmp_path / "cli"
    with db.transaction() as session:
        accounts.create_user(session, "tok.user", "a-good-secret", db.clock.now(), groups=("archivist",),
                             password_method=FAST_HASH)
    assert run_cli(db, instance, "token", "create", "tok.user", "--name", "nightly").exit_code == 0
    listed = run_cli(db, instance, "token", "list")
    lines = listed.stdout.splitlines()
    assert listed.exit_code == 0 and lines[0] == "times: Asia/Shanghai"
    assert lines[1].split("\t") == ["id", "user", "prefix", "state", "name", "created", "last used", "expires",
                                     "scope"]
    assert lines[2].split("\t")[1] == "tok.user"
