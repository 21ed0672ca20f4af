"""The task list, the task form and the case page agree with the case page's 时限执行情况 about a suspended case: a
deadline falling after the suspension is paused (it moves on resuming), shown as 时限暂停 with the working days that
were left, never 已超期; a deadline already passed when the case was suspended stays 已超期."""

from __future__ import annotations

import re
from datetime import datetime

from runner.clock import SHANGHAI
from tests.db import advance_to, open_task
from tests.test_sup2_sla_suspend_cancel import set_status, suspended_over_the_plan_deadline
from tests.webui_helpers import Web, start_case, text_of, web_fixture  # noqa: F401


def survey_card(web: Web, number: str) -> str:
    html = web.client("supervisor").get("/tasks/?scope=team").get_data(as_text=True)
    cards = [card for card in re.findall(r'<li class="task card[^"]*">.*?</li>', html, re.S) if number in card]
    assert len(cards) == 1, html[:500]
    return cards[0]


def test_a_deadline_passing_during_a_suspension_is_paused_everywhere(web: Web) -> None:
    number = suspended_over_the_plan_deadline(web)  # plan reply due Thu 24 Dec, now Mon 28 Dec
    task = open_task(web.db, number, "site_survey")
    card = survey_card(web, number)
    assert "时限暂停" in card and "已超期" not in card and 'class="task card overdue' not in card, card
    assert "挂起时剩 10 个工作日" in card, card  # 11–24 Dec after the 10th: 10 working days
    form = text_of(web.client("surveyor").get(f"/tasks/{task.id}"))
    assert "时限暂停" in form and "超期" not in form
    page = text_of(web.client("supervisor").get(f"/cases/{number}"))
    assert "时限暂停" in page
    set_status(web, number, "running")  # resumed: the deadline moved on, nothing is paused any more
    card = survey_card(web, number)
    assert "时限暂停" not in card and "已超期" not in card and "2027-01-12" in card, card


def test_a_deadline_passed_before_the_suspension_stays_overdue(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    web.db.clock.advance_to(datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI))  # 2 working days late
    set_status(web, number, "suspended")
    card = survey_card(web, number)
    assert "已超期" in card and "时限暂停" not in card, card
