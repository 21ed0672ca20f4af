"""What the web UI tests (tests/test_webui_*.py) share: the app on the ``db`` fixture's database, one staff user
per group (plus one without any group), and a client that signs in and sends CSRF tokens like a browser. A test
module imports ``web_fixture`` to get the ``web`` fixture.

The app is built by the real factory (``webui.create_app``) with a test config naming the database, an instance
folder under ``tmp_path`` and the fixture's runtime (its virtual clock decides what is overdue). CSRF stays on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from runner import accounts
from runner.accounts import GROUPS
from tests.db import Db, open_tasks, start
from webui import create_app
from webui.extensions import db as flask_db

FAST_HASH = "pbkdf2:sha256:1000"  # the tests sign in hundreds of times; production uses scrypt
NO_GROUP = "nobody"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def password_of(username: str) -> str:
    return f"{username}-secret"


@dataclass
class Web:
    """The app under test on the ``db`` fixture's database."""

    app: Flask
    db: Db

    def client(self, username: str | None = None, address: str = "127.0.0.1") -> Browser:
        """A fresh client; signed in as ``username`` when given."""
        browser = Browser(self.app.test_client(), address)
        if username is not None:
            response = browser.login(username, password_of(username))
            assert response.status_code == 302, f"{username} could not sign in: {response.status_code}"
        return browser


class Browser:
    """A test client that keeps the page's CSRF token and sends it with each form, as the pages do."""

    def __init__(self, client: FlaskClient, address: str) -> None:
        self.client = client
        self.environ = {"REMOTE_ADDR": address}
        self.token: str | None = None

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        response = self.client.get(url, environ_base=self.environ, **kwargs)
        match = CSRF_META.search(response.get_data(as_text=True))
        if match:
            self.token = match[1]
        return response

    def post(self, url: str, data: Any = None, *, csrf: bool = True, **kwargs: Any) -> TestResponse:
        if csrf and self.token is None:
            self.get("/auth/login")
        fields = list(data.items(multi=True)) if hasattr(data, "items") and hasattr(data, "getlist") else \
            list((data or {}).items())
        if csrf:
            fields.append(("csrf_token", self.token))
        response = self.client.post(url, data=_multidict(fields), environ_base=self.environ, **kwargs)
        match = CSRF_META.search(response.get_data(as_text=True))
        if match:
            self.token = match[1]
        return response

    def login(self, username: str, password: str) -> TestResponse:
        self.get("/auth/login")
        response = self.post("/auth/login", {"username": username, "password": password})
        if response.status_code == 302:
            self.get("/tasks/")  # where the browser goes next: a page with the new session's CSRF token
        return response


def _multidict(fields: list[tuple[str, Any]]) -> Any:
    from werkzeug.datastructures import MultiDict

    return MultiDict(fields)


def text_of(response: TestResponse) -> str:
    """The page's visible text, whitespace folded (for asserting on what a person reads)."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def make_users(db: Db) -> None:
    """One user per group, named after it, and ``nobody`` without groups."""
    with db.transaction() as session:
        for group in GROUPS:
            accounts.create_user(session, group, password_of(group), db.clock.now(), groups=(group,),
                                 password_method=FAST_HASH)
        accounts.create_user(session, NO_GROUP, password_of(NO_GROUP), db.clock.now(), password_method=FAST_HASH)


def build_app(db: Db, instance: Path, **config: Any) -> Flask:
    """The app on ``db``; a setting given as None is left out (so that the factory finds its own)."""
    settings = {"TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": db.url, "INSTANCE_PATH": str(instance),
                "RUNTIME": db.runtime, **config}
    return create_app({key: value for key, value in settings.items() if value is not None})


@pytest.fixture(name="web")
def web_fixture(db: Db, tmp_path: Path) -> Iterator[Web]:
    """The app on a migrated database with one deployed version and the staff users."""
    make_users(db)
    app = build_app(db, tmp_path / "instance")
    yield Web(app, db)
    with app.app_context():
        flask_db.engine.dispose()


def task_of(db: Db, case_number: str, element_id: str) -> str:
    """The id of the case's open task of ``element_id``."""
    found = [task.id for task in open_tasks(db, case_number) if task.element_id == element_id]
    assert len(found) == 1, f"{case_number}: {[task.element_id for task in open_tasks(db, case_number)]}"
    return found[0]


def start_case(db: Db, category: str = "hv_ordinary", **application: Any) -> str:
    return start(db, category, **application)
