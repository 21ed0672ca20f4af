"""Case page header and summary, through real HTTP on both databases: 申请时间 is when the customer applied
and 受理时间 when the utility accepted (``—（未受理）`` before that); the summary shows the latest 回访 rating
(rating, when, who in which step, the start of the comments) once there is one."""

from __future__ import annotations

import re
from datetime import timedelta

from runner import portal
from tests.db import CaseDriver, Db, complete, open_task, open_tasks, visited
from tests.webui_helpers import (
    Web,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def header(page: str) -> str:
    match = re.search(r"客户名称(.*?)流程版本", page)
    assert match, page[:500]
    return match[1]


def summary(page: str) -> str:
    match = re.search(r"案件摘要(.*?)办理记录", page)
    assert match, "no 案件摘要 section"
    return match[1]


def drive_until(db: Db, number: str, element_id: str) -> None:
    """Drive the case (clock standing still, messages delivered) until ``element_id`` is open."""
    driver = CaseDriver(db, number, hours_per_task=0.0)
    for _ in range(200):
        if element_id in {task.element_id for task in open_tasks(db, number)}:
            return
        assert driver.step(), visited(db, number)[-5:]
    raise AssertionError(f"{number} never reached {element_id}")


def test_the_header_tells_application_from_acceptance(web: Web) -> None:
    number = start_case(web.db, "lv_residential")  # applied at 2026-11-26 09:00 (the test clock)
    client = web.client("account_manager")
    before = header(text_of(client.get(f"/cases/{number}")))
    assert "申请时间 2026-11-26 09:00" in before, before
    assert "受理时间 —（未受理）" in before, before

    web.db.clock.advance(timedelta(hours=2, minutes=15))
    complete(web.db, number, "accept_application", user="account_manager")
    after = header(text_of(client.get(f"/cases/{number}")))
    assert "申请时间 2026-11-26 09:00" in after, after
    assert "受理时间 2026-11-26 11:15" in after, after


def test_the_summary_shows_the_latest_followup_rating(web: Web) -> None:
    number = start_case(web.db, "lv_residential")
    drive_until(web.db, number, "customer_survey")
    client = web.client("supervisor")
    assert "回访结果" not in text_of(client.get(f"/cases/{number}"))  # no rating yet

    web.db.clock.advance(timedelta(days=1, hours=3))
    comment = "装表师傅迟到了两个小时，而且没有提前打电话通知，希望以后改进。" * 2
    complete(web.db, number, "customer_survey", {"satisfaction": "dissatisfied", "issues": ["timeliness"],
                                                 "comments": comment}, user=portal.customer_user(number))
    assert open_task(web.db, number, "assign_rectification")
    shown = summary(text_of(client.get(f"/cases/{number}")))
    assert "回访结果 不满意 2026-11-27 12:00，客户本人（回访评价）" in shown, shown
    assert "客户意见：装表师傅迟到了两个小时" in shown and comment not in shown and "…" in shown, shown


def test_a_second_call_replaces_the_first_rating(web: Web) -> None:
    number = start_case(web.db, "lv_residential")
    drive_until(web.db, number, "followup_call")
    complete(web.db, number, "followup_call", {"contact_method": "phone", "reached": True,
                                               "satisfaction": "dissatisfied", "issues": ["attitude"],
                                               "comments": "态度不好"}, user="followup_agent")
    drive_until(web.db, number, "second_followup")
    web.db.clock.advance(timedelta(hours=5))
    complete(web.db, number, "second_followup", {"contact_method": "phone", "reached": True,
                                                 "satisfaction": "satisfied"}, user="followup_agent")
    shown = summary(text_of(web.client("supervisor").get(f"/cases/{number}")))
    assert "回访结果 满意 2026-11-26 14:00，followup_agent（二次回访）" in shown, shown
    assert "不满意" not in shown and "客户意见" not in shown, shown
