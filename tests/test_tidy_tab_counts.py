"""The 工作台's tab badges and category choices are counted only up to ``BADGE_COUNT_BOUND`` (``10000+`` beyond it):
a count over 全部岗位 (every lane's tasks) reads a bounded part of it. The list's rows, order, paging and its own
total stay exact, as the REST API's ``total`` does. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from runner import services
from runner.accounts import LANE_ROLES
from runner.services import TaskFilter
from tests.test_task_name_search import add_tasks
from tests.webui_helpers import Web, web_fixture  # noqa: F401  (the web fixture)
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
            total = services.list_tasks(session, web.db.runtime, flt, 1, 1).total
            for bound in (0, 5, total - 1, total, total + 1, 10_000):
                if bound < 0:
                    continue
                assert services.count_tasks(session, web.db.runtime, flt, bound) == min(total, bound + 1), \
                    (flt, bound, total)


def rows_and_pager(html: str) -> list[str]:
    """The list's links (task forms, cases, pages) in order, and the pager's text."""
    rows = html[html.index('<ul class="tasks">'):]
    return re.findall(r'href="(/[^"]+)"', rows) + re.findall(r"第 \d+ / \d+ 页", rows)


def category_select(html: str) -> str:
    start = html.index('<select name="category">')
    return html[start:html.index("</select>", start)]


def total_of(html: str) -> int:
    return int(re.search(r"共 (\d+) 项任务", html)[1])  # type: ignore[index]


def test_badges_beyond_the_bound_say_so_and_the_list_stays_exact(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    add_tasks(web.db, 120, seed=37)
    supervisor = web.client("supervisor")
    before = {link: supervisor.get(link).get_data(as_text=True) for link in ("/tasks/?scope=team&page=2", "/tasks/")}
    monkeypatch.setattr(routes, "BADGE_COUNT_BOUND", BOUND)
    capped = set()
    for shown_link in ("/tasks/?scope=team", "/tasks/", "/tasks/?scope=team&page=2"):
        html = supervisor.get(shown_link).get_data(as_text=True).replace("&amp;", "&")
        tabs = TABS.findall(html)
        assert len(tabs) == 3 + 4, tabs
        links = [(link, shown) for link, _, shown in tabs]
        scope = "scope=team&" if "team" in shown_link else ""
        links += [(f"/tasks/?{scope}category={code}", shown) for code, shown in OPTION.findall(category_select(html))]
        for link, shown in links:
            total = total_of(supervisor.get(link).get_data(as_text=True))  # what that list itself states: exact
            assert shown == (f"{BOUND}+" if total > BOUND else str(total)), (shown_link, link, shown, total)
            if total > BOUND:
                capped.add(link)
    assert "/tasks/?scope=team" in capped and len(capped) < 3 + 4 + 5 + 5  # every lane's tasks: more than 30
    after = {link: supervisor.get(link).get_data(as_text=True) for link in before}
    for link, html in before.items():  # the same rows in the same order, the same pager and total
        assert total_of(after[link]) == total_of(html) > BOUND or link == "/tasks/"
        assert rows_and_pager(after[link]) == rows_and_pager(html), link
