"""A rerun's form mode in a real browser (headless chromium through Playwright): submitting it while the form cannot
hold some of the run's settings stops at the tick beside their list, and runs once it is ticked; the English page's
template chooser shows the templates' English descriptions. Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

from runner.simulation import runs
from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text
from tests.test_simform_trial_fixes_browser import stored_run

pytestmark = SQLITE_ONLY


def run_ids(live: LiveServer) -> set[int]:
    with live.db.reading() as session:
        return {run.id for run in runs.list_runs(session)}


def test_the_form_mode_of_a_rerun_asks_for_the_tick_before_dropping_settings(live: LiveServer, pages: Pages) -> None:
    partial = stored_run(live, {"pools.surveyor.count": 2, "durations.site_survey.mean": 6})
    page = pages.page()
    pages.login(page, "process_owner")
    page.goto(f"/simulation/new?from_run={partial}")
    page.get_by_label("表单（主要参数）").check()
    tick = page.get_by_label("我知道这些设置将被丢弃，按表单内容运行")
    assert tick.is_visible() and not tick.is_checked()
    before = run_ids(live)
    page.get_by_role("button", name="开始仿真").click()
    needed = page.locator("#sim-discard-needed")
    assert needed.is_visible() and "1 项设置" in needed.inner_text()
    assert page.evaluate("document.activeElement.id") == "f-discard_unshown"  # at the tick, in view
    assert "from_run" in page.url and run_ids(live) == before  # nothing sent, nothing stored
    pages.shot(page, "rerun-form-mode-needs-the-tick")
    tick.check()
    assert not needed.is_visible()
    page.get_by_role("button", name="开始仿真").click()
    page.wait_for_load_state()
    assert "/simulation/new" not in page.url, visible_text(page)[:800]
    [new] = run_ids(live) - before
    with live.db.reading() as session:
        variant = runs.get_run(session, new).params["variant"]["scenario"]
    assert (variant["pools"]["surveyor"]["count"], variant["durations"]["site_survey"]["mean"]) == (2, 4)
    assert not page.js_errors, page.js_errors


def test_the_editor_mode_of_a_rerun_needs_no_tick(live: LiveServer, pages: Pages) -> None:
    partial = stored_run(live, {"durations.site_survey.mean": 6})
    page = pages.page()
    pages.login(page, "process_owner")
    page.goto(f"/simulation/new?from_run={partial}")
    before = run_ids(live)
    page.get_by_role("button", name="开始仿真").click()  # the advanced editor, as the page opens
    page.wait_for_load_state()
    assert "/simulation/new" not in page.url, visible_text(page)[:800]
    assert len(run_ids(live) - before) == 1
    assert not page.js_errors, page.js_errors


def test_the_english_template_chooser_shows_english_descriptions(live: LiveServer, pages: Pages) -> None:
    page = pages.page(locale="en-GB")
    pages.login(page, "process_owner")
    page.goto("/auth/language/en")
    page.goto("/simulation/new")
    options = page.locator("select[name=template] option").all_inner_texts()
    assert "Today's baseline: current staffing, working calendars and estimated task durations (today)" in options
    assert not [text for text in options if any("\u4e00" <= char <= "\u9fff" for char in text)], options
    pages.shot(page, "template-chooser-english")
