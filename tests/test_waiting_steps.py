"""A case that waits at a message catch event (缴费确认: ``payment_confirmed`` from billing; 表计在线确认:
``meter_online`` from the meter data system) shows that step as its current one everywhere: the portal progress,
the staff case page's 当前待办 and step list, the diagram state and the progress the REST API reads
(``case_queries.case_progress``); a timer shows so only when nothing else holds the case up."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from runner import case_queries, services
from runner.clock import SHANGHAI
from runner.models import OpenTask
from tests.db import Db, complete, open_tasks, start
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Web, text_of, web_fixture  # noqa: F401  (the web fixture)


def run_until_waiting(db: Db, category: str, dual_supply: bool = False) -> str:
    """A case of the category driven with form defaults until it has no open task (it waits for a message); the
    clock moves an hour per task; a dual-supply case's plan grants the two sources (billed: decision 103). Its case
    number."""
    number = start(db, category, dual_supply=dual_supply)
    for visit in range(100):
        tasks = open_tasks(db, number)
        if not tasks:
            return number
        db.clock.advance(timedelta(hours=1))
        element = tasks[0].element_id
        extra = {"supply_points": 2} if dual_supply and element == "draft_plan" else None
        complete(db, number, element, user=f"{tasks[0].lane}.{visit % 2 + 1}", extra=extra)  # four eyes: alternate
    raise AssertionError(f"{number} never stopped at a message")


def waiting_payment(db: Db) -> str:
    """DEMO-0005's situation: a dual-supply 高压普通 case waiting for the customer's payment to be confirmed."""
    number = run_until_waiting(db, "hv_ordinary", dual_supply=True)
    with db.reading() as session:
        assert [wait.element_id for wait in case_queries.waiting_steps(session, db.runtime, number)] == \
            ["wait_payment"]
    return number


def waiting_meter(db: Db) -> str:
    """DEMO-0001's situation: a 低压居民 case whose meter is installed, waiting for it to come online."""
    number = run_until_waiting(db, "lv_residential")
    with db.reading() as session:
        assert [wait.element_id for wait in case_queries.waiting_steps(session, db.runtime, number)] == \
            ["wait_meter_online"]
    return number


def current_steps(html: str) -> list[str]:
    """The text of each step the portal's progress shows as current."""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
            for item in re.findall(r'<li class="step current"[^>]*>(.*?)</li>', html, re.S)]


def installed_at(db: Db, number: str) -> datetime:
    from tests.db import events

    return next(event.at for event in reversed(events(db, number))
                if event.element_id == "install_meter" and event.lifecycle == "completed")


# -- the portal ----------------------------------------------------------------------------------------------------


def test_the_portal_shows_the_payment_the_case_waits_for_as_the_current_step(web: Web) -> None:
    number = waiting_payment(web.db)
    give_code(web.db, number)
    html = signed_in(web, number).get("/portal/case").get_data(as_text=True)
    current = current_steps(html)
    assert len(current) == 1 and current[0].startswith("等待缴费确认 等待确认 自 ")
    assert "请按通知办理" in current[0]  # the customer pays: theirs to do
    assert "payment_confirmed" not in html and 'data-waiting="message"' in html


def test_the_portal_shows_the_meter_coming_online_after_the_installation(web: Web) -> None:
    number = waiting_meter(web.db)
    give_code(web.db, number)
    html = signed_in(web, number).get("/portal/case").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert text.index("装表接电 已完成") < text.index("等待表计在线确认")  # no longer looks finished
    since = installed_at(web.db, number).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert current_steps(html) == [f"等待表计在线确认 等待确认 自 {since} 起 由供电公司确认，无需您操作。"]
    assert "已办结" not in text


# -- the staff case page and the diagram ---------------------------------------------------------------------------


def test_the_case_page_says_what_the_case_waits_for_where_it_comes_from_and_since_when(web: Web) -> None:
    number = waiting_meter(web.db)
    page = web.client("installer").get(f"/cases/{number}")
    text = text_of(page)
    assert page.status_code == 200
    assert "当前没有待办任务" not in text
    since = installed_at(web.db, number).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert "等待“表计在线确认” 等待消息 meter_online，来自用电信息采集系统" in text
    assert f"自 {since} 起等待" in text
    assert "表计在线确认 等待中" in text  # the step list, the diagram's text alternative
    state = web.client("installer").get(f"/cases/{number}/diagram-state.json").get_json()
    assert "wait_meter_online" in state["active"]


def test_the_case_page_names_billing_as_the_source_of_the_payment(web: Web) -> None:
    number = waiting_payment(web.db)
    text = text_of(web.client("account_manager").get(f"/cases/{number}"))
    assert "等待“缴费确认” 等待消息 payment_confirmed，来自营销收费系统（客户缴费到账后发送）" in text
    assert "当前没有待办任务" not in text
    with web.db.transaction() as session:  # suspended: still waiting, but it takes no message until resumed
        services.set_case_status(session, web.db.runtime, number, "suspended", "supervisor")
    text = text_of(web.client("account_manager").get(f"/cases/{number}"))
    assert "等待“缴费确认”" in text and "案件已挂起，恢复办理后才能接收。" in text


def test_once_the_message_arrives_the_wait_is_done_and_nothing_is_left_waiting(web: Web) -> None:
    number = waiting_meter(web.db)
    with web.db.transaction() as session:
        services.send_message(session, web.db.runtime, number, "meter_online", {"online": True})
    with web.db.reading() as session:
        assert case_queries.waiting_steps(session, web.db.runtime, number) == []
    text = text_of(web.client("installer").get(f"/cases/{number}"))
    assert "等待“表计在线确认”" not in text and "表计在线确认 已完成" in text


# -- the progress ------------------------------------------------------------------------------------------------


def test_the_progress_ends_with_the_active_wait(db: Db) -> None:
    number = waiting_meter(db)
    with db.reading() as session:
        steps = case_queries.case_progress(session, number, db.runtime).steps
        without_runtime = case_queries.case_progress(session, number).steps
    last = steps[-1]
    assert (last.element_id, last.name, last.state, last.kind, last.waiting_for) == \
        ("wait_meter_online", "表计在线确认", "active", "message", "meter_online")
    assert last.since == installed_at(db, number) and last.assignee is None and last.due_at is None
    assert steps[-2].element_id == "install_meter" and steps[-2].state == "done"
    assert [step.state for step in without_runtime] == ["done"] * len(without_runtime)  # as before: no engine read
    assert db.count(OpenTask, OpenTask.case_number == number) == 0


def test_timers_show_only_when_nothing_else_holds_the_case() -> None:
    later = datetime(2027, 11, 26, tzinfo=SHANGHAI)
    sooner = datetime(2027, 10, 27, tzinfo=SHANGHAI)
    timers = [case_queries.WaitingStep("timer_plan_expiry", "方案到期", "customer", "timer", until=later),
              case_queries.WaitingStep("timer_plan_expiry_reminder", "方案到期前30天", "customer", "timer",
                                       until=sooner),
              case_queries.WaitingStep("timer_plan_expiry", "方案到期", "customer", "timer", until=later)]
    assert [timer.element_id for timer in case_queries.wait_timers(timers)] == \
        ["timer_plan_expiry_reminder", "timer_plan_expiry"]


def test_a_case_waiting_for_a_message_does_not_list_its_deadline_timers(db: Db) -> None:
    """The 装表接电 stage's SLA timer is pending while the meter is awaited: the message is what it waits for."""
    number = waiting_meter(db)
    with db.reading() as session:
        waits = case_queries.waiting_steps(session, db.runtime, number)
    assert [wait.kind for wait in waits] == ["message"]
