"""Personal data: ID and phone numbers masked for everyone by default, shown in full on request to the roles that
need them, each such view logged (``data_access_log``) and listed for supervisors and admins."""

from __future__ import annotations

from typing import Any

from runner import pii
from runner.models import DataAccess
from tests.db import Db, advance_to, complete, shared_bundle
from tests.webui_helpers import (
    Web,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

ID_NUMBER = "110101199003071233"
PHONE = "13812345678"
CONTACT = "13987654321"


def test_masks_keep_the_ends_of_id_and_phone_numbers() -> None:
    assert pii.mask_value(ID_NUMBER, "id_number") == "110***********1233"
    assert pii.mask_value(PHONE, "phone") == "138****5678"
    assert pii.mask_value("12345", "id_number") == "***45"
    assert pii.mask_value("", "phone") == "" and pii.mask_value(None, "phone") is None
    data: dict[str, Any] = {"application": {"id_number": ID_NUMBER, "phone": PHONE, "customer_name": "王小明",
                            "contacts": [{"contact_phone": CONTACT}]}, "kpis": {"phone": 3}}
    masked = pii.mask_case_data(data, ("surveyor",))
    assert masked["application"] == {"id_number": "110***********1233", "phone": "138****5678",
                                     "customer_name": "王小明", "contacts": [{"contact_phone": "139****4321"}]}
    assert masked["kpis"] == {"phone": 3}  # only text values are personal data
    assert data["application"]["phone"] == PHONE  # the input is not changed
    assert pii.mask_case_data(data, ("surveyor",), reveal=True) == masked  # not theirs to reveal
    assert pii.mask_case_data(data, ("account_manager",), reveal=True) == data
    assert pii.mask_case_data(data, ("account_manager",)) == masked  # masked until asked for
    assert pii.pii_paths(data) == ["application.contacts[].contact_phone", "application.id_number",
                                   "application.phone"]


def test_the_forms_mark_the_personal_fields() -> None:
    fields = pii.pii_fields(shared_bundle().forms.values())
    assert fields["id_number"] == "id_number" and fields["phone"] == "phone" and fields["contact_phone"] == "phone"
    assert pii.pii_fields([{"properties": {"mobile": {"type": "string", "x-pii": "phone"}}}])["mobile"] == "phone"


def test_access_log_service(db: Db) -> None:
    with db.transaction() as session:
        pii.log_unmasked_view(session, "am.1", "YK1", ["id_number"], "web", db.clock.now())
        pii.log_unmasked_view(session, "am.2", "YK2", ["phone"], "api", db.clock.now())
    with db.reading() as session:
        rows, total = pii.access_log(session, user="am.2")
        assert total == 1 and (rows[0].case_number, rows[0].fields, rows[0].channel) == ("YK2", ["phone"], "api")
        assert pii.access_log(session)[1] == 2
    with db.transaction() as session:
        try:
            pii.log_unmasked_view(session, "am.1", "YK1", ["phone"], "email", db.clock.now())
        except ValueError as err:
            assert "unknown channel" in str(err)
        else:
            raise AssertionError("an unknown channel was accepted")


def test_case_page_masks_and_reveals_with_a_log_entry(web: Web) -> None:
    number = start_case(web.db, id_number=ID_NUMBER, phone=PHONE)
    advance_to(web.db, number, "site_survey")
    surveyor = web.client("surveyor")
    page = surveyor.get(f"/cases/{number}").get_data(as_text=True)
    assert "110***********1233" in page and "138****5678" in page
    assert ID_NUMBER not in page and PHONE not in page
    assert "显示完整信息" not in page
    assert surveyor.post(f"/cases/{number}/reveal").status_code == 403

    manager = web.client("account_manager")
    page = manager.get(f"/cases/{number}").get_data(as_text=True)
    assert ID_NUMBER not in page and "110***********1233" in page and "显示完整信息" in page
    assert web.db.count(DataAccess) == 0
    posted = manager.post(f"/cases/{number}/reveal")
    assert posted.status_code == 303 and posted.headers["Location"] == f"/cases/{number}"
    shown = manager.get(f"/cases/{number}")  # the one full view the POST granted
    html = shown.get_data(as_text=True)
    assert ID_NUMBER in html and PHONE in html and "本次查看已记录" in text_of(shown)
    again = manager.get(f"/cases/{number}").get_data(as_text=True)  # a reload: masked again, nothing logged
    assert ID_NUMBER not in again and "110***********1233" in again
    assert manager.post(f"/cases/{number}/reveal", csrf=False).status_code == 400
    with web.db.reading() as session:
        row = session.query(DataAccess).one()
        assert (row.user, row.case_number, row.channel) == ("account_manager", number, "web")
        assert {"id_number", "phone"} <= set(row.fields)

    log = web.client("supervisor").get(f"/admin/data-access?case={number}")
    assert log.status_code == 200 and "account_manager" in text_of(log) and "证件号码" in text_of(log)
    assert web.client("admin").get("/admin/data-access").status_code == 200
    assert surveyor.get("/admin/data-access").status_code == 403


def test_step_data_in_the_timeline_is_masked(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "report_completion")
    complete(web.db, number, "report_completion", extra={"contact_phone": CONTACT})
    page = web.client("installer").get(f"/cases/{number}").get_data(as_text=True)
    assert "139****4321" in page and CONTACT not in page
