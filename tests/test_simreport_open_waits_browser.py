"""The heat map in a real browser (headless chromium through Playwright) marks a step's mean wait that counts work
still waiting when the simulation stopped (†: at least this), as its table does; the trial's bottleneck, whose
queue never moved, looked idle. Screenshot: test-artifacts/screenshots/."""

from __future__ import annotations

import copy
from pathlib import Path

from sqlalchemy import select

from runner.models import SimulationRun
from tests.browser import SQLITE_ONLY, LiveServer, Pages
from tests.test_simtrial_heatmap_browser import done_run

pytestmark = SQLITE_ONLY


def test_the_heat_map_marks_a_wait_that_counts_work_still_waiting(live: LiveServer, pages: Pages,
                                                                   tmp_path: Path) -> None:
    run_id = done_run(live, tmp_path, "仍在等待")
    with live.db.transaction() as session:  # as a run stopped with surveys still queued would have stored it
        run = session.execute(select(SimulationRun).where(SimulationRun.id == run_id)).scalar_one()
        result = copy.deepcopy(run.result)
        survey = result["sides"]["base"]["heatmap"].setdefault(
            "site_survey", {"name": "现场勘查", "mean_waiting_hours": 0.0, "count": 0})
        survey.update({"mean_waiting_hours": 480.0, "open": 4})
        result["sides"]["base"]["flat"]["waiting.site_survey.mean_hours"] = 480.0
        run.result = result
    page = pages.page()
    pages.login(page, "process_owner")
    page.goto(f"/simulation/{run_id}#heatmap")
    page.wait_for_selector("#sim-diagram .sim-heat-badge")
    badges = page.locator("#sim-diagram .sim-heat-badge").all_inner_texts()
    assert "480.0 h †" in badges, badges
    assert sum(badge.endswith("†") for badge in badges) == 1, badges
    title = page.locator("#sim-diagram .sim-heat-badge", has_text="480.0 h †").get_attribute("title") or ""
    assert title.startswith("现场勘查 — 平均等待 480.0 日历小时 † 含截至仿真结束仍在等待的工作"), title
    cell = page.locator(".sim-waiting tbody tr", has_text="现场勘查").locator("td")
    assert cell.inner_text() == "480.0 †" and "4 件" in (cell.get_attribute("title") or "")
    assert page.locator("#sim-waiting-open-note").is_visible()
    page.locator(".sim-heatmap-box").screenshot(path=str(pages.folder / "heatmap-open-waits.png"))
    assert not page.js_errors, page.js_errors
