"""The 工作台's tab badges and category choices are counted only up to ``BADGE_COUNT_BOUND`` (``10000+`` beyond it):
a count over 全部岗位 (every lane's tasks) reads a bounded part of it. The list's own total is counted up to the same
bound, or up to the page shown when that lies beyond it (``共 10000+ 项任务``, "第 3 / 4+ 页"), with the same rows,
order and next pages; the REST API's task list counts the same way and says ``total_exact``. SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from runner import services
from runner.accounts import LANE_ROLES
from runner.services import TaskFilter
from tests.api_helpers import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.test_task_name_search import add_tasks
from tests.webui_helpers import Web, web_fixture  # noqa: F401  (the web fixture)
from webui.api import tasks as api_tasks
from webui.tasks import routes

TABS = re.compile(r'<a href="(/tasks/[^"]*)"\s+class="tab[^"]*">([^<]*)<span class="count">([^<]+)</span>')
OPTION = re.compile(r'<option value="(\w+)"[^>]*>[^<(]*\(([^)]+)\)</option>')
BOUND = 30


def team(**changes: object) -> TaskFilter:
    return replace(TaskFilter(user="supervisor.1", groups=LANE_ROLES, include_claimed=True), **changes)  # type: ignore[arg-type]


def test_a_capped_count_is_the_total_up_to_the_bound(web: Web) -> None:
    add_tasks(web.db, 120, seed=31)
    with web.db.reading() as session:
        for flt in (team(), team(overdue=True), team(category="hv_ordinary"), team(search="NS31"),
                    team(search="NS310001"), team(mine_only=True), team(include_claimed=False),
                    team(include_claimed=False, search="王")):
            exact = services.list_tasks(session, web.db.runtime, flt, 2, 7)
            total = exact.total
            for bound in (0, 5, total - 1, total, total + 1, 10_000):
                if bound < 0:
                    continue
                assert services.count_tasks(session, web.db.runtime, flt, bound) == min(total, bound + 1), \
                    (flt, bound, total)
                listed = services.list_tasks(session, web.db.runtime, flt, 2, 7, count_bound=bound)
                assert (listed.total, listed.total_capped) == (min(total, bound + 1), total > bound), (flt, bound)
                assert [task.id for task in listed.items] == [task.id for task in exact.items], (flt, bound)


def rows_and_pager(html: str) -> tuple[list[str], list[str]]:
    """The list's links (task forms, cases, pages) in order, and the pager's text."""
    rows = html[html.index('<ul class="tasks">'):]
    return re.findall(r'href="(/[^"]+)"', rows), re.findall(r"第 \d+ / \d+\+? 页", rows)


def category_select(html: str) -> str:
    start = html.index('<select name="category">')
    return html[start:html.index("</select>", start)]


def total_of(html: str) -> str:
    """What the list says of its own total: a number, or ``N+`` (more than N)."""
    return re.search(r"共 (\d+\+?) 项任务", html)[1]  # type: ignore[index]


def tab_links(shown_link: str, html: str) -> list[tuple[str, str]]:
    """Each tab's and category choice's link on the page of ``shown_link``, with the count it shows."""
    html = html.replace("&amp;", "&")
    links = [(link, shown) for link, _, shown in TABS.findall(html)]
    scope = "scope=team&" if "team" in shown_link else ""
    return links + [(f"/tasks/?{scope}category={code}", shown) for code, shown in OPTION.findall(category_select(html))]


def test_badges_and_the_list_total_beyond_the_bound_say_so(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """Badges say ``30+`` beyond the bound; the list itself states its total exactly up to the bound, or up to the
    page shown when that lies beyond it, else ``N+``, and pages on with the same rows in the same order."""
    add_tasks(web.db, 120, seed=37)
    supervisor = web.client("supervisor")
    per_page = web.app.config["TASKS_PER_PAGE"]
    deep = BOUND // per_page + 2  # a page beyond the bound
    shown_links = ("/tasks/?scope=team", "/tasks/", "/tasks/?scope=team&page=2", f"/tasks/?scope=team&page={deep}")
    before = {link: supervisor.get(link).get_data(as_text=True) for link in shown_links}
    exact = {}  # every tab's list with the real bound (10,000: far above these 120 tasks): exact totals
    for shown_link, html in before.items():
        for link, shown in tab_links(shown_link, html):
            exact[link] = int(total_of(supervisor.get(link).get_data(as_text=True)))
            assert shown == str(exact[link]), (link, shown)
    monkeypatch.setattr(routes, "BADGE_COUNT_BOUND", BOUND)
    capped = set()
    for shown_link in shown_links:
        html = supervisor.get(shown_link).get_data(as_text=True)
        links = tab_links(shown_link, html)
        assert len(links) == 3 + 4 + 5, links
        for link, shown in links:
            total = exact[link]
            assert shown == (f"{BOUND}+" if total > BOUND else str(total)), (shown_link, link, shown, total)
            stated = total_of(supervisor.get(link).get_data(as_text=True))  # page 1: bounded at max(30, per page)
            bound = max(BOUND, per_page)
            assert stated == (f"{bound}+" if total > bound else str(total)), (link, stated, total)
            if total > BOUND:
                capped.add(link)
    assert "/tasks/?scope=team" in capped and len(capped) < 3 + 4 + 5 + 5  # every lane's tasks: more than 30
    for link, html in before.items():  # the same rows in the same order; the pager says "at least" when capped
        after = supervisor.get(link).get_data(as_text=True)
        page = int(re.search(r"page=(\d+)", link)[1]) if "page=" in link else 1  # type: ignore[index]
        bound = max(BOUND, page * per_page)
        total = exact[link.split("&page=")[0]]
        assert total_of(after) == (f"{bound}+" if total > bound else str(total)), (link, total_of(after))
        rows, pager = rows_and_pager(after)
        assert rows == rows_and_pager(html)[0], link
        if total > bound:
            assert pager == [f"第 {page} / {-(-(bound + 1) // per_page)}+ 页"], (link, pager)
            assert f"page={page + 1}" in after.replace("&amp;", "&"), link  # a next page while there are more
        else:
            assert pager == rows_and_pager(html)[1], link


def test_the_api_task_list_counts_up_to_the_bound_and_says_so(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The REST API's task list counts as the web list does: exactly up to the bound or to the end of the window
    asked for, whichever is further, else one more than that with ``total_exact`` false; the items are those of
    the exact list, whatever the window (two service pages when the offset is not a multiple of the limit)."""
    add_tasks(api.db, 120, seed=41)
    exact = {(limit, offset): api.get(f"/tasks?scope=team&limit={limit}&offset={offset}", "supervisor").get_json()
             for limit, offset in ((50, 0), (7, 3), (7, 42), (20, 100))}
    total = exact[50, 0]["total"]
    assert all(page["total"] == total and page["total_exact"] for page in exact.values()) and total > 60
    monkeypatch.setattr(api_tasks, "LIST_COUNT_BOUND", BOUND)
    for (limit, offset), whole in exact.items():
        page = api.get(f"/tasks?scope=team&limit={limit}&offset={offset}", "supervisor").get_json()
        bound = max(BOUND, offset + limit)
        assert (page["total"], page["total_exact"]) == ((bound + 1, False) if total > bound else (total, True)), \
            (limit, offset, page["total"])
        assert [item["id"] for item in page["items"]] == [item["id"] for item in whole["items"]], (limit, offset)
