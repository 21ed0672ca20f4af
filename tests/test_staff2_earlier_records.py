"""A task form shows, below the form, the last answer of each earlier form step of the case (此前办理记录): the plan
reviewer reads the drafted plan on 审核供电方案, the inspector the customer's 竣工报验, the account manager
redrafting a contract the customer's objection — without opening the case page. Personal fields stay masked, as on
the case page. The page loads them from ``/tasks/<id>/records?part=1`` (without JavaScript: a link to
``/tasks/<id>/records``); the browser test is in ``test_staff2_earlier_records_browser.py``."""

from __future__ import annotations

import re

from tests.db import advance_to, complete
from tests.webui_helpers import Web, start_case, task_of, text_of, web_fixture  # noqa: F401

PLAN_TEXT = "采用 10kV 单电源供电，由 110kV 示例变 10kV 示例线接入"


def records_of(html: str) -> list[str]:
    """The summaries (step · time · who) of the records, newest first."""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", summary)).strip()
            for summary in re.findall(r"<summary>(.*?)</summary>", html, re.S)]


def test_the_plan_reviewer_reads_the_drafted_plan_on_the_review_form(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "review_plan")
    task = task_of(web.db, number, "review_plan")
    reviewer = web.client("plan_reviewer")
    form = reviewer.get(f"/tasks/{task}").get_data(as_text=True)
    assert f'data-records-url="/tasks/{task}/records?part=1"' in form and f'href="/tasks/{task}/records"' in form
    part = reviewer.get(f"/tasks/{task}/records?part=1")
    html = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in html  # the section only, for the form page to show
    records = records_of(html)
    assert records[0].startswith("编制供电方案 ·"), records
    assert any(record.startswith("现场勘查 ·") for record in records)
    assert any(record.startswith("业务受理 ·") for record in records)
    assert PLAN_TEXT in html
    assert '<details class="earlier-record" open>' in html  # the newest one open
    whole = reviewer.get(f"/tasks/{task}/records")  # without JavaScript: a page of its own
    assert whole.status_code == 200 and PLAN_TEXT in whole.get_data(as_text=True) and "此前办理记录" in text_of(whole)
    assert web.client("installer").get(f"/tasks/{task}/records?part=1").status_code == 403  # not their lane


def test_personal_fields_stay_masked_and_the_customer_is_named_as_such(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "completion_check")
    page = web.client("inspector").get(f"/tasks/{task_of(web.db, number, 'completion_check')}/records?part=1")
    section = page.get_data(as_text=True)
    assert records_of(section)[0].startswith("竣工报验 ·") and "客户（申请人）" in records_of(section)[0]
    assert "138****8000" in section and "13800138000" not in section


def test_a_redrafted_contract_shows_the_customers_objection(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "sign_contract")
    complete(web.db, number, "sign_contract", {"signed": False, "remarks": "产权分界点应在环网柜出线侧"},
             user=f"customer:{number}")
    client = web.client("account_manager")
    client.get("/auth/language/en")
    task = task_of(web.db, number, "draft_contract")
    form = text_of(client.get(f"/tasks/{task}"))
    assert "Earlier steps of this case" in form and "All records of the case" in form
    page = client.get(f"/tasks/{task}/records?part=1")
    records = records_of(page.get_data(as_text=True))
    assert records[0].startswith("签订供用电合同 ·") and "产权分界点应在环网柜出线侧" in text_of(page)
    assert sum(record.startswith("拟定供用电合同 ·") for record in records) == 1  # the last visit only
