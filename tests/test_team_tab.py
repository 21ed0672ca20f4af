"""The web 工作台 for supervisors and for suspended cases: 全部岗位 lists every open task, also those others claimed
or were given (with who holds them, to release or reassign them); a suspended case's tasks are marked 已挂起 and
offer no claim, release or assignment."""

from __future__ import annotations

import re

from runner import services
from tests.webui_helpers import Web, start_case, task_of, text_of, web_fixture  # noqa: F401  (the web fixture)


def task_card(html: str, key: str) -> str:
    """The list item of one task on the 工作台, found by its id or its case number."""
    cards: list[str] = [card for card in re.findall(r'<li class="task card[^"]*">(.*?)</li>', html, re.S)
                        if key in card]
    assert len(cards) == 1, f"{key} is not listed once"
    return cards[0]


def test_the_team_tab_shows_tasks_others_hold_with_who_holds_them(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    web.client("account_manager").post(f"/tasks/{task}/claim", {})
    supervisor = web.client("supervisor")
    page = supervisor.get("/tasks/?scope=team")
    card = task_card(page.get_data(as_text=True), task)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card))
    assert "办理人：account_manager 他人办理中" in text
    assert f'action="/tasks/{task}/unclaim"' in card and f"/tasks/{task}/assign" in card
    assert re.search(r'全部岗位 <span class="count">1</span>', page.get_data(as_text=True))
    released = supervisor.post(f"/tasks/{task}/unclaim", {"next": "/tasks/?scope=team"})
    assert released.status_code == 302
    assert "待领取" in text_of(supervisor.get("/tasks/?scope=team"))


def test_a_suspended_cases_task_is_marked_and_cannot_be_claimed_from_the_list(web: Web) -> None:
    number = start_case(web.db)
    other = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    with web.db.transaction() as session:
        services.set_case_status(session, web.db.runtime, number, "suspended", "supervisor")
    html = web.client("account_manager").get("/tasks/").get_data(as_text=True)
    card = task_card(html, task)
    assert '<span class="badge suspended">已挂起</span>' in card
    assert re.search(r'<button type="submit" disabled title="案件已挂起[^"]*">领取</button>', card)
    running = task_card(html, task_of(web.db, other, "accept_application"))
    assert "已挂起" not in running and '<button type="submit" >领取</button>' in running
    team = web.client("supervisor").get("/tasks/?scope=team").get_data(as_text=True)
    held = task_card(team, f"/cases/{number}")
    assert f"/tasks/{task}/assign" not in held and "已挂起" in held  # nor assigned: refused until resumed
    assert '<button type="button" disabled title="案件已挂起' in held
