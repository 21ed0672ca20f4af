"""Case page: SLA status per step (deadline recorded when the step opened, done in time or late, open or
overdue), the Getting-Electricity indicators and the documents uploaded for the case."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

from runner.clock import parse_iso
from runner.documents import Upload, store_document
from tests.db import advance_to, case_row, complete, drive_case_to_end, events, open_task
from tests.webui_helpers import (
    Web,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 100


def section(page: str, heading: str, next_heading: str) -> str:
    match = re.search(f"{heading}(.*?){next_heading}", page)
    assert match, f"no {heading} section"
    return match[1]


def test_steps_show_their_deadline_and_whether_they_were_met(web: Web) -> None:
    number = start_case(web.db)
    acceptance = open_task(web.db, number, "accept_application")
    assert acceptance.due_at is not None
    enabled = [e for e in events(web.db, number) if e.element_id == "accept_application" and e.lifecycle == "enabled"]
    assert enabled and enabled[0].data is not None  # the deadline is recorded when the step opens
    assert parse_iso(enabled[0].data["due_at"]) == acceptance.due_at
    web.db.clock.advance_to(acceptance.due_at + timedelta(hours=2))  # accepted two hours late
    complete(web.db, number, "accept_application", user="account_manager")
    advance_to(web.db, number, "site_survey")
    survey = open_task(web.db, number, "site_survey")
    assert survey.due_at is not None
    web.db.clock.advance_to(survey.due_at + timedelta(days=1))  # the survey is now overdue
    page = text_of(web.client("supervisor").get(f"/cases/{number}"))
    sla = section(page, "时限执行情况", "案件摘要|获得电力指标|申请资料与附件")
    assert re.search(r"业务受理 \S+ \S+ \S+ \S+ 超期完成", sla), sla
    assert re.search(r"现场勘查 \S+ \S+ — 已超期", sla), sla


def test_getting_electricity_indicators_and_documents(web: Web) -> None:
    number = start_case(web.db, "lv_residential")
    with web.db.transaction() as session:
        store_document(session, Path(web.app.instance_path),
                       Upload(io.BytesIO(JPEG), "身份证.jpg", "account_manager", case_id=case_row(web.db, number).id,
                              element_id="accept_application"), web.db.clock.now())
    drive_case_to_end(web.db, number)
    response = web.client("account_manager").get(f"/cases/{number}")
    page = text_of(response)
    indicators = section(page, "获得电力指标", "申请资料与附件")
    kpis = case_row(web.db, number).summary["kpis"]
    assert f"办电环节数 {kpis['steps']}" in indicators and f"客户跑动次数 {kpis['customer_visits']}" in indicators
    assert f"办电时长（工作日） {kpis['working_days']}" in indicators
    documents = section(page, "申请资料与附件", "案件摘要")
    assert "身份证.jpg — 业务受理 account_manager" in documents
    assert "/documents/" in response.get_data(as_text=True)
    assert "按期完成" in section(page, "时限执行情况", "获得电力指标")
