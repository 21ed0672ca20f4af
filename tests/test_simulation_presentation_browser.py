"""A new process owner in a real browser (headless chromium through Playwright): loads the shipped what-if template
and finds it ready to compare with today, makes typing mistakes and reads each one, by its field's label, in the
summary on top (a click there goes to the field), then runs the comparison with 2 replications and is told that the
intervals are wide. Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from runner.simulation import runs
from runner.simulation.run_execute import make_execute
from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text

pytestmark = SQLITE_ONLY


def test_a_new_owner_compares_the_shipped_what_if_with_today(live: LiveServer, pages: Pages, tmp_path: Path) -> None:
    page = pages.page()
    pages.login(page, "process_owner")
    page.goto("/simulation/new")
    page.select_option("select[name=template]", "fewer_surveyors_parallel_review")
    page.get_by_role("button", name="载入模板").click()
    page.wait_for_load_state()
    assert page.input_value("select[name=base_process]").startswith("version:")  # the current one (decision 133)
    assert page.locator("select[name=base_process] option:checked").inner_text().endswith("（当前生效）")
    assert page.input_value("select[name=variant_process]") == "variant:parallel_plan_review"
    assert page.input_value('input[name="variant.pools.surveyor.count"]') == "2"
    assert "已载入假设场景" in visible_text(page)
    pages.shot(page, "what-if-loaded")

    # typing mistakes: each is listed by its label, at the field typed in
    page.fill('input[name="arrivals.hv_ordinary.per_working_day"]', "-3")
    page.fill('input[name="pools.inspector.count"]', "-1")
    page.fill("input[name=replications]", "2")
    page.get_by_role("button", name="开始仿真").click()
    page.wait_for_load_state()
    summary = page.locator("#sim-problem-list").inner_text()
    assert "高压普通 · 每工作日（基准方案）：不能小于 0。" in summary, summary
    assert "检验人员 人数（基准方案）：不能小于 1。" in summary, summary
    assert "variant." not in summary and "(root)" not in summary
    assert page.locator('input[name="variant.pools.inspector.count"][aria-invalid]').count() == 0
    pages.shot(page, "what-if-errors")
    page.get_by_role("link", name="检验人员 人数（基准方案）").click()
    assert page.evaluate("document.activeElement.name || location.hash") in (
        "pools.inspector.count", "#f-pools.inspector.count")

    page.fill('input[name="arrivals.hv_ordinary.per_working_day"]', "1")
    page.fill('input[name="pools.inspector.count"]', "3")
    page.fill("input[name=cases]", "20")
    page.get_by_role("button", name="开始仿真").click()
    page.wait_for_load_state()
    assert "/simulation/" in page.url and "new" not in page.url, visible_text(page)[:800]
    outcome = runs.run_next(live.db.sessions, owner="browser-test-worker", clock=live.db.clock,
                            lease=timedelta(minutes=10), output_root=tmp_path, execute=make_execute(live.db.sessions))
    assert outcome is not None and outcome.outcome == "done", outcome
    page.wait_for_selector("text=关键指标", timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('canvas').length >= 4")
    text = visible_text(page)
    assert "重复次数较少（2 次）" in text and "日历小时" in text
    staff = page.locator("#sim-pool-counts tbody th").all_inner_texts()
    assert staff[:2] == ["客户经理", "勘查人员"], staff
    pages.shot(page, "what-if-report")
    for name, section in (("verdicts", "结论"), ("comparison", "对比（对比方案 − 基准方案）")):  # readable close-ups
        page.locator("section.card", has_text=section).first.screenshot(path=str(pages.folder / f"{name}.png"))
    page.locator("details.sim-more summary").last.click()
    page.locator("#sim-step-hours").scroll_into_view_if_needed()
    page.locator("#sim-step-hours").screenshot(path=str(pages.folder / "step-hours.png"))
    page.locator("table.sim-waiting").screenshot(path=str(pages.folder / "heat-map-table.png"))
    assert not page.js_errors, page.js_errors
