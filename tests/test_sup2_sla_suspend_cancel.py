"""Case page 时限执行情况 for a suspended and a cancelled case: a suspended case's SLA clock is paused (its
deadlines move on resumption), so a deadline passing during the suspension is not 已超期; a step withdrawn after
its deadline (the case cancelled) keeps the red mark of a breach."""

from __future__ import annotations

import re
from datetime import datetime

from runner import services
from runner.clock import SHANGHAI
from tests.db import advance_to, open_task
from tests.webui_helpers import Web, start_case, text_of, web_fixture  # noqa: F401


def sla_html(web: Web, number: str) -> str:
    html = web.client("supervisor").get(f"/cases/{number}").get_data(as_text=True)
    match = re.search(r'id="sla">(.*?)</section>', html, re.S)
    assert match, "no 时限执行情况 section"
    return match[1]


def survey_row(web: Web, number: str) -> str:
    rows = [row for row in re.findall(r"<tr class=\"sla-[^\"]+\">.*?</tr>", sla_html(web, number), re.S)
            if "现场勘查" in row]
    assert len(rows) == 1, rows
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rows[0])).strip() + " " + rows[0]


def set_status(web: Web, number: str, status: str) -> None:
    with web.db.transaction() as session:
        services.set_case_status(session, web.db.runtime, number, status, "supervisor", reason="测试")


def suspended_over_the_plan_deadline(web: Web) -> str:
    """A case at 现场勘查 (hv_ordinary, statute: plan reply 20 working days, due Thu 24 Dec 2026), suspended on
    10 Dec; the clock then stands at Mon 28 Dec, past the deadline, the case still suspended."""
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    assert open_task(web.db, number, "site_survey").due_at == datetime(2026, 12, 24, 23, 59, 59, tzinfo=SHANGHAI)
    web.db.clock.advance_to(datetime(2026, 12, 10, 9, 0, tzinfo=SHANGHAI))
    set_status(web, number, "suspended")
    web.db.clock.advance_to(datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI))
    return number


def test_a_deadline_passing_during_a_suspension_is_not_overdue(web: Web) -> None:
    number = suspended_over_the_plan_deadline(web)
    row = survey_row(web, number)
    assert "办理中" in row and "已超期" not in row and "sla-bad" not in row, row
    set_status(web, number, "running")  # the 12 working days paused move the deadline to Tue 12 Jan 2027
    row = survey_row(web, number)
    assert "2027-01-12 23:59" in row and "办理中" in row, row


def test_a_step_overdue_before_the_suspension_stays_overdue(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    web.db.clock.advance_to(datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI))  # 2 working days late
    set_status(web, number, "suspended")
    row = survey_row(web, number)
    assert "已超期" in row and "sla-bad" in row, row


def test_a_step_cancelled_after_its_deadline_keeps_its_breach(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    web.db.clock.advance_to(datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI))
    set_status(web, number, "cancelled")
    row = survey_row(web, number)
    assert "已结束" in row and "sla-bad" in row, row


def test_a_step_cancelled_in_time_ends_without_a_breach(web: Web) -> None:
    number = suspended_over_the_plan_deadline(web)
    set_status(web, number, "cancelled")  # the clock stopped at the suspension, before the deadline
    row = survey_row(web, number)
    assert "已结束" in row and "sla-ok" in row, row
