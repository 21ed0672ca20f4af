"""重新生成查询码: a customer who lost the portal access code, or never got one (a case filed for them through
``POST /api/v1/applications``, which answers no code), gets a new one from an account manager or a supervisor —
on the case page or through the API. The old code stops working; the new one opens the case in the portal."""

from __future__ import annotations

import re

from tests.api_helpers import Api, error_of, issue_token
from tests.db import advance_to
from tests.test_portal_track import give_code
from tests.webui_helpers import Browser, Web, start_case, text_of, web_fixture  # noqa: F401

SHOWN_CODE = re.compile(r'<dd id="new-access-code"><strong>([A-Z2-9]{5}-[A-Z2-9]{5})</strong></dd>')


def track(web: Web, number: str, code: str) -> int:
    """The status of the portal's sign-in with ``code`` (302: signed in to the case, 400: a wrong code)."""
    client = web.client()
    client.get("/portal/track")
    return client.post("/portal/track", {"case_number": number, "access_code": code}).status_code


def test_an_account_manager_gives_a_new_code_shown_once_and_the_old_one_stops_working(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number, "ABCDE23456")
    advance_to(web.db, number, "site_survey")
    staff = web.client("account_manager")
    page = staff.get(f"/cases/{number}")
    assert "重新生成查询码" in text_of(page) and SHOWN_CODE.search(page.get_data(as_text=True)) is None

    answer = staff.post(f"/cases/{number}/access-code")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/cases/{number}")
    shown = staff.get(f"/cases/{number}")
    match = SHOWN_CODE.search(shown.get_data(as_text=True))
    assert shown.status_code == 200 and match is not None, text_of(shown)[:400]
    assert shown.headers["Cache-Control"] == "no-store"
    assert "原查询码已失效" in text_of(shown)

    again = staff.get(f"/cases/{number}")  # a reload: the code is not shown a second time
    assert SHOWN_CODE.search(again.get_data(as_text=True)) is None and match[1] not in again.get_data(as_text=True)
    assert track(web, number, "ABCDE23456") == 400  # the lost code no longer opens the case
    assert track(web, number, match[1]) == 302
    assert track(web, number, match[1].lower().replace("-", "")) == 302  # typed as a customer would


def test_only_the_staff_who_deal_with_customers_may_give_a_code(web: Web) -> None:
    number = start_case(web.db, "lv_residential")
    surveyor = web.client("surveyor")
    assert "重新生成查询码" not in text_of(surveyor.get(f"/cases/{number}"))
    assert surveyor.post(f"/cases/{number}/access-code").status_code == 403
    supervisor = web.client("supervisor")
    assert supervisor.post(f"/cases/{number}/access-code").status_code == 303
    assert SHOWN_CODE.search(supervisor.get(f"/cases/{number}").get_data(as_text=True)) is not None
    assert supervisor.post("/cases/YK20990101000000/access-code").status_code == 404
    english = web.client("account_manager")
    english.get("/auth/language/en")
    assert "New access code" in text_of(english.get(f"/cases/{number}"))


def test_an_integration_gets_a_code_for_the_case_it_filed(web: Web) -> None:
    """A CRM files the application through the API (no code in the answer), then asks for one to give the
    customer, who can then sign in to the portal and do their own steps."""
    api = Api(web.app, web.db, {user: issue_token(web.db, user) for user in ("account_manager", "surveyor")})
    number = start_case(web.db, "lv_residential")
    answer = api.post(f"/cases/{number}/access-code", "account_manager")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["case_number"] == number and re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", body["access_code"])
    assert answer.headers["Cache-Control"] == "no-store"
    assert track(web, number, body["access_code"]) == 302

    second = api.post(f"/cases/{number}/access-code", "account_manager").get_json()["access_code"]
    assert second != body["access_code"] and track(web, number, body["access_code"]) == 400

    refused = api.post(f"/cases/{number}/access-code", "surveyor")
    assert refused.status_code == 403 and "access_code" not in refused.get_data(as_text=True)
    assert error_of(api.post("/cases/YK20990101000000/access-code", "account_manager"))["code"] == "not_found"


def test_a_cancelled_case_tells_the_customer_what_now(web: Web) -> None:
    """The portal showed a cancelled case as 已撤销 with its first step and nothing else: it now says the
    application will not be processed, whom to ask, and links to a new application."""
    from tests.test_portal_track import signed_in

    number = start_case(web.db, "lv_residential")
    give_code(web.db, number, "ABCDE23456")
    supervisor = web.client("supervisor")
    supervisor.get(f"/cases/{number}")
    assert supervisor.post(f"/cases/{number}/status", {"status": "cancelled", "reason": "客户撤回"}).status_code == 302
    page = signed_in(web, number, "ABCDE23456").get("/portal/case")
    text = text_of(page)
    assert "案件已撤销" in text and "95598" in text and 'href="/portal/apply"' in page.get_data(as_text=True)
    assert "客户撤回" not in text  # the staff's reason stays internal
    running = start_case(web.db, "lv_residential")
    give_code(web.db, running, "ABCDE23457")
    assert "案件已撤销" not in text_of(signed_in(web, running, "ABCDE23457").get("/portal/case"))
