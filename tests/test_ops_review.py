"""An operator's review of database outages: a database that goes away while the web server runs (a PostgreSQL
restart behind a proxy, a SQLite file that cannot be opened any more), one that is read-only, and one that is full.
Pages answer 503 in the app's own style without touching the database, the API answers 503 JSON, ``/healthz``
names the problem, ``baozhuang.web`` logs it once and ``serving again`` when it is back; the commands end with one
``error:`` line, never a traceback with the statement's parameters (a password hash, a token hash)."""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

from runner import api_tokens
from runner.cli import main
from runner.environment import CommandEnvironment, DatabaseUnavailable, masked_url
from runner.models import Case as CaseRow
from runner.process_folder import load_process_folder
from runner.trial import sample_application
from tests.api_helpers import issue_token
from tests.db import PROCESSES, Db
from tests.webui_helpers import Browser, build_app, make_users, password_of, text_of
from webui.extensions import db as flask_db

BAOZHUANG = Path(sys.executable).with_name("baozhuang")


def run_cli(url: str, instance: Path, *args: str, stdin: str | None = None) -> Result:
    """``baozhuang ARGS`` in process on the database at ``url``."""
    env = {"DATABASE_URL": url, "BAOZHUANG_INSTANCE": str(instance)}
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


class Proxy:
    """A TCP proxy in front of the test database's server: ``close`` takes the database away (as a killed proxy,
    a PostgreSQL restart or a failover does), ``open`` brings it back on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.running = False

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self.listener, self.running = listener, True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.running = False
        assert self.thread is not None
        self.thread.join(timeout=10)
        with self.lock:
            for sock in self.sockets:
                sock.close()
            self.sockets.clear()

    def _serve(self) -> None:
        assert self.listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, None)
        try:
            while self.running:
                for key, _mask in selector.select(timeout=0.05):
                    if key.data is None:
                        client, _address = self.listener.accept()
                        server = socket.create_connection(self.target)
                        with self.lock:
                            self.sockets += [client, server]
                        selector.register(client, selectors.EVENT_READ, server)
                        selector.register(server, selectors.EVENT_READ, client)
                        continue
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        try:
                            key.data.sendall(data)
                            continue
                        except OSError:
                            pass
                    for sock in (source, key.data):  # one side closed: close the other too
                        if sock.fileno() != -1:
                            selector.unregister(sock)
                            sock.close()
        finally:
            selector.close()
            self.listener.close()


@pytest.fixture(name="proxied")
def proxied_fixture(db: Db) -> Iterator[tuple[Db, Proxy]]:
    if db.kind != "postgresql":
        pytest.skip("a TCP proxy stands in front of a server: PostgreSQL only (SQLite: see the file tests)")
    url = make_url(db.url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.open()
    yield db, proxy
    if proxy.running:
        proxy.close()


def app_on(db: Db, instance: Path, url: str) -> Flask:
    make_users(db)
    return build_app(db, instance, DATABASE_URL=url)


def dispose(app: Flask) -> None:
    with app.app_context():
        flask_db.engine.dispose()


def web_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "baozhuang.web" and record.levelno == logging.ERROR]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{record.name}: {record.getMessage()}" for record in caplog.records if record.exc_info]


def on_connect(app: Flask, statement: str) -> None:
    """Run ``statement`` on every new connection of the app's engine, from now on (the pool is emptied)."""

    def run(dbapi: Any, _record: Any) -> None:
        cursor = dbapi.cursor()
        cursor.execute(statement)
        cursor.close()
        dbapi.commit()

    with app.app_context():
        event.listen(flask_db.engine, "connect", run)
        flask_db.engine.dispose()


# -- 1. the database goes away while the web server runs ---------------------------------------------------------


def test_postgresql_going_away_is_a_503_logged_once_and_served_again(proxied: tuple[Db, Proxy], tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    db, proxy = proxied
    caplog.set_level(logging.INFO)
    url = make_url(db.url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = app_on(db, tmp_path / "instance", url)
    token = issue_token(db, "supervisor")
    browser = Browser(app.test_client(), "127.0.0.1")
    assert browser.login("supervisor", password_of("supervisor")).status_code == 302
    assert browser.get("/tasks/").status_code == 200
    caplog.clear()

    proxy.close()
    where = f"cannot connect to the database (127.0.0.1:{proxy.port})"
    for path in ("/tasks/", "/tasks/", "/portal/track"):
        page = browser.get(path)
        assert page.status_code == 503, path
        assert "暂时无法服务" in text_of(page) and where in text_of(page), path  # the app's page, the cause named
    api = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 503 and where in api.get_json()["error"]["message"]
    assert api.get_json()["error"]["code"] == "unavailable" and "Retry-After" not in api.headers  # not "busy"
    health = app.test_client().get("/healthz")
    assert health.status_code == 503 and where in health.get_json()["database"]["error"]
    assert len(web_errors(caplog)) == 1 and where in web_errors(caplog)[0]  # once per outage, not per request
    assert tracebacks(caplog) == []

    proxy.open()
    assert browser.get("/tasks/").status_code == 200  # still signed in: nothing was lost
    assert [r.getMessage() for r in caplog.records if "serving again" in r.getMessage()] != []
    assert app.test_client().get("/healthz").status_code == 200
    dispose(app)


def test_a_sqlite_file_that_cannot_be_opened_any_more_is_a_503_and_served_again(
        db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if db.kind != "sqlite":
        pytest.skip("the SQLite file")
    caplog.set_level(logging.INFO)
    app = app_on(db, tmp_path / "instance", db.url)
    file = Path(make_url(db.url).database or "")
    client = Browser(app.test_client(), "127.0.0.1")
    assert client.login("supervisor", password_of("supervisor")).status_code == 302
    db.engine.dispose()
    moved = file.with_name("moved.sqlite3")
    file.rename(moved)
    file.mkdir()  # a directory where the database file was: SQLite cannot open it
    dispose(app)  # new connections from now on, as after a restart of the pool
    page = client.get("/tasks/")
    assert page.status_code == 503 and "unable to open database file" in text_of(page)
    assert client.get("/auth/login").status_code == 503  # checked again before every request until it is back
    assert client.client.get("/healthz").status_code == 503
    assert len(web_errors(caplog)) == 1 and tracebacks(caplog) == []
    file.rmdir()
    moved.rename(file)
    assert client.get("/tasks/").status_code == 200
    assert any("serving again" in record.getMessage() for record in caplog.records)
    dispose(app)


# -- 2. a read-only database -------------------------------------------------------------------------------------


def read_only_url(db: Db) -> str:
    """The test database opened read-only: SQLite's own read-only open, a PostgreSQL read-only session (as on a
    hot standby after a failover)."""
    url = make_url(db.url)
    if db.kind == "sqlite":
        return f"sqlite:///file:{url.database}?mode=ro&uri=true"
    return url.update_query_dict({"options": "-c default_transaction_read_only=on"}).render_as_string(
        hide_password=False)


def test_a_read_only_database_is_named_by_healthz_and_the_pages(db: Db, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app = app_on(db, tmp_path / "instance", read_only_url(db))
    health = app.test_client().get("/healthz")
    assert health.status_code == 503 and "is read-only" in health.get_json()["database"]["error"]
    page = Browser(app.test_client(), "127.0.0.1").login("supervisor", password_of("supervisor"))
    assert page.status_code == 503 and "is read-only" in text_of(page) and "暂时无法服务" in text_of(page)
    assert len(web_errors(caplog)) == 1 and tracebacks(caplog) == []
    dispose(app)


def test_a_read_only_database_mid_request_is_a_503_not_a_500(db: Db, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    make_users(db)
    app = build_app(db, tmp_path / "instance")
    client = Browser(app.test_client(), "127.0.0.1")
    assert client.get("/auth/login").status_code == 200  # checked once, served from now on
    on_connect(app, "PRAGMA query_only = ON" if db.kind == "sqlite" else "SET default_transaction_read_only = on")
    page = client.login("supervisor", password_of("supervisor"))  # writes users.last_login_at
    assert page.status_code == 503, text_of(page)[:300]
    assert "read-only" in text_of(page) or "readonly" in text_of(page)
    assert tracebacks(caplog) == []
    assert client.client.get("/healthz").status_code == 503
    dispose(app)


def test_english_page_for_an_unavailable_database(db: Db, tmp_path: Path) -> None:
    app = app_on(db, tmp_path / "instance", read_only_url(db))
    client = app.test_client()
    with client.session_transaction() as session:
        session["lang"] = "en"
    page = client.get("/auth/login")
    assert page.status_code == 503 and "Service unavailable" in text_of(page) and "暂时无法服务" not in text_of(page)
    dispose(app)


def changed_processes(tmp_path: Path) -> Path:
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES, folder)
    bpmn = folder / "baozhuang.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8") + "<!-- changed -->\n", encoding="utf-8")
    return folder


def test_commands_that_write_to_a_read_only_database_end_with_one_line(db: Db, tmp_path: Path) -> None:
    make_users(db)
    ro, instance = read_only_url(db), tmp_path / "instance"
    runs = {
        "user create": run_cli(ro, instance, "user", "create", "ro.user", "--group", "surveyor", "--password-stdin",
                               stdin="a-good-secret-1\n"),
        "token create": run_cli(ro, instance, "token", "create", "admin"),
        "deploy": run_cli(ro, instance, "deploy", str(changed_processes(tmp_path))),
        "uploads prune": run_cli(ro, instance, "uploads", "prune", "--older-than-hours", "1"),
    }
    for name, result in runs.items():
        assert result.exit_code == 1, (name, result.output, result.exception)
        assert isinstance(result.exception, SystemExit), (name, result.exception)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the database at ") and "is read-only" in lines[0], \
            (name, result.stderr[:500])
        assert "$scrypt" not in result.output and "[SQL" not in result.output, name


def test_the_worker_on_a_read_only_database_stops_with_one_line(db: Db, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": read_only_url(db), "BAOZHUANG_INSTANCE": str(tmp_path / "instance")}
    env.pop("BAOZHUANG_CLOCK_OFFSET_DAYS", None)
    done = subprocess.run([str(BAOZHUANG), "worker", "--worker-id", "ro"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "[SQL" not in done.stderr, done.stderr[:2000]
    assert done.stderr.strip().splitlines()[-1].startswith("error: the database at ")
    assert "is read-only" in done.stderr


def test_a_statement_on_a_database_gone_read_only_is_one_line_that_still_is_an_operational_error(db: Db,
                                                                                              tmp_path: Path) -> None:
    make_users(db)
    env = CommandEnvironment(url=read_only_url(db), instance=tmp_path)
    env.check_connection()
    with pytest.raises(DatabaseUnavailable) as refused, env.sessions.begin() as session:
        api_tokens.create_token(session, "admin", db.clock.now())
    assert str(refused.value).startswith(f"the database at {masked_url(env.url)} is read-only")
    assert refused.value.params is None and refused.value.statement is None  # nothing of the INSERT kept
    env.dispose()


def test_a_missing_sqlite_folder_is_named_with_its_likely_causes(db: Db, tmp_path: Path) -> None:
    if db.kind != "sqlite":
        pytest.skip("SQLite's own message")
    result = run_cli(f"sqlite:///{tmp_path}/gone/baozhuang.sqlite3", tmp_path / "instance", "versions")
    assert result.exit_code == 1
    assert "unable to open database file" in result.stderr and f"folder {tmp_path}/gone" in result.stderr
    assert "write to it" in result.stderr


# -- 3. a full database or disk ----------------------------------------------------------------------------------


def test_a_full_sqlite_database_is_a_503_saying_it_cannot_store_data(db: Db, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    if db.kind != "sqlite":
        pytest.skip("SQLite's page limit stands in for a full disk")
    caplog.set_level(logging.INFO)
    make_users(db)
    token = issue_token(db, "account_manager")
    app = build_app(db, tmp_path / "instance")
    client = app.test_client()
    with db.reading() as session:
        cases = session.scalar(select(func.count()).select_from(CaseRow))
    with sqlite3.connect(make_url(db.url).database or "") as probe:
        pages = probe.execute("PRAGMA page_count").fetchone()[0]
    on_connect(app, f"PRAGMA max_page_count = {pages}")  # not one page more: as a disk with no room left
    data = sample_application(load_process_folder(PROCESSES), "lv_residential")
    application = {"application": data["application"], "regime": data["regime"]}
    started = 0
    for _ in range(100):  # the first ones may still fit in the pages' free space
        response = client.post("/api/v1/applications", headers={"Authorization": f"Bearer {token}"},
                               json=application)
        if response.status_code != 201:
            break
        started += 1
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    message = response.get_json()["error"]["message"]
    assert "cannot store data: the disk or the database is full" in message
    assert tracebacks(caplog) == []
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == cases + started  # none half-stored
    dispose(app)


def test_healthz_reports_a_full_disk_beside_a_sqlite_database(db: Db, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if db.kind != "sqlite":
        pytest.skip("the free space beside a SQLite file")
    app = build_app(db, tmp_path / "instance")
    assert app.test_client().get("/healthz").status_code == 200
    monkeypatch.setattr("webui.schema_check.shutil.disk_usage", lambda _path: SimpleNamespace(free=0))
    health = app.test_client().get("/healthz")
    assert health.status_code == 503 and "the disk is full" in health.get_json()["database"]["error"]
    dispose(app)


def test_a_role_that_may_not_write_alembic_version_is_served(db: Db, tmp_path: Path) -> None:
    """The web's PostgreSQL role may write the app's tables but not Alembic's (a least-privilege set-up): the no-op
    write probe on ``alembic_version`` is refused with "permission denied", which says nothing about the database
    being read-only: the app serves (it answered 503 to every request)."""
    if db.kind != "postgresql":
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"bz_web_{os.getpid()}_{threading.get_ident() % 10_000}"
    with db.engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        connection.exec_driver_sql(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        connection.exec_driver_sql(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        connection.exec_driver_sql(f'REVOKE UPDATE ON alembic_version FROM "{role}"')
        connection.commit()
    try:
        url = make_url(db.url).set(username=role, password=None).render_as_string(hide_password=False)
        app = app_on(db, tmp_path / "instance", url)
        health = app.test_client().get("/healthz")
        assert health.get_json()["database"].get("ok") is True, health.get_json()
        page = Browser(app.test_client(), "127.0.0.1").login("supervisor", password_of("supervisor"))
        assert page.status_code in (200, 302), text_of(page)
        dispose(app)
    finally:
        with db.engine.connect() as connection:
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')
            connection.commit()
