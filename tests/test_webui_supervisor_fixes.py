"""What a supervisor (营销主管) and an account manager meet on the case page and ``/incidents/`` around failed service
tasks, and a few more things they see there: refusals in Chinese sentences, steps by their names, a case held up at
a failed step said so plainly (and drawn so), when a failed task is retried next, no retry offered on a suspended
case, notification channels and templates by name, reasons for every status change, labelled event data, no
unnamed gateways in the log, a portal estimate that fails softly, and 显示完整信息 that does not post again on reload.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

from runner.models import DataAccess, Event, Incident, Job
from runner.store import Runtime
from tests.db import advance_to, case_row, complete, open_tasks, start
from tests.test_portal_apply import FACTORY
from tests.test_webui_case_control import case_with_incident, unavailable
from tests.test_webui_failed_messages import fail_messages
from tests.webui_helpers import (
    Browser,
    Web,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from tests.worker_helpers import registry_with

ERROR_TEXT = "capacity service unavailable"


def failing_case(web: Web) -> str:
    """An hv case whose capacity service failed once: the task waits for its automatic retry (no incident yet)."""
    failing = Runtime(cache_dir=web.db.cache_dir, clock=web.db.clock,
                      registry=registry_with("capacity_assessment", unavailable))
    failing.bundles.update(web.db.runtime.bundles)
    return start(web.db, "hv_ordinary", runtime=failing)


def incident_id_of(web: Web) -> int:
    with web.db.reading() as session:
        return int(session.scalars(select(Incident.id)).one())


def retry_due(web: Web) -> Any:
    with web.db.reading() as session:
        return session.scalar(select(Job.due_at).where(Job.kind == "retry", Job.status == "pending"))


def shown(web: Web, at: Any) -> str:
    with web.app.app_context():
        return str(web.app.jinja_env.filters["shanghai"](at))


def retry_failing_again(web: Web, supervisor: Browser, incident_id: int, number: str) -> Any:
    """Retry the incident by hand while the capacity service is still down."""
    app_runtime = web.app.extensions["baozhuang"].runtime
    working = app_runtime.registry
    app_runtime.registry = registry_with("capacity_assessment", unavailable)
    try:
        return supervisor.post(f"/incidents/{incident_id}/retry", {"next": f"/cases/{number}"})
    finally:
        app_runtime.registry = working


# -- 1. refusals in words -----------------------------------------------------------------------------------------


def test_refusals_are_chinese_sentences_not_technical_text(web: Web) -> None:
    number = case_with_incident(web)
    incident_id = incident_id_of(web)
    supervisor = web.client("supervisor")

    supervisor.post(f"/cases/{number}/status", {"status": "suspended"})
    refused = supervisor.post(f"/incidents/{incident_id}/retry", {"next": f"/cases/{number}"})
    page = text_of(supervisor.get(refused.headers["Location"]))
    assert "重试未成功：案件已挂起，请先恢复办理再重试" in page and "is suspended" not in page
    supervisor.post(f"/cases/{number}/status", {"status": "running"})

    supervisor.post(f"/cases/{number}/status", {"status": "cancelled", "reason": "客户撤回申请"})  # closes it
    supervisor.post(f"/incidents/{incident_id}/retry")
    page = text_of(supervisor.get("/incidents/"))
    assert f"重试未成功：异常 #{incident_id} 已解决或不存在" in page and "no open incident" not in page
    supervisor.post("/incidents/99999999999/retry")  # beyond the id column: the same words, no database error
    assert "异常 #99999999999 已解决或不存在" in text_of(supervisor.get("/incidents/"))

    supervisor.post(f"/cases/{number}/status", {"status": "suspended"})  # a second tab, after the cancel
    page = text_of(supervisor.get(f"/cases/{number}"))
    assert "操作未成功：案件当前状态为“已撤销”，不能改为“已挂起”" in page
    assert "cannot make it" not in page and case_row(web.db, number).status == "cancelled"


# -- 2., 4., 5. incidents: step names, times, no retry on a suspended case ----------------------------------------


def test_incidents_show_the_step_by_name_when_it_failed_and_when_it_is_retried_next(web: Web) -> None:
    number = case_with_incident(web)
    incident_id = incident_id_of(web)
    supervisor = web.client("supervisor")
    listing = supervisor.get("/incidents/").get_data(as_text=True)
    row = re.search(rf'<tr id="incident-{incident_id}">.*?</tr>', listing, re.S)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", " ", cell).split() for cell in re.findall(r"<td>(.*?)</td>", row[0], re.S)]
    header = re.findall(r"<th>([^<]*)</th>", listing)
    assert header[:8] == ["#", "案件", "环节", "错误", "尝试次数", "首次失败", "最近失败", "下次自动重试"]
    assert cells[2] == ["容量评估", "assess_capacity"] and cells[7] == ["无（自动重试已用完）"]
    card = text_of(supervisor.get(f"/cases/{number}"))
    assert f"#{incident_id} 容量评估 assess_capacity" in card and "首次失败：" in card
    assert "下次自动重试：无（自动重试已用完）" in card

    response = retry_failing_again(web, supervisor, incident_id, number)
    due = retry_due(web)
    assert due is not None
    assert f"系统将于 {shown(web, due)} 自动重试" in text_of(supervisor.get(response.headers["Location"]))
    listing = supervisor.get("/incidents/").get_data(as_text=True)
    row = re.search(rf'<tr id="incident-{incident_id}">.*?</tr>', listing, re.S)
    assert row is not None and shown(web, due) in row[0] and "无（自动重试已用完）" not in row[0]
    assert f"下次自动重试：{shown(web, due)}" in text_of(supervisor.get(f"/cases/{number}"))


def test_no_retry_is_offered_on_a_suspended_case(web: Web) -> None:
    number = case_with_incident(web)
    incident_id = incident_id_of(web)
    supervisor = web.client("supervisor")
    assert f"/incidents/{incident_id}/retry" in supervisor.get(f"/cases/{number}").get_data(as_text=True)
    supervisor.post(f"/cases/{number}/status", {"status": "suspended"})
    for url in (f"/cases/{number}", "/incidents/"):
        page = supervisor.get(url)
        assert f"/incidents/{incident_id}/retry" not in page.get_data(as_text=True), url
        assert "恢复办理后可重试" in text_of(page), url


# -- 3. a case held up at a failed step ---------------------------------------------------------------------------


def test_a_case_held_up_at_a_failed_step_says_so(web: Web) -> None:
    with_incident = case_with_incident(web)
    number = failing_case(web)
    assert open_tasks(web.db, number) == []
    due = retry_due(web)
    manager = web.client("account_manager")
    page = manager.get(f"/cases/{number}")
    html, text = page.get_data(as_text=True), text_of(page)
    assert '<li class="step-failed"><span>容量评估</span> <small>执行失败</small></li>' in html
    assert "容量评估 已结束" not in text and "当前没有待办任务" not in text
    assert "案件停在“容量评估”环节：系统执行该环节失败。" in text
    assert f"系统将于 {shown(web, due)} 自动重试。" in text and "这不是需要您办理的任务" in text
    assert ERROR_TEXT not in html and "/incidents/" not in html  # no technical text, nothing of the supervisors'
    assert 'class="legend-failed"' in html
    state = manager.get(f"/cases/{number}/diagram-state.json").get_json()
    assert state["failed"] == ["assess_capacity"] and "assess_capacity" not in state["completed"]

    number = with_incident
    incident_id = incident_id_of(web)
    text = text_of(manager.get(f"/cases/{number}"))
    assert "已转为异常，由营销主管处理" in text and ERROR_TEXT not in text
    supervisor = web.client("supervisor")
    html = supervisor.get(f"/cases/{number}").get_data(as_text=True)
    assert ERROR_TEXT in html and f'href="#incident-{incident_id}"' in html and f'id="incident-{incident_id}"' in html
    assert supervisor.get(f"/cases/{number}/diagram-state.json").get_json()["failed"] == ["assess_capacity"]

    supervisor.post(f"/incidents/{incident_id}/retry", {"next": f"/cases/{number}"})  # the service is back
    html = supervisor.get(f"/cases/{number}").get_data(as_text=True)
    assert "案件停在" not in html and "step-failed" not in html
    assert supervisor.get(f"/cases/{number}/diagram-state.json").get_json()["failed"] == []


# -- 6. failed notifications ----------------------------------------------------------------------------------------


def test_failed_notifications_name_their_channel_and_template_and_both_times(web: Web) -> None:
    number = start_case(web.db)
    fail_messages(web.db, number, ("followup_survey", "account_manager", {"case_number": number}),
                  ("made_up_template", "account_manager", {"case_number": number}))
    supervisor = web.client("supervisor")
    card = text_of(supervisor.get(f"/cases/{number}"))
    assert "客户评价邀请" in card and "followup_survey" not in card and "made_up_template" in card
    assert "短信 →" in card and "sms" not in card
    assert "创建时间：" in card and "最后一次尝试：" in card
    listing = text_of(supervisor.get("/incidents/"))
    assert "客户评价邀请 短信" in listing and "followup_survey" not in listing and "made_up_template 短信" in listing


# -- 7., 8. reasons and the words of the case's events -------------------------------------------------------------


def case_events(web: Web, number: str) -> list[Event]:
    with web.db.reading() as session:
        return list(session.scalars(select(Event).where(Event.case_number == number, Event.element_id == "case")
                                    .order_by(Event.id)))


def test_suspend_and_resume_take_a_reason_and_the_log_says_cancel_as_the_button(web: Web) -> None:
    number = case_with_incident(web)
    incident_id = incident_id_of(web)
    supervisor = web.client("supervisor")
    page = supervisor.get(f"/cases/{number}").get_data(as_text=True)
    assert 'placeholder="挂起原因（选填）"' in page
    supervisor.post(f"/cases/{number}/status", {"status": "suspended", "reason": "等待客户补充产权证明"})
    assert 'placeholder="恢复原因（选填）"' in supervisor.get(f"/cases/{number}").get_data(as_text=True)
    supervisor.post(f"/cases/{number}/status", {"status": "running"})  # the reason stays optional
    supervisor.post(f"/cases/{number}/status", {"status": "cancelled", "reason": "客户撤回申请"})
    assert [(event.lifecycle, event.data) for event in case_events(web, number)] == [
        ("suspended", {"reason": "等待客户补充产权证明"}), ("running", None),
        ("cancelled", {"reason": "客户撤回申请", "closed_incidents": [incident_id]})]

    for user in ("supervisor", "account_manager"):
        html = web.client(user).get(f"/cases/{number}").get_data(as_text=True)
        rows = [text_of_html(row) for row in re.findall(r'<tr class="lc-[^"]+">.*?</tr>', html, re.S)]
        cancelled = [row for row in rows if "整个案件" in row and "客户撤回申请" in row]
        assert len(cancelled) == 1 and " 撤销 " in cancelled[0] and " 取消 " not in cancelled[0]
        assert f"关闭的异常 #{incident_id}" in cancelled[0] and "原因 客户撤回申请" in cancelled[0]
        assert "closed_incidents" not in html
        assert any("整个案件 挂起" in row and "原因 等待客户补充产权证明" in row for row in rows)


def text_of_html(html: str) -> str:
    return " " + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip() + " "


def test_task_data_in_the_log_is_labelled_by_its_form(web: Web) -> None:
    number = start_case(web.db)
    complete(web.db, number, "accept_application")
    html = web.client("account_manager").get(f"/cases/{number}").get_data(as_text=True)
    rows = [text_of_html(row) for row in re.findall(r'<tr class="lc-[^"]+">.*?</tr>', html, re.S)]
    accepted = next(row for row in rows if "业务受理 完成" in row)
    assert "受理结论" in accepted or "受理意见" in accepted, accepted
    assert "办理时限" in next(row for row in rows if " 待办 " in row)
    assert "due_at" not in html


# -- 9. the log: no unnamed gateways; failed runs are the system's -------------------------------------------------


def test_the_log_leaves_out_unnamed_gateways_and_names_the_system_on_failed_runs(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    with web.db.reading() as session:
        unnamed = set(session.scalars(select(Event.element_id).where(
            Event.case_number == number, Event.element_id.like("gw_%"), Event.activity == Event.element_id)))
    assert unnamed, "the case passed no unnamed gateway: the test shows nothing"
    html = web.client("account_manager").get(f"/cases/{number}").get_data(as_text=True)
    timeline = html[html.index("办理记录"):]
    assert not [element for element in unnamed if element in timeline]
    assert "受理结论？" in timeline  # a named gateway stays

    number = failing_case(web)
    html = web.client("account_manager").get(f"/cases/{number}").get_data(as_text=True)
    timeline = html[html.index("办理记录"):]
    failed = [text_of_html(row) for row in re.findall(r'<tr class="lc-failed">.*?</tr>', timeline, re.S)]
    assert failed and all("容量评估 执行失败" in row and " 系统 " in row for row in failed)


# -- 10. the portal's estimate when the capacity service fails ----------------------------------------------------


def test_the_portal_estimate_answers_503_in_words_when_the_capacity_service_fails(
        web: Web, caplog: pytest.LogCaptureFixture) -> None:
    client = web.client()
    client.get("/portal/apply")
    app_runtime = web.app.extensions["baozhuang"].runtime
    working = app_runtime.registry
    app_runtime.registry = registry_with("capacity_assessment", unavailable)
    try:
        with caplog.at_level(logging.ERROR):
            response = client.post("/portal/assess", FACTORY)
    finally:
        app_runtime.registry = working
    assert response.status_code == 503 and response.mimetype == "application/json"
    answer = response.get_json()
    assert answer["ok"] is False and "暂时无法自动测算" in answer["message"] and "Traceback" not in answer["message"]
    assert any(ERROR_TEXT in (record.exc_text or "") or ERROR_TEXT in str(record.exc_info)
               for record in caplog.records)
    assert client.post("/portal/assess", FACTORY).status_code == 200  # the service is back


# -- 11. 显示完整信息 redirects after the POST ------------------------------------------------------------------------


ID_NUMBER = "110101199003071233"


def test_reveal_redirects_shows_in_full_once_and_logs_each_view(web: Web) -> None:
    number = start_case(web.db, id_number=ID_NUMBER)
    manager = web.client("account_manager")
    response = manager.post(f"/cases/{number}/reveal")
    assert response.status_code == 303 and response.headers["Location"] == f"/cases/{number}"
    assert web.db.count(DataAccess) == 0  # nothing seen yet
    full = manager.get(f"/cases/{number}")
    assert ID_NUMBER in full.get_data(as_text=True) and "本次查看已记录" in text_of(full)
    assert full.headers["Cache-Control"] == "no-store"
    assert web.db.count(DataAccess) == 1
    reloaded = manager.get(f"/cases/{number}")  # a reload: masked again, nothing posted or logged
    assert ID_NUMBER not in reloaded.get_data(as_text=True) and "显示完整信息" in text_of(reloaded)
    assert web.db.count(DataAccess) == 1

    manager.post(f"/cases/{number}/reveal")
    other = start_case(web.db, id_number=ID_NUMBER)
    assert ID_NUMBER not in manager.get(f"/cases/{other}").get_data(as_text=True)  # for that case only
    assert ID_NUMBER not in manager.get(f"/cases/{number}").get_data(as_text=True)  # and used up
    assert web.db.count(DataAccess) == 1
    assert web.client("surveyor").post(f"/cases/{number}/reveal").status_code == 403
    assert manager.post("/cases/NO-SUCH-CASE/reveal").status_code == 404
