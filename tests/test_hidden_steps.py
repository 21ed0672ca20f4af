"""高风险审批 is an internal control: its approver reads why the case is high-risk in the step's instructions (the
risk assessment's findings, by name and level), and the customer's progress page never lists the step (it is marked
``hiddenFromCustomer`` in the BPMN), while it is open nor after it was done."""

from __future__ import annotations

import re
from pathlib import Path

from runner import portal
from runner.process_folder import load_process_folder
from tests.db import advance_to, complete, open_task
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Web, start_case, text_of, web_fixture  # noqa: F401

PROCESSES = Path(__file__).resolve().parent.parent / "processes"


def test_the_approver_reads_the_risk_findings_in_the_instructions(web: Web) -> None:
    number = start_case(web.db, "hv_important")
    advance_to(web.db, number, "approve_high_risk")
    task = open_task(web.db, number, "approve_high_risk")
    page = web.client("supervisor").get(f"/tasks/{task.id}")
    text = text_of(page)
    assert page.status_code == 200, text[:300]
    assert "本案存在高风险因素：重要用户（高）" in text, re.findall(r"本案存在[^。]*。", text)
    assert "risk.flag" not in text and "{%" not in page.get_data(as_text=True)


def test_the_customer_never_sees_the_high_risk_approval(web: Web) -> None:
    number = start_case(web.db, "hv_important")
    give_code(web.db, number)
    assert "approve_high_risk" in portal.internal_elements(load_process_folder(PROCESSES))
    advance_to(web.db, number, "approve_high_risk")
    client = signed_in(web, number)
    while_open = text_of(client.get("/portal/case"))
    assert "审核供电方案" in while_open and "高风险审批" not in while_open
    approval = {"decision": "approve", "risk_measures": "加装双电源切换装置", "comments": "同意"}
    complete(web.db, number, "approve_high_risk", approval, user="supervisor.1")
    after = text_of(client.get("/portal/case"))
    assert "审核供电方案" in after and "高风险审批" not in after
