"""The running simulation's page in a real browser (Debian chromium through Playwright): as the worker reports
progress, the page's poll shows 预计还需约 … beside the bar without a reload (``webui/static/simulation.js``)."""

from __future__ import annotations

from datetime import timedelta

from runner.simulation import runs
from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text

pytestmark = SQLITE_ONLY
LEASE = timedelta(minutes=10)


def test_the_page_shows_the_estimate_as_the_run_goes_on(live: LiveServer, pages: Pages) -> None:
    with live.db.transaction() as session:
        run_id = runs.create_run(session, name="估算", created_by="process_owner", params={
            "base": {"process": "folder", "scenario": {}}, "variant": None, "replications": 1, "seed": 1,
            "cases": 1}, now=live.db.clock.now())
    assert runs.claim(live.db.sessions, owner="worker-1", now=live.db.clock.now(), lease=LEASE) == run_id
    page = pages.page()
    pages.login(page, "process_owner")
    page.goto(f"{live.url}/simulation/{run_id}")
    assert page.locator("#sim-remaining").is_hidden()
    live.db.clock.advance(timedelta(seconds=40))
    assert runs.progress(live.db.sessions, run_id, owner="worker-1", now=live.db.clock.now(), lease=LEASE, done=0.5)
    page.wait_for_selector("#sim-remaining:not([hidden])", timeout=15_000)  # the page polls status.json
    assert page.locator("#sim-remaining").inner_text() == "预计还需约 40 秒"
    assert page.locator(".sim-percent").inner_text() == "50%"
    pages.shot(page, "simulation-remaining")
    assert "预计还需约 40 秒" in visible_text(page)
    assert not page.js_errors, page.js_errors
