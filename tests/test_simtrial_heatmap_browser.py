"""The diagrams' toolbar in a real browser (headless chromium through Playwright). The simulation's waiting-time
heat map opens on the longest wait when the whole process would be too small to read, and the case page's diagram
on the current step; 全图 shows the whole process, the focus button goes back, + and − zoom. A new-user trial found
the heat map showing a fragment of the process with no way to see all of it. Screenshots:
test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.simulation import runs
from runner.simulation.run_execute import make_execute
from tests.browser import PHONE, SQLITE_ONLY, LiveServer, Pages
from tests.db import complete, start
from tests.test_simulation_runs import small_request

pytestmark = SQLITE_ONLY

SHOWN = """() => {
  const box = document.getElementById('sim-diagram').getBoundingClientRect();
  const shapes = [...document.querySelectorAll('#sim-diagram .djs-shape')];
  const inside = shapes.filter(s => { const r = s.getBoundingClientRect();
    return r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1; });
  const scale = new DOMMatrix(getComputedStyle(document.querySelector('#sim-diagram .viewport')).transform).a;
  return { shapes: shapes.length, inside: inside.length, scale: scale };
}"""


def done_run(live: LiveServer, output_root: Path, name: str) -> int:
    """A run of 6 cases of today's scenario, taken and finished as ``baozhuang worker`` would."""
    with live.db.transaction() as session:
        run_id = runs.create_run(session, name=name, created_by="process_owner", params=small_request(6),
                                 now=live.db.clock.now())
    outcome = runs.run_next(live.db.sessions, owner="browser-test-worker", clock=live.db.clock,
                            lease=timedelta(minutes=10), output_root=output_root,
                            execute=make_execute(live.db.sessions))
    assert outcome is not None and outcome.outcome == "done", outcome
    return run_id


def shown(page: Any) -> dict[str, float]:
    return dict(page.evaluate(SHOWN))


def test_the_heat_map_shows_the_whole_process_on_request(live: LiveServer, pages: Pages, tmp_path: Path) -> None:
    run_id = done_run(live, tmp_path, "热力图")
    page = pages.page()
    pages.login(page, "process_owner")
    page.goto(f"/simulation/{run_id}#heatmap")
    page.wait_for_selector("#sim-diagram .sim-heat-badge")
    page.wait_for_selector(".diagram-tools button[data-zoom=fit]")
    # the on-time chart: a step never on time (0 %) shows a sliver, not the empty row of a step without data
    page.wait_for_function("() => window.Chart && window.Chart.getChart('chart-ontime')")
    assert page.evaluate("window.Chart.getChart('chart-ontime').data.datasets.map(d => d.minBarLength)") == [3]
    opened = shown(page)
    assert opened["inside"] < opened["shapes"], opened  # the whole process is too small to read: a part of it
    page.locator(".sim-heatmap-box").screenshot(path=str(pages.folder / "heatmap-opened.png"))

    page.get_by_role("button", name="全图").click()
    whole = shown(page)
    assert whole["inside"] == whole["shapes"] and whole["scale"] < opened["scale"], (opened, whole)
    page.locator(".sim-heatmap-box").screenshot(path=str(pages.folder / "heatmap-whole.png"))

    page.get_by_role("button", name="放大").click()
    closer = shown(page)
    assert closer["scale"] > whole["scale"] and closer["inside"] < closer["shapes"], (whole, closer)
    page.get_by_role("button", name="缩小").click()
    assert shown(page)["scale"] == pytest.approx(whole["scale"], rel=0.01)  # diagram-js rounds its zoom

    page.get_by_role("button", name="等待最长处").click()
    assert shown(page)["scale"] == pytest.approx(opened["scale"], rel=0.01)
    assert not page.js_errors, page.js_errors


def test_the_case_diagram_shows_the_whole_process_and_the_current_step(live: LiveServer, pages: Pages) -> None:
    case_number = start(live.db, "hv_ordinary")
    complete(live.db, case_number, "accept_application", user="account_manager")
    page = pages.page()
    pages.login(page, "supervisor")
    page.goto(f"/cases/{case_number}")
    page.wait_for_selector("#diagram .djs-element.active")
    page.wait_for_selector(".diagram-tools[data-for=diagram] button[data-zoom=focus]")
    script = SHOWN.replace("sim-diagram", "diagram")
    opened = dict(page.evaluate(script))
    assert opened["inside"] < opened["shapes"], opened
    page.get_by_role("button", name="全图").click()
    whole = dict(page.evaluate(script))
    assert whole["inside"] == whole["shapes"] and whole["scale"] < opened["scale"], (opened, whole)
    page.get_by_role("button", name="当前环节").click()
    assert dict(page.evaluate(script))["scale"] == pytest.approx(opened["scale"], rel=0.01)
    assert not page.js_errors, page.js_errors


HOTTEST_SHOWN = """() => {
  const box = document.querySelector('.sim-heatmap-box').getBoundingClientRect();
  const badges = [...document.querySelectorAll('#sim-diagram .sim-heat-badge')];
  const hottest = badges.reduce((a, b) => parseFloat(b.textContent) > parseFloat(a.textContent) ? b : a);
  const r = hottest.getBoundingClientRect();
  return r.right > box.left && r.left < box.right;
}"""


def test_on_a_phone_the_heat_map_opens_on_the_longest_wait(live: LiveServer, pages: Pages, tmp_path: Path) -> None:
    """The diagram is wider than a phone's screen and scrolls sideways: the box scrolls to the longest wait (it
    opened on blank space, the step off to the right)."""
    run_id = done_run(live, tmp_path, "手机")
    page = pages.page(viewport=PHONE)
    pages.login(page, "process_owner")
    page.goto(f"/simulation/{run_id}#heatmap")
    page.wait_for_selector(".diagram-tools button[data-zoom=focus]")
    assert page.evaluate("document.querySelector('.sim-heatmap-box').scrollLeft") > 0
    assert page.evaluate(HOTTEST_SHOWN)
    page.locator(".sim-heatmap-box").screenshot(path=str(pages.folder / "heatmap-phone.png"))
    assert not page.js_errors, page.js_errors
