"""What the browser tests (tests/test_browser_*.py) share: the real app served over HTTP on a free local port, and
Debian's chromium driven headless by Playwright, with a screenshot of every page a test looks at.

The server is the real factory's app (as in ``tests/webui_helpers.py``) on the ``db`` fixture's database, run by
werkzeug's threaded server in a background thread; its runtime's virtual clock is the test's, so a test moves time
on and runs the worker to make deadlines pass. Browser tests run on SQLite only (each page is the same code on both
databases, which the Flask test-client suites cover); they take seconds each.

Chromium: ``/usr/bin/chromium`` (``CHROMIUM`` overrides), installed by ``.ci/run``. Where it is missing the tests are
skipped — except in CI (``CI`` set), where that is a failure: the browser tests must run there.
Screenshots go to ``test-artifacts/screenshots/<test>/`` (``BROWSER_ARTIFACTS`` overrides).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.db import ROOT, Db
from tests.webui_helpers import build_app, make_users, password_of
from webui.extensions import db as flask_db

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / "test-artifacts" / "screenshots"))
SQLITE_ONLY = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1366, "height": 860}


def chromium_or_skip() -> str:
    """The browser's path; outside CI a missing browser skips the test, in CI it fails it."""
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class QuietHandler(WSGIRequestHandler):
    """No access-log line per request (a test makes hundreds)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class LiveServer:
    """The app answering HTTP on 127.0.0.1:<port>."""

    db: Db
    url: str
    app: Any
    server: BaseWSGIServer
    thread: threading.Thread


@dataclass
class Pages:
    """A Playwright browser plus the test's screenshot folder; ``page()`` opens a fresh signed-out page."""

    browser: Any
    live: LiveServer
    folder: Path
    contexts: list[Any] = field(default_factory=list)
    shots: int = 0

    def page(self, viewport: dict[str, int] | None = None, locale: str = "zh-CN") -> Any:
        context = self.browser.new_context(viewport=viewport or DESKTOP, locale=locale, base_url=self.live.url)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        return page

    def shot(self, page: Any, name: str) -> Path:
        """Save a full-page screenshot as ``NN-name.png`` (kept as a test artifact)."""
        self.shots += 1
        path = self.folder / f"{self.shots:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def login(self, page: Any, username: str, password: str | None = None) -> None:
        page.goto("/auth/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password or password_of(username))
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        assert "/auth/login" not in page.url, f"{username} could not sign in: {page.url}"


@pytest.fixture
def live(db: Db, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on the test database (staff users made as in the web tests), served on a free port."""
    make_users(db)
    app = build_app(db, tmp_path / "instance", SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(db, f"http://127.0.0.1:{server.server_port}", app, server, thread)
    finally:
        server.shutdown()
        thread.join(10)
        with app.app_context():
            flask_db.engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    path = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def pages(chromium: Any, live: LiveServer, request: pytest.FixtureRequest) -> Iterator[Pages]:
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    made = Pages(chromium, live, folder)
    yield made
    for context in made.contexts:
        context.close()


def visible_text(page: Any) -> str:
    return re.sub(r"\s+", " ", page.inner_text("body"))
