"""The staff fixes of ``test_staff_fixes_pages.py`` in a real browser (headless chromium): the drafter of a plan sees
why not instead of 领取/办理 and a disabled submit, an estimated due date carries its marker and tooltip, a suspended
case's form cannot be submitted, and the follow-up date input offers only today to five years ahead. Screenshots:
test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta

from tests.browser import PHONE, SQLITE_ONLY, LiveServer, Pages, visible_text
from tests.db import advance_to, open_task
from tests.test_staff_fixes_pages import ESTIMATED, FOUR_EYES_NOTE, drafted_by_both, suspend
from tests.webui_helpers import start_case

pytestmark = SQLITE_ONLY


def test_the_drafter_sees_why_not_and_a_disabled_submit(live: LiveServer, pages: Pages) -> None:
    number, task = drafted_by_both(live.db)
    page = pages.page()
    pages.login(page, "both")
    page.goto("/tasks/")
    pages.shot(page, "drafter-list")
    item = page.locator("li.task", has_text="审核供电方案")
    assert FOUR_EYES_NOTE in item.inner_text()
    assert item.get_by_role("button", name="领取").count() == 0 and item.get_by_role("link", name="办理").count() == 0
    page.goto(f"/tasks/{task}")
    pages.shot(page, "drafter-form")
    assert page.locator("button[name=_action][value=complete]").is_disabled()
    assert "（四眼原则）" in visible_text(page) and not page.js_errors
    assert number


def test_an_estimated_due_date_and_a_suspended_form_in_the_browser(live: LiveServer, pages: Pages) -> None:
    live.db.clock.advance(timedelta(days=20))
    number = start_case(live.db)
    advance_to(live.db, number, "draft_plan")
    page = pages.page(viewport=PHONE)
    pages.login(page, "surveyor")
    page.goto("/tasks/")
    pages.shot(page, "estimated-due")
    mark = page.locator("li.task .due-estimated")
    assert mark.inner_text() == ESTIMATED and "未含调休" in (mark.get_attribute("title") or "")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    follow_up = page.locator("li.task input[name=follow_up]")
    assert (follow_up.get_attribute("min"), follow_up.get_attribute("max")) == ("2026-12-16", "2031-12-16")
    suspend(live.db, number)
    page.goto(f"/tasks/{open_task(live.db, number, 'draft_plan').id}")
    pages.shot(page, "suspended-form")
    assert page.locator("button[name=_action][value=complete]").is_disabled()
    assert "案件已挂起：恢复办理前不能提交本任务" in visible_text(page) and not page.js_errors
