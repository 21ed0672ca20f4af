"""The new-run form's script in a real browser (headless chromium through Playwright): switching a run started from
another to the form mode shows the run's values and, where the form cannot hold the run, the warning right at the
switch; 载入模板 keeps the name and replications typed. Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

import copy
from typing import Any

from runner.simulation import runs
from runner.simulation.run_request import scenario_templates
from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text

pytestmark = SQLITE_ONLY


def stored_run(live: LiveServer, variant_changes: dict[str, Any]) -> int:
    """A stored run of today's template (20 cases) against the parallel review overlay with ``variant_changes``
    (key path → value)."""
    base = {**copy.deepcopy(scenario_templates()["today"]), "cases": 20}
    variant = copy.deepcopy(base)
    for path, value in variant_changes.items():
        *parents, last = path.split(".")
        target = variant
        for part in parents:
            target = target[part]
        target[last] = value
    with live.db.transaction() as session:
        return runs.create_run(session, name="少一名勘查员", created_by="process_owner", params={
            "base": {"process": "folder", "scenario": base},
            "variant": {"process": "variant:parallel_plan_review", "scenario": variant},
            "replications": 2, "seed": int(base["seed"]), "cases": 20}, now=live.db.clock.now())


def test_switching_a_rerun_to_the_form_keeps_its_values_or_warns(live: LiveServer, pages: Pages) -> None:
    whole = stored_run(live, {"pools.surveyor.count": 2})
    partial = stored_run(live, {"pools.surveyor.count": 2, "durations.site_survey.mean": 6})
    page = pages.page()
    pages.login(page, "process_owner")

    page.goto(f"/simulation/new?from_run={whole}")
    assert page.locator("#f-scenario_raw").is_visible() and not page.locator("#f-cases").is_visible()
    page.get_by_label("表单（主要参数）").check()
    assert page.locator("#f-cases").is_visible()
    assert page.input_value('input[name="variant.pools.surveyor.count"]') == "2"
    assert page.input_value('input[name="pools.surveyor.count"]') == "3"
    assert page.input_value("#f-cases") == "20"
    assert page.locator("#sim-unshown").count() == 0
    pages.shot(page, "rerun-form-mode")
    page.get_by_role("button", name="开始仿真").click()
    page.wait_for_load_state()
    assert "/simulation/new" not in page.url, visible_text(page)[:800]
    with live.db.reading() as session:
        newest = max(runs.list_runs(session), key=lambda run: run.id)
        first = runs.get_run(session, whole)
        assert newest.id != whole and newest.params == first.params  # the what-if change survived the switch

    page.goto(f"/simulation/new?from_run={partial}")
    note = page.locator("#sim-unshown-note")
    assert note.is_visible() and "1 项设置" in note.inner_text()  # said before switching, too
    assert not page.locator("#sim-unshown").is_visible()
    page.get_by_label("表单（主要参数）").check()
    warning = page.locator("#sim-unshown")
    assert warning.is_visible()
    assert "现场勘查 · 平均（对比方案）：该次仿真为 6，表单将提交 4" in warning.inner_text()
    assert page.evaluate("document.activeElement.id") == "sim-unshown"  # the switch brings it into view
    pages.shot(page, "rerun-form-mode-warning")
    page.get_by_label("高级：完整场景（JSON 或 YAML）").check()
    assert not warning.is_visible()
    assert not page.js_errors, page.js_errors


def test_loading_a_template_keeps_the_name_and_replications_typed(live: LiveServer, pages: Pages) -> None:
    page = pages.page()
    pages.login(page, "process_owner")
    page.goto("/simulation/new")
    options = page.locator("select[name=template] option").all_inner_texts()
    assert any(text.startswith("当前流程基线") and text.endswith("（today）") for text in options), options
    page.fill("#f-name", "我的试算")
    page.fill("#f-replications", "4")
    page.select_option("select[name=template]", "fewer_surveyors_parallel_review")
    page.get_by_role("button", name="载入模板").click()
    page.wait_for_load_state()
    assert page.input_value("#f-name") == "我的试算"
    assert page.input_value("#f-replications") == "4"
    assert page.input_value("select[name=variant_process]") == "variant:parallel_plan_review"
    assert page.input_value('input[name="variant.pools.surveyor.count"]') == "2"
    pages.shot(page, "template-keeps-typed")
    page.select_option("select[name=template]", "today")  # an untouched name follows the template
    page.fill("#f-name", "fewer_surveyors_parallel_review")
    page.get_by_role("button", name="载入模板").click()
    page.wait_for_load_state()
    assert page.input_value("#f-name") == "today"
    assert page.input_value("#f-replications") == "4"
    assert not page.js_errors, page.js_errors
