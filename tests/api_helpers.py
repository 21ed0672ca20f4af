"""What the REST API tests (tests/test_api_*.py) share: the app on the ``db`` fixture's database with one staff user
per group (``tests/webui_helpers.make_users``), a bearer token for each, and a client that sends it.

A test module imports ``api_fixture`` to get the ``api`` fixture. Requests go through the real app and its
Flask test client; nothing is stubbed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from runner import api_tokens
from runner.accounts import GROUPS
from tests.db import Db
from tests.webui_helpers import NO_GROUP, build_app, make_users
from webui.extensions import db as flask_db

PREFIX = "/api/v1"


@dataclass
class Api:
    """The app under test, and a token per user (named after their group; ``nobody`` has no group)."""

    app: Flask
    db: Db
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, user: str | None = None, *, token: str | None = None,
             json: Any = None, **kwargs: Any) -> TestResponse:
        """``method`` on ``/api/v1`` + ``path`` as ``user`` (their token), with ``token``, or anonymously."""
        headers = dict(kwargs.pop("headers", {}))
        secret = token if token is not None else self.tokens.get(user) if user else None
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        client = self.app.test_client()
        return client.open(PREFIX + path, method=method, headers=headers, json=json, **kwargs)

    def get(self, path: str, user: str | None = None, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, user, **kwargs)

    def post(self, path: str, user: str | None = None, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, user, **kwargs)


def issue_token(db: Db, username: str, **options: Any) -> str:
    with db.transaction() as session:
        return api_tokens.create_token(session, username, db.clock.now(), **options).secret


@pytest.fixture(name="api")
def api_fixture(db: Db, tmp_path: Path) -> Iterator[Api]:
    """The app on a migrated database with one deployed version, the staff users and a token for each."""
    make_users(db)
    app = build_app(db, tmp_path / "instance")
    api = Api(app, db, {user: issue_token(db, user) for user in (*GROUPS, NO_GROUP)})
    yield api
    with app.app_context():
        flask_db.engine.dispose()


def error_of(response: TestResponse) -> dict[str, Any]:
    """The ``error`` object of a JSON error answer (fails the test when the answer is not one)."""
    assert response.is_json, f"{response.status_code} {response.content_type}: {response.get_data(as_text=True)[:200]}"
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), error
    return error
