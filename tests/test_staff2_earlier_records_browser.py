"""此前办理记录 in a browser: the task form loads the earlier steps' answers into its section (the newest open), so
the plan reviewer reads the drafted plan with the review form."""

from __future__ import annotations

from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text
from tests.db import advance_to, open_task
from tests.test_staff2_earlier_records import PLAN_TEXT
from tests.webui_helpers import start_case

pytestmark = SQLITE_ONLY


def test_the_review_form_shows_the_drafted_plan(live: LiveServer, pages: Pages) -> None:
    number = start_case(live.db, "hv_ordinary")
    advance_to(live.db, number, "review_plan")
    page = pages.page()
    pages.login(page, "plan_reviewer")
    page.goto(f"/tasks/{open_task(live.db, number, 'review_plan').id}")
    newest = page.locator(".earlier-records details.earlier-record").first
    newest.wait_for()
    pages.shot(page, "review-form-with-records")
    assert "编制供电方案" in newest.locator("summary").inner_text()
    assert newest.get_attribute("open") is not None and PLAN_TEXT in newest.inner_text()
    assert page.locator(".earlier-records details.earlier-record").count() >= 3
    assert "此前办理记录" in visible_text(page) and not page.js_errors
