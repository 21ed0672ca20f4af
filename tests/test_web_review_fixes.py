"""Fixes from a reviewer's walk through the staff pages and the portal: what a customer task shows to read before
answering (the supply plan, the contract, what the account manager asked for), identity scans as personal data,
refusals in words (a suspended case, a task withdrawn by the 回访 race), a huge page number, and which material
each attachment on the case page is."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

from sqlalchemy import select
from werkzeug.test import TestResponse

from runner import documents, portal, services
from runner.models import DataAccess, Document
from tests.db import Db, advance_to, case_row, complete
from tests.test_followup_survey import _at_feedback
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Browser, Web, start_case, task_of, text_of, web_fixture  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x01" * 100


def request_id_of(page_html: str) -> str:
    found = re.search(r'name="request_id" value="([0-9a-f]{32})"', page_html)
    assert found, "no request id on the page"
    return found[1]


def fetch(browser: Browser, url: str) -> TestResponse:
    """A GET of a file (not a page: ``Browser.get`` reads pages as text), read and closed."""
    response = browser.client.get(url, environ_base=browser.environ)
    response.get_data()
    response.close()
    return response


def sheet_text(html: str) -> str:
    """The visible text of the read-only sheet above the form ('' when the page has none)."""
    found = re.search(r'<section class="card sheet" id="sheet">(.*?)</section>', html, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[1])).strip() if found else ""


# -- 1. what a customer task shows before the customer answers -------------------------------------------------------


def test_sign_plan_shows_the_supply_plan_answer_sheet_above_the_form(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "sign_plan")
    give_code(web.db, number)
    client = signed_in(web, number)
    page = client.get(f"/portal/case/tasks/{task_of(web.db, number, 'sign_plan')}")
    html = page.get_data(as_text=True)
    sheet = sheet_text(html)
    assert page.status_code == 200
    assert sheet.startswith("供电方案答复单")
    for shown in ("供电电压（kV） 10 kV", "受电变压器总容量（kVA） 630", "计量方式 高供低计",
                  "产权分界点 客户进线电缆与供电企业环网柜出线开关电缆终端连接处", "采用 10kV 单电源供电",
                  "费用 无需缴纳费用", "方案有效期 自签署之日起一年"):
        assert shown in sheet, shown
    assert html.index('id="sheet"') < html.index('class="card task-form"')  # read first, then answer

    client.get("/auth/language/en")
    english = sheet_text(client.get(f"/portal/case/tasks/{task_of(web.db, number, 'sign_plan')}")
                         .get_data(as_text=True))
    assert english.startswith("Supply plan answer sheet") and "Fees No fees to pay" in english
    assert "Validity One year from signing" in english


def test_sign_contract_shows_the_contract_and_its_text_as_a_link(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "draft_contract")
    with web.db.transaction() as session:
        text = documents.store_document(session, Path(web.app.instance_path), documents.Upload(
            io.BytesIO(b"%PDF-1.7\n" + b"c" * 50), "供用电合同.pdf", "account_manager",
            case_row(web.db, number).id, "draft_contract", "contract_files"), web.db.clock.now())
        reference = documents.reference_of(text.id)
    complete(web.db, number, "draft_contract", {"contract_number": "GYD-2026-000777", "contract_type": "high_voltage",
                                                "term_years": 5, "property_boundary": "环网柜出线开关处",
                                                "contract_files": [reference]}, user="account_manager.1")
    advance_to(web.db, number, "sign_contract")
    give_code(web.db, number)
    client = signed_in(web, number)
    html = client.get(f"/portal/case/tasks/{task_of(web.db, number, 'sign_contract')}").get_data(as_text=True)
    sheet = sheet_text(html)
    assert sheet.startswith("供用电合同")
    for shown in ("合同编号 GYD-2026-000777", "合同类型 高压供用电合同", "合同期限（年） 5",
                  "产权分界点 环网柜出线开关处", "合同文本 供用电合同.pdf"):
        assert shown in sheet, shown
    link = re.search(r'<a href="(/documents/[0-9a-f]{32})">供用电合同.pdf</a>', html)
    assert link and fetch(client, link[1]).status_code == 200  # the customer may open it


def test_supply_materials_lists_what_the_account_manager_asked_for(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    complete(web.db, number, "accept_application", {
        "decision": "need_more", "one_certificate": False, "commitment_signed": False, "contract_signed": False,
        "missing_materials": ["property_proof", "load_list"], "remarks": "产权证明须加盖公章"},
        user="account_manager.1")
    give_code(web.db, number)
    client = signed_in(web, number)
    sheet = sheet_text(client.get(f"/portal/case/tasks/{task_of(web.db, number, 'supply_materials')}")
                       .get_data(as_text=True))
    assert sheet.startswith("受理意见：请补充以下资料")
    assert "需补充的资料 用电地址产权证明、用电设备清单" in sheet and "备注 产权证明须加盖公章" in sheet


def test_a_customer_task_without_a_sheet_shows_none(web: Web) -> None:
    number = _at_feedback(web.db)
    give_code(web.db, number)
    html = signed_in(web, number).get(f"/portal/case/tasks/{task_of(web.db, number, 'customer_survey')}")
    assert html.status_code == 200 and 'id="sheet"' not in html.get_data(as_text=True)


# -- 2. identity scans are personal data -----------------------------------------------------------------------------


def attach(web: Web, number: str, field: str, name: str, by: str = "applicant:0123abcd",
           element_id: str | None = None) -> str:
    """A document the applicant uploaded with the application (material ``field``; or for the step ``element_id``),
    attached to the case."""
    with web.db.transaction() as session:
        document = documents.store_document(session, Path(web.app.instance_path), documents.Upload(
            io.BytesIO(PNG + field.encode()), name, by, case_row(web.db, number).id, element_id, field),
            web.db.clock.now())
        return document.id


def access_rows(db: Db) -> list[DataAccess]:
    with db.reading() as session:
        return list(session.scalars(select(DataAccess).order_by(DataAccess.id)))


def test_identity_scans_open_only_to_the_unmask_roles_and_each_view_is_logged(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "sign_plan")  # surveyor and plan_reviewer worked on it
    identity = attach(web, number, "identity", "id.pdf")
    licence = attach(web, number, "business_licence", "id.pdf")
    proof = attach(web, number, "property_proof", "proof.png")
    for role in ("surveyor", "plan_reviewer"):
        client = web.client(role)
        for document_id in (identity, licence):
            refused = client.get(f"/documents/{document_id}")
            assert refused.status_code == 403, role
            assert "仅限客户经理、回访人员、归档人员和营销主管查看" in text_of(refused)
        assert fetch(client, f"/documents/{proof}").status_code == 200  # other attachments: the lanes' rule as before
    assert access_rows(web.db) == []
    assert web.client("installer").get(f"/documents/{identity}").status_code == 404  # not of this case: as before

    opened = fetch(web.client("account_manager"), f"/documents/{identity}")
    assert opened.status_code == 200 and opened.data.startswith(PNG)
    assert fetch(web.client("supervisor"), f"/documents/{licence}").status_code == 200
    fetch(web.client("account_manager"), f"/documents/{proof}")  # not personal: not logged
    rows = access_rows(web.db)
    assert [(row.user, row.case_number, row.fields, row.channel) for row in rows] == [
        ("account_manager", number, [f"document:identity:{identity}"], "web"),
        ("supervisor", number, [f"document:business_licence:{licence}"], "web")]
    log = web.client("supervisor").get(f"/admin/data-access?case={number}")
    assert f"附件 #{identity}：身份证明（身份证照片等）" in log.get_data(as_text=True)

    give_code(web.db, number)
    assert fetch(signed_in(web, number), f"/documents/{identity}").status_code == 200  # the customer's own
    assert len(access_rows(web.db)) == 2


def test_files_the_customer_supplied_on_request_are_personal_whatever_their_field(web: Web) -> None:
    """The identity scan missing from the application arrives with 补充申请资料 (field ``files``, beside the ticked
    materials): it was open to every lane of the case, unlogged."""
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "sign_plan")
    supplied = attach(web, number, "files", "scan.png", by="customer", element_id="supply_materials")
    assert web.client("surveyor").get(f"/documents/{supplied}").status_code == 403
    assert fetch(web.client("account_manager"), f"/documents/{supplied}").status_code == 200
    assert [(row.user, row.fields) for row in access_rows(web.db)] == [
        ("account_manager", [f"document:files:{supplied}"])]


# -- 3. refusals in words ----------------------------------------------------------------------------------------------


def suspend(db: Db, number: str) -> None:
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "suspended", "supervisor", None)


def test_submitting_a_task_of_a_suspended_case_says_so_in_chinese(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    form = client.get(f"/tasks/{task}")
    suspend(web.db, number)
    refused = client.post(f"/tasks/{task}", {"request_id": request_id_of(form.get_data(as_text=True)),
                                             "decision": "accept"})
    assert refused.status_code == 422
    assert f"无法提交：案件 {number} 已暂停，恢复后才能办理其任务。" in text_of(refused)
    assert "is suspended" not in text_of(refused)


def test_the_portal_shows_a_suspended_case_s_tasks_as_paused_and_refuses_in_chinese(web: Web) -> None:
    number = _at_feedback(web.db)
    give_code(web.db, number)
    task = task_of(web.db, number, "customer_survey")
    client = signed_in(web, number)
    form = client.get(f"/portal/case/tasks/{task}").get_data(as_text=True)
    suspend(web.db, number)
    progress = text_of(client.get("/portal/case"))
    assert "需要您办理" not in progress and "暂停办理" in progress and "回访评价" in progress
    assert f"/portal/case/tasks/{task}" not in client.get("/portal/case").get_data(as_text=True)
    paused = client.get(f"/portal/case/tasks/{task}")
    assert "该案件已暂停办理" in text_of(paused) and 'value="complete"' not in paused.get_data(as_text=True)
    refused = client.post(f"/portal/case/tasks/{task}", {"request_id": request_id_of(form),
                                                         "satisfaction": "satisfied"})
    assert refused.status_code == 409
    assert "无法提交：案件已暂停办理，恢复办理后才能提交" in text_of(refused) and "suspended" not in text_of(refused)


def test_the_agent_whose_call_was_withdrawn_by_the_customer_s_answer_is_told_so(web: Web) -> None:
    number = _at_feedback(web.db)
    call = task_of(web.db, number, "followup_call")
    agent = web.client("followup_agent")
    form = agent.get(f"/tasks/{call}")  # the agent opened the 客户回访 form …
    assert form.status_code == 200
    complete(web.db, number, "customer_survey", user=portal.customer_user(number))  # … the customer answered first
    late = agent.post(f"/tasks/{call}", {"request_id": request_id_of(form.get_data(as_text=True)),
                                          "contact_method": "phone", "reached": "true",
                                          "satisfaction": "satisfied"})
    assert late.status_code == 409
    assert "该环节已撤回，无需再办理：客户已完成“回访评价”。" in text_of(late)
    assert "no longer open" not in text_of(late)


def test_a_task_another_member_of_staff_completed_says_who(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    form = client.get(f"/tasks/{task}")
    complete(web.db, number, "accept_application", user="am.colleague")
    late = client.post(f"/tasks/{task}", {"request_id": request_id_of(form.get_data(as_text=True))})
    assert late.status_code == 409 and "该任务已不在待办中：am.colleague 已办理。" in text_of(late)


# -- 4. page numbers -------------------------------------------------------------------------------------------------


def test_a_huge_page_number_is_a_bad_request_not_a_server_error(web: Web) -> None:
    client = web.client("account_manager")
    assert client.get("/tasks/?page=99999999999999999999").status_code == 400
    assert client.get("/tasks/?page=100001").status_code == 400
    assert client.get("/tasks/?page=100000").status_code == 200
    assert client.get("/tasks/?page=abc").status_code == 200  # as before: the first page


# -- 5. the case page's attachments ----------------------------------------------------------------------------------


def test_the_case_page_names_each_material_and_shows_the_customer_as_uploader(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    attach(web, number, "identity", "id.pdf")
    attach(web, number, "business_licence", "id.pdf")
    page = web.client("account_manager").get(f"/cases/{number}")
    html = page.get_data(as_text=True)
    rows = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr>(.*?)</tr>", html.split("id=\"documents\"")[1].split("</table>")[0], re.S)][1:]
    assert sorted(row.split(" ")[:4] for row in rows) == [
        ["id.pdf", "营业执照", "申请", "客户（申请人）"],
        ["id.pdf", "身份证明（身份证照片等）", "申请", "客户（申请人）"]]
    assert "applicant:0123abcd" not in html


def test_an_unknown_document_is_still_404_for_everyone(web: Web) -> None:
    assert web.client("supervisor").get(f"/documents/{uuid.uuid4().hex}").status_code == 404
    with web.db.reading() as session:
        assert session.scalar(select(Document.id).limit(1)) is None


def test_the_customer_whose_survey_the_agent_s_call_withdrew_is_told_so(web: Web) -> None:
    number = _at_feedback(web.db)
    give_code(web.db, number)
    survey = task_of(web.db, number, "customer_survey")
    client = signed_in(web, number)
    form = client.get(f"/portal/case/tasks/{survey}").get_data(as_text=True)
    complete(web.db, number, "followup_call", user="followup_agent.1")  # the agent's call came first
    late = client.post(f"/portal/case/tasks/{survey}", {"request_id": request_id_of(form),
                                                        "satisfaction": "satisfied"})
    assert late.status_code == 409
    assert "该事项已办理或已撤回，无需再提交。" in text_of(late)
    assert "no longer open" not in text_of(late) and "followup_agent" not in text_of(late)
