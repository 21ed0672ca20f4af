"""Behind a reverse proxy (``TRUSTED_PROXIES``): rate limits count the client named in X-Forwarded-For, not the
proxy; without the setting the header is ignored, so a client cannot pick its own address."""

from __future__ import annotations

from pathlib import Path

from tests.db import Db
from tests.test_portal_track import give_code
from tests.webui_helpers import Browser, build_app, start_case
from webui.extensions import db as flask_db

PROXY = "10.9.9.9"


def _attempts(db: Db, tmp_path: Path, proxies: int) -> list[int]:
    """Eleven wrong code checks through one proxy: ten from one client, then one from another client."""
    app = build_app(db, tmp_path / f"instance{proxies}", TRUSTED_PROXIES=proxies)
    number = start_case(db)
    give_code(db, number)
    browser = Browser(app.test_client(), PROXY)
    browser.get("/portal/track")
    codes = []
    try:
        for client in ["203.0.113.7"] * 10 + ["198.51.100.4"]:
            response = browser.post("/portal/track", {"case_number": number, "access_code": "WRONG00000"},
                                    headers={"X-Forwarded-For": client})
            codes.append(response.status_code)
    finally:
        with app.app_context():
            flask_db.engine.dispose()  # this app's own pool (PostgreSQL connections must not outlive the test)
    return codes


def test_with_a_trusted_proxy_each_client_has_its_own_limit(db: Db, tmp_path: Path) -> None:
    assert _attempts(db, tmp_path, proxies=1) == [400] * 11  # the second client is not throttled


def test_without_the_setting_the_forwarded_header_is_ignored(db: Db, tmp_path: Path) -> None:
    assert _attempts(db, tmp_path, proxies=0) == [400] * 10 + [429]  # all came from the proxy's address
