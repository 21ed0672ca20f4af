"""A task's form: rendered from its schema, refused input shown again with messages at the fields (and nothing
changed), valid input completing the task once, conflicts and four-eyes refusals."""

from __future__ import annotations

import re
import uuid

from runner import accounts
from tests.db import Db, advance_to, case_row, events, open_tasks
from tests.webui_helpers import (
    FAST_HASH,
    Web,
    password_of,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from webui.formrender import html_value


def snapshot(db: Db, number: str) -> tuple[int, list[tuple[str, str | None]], int]:
    row = case_row(db, number)
    return row.revision, [(task.id, task.assignee) for task in open_tasks(db, number)], len(events(db, number))


def field_block(html: str, name: str) -> str:
    """The HTML of one field's block (label, input, messages, help)."""
    start = html.index(f'id="field-{name}"')
    following = html.find('<div class="field', start + 1)
    return html[start:following if following > 0 else len(html)]


ACCEPT = {"decision": "accept", "one_certificate": "false", "commitment_signed": "false", "contract_signed": "false"}


def test_the_form_shows_instructions_fields_and_choices_in_chinese(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    response = web.client("account_manager").get(f"/tasks/{task}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "办理说明" in html and "核对客户申请信息" in html  # the BPMN documentation
    assert "受理结论" in html and "资料齐全选“受理”" in html  # title and ui:help
    assert 'type="radio" name="decision" value="accept"' in html
    assert not re.search(r'name="decision" value="\w+" checked', html)  # no decision taken for the user
    assert 'value="need_more"' in html and "需补充资料" in html  # oneOf const/title
    assert 'type="checkbox" name="missing_materials" value="identity"' in html and "身份证明" in html
    assert '<textarea id="reject_reason"' in html
    assert re.search(r'name="request_id" value="[0-9a-f]{32}"', html)
    assert 'name="csrf_token"' in html and "提交受理结论" in html


def test_invalid_input_is_shown_again_with_messages_and_changes_nothing(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    before = snapshot(web.db, number)
    client = web.client("account_manager")
    response = client.post(f"/tasks/{task}", {**ACCEPT, "decision": "reject", "remarks": "客户资料不全",
                                              "request_id": uuid.uuid4().hex})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "提交未成功" in html
    assert "此项为必填项" in field_block(html, "reject_reason")
    assert "此项为必填项" not in field_block(html, "remarks")
    assert re.search(r'name="decision" value="reject" checked', html)  # the user's input, not the default
    assert "客户资料不全</textarea>" in html
    assert snapshot(web.db, number) == before


def test_numbers_dates_and_checklists_are_checked_on_the_server(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    task = task_of(web.db, number, "site_survey")
    before = snapshot(web.db, number)
    client = web.client("surveyor")
    response = client.post(f"/tasks/{task}", {"survey_date": "2026-13-45", "feeder_margin_kva": "很多",
                                              "safety_checklist": "ppe_worn", "safety_checklist.present": "1",
                                              "request_id": uuid.uuid4().hex})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "请输入数字" in field_block(html, "feeder_margin_kva") and 'value="很多"' in html
    assert "格式" in field_block(html, "survey_date") or "日期" in field_block(html, "survey_date")
    assert "至少需要 6 项" in field_block(html, "safety_checklist")
    assert re.search(r'name="safety_checklist" value="ppe_worn" checked', html)
    assert not re.search(r'name="safety_checklist" value="staff_certified" checked', html)
    assert snapshot(web.db, number) == before


def test_a_valid_completion_moves_the_case_on_once(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    before = snapshot(web.db, number)
    client = web.client("account_manager")
    request_id = uuid.uuid4().hex
    response = client.post(f"/tasks/{task}", {**ACCEPT, "remarks": "资料齐全", "request_id": request_id})
    assert (response.status_code, response.headers["Location"]) == (302, "/tasks/")
    assert f"已提交：{number} 业务受理" in text_of(client.get("/tasks/"))
    after = snapshot(web.db, number)
    assert after[0] > before[0] and after[2] > before[2]
    assert "accept_application" not in {task.element_id for task in open_tasks(web.db, number)}
    assert "site_survey" in {task.element_id for task in open_tasks(web.db, number)}
    completed = [event for event in events(web.db, number)
                 if event.element_id == "accept_application" and event.lifecycle == "completed"]
    assert completed[-1].user == "account_manager"
    assert completed[-1].data == {"decision": "accept", "one_certificate": False, "commitment_signed": False,
                                  "contract_signed": False, "remarks": "资料齐全"}
    again = client.post(f"/tasks/{task}", {**ACCEPT, "remarks": "资料齐全", "request_id": request_id})  # a double click
    assert again.status_code == 302 and "重复提交已忽略" in text_of(client.get("/tasks/"))
    assert snapshot(web.db, number) == after
    late = client.post(f"/tasks/{task}", {**ACCEPT, "request_id": uuid.uuid4().hex})  # a second, new attempt
    assert late.status_code == 409 and "该任务已不在待办中：account_manager 已办理。" in text_of(late)


def test_repeating_rows_render_grow_and_submit(web: Web) -> None:
    number = start_case(web.db, "lv_smallmicro")
    advance_to(web.db, number, "install_meter")
    task = task_of(web.db, number, "install_meter")
    client = web.client("installer")
    html = client.get(f"/tasks/{task}").get_data(as_text=True)
    assert 'name="installed_equipment[0].item"' in html and 'name="installed_equipment[1].item"' not in html
    assert "电能表" in html and "添加一行" in html
    grown = client.post(f"/tasks/{task}", {"_action": "add_row:installed_equipment", "installed_equipment.rows": "1",
                                           "request_id": uuid.uuid4().hex})
    assert grown.status_code == 200 and 'name="installed_equipment[1].item"' in grown.get_data(as_text=True)
    answer = {
        "install_date": "2026-11-26", "meter_number": "3300000000000001", "ct_ratio": "direct",
        "initial_reading": "0", "safety_checklist": [], "quality_checklist": [],
        "installed_equipment[0].item": "meter", "installed_equipment[0].model": "DTZY666",
        "installed_equipment[0].serial_number": "坏编号", "installed_equipment[0].quantity": "1",
        "installed_equipment[1].item": "", "installed_equipment[1].model": "",  # a blank row: left out
        "seal_numbers": "FY2026000001\nFY2026000002\n", "request_id": uuid.uuid4().hex,
    }
    from tests.webui_helpers import _multidict

    schema_defaults = {
        "safety_checklist": ["safety_measures", "live_parts_isolated", "staff_certified", "ppe_worn",
                             "hazards_briefed", "work_ticket", "power_off_verified"],
        "quality_checklist": ["wiring_correct", "seals_applied", "reading_recorded", "terminal_online_ready",
                              "energize_test_ok", "customer_signed_sheet"],
    }
    fields = [(key, value) for key, value in answer.items() if not isinstance(value, list)]
    fields += [(key, item) for key, items in schema_defaults.items() for item in items]
    refused = client.post(f"/tasks/{task}", _multidict(fields))
    assert refused.status_code == 400
    refused_html = refused.get_data(as_text=True)
    cell = refused_html[refused_html.index('name="installed_equipment[0].serial_number"'):]
    assert "格式不符合要求" in cell[:600] and 'value="坏编号"' in cell[:300]
    fields = [(key, "3300000000000009" if key == "installed_equipment[0].serial_number" else value)
              for key, value in fields]
    assert client.post(f"/tasks/{task}", _multidict(fields)).status_code == 302
    completed = [event for event in events(web.db, number)
                 if event.element_id == "install_meter" and event.lifecycle == "completed"][-1]
    assert completed.data is not None
    assert completed.data["installed_equipment"] == [{"item": "meter", "model": "DTZY666",
                                                      "serial_number": "3300000000000009", "quantity": 1}]
    assert completed.data["seal_numbers"] == ["FY2026000001", "FY2026000002"]
    assert completed.data["initial_reading"] == 0


def test_the_four_eyes_rule_refuses_with_409_and_keeps_the_input(web: Web) -> None:
    with web.db.transaction() as session:
        accounts.create_user(session, "both", password_of("both"), web.db.clock.now(),
                             groups=("surveyor", "plan_reviewer"), password_method=FAST_HASH)
    number = start_case(web.db)
    advance_to(web.db, number, "review_plan", user="both")  # "both" drafted the plan
    task = task_of(web.db, number, "review_plan")
    before = snapshot(web.db, number)
    client = web.client("both")
    assert client.get(f"/tasks/{task}").status_code == 200
    values = {"decision": "approve"}  # the reviewer's choice: the form opens with none selected
    response = client.post(f"/tasks/{task}", {**values, "request_id": uuid.uuid4().hex})
    assert response.status_code == 409
    assert "无法提交：审核供电方案 须由办理 编制供电方案 以外的人办理（四眼原则）" in text_of(response)
    assert "four-eyes" not in text_of(response) and "review_plan" not in text_of(response)  # no raw runner text
    assert snapshot(web.db, number) == before
    client.get("/auth/language/en")
    english = client.post(f"/tasks/{task}", {**values, "request_id": uuid.uuid4().hex})
    assert english.status_code == 409
    assert "审核供电方案 must be done by someone other than who did 编制供电方案 (four-eyes rule)" in text_of(english)
    assert snapshot(web.db, number) == before
    reviewer = web.client("plan_reviewer")
    assert reviewer.post(f"/tasks/{task}", {**values, "request_id": uuid.uuid4().hex}).status_code == 302


def test_html_values_round_trip_choices() -> None:
    assert [html_value(v) for v in (True, False, None, 2000.0, 0.95, "accept")] == \
        ["true", "false", "", "2000", "0.95", "accept"]
