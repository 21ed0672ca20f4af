"""The 工作台's tab counts: the tab of the list shown takes the list's own total instead of counting again (in
全部岗位 each count reads every lane), and every tab still shows what its own list would total."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runner import services
from tests.test_task_name_search import add_tasks
from tests.webui_helpers import Web, web_fixture  # noqa: F401  (the web fixture)

LINKS = re.compile(r'<a href="(/tasks/[^"]*)"\s+class="tab[^"]*">[^<]*<span class="count">(\d+)</span>')


def test_the_shown_tab_is_not_counted_again_and_every_count_is_right(web: Web,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    add_tasks(web.db, 80, seed=29)
    supervisor = web.client("supervisor")
    calls: list[Any] = []
    listed, counted = services.list_tasks, services.count_tasks

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        return listed(*args, **kwargs)

    def count_spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        return counted(*args, **kwargs)

    monkeypatch.setattr(services, "list_tasks", spy)
    monkeypatch.setattr(services, "count_tasks", count_spy)
    html = supervisor.get("/tasks/?scope=team&due=overdue&category=hv_ordinary").get_data(as_text=True)
    # the list, then 3 scopes + 4 due filters + 5 categories, less the 3 tabs that are the list itself
    assert len(calls) == 1 + 3 + 4 + 5 - 3, len(calls)
    tabs = LINKS.findall(html.replace("&amp;", "&"))
    assert len(tabs) == 3 + 4 and any(int(n) > 0 for _, n in tabs)
    monkeypatch.undo()
    for link, shown in tabs:  # each tab's count is the total its own page states
        page = supervisor.get(link).get_data(as_text=True)
        assert re.search(r"共 (\d+) 项任务", page)[1] == shown, link  # type: ignore[index]
