"""全部岗位 on a phone in English: a supervisor's list of many tasks (some held by others, long customer names) fits
375 px — the working days of an overdue step wrap instead of widening the page — and the 他人办理中 badge is never
broken across two lines."""

from __future__ import annotations

from tests.browser import PHONE, SQLITE_ONLY, LiveServer, Pages
from tests.test_task_name_search import add_tasks


@SQLITE_ONLY
def test_every_lane_fits_a_phone_in_english(live: LiveServer, pages: Pages) -> None:
    add_tasks(live.db, 120, seed=23)
    page = pages.page(viewport=PHONE, locale="en")
    pages.login(page, "supervisor")
    page.goto("/tasks/?scope=team")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert "/tasks/" in page.url and "scope=team" in page.url, page.url
    page.screenshot(path=str(pages.folder / "phone-team-list-en-top.png"))
    pages.shot(page, "phone-team-list-en")
    held = page.locator("li.task:has(.badge.held)").first  # a task someone else holds: release and reassign
    held.scroll_into_view_if_needed()
    held.screenshot(path=str(pages.folder / "phone-team-list-en-held.png"))
    badges = page.locator("li.task .badge.held")
    assert badges.count() >= 3
    assert badges.evaluate_all("all => all.filter(b => b.getClientRects().length > 1).length") == 0  # unbroken
    assert page.locator("li.task").count() >= 20
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not page.js_errors
