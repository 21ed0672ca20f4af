"""The case diagram in a real browser (Debian chromium through Playwright, as tests/test_browser_*.py) of a case held
up at a failed service task: the step is drawn as failed (its own colour, a legend entry) and the diagram zooms to
it as to an open task. Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

from runner.store import Runtime
from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text
from tests.db import open_tasks, start
from tests.test_webui_case_control import unavailable
from tests.worker_helpers import registry_with

pytestmark = SQLITE_ONLY


def test_the_diagram_marks_the_failed_step_and_zooms_to_it(live: LiveServer, pages: Pages) -> None:
    db = live.db
    failing = Runtime(cache_dir=db.cache_dir, clock=db.clock,
                      registry=registry_with("capacity_assessment", unavailable))
    failing.bundles.update(db.runtime.bundles)
    case_number = start(db, "hv_ordinary", runtime=failing)
    assert open_tasks(db, case_number) == []
    page = pages.page()
    pages.login(page, "account_manager")
    page.goto(f"/cases/{case_number}")
    page.wait_for_selector("#diagram .djs-element.failed")
    pages.shot(page, "case-failed-step")
    failed = page.locator('#diagram .djs-element.failed[data-element-id="assess_capacity"]')
    assert failed.count() == 1
    fill = failed.locator(".djs-visual > :nth-child(1)").evaluate("e => getComputedStyle(e).fill")
    assert fill.replace(" ", "") == "rgb(255,244,229)"  # the failed amber of case-diagram.css
    legend = page.locator(".diagram-legend")
    assert legend.is_visible() and "执行失败" in legend.inner_text()
    assert "案件停在“容量评估”环节" in visible_text(page)
    box, diagram = failed.bounding_box(), page.locator("#diagram").bounding_box()
    assert box is not None and diagram is not None
    assert box["width"] >= 45  # readable (the whole process fitted would draw it about 20 px wide)
    assert diagram["x"] <= box["x"] and box["x"] + box["width"] <= diagram["x"] + diagram["width"]
    assert not page.js_errors
