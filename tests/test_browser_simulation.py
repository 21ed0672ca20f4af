"""A process owner in a real browser (Debian chromium, headless, through Playwright), tried as a new user would: opens
the simulation page, asks for today's process against a variant with one fewer surveyor and the parallel plan
review, watches it run (the worker's step is called here, as `baozhuang worker` would take the queued run) and reads
the report: which is better on which KPI and by how much, with charts and the waiting-time heat map on the diagram.
Screenshots: test-artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from runner.simulation import runs
from runner.simulation.run_execute import make_execute
from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text

CASES = 30
REPLICATIONS = 3

pytestmark = SQLITE_ONLY


def test_a_process_owner_compares_today_with_fewer_surveyors_and_a_parallel_review(
        live: LiveServer, pages: Pages, tmp_path: Path) -> None:
    page = pages.page()
    pages.login(page, "process_owner")
    page.get_by_role("link", name="流程仿真").first.click()
    page.wait_for_load_state()
    page.get_by_role("link", name="新建仿真").click()
    page.wait_for_load_state()
    page.fill("input[name=name]", "少一名勘查员 + 并行审核")
    page.select_option("select[name=variant_process]", "variant:parallel_plan_review")
    page.fill("input[name=cases]", str(CASES))
    page.fill("input[name=replications]", str(REPLICATIONS))
    surveyors = int(page.input_value('input[name="pools.surveyor.count"]'))
    page.fill('input[name="variant.pools.surveyor.count"]', str(surveyors - 1))
    pages.shot(page, "simulation-new")
    page.get_by_role("button", name="开始仿真").click()
    page.wait_for_load_state()
    assert "/simulation/" in page.url and "new" not in page.url, visible_text(page)[:600]
    pages.shot(page, "simulation-queued")

    outcome = runs.run_next(live.db.sessions, owner="browser-test-worker", clock=live.db.clock,
                            lease=timedelta(minutes=10), output_root=tmp_path, execute=make_execute(live.db.sessions))
    assert outcome is not None and outcome.outcome == "done", outcome

    page.wait_for_selector("text=关键指标", timeout=30_000)  # the page polls and shows the report when done
    page.wait_for_function("() => document.querySelectorAll('canvas').length >= 4")
    page.wait_for_selector("#sim-diagram .djs-element")
    pages.shot(page, "simulation-report")
    text = visible_text(page)
    for heading in ("结论", "对比（对比方案 − 基准方案）", "95% 置信区间", "等待时间热力图"):
        assert heading in text, heading
    verdicts = page.locator("section", has_text="结论").first.inner_text()
    assert "平均办电时长" in verdicts and "工作日" in verdicts and "95% CI" in verdicts, verdicts
    [surveyors_row] = [row for row in page.locator("table tr").all_inner_texts()
                       if row.startswith("勘查人员 利用率") and "全程" not in row and "%" in row][-1:]
    base_load, variant_load = (float(cell.rstrip("%")) for cell in surveyors_row.split("\t")[1:3])
    assert variant_load > base_load, surveyors_row  # one surveyor fewer: the others carry more
    # the queue chart draws both sides on one day axis, the variant dashed (it drew the base alone before)
    lines = page.evaluate("() => window.Chart.getChart('chart-queues').data.datasets"
                          ".map(d => [d.label, (d.borderDash || []).length > 0, d.data.length])")
    days = page.evaluate("() => window.Chart.getChart('chart-queues').data.labels.length")
    assert days > 0 and all(length == days for _label, _dashed, length in lines), (days, lines)
    assert {dashed for _label, dashed, _length in lines} == {False, True}, lines
    assert any(dashed and label.startswith("对比方案 · ") for label, dashed, _length in lines), lines
    page.click("#sim-sides a")  # the variant's heat map: its diagram (parallel review) coloured by its waits
    page.wait_for_selector("#sim-diagram .sim-heat-badge")
    assert "等待时间热力图（对比方案）" in visible_text(page)
    assert page.locator('#sim-diagram [data-element-id="gw_review_split"]').count() == 1  # only the variant has it
    pages.shot(page, "simulation-variant-heatmap")
    assert not page.js_errors, page.js_errors
