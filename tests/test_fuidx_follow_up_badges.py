"""The 跟进到期 tab of a supervisor's 工作台 over HTTP, on SQLite and PostgreSQL, with the follow-up indexes of
migration 0014: its badge, the list's total and its first page are those of one plain scan, in 全部岗位 and in the
supervisor's own lanes, also per category (docs/decisions.md, 102)."""

from __future__ import annotations

import re
from dataclasses import replace

from runner.accounts import LANE_ROLES
from runner.services import TaskFilter
from tests.test_fuidx_follow_up_index import add_follow_up_tasks
from tests.test_task_name_search import plain_like_scan
from tests.webui_helpers import Web, web_fixture  # noqa: F401  (the web fixture)


def badge(html: str, label: str) -> int:
    """The count a tab shows next to its label."""
    found = re.search(rf'{label} <span class="count">(\d+)</span>', html)
    assert found, label
    return int(found.group(1))


def test_the_follow_up_tab_counts_and_lists_what_a_plain_scan_finds(web: Web) -> None:
    rows = add_follow_up_tasks(web.db, 240, seed=41)
    case_of = {row["id"]: row["case_number"] for row in rows}
    checked = 0
    for user, scope, category in (("supervisor", "team", ""), ("supervisor", "team", "hv_ordinary"),
                                  ("surveyor", "all", ""), ("installer", "all", "lv_residential")):
        team = scope == "team"
        groups = LANE_ROLES if team else (user,)
        flt = TaskFilter(user, tuple(groups), category=category or None, follow_up_due=True, include_claimed=team)
        expected_ids, expected_total = plain_like_scan(web.db, flt, 1, web.app.config["TASKS_PER_PAGE"])
        overdue = plain_like_scan(web.db, replace(flt, follow_up_due=False, overdue=True), 1, 1)[1]
        browser = web.client(user)
        for due in ("follow_up", "overdue"):  # the tab's own list, and its badge seen from another tab
            html = browser.get(f"/tasks/?scope={scope}&due={due}&category={category}").get_data(as_text=True)
            assert badge(html, "跟进到期") == expected_total, (user, scope, category, due)
            assert badge(html, "已超期") == overdue
            if due == "follow_up":
                assert f"共 {expected_total} 项任务" in html
                listed = re.findall(r'href="/cases/(NS\d+)"', html)
                assert listed == [case_of[task_id] for task_id in expected_ids], (user, scope, category)
        checked += expected_total
    assert checked > 20  # the tab really listed tasks
