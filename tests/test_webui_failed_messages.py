"""Failed notifications (outbox messages the worker gave up on) for supervisors: listed on ``/incidents/`` with masked
recipients and on their case's page, sent again one by one or all at once (who did it is logged), refused with 404
for an unknown id, 409 for a message that is no longer failed and 403 for everyone but supervisors; the same through
``/api/v1/failed-messages``. The messages are written as the ``notify`` handler writes them and given up on by the
real worker (its SMS gateway down), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from runner.accounts import GROUPS
from runner.delivery import DelivererRegistry, Delivery, DeliveryError
from runner.models import OutboxMessage
from runner.sinks import DbOutbox
from runner.worker import Worker
from tests.api_helpers import Api, api_fixture, error_of  # noqa: F401  (the api fixture)
from tests.browser import SQLITE_ONLY, LiveServer, Pages, visible_text
from tests.db import Db, case_row
from tests.webui_helpers import (
    NO_GROUP,
    Web,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

PHONE = "13812345678"
MASKED_PHONE = "138****5678"
GATEWAY_ERROR = "DeliveryError: SMS gateway down"


def gateway_down(delivery: Delivery) -> None:
    raise DeliveryError("SMS gateway down")


def delivered(arrivals: list[str]) -> Any:
    return lambda delivery: arrivals.append(delivery.idempotency_key)


def run_worker(db: Db, deliver: Any) -> None:
    """One pass of the real worker delivering sms with ``deliver``; a failed attempt is its last."""
    deliverers = DelivererRegistry()
    deliverers.register("sms", deliver)
    Worker(db.sessions, db.runtime, deliverers=deliverers, worker_id="test-worker", max_delivery_attempts=1).run_once()


def fail_messages(db: Db, number: str, *messages: tuple[str, str, dict[str, Any]],
                  worker_late: timedelta = timedelta(0)) -> list[int]:
    """Notifications of the case ((template, to_role, params) each), written as ``notify`` writes them, then given
    up on by the worker (``worker_late`` after they were written); their ids."""
    with db.transaction() as session:
        outbox = DbOutbox(session, db.clock)
        for template, role, params in messages:
            outbox.put({"idempotency_key": f"{number}:{template}:{role}", "case_number": number,
                        "template": template, "to_role": role, "channel": "sms", "params": params})
    db.clock.advance(worker_late)
    run_worker(db, gateway_down)
    with db.reading() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.case_number == number)
                                    .order_by(OutboxMessage.id)))
    assert [(row.status, row.attempts, row.last_error) for row in rows] == [("failed", 1, GATEWAY_ERROR)] * len(rows)
    return [row.id for row in rows]


def customer_sms(number: str) -> tuple[str, str, dict[str, Any]]:
    return "application_rejected", "customer", {"case_number": number, "reason": "资料不全",
                                                "contact": {"contact_phone": PHONE}}


def manager_sms(number: str) -> tuple[str, str, dict[str, Any]]:
    return "rectification_assigned", "account_manager", {"case_number": number, "deadline": "2026-12-01"}


def statuses(db: Db) -> dict[int, tuple[str, int]]:
    with db.reading() as session:
        return {row.id: (row.status, row.attempts) for row in session.scalars(select(OutboxMessage))}


# -- the web pages -----------------------------------------------------------------------------------------------


def test_supervisors_see_failed_messages_with_masked_recipients(web: Web) -> None:
    number = start_case(web.db)
    customer = case_row(web.db, number).customer_name
    assert customer
    first, second = fail_messages(web.db, number, customer_sms(number), manager_sms(number))
    supervisor = web.client("supervisor")

    response = supervisor.get("/incidents/")
    html, page = response.get_data(as_text=True), text_of(response)
    assert response.status_code == 200 and "发送失败的通知" in page
    assert f'href="/cases/{number}"' in html
    assert f"{first} {number} 不予受理通知 短信 客户 · {customer} · {MASKED_PHONE} 1 {GATEWAY_ERROR}" \
           " 2026-11-26 09:00 2026-11-26 09:00 重新发送" in page  # times in Shanghai time, as elsewhere
    assert f"{second} {number} rectification_assigned 短信 客户经理 1 {GATEWAY_ERROR}" in page
    assert PHONE not in html
    assert f'action="/incidents/messages/{first}/send-again"' in html and "全部重新发送" in page
    assert 'name="csrf_token"' in html

    english = web.client("supervisor")
    english.get("/auth/language/en")
    assert "Failed notifications" in text_of(english.get("/incidents/"))


def test_the_last_attempt_is_when_the_worker_tried_not_when_it_was_due(web: Web) -> None:
    """The worker was down for 2 h 30 min: the message was due at 09:00 (Shanghai) and tried at 11:30."""
    number = start_case(web.db)
    (message,) = fail_messages(web.db, number, manager_sms(number), worker_late=timedelta(hours=2, minutes=30))
    page = text_of(web.client("supervisor").get("/incidents/"))
    assert f"{message} {number} rectification_assigned 短信 客户经理 1 {GATEWAY_ERROR}" \
           " 2026-11-26 09:00 2026-11-26 11:30 重新发送" in page
    with web.db.reading() as session:
        row = session.get_one(OutboxMessage, message)
        assert (row.next_attempt_at, row.last_attempt_at) == (row.created_at, web.db.clock.now())


def test_a_supervisor_sends_one_message_again_and_the_worker_delivers_it(web: Web,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    number = start_case(web.db)
    first, second = fail_messages(web.db, number, customer_sms(number), manager_sms(number))
    supervisor = web.client("supervisor")
    supervisor.get("/incidents/")

    with caplog.at_level(logging.INFO, logger="baozhuang.admin"):
        response = supervisor.post(f"/incidents/messages/{first}/send-again")
    assert response.status_code == 302 and response.headers["Location"] == "/incidents/"
    assert f"admin=supervisor action=send_message_again message={first}" in caplog.text
    assert statuses(web.db) == {first: ("pending", 0), second: ("failed", 1)}
    page = text_of(supervisor.get("/incidents/"))
    assert f"已将通知 #{first} 重新排入发送队列。" in page and "不予受理通知" not in page

    arrivals: list[str] = []
    run_worker(web.db, delivered(arrivals))
    assert arrivals == [f"{number}:application_rejected:customer"]  # under its idempotency key, as before
    assert statuses(web.db)[first] == ("delivered", 1)


def test_unknown_and_no_longer_failed_messages_are_refused(web: Web) -> None:
    number = start_case(web.db)
    (message,) = fail_messages(web.db, number, customer_sms(number))
    supervisor = web.client("supervisor")
    supervisor.get("/incidents/")
    assert supervisor.post(f"/incidents/messages/{message}/send-again").status_code == 302  # someone else's click

    refused = f"通知 #{message} 已不是发送失败状态（可能已由他人重新发送），未做任何更改。"
    again = supervisor.post(f"/incidents/messages/{message}/send-again")
    assert again.status_code == 409 and refused in text_of(again)
    stale = supervisor.post(f"/incidents/messages/{message}/send-again", {"next": f"/cases/{number}"})
    assert stale.status_code == 302 and stale.headers["Location"].endswith(f"/cases/{number}")  # a stale case page
    assert refused in text_of(supervisor.get(f"/cases/{number}"))
    assert statuses(web.db) == {message: ("pending", 0)}

    for unknown in (message + 1000, 2**63, 10**30):
        missing = supervisor.post(f"/incidents/messages/{unknown}/send-again")
        assert missing.status_code == 404 and f"没有编号为 #{unknown} 的通知。" in text_of(missing)
    assert supervisor.post("/incidents/messages/x/send-again").status_code == 404
    assert statuses(web.db) == {message: ("pending", 0)}


def test_a_supervisor_sends_all_failed_messages_again(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    number, other = start_case(web.db), start_case(web.db)
    ids = fail_messages(web.db, number, customer_sms(number), manager_sms(number))
    ids += fail_messages(web.db, other, customer_sms(other))
    supervisor = web.client("supervisor")
    assert "确定重新发送全部 3 条发送失败的通知吗？" in supervisor.get("/incidents/").get_data(as_text=True)

    with caplog.at_level(logging.INFO, logger="baozhuang.admin"):
        response = supervisor.post("/incidents/messages/send-again")
    assert response.status_code == 302
    assert "admin=supervisor action=send_message_again message=all count=3" in caplog.text
    assert statuses(web.db) == {message: ("pending", 0) for message in ids}
    page = text_of(supervisor.get("/incidents/"))
    assert "已将 3 条发送失败的通知重新排入发送队列。" in page and "当前没有发送失败的通知。" in page

    supervisor.post("/incidents/messages/send-again")
    assert "没有发送失败的通知。" in text_of(supervisor.get("/incidents/"))


def test_only_supervisors_see_or_send_failed_messages(web: Web) -> None:
    number = start_case(web.db)
    (message,) = fail_messages(web.db, number, customer_sms(number))
    for user in (*[group for group in GROUPS if group != "supervisor"], NO_GROUP):
        client = web.client(user)
        client.get("/incidents/")
        assert client.post(f"/incidents/messages/{message}/send-again").status_code == 403, user
        assert client.post("/incidents/messages/send-again").status_code == 403, user
    anonymous = web.client()
    assert anonymous.post(f"/incidents/messages/{message}/send-again").status_code == 302  # to the login page
    supervisor = web.client("supervisor")
    assert supervisor.post(f"/incidents/messages/{message}/send-again", csrf=False).status_code == 400
    assert supervisor.post("/incidents/messages/send-again", csrf=False).status_code == 400
    assert statuses(web.db) == {message: ("failed", 1)}


def test_the_case_page_shows_its_failed_messages_to_supervisors(web: Web) -> None:
    number, other = start_case(web.db), start_case(web.db)
    (message,) = fail_messages(web.db, number, customer_sms(number))
    fail_messages(web.db, other, manager_sms(other))
    supervisor = web.client("supervisor")

    response = supervisor.get(f"/cases/{number}")
    html, page = response.get_data(as_text=True), text_of(response)
    assert "发送失败的通知" in page and "不予受理通知" in page and MASKED_PHONE in page
    assert GATEWAY_ERROR in page and "已尝试 1 次" in page
    assert "rectification_assigned" not in page and PHONE not in html  # only this case's, masked
    assert f'action="/incidents/messages/{message}/send-again"' in html
    for user in ("account_manager", "admin"):
        assert "不予受理通知" not in web.client(user).get(f"/cases/{number}").get_data(as_text=True)

    response = supervisor.post(f"/incidents/messages/{message}/send-again", {"next": f"/cases/{number}"})
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{number}"
    page = text_of(supervisor.get(f"/cases/{number}"))
    assert f"已将通知 #{message} 重新排入发送队列。" in page and "不予受理通知" not in page


# -- the API -----------------------------------------------------------------------------------------------------


def test_the_api_lists_and_sends_failed_messages_again(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    number, other = start_case(api.db), start_case(api.db)
    first, second = fail_messages(api.db, number, customer_sms(number), manager_sms(number))
    (third,) = fail_messages(api.db, other, manager_sms(other))
    customer = case_row(api.db, number).customer_name

    assert api.get("/failed-messages").status_code == 401
    assert error_of(api.get("/failed-messages", "account_manager"))["code"] == "forbidden"
    listed = api.get("/failed-messages", "supervisor")
    assert listed.status_code == 200
    items = listed.get_json()["items"]
    assert [item["id"] for item in items] == [first, second, third]
    assert items[0] == {
        "id": first, "case_number": number, "template": "application_rejected", "channel": "sms",
        "recipient": {"role": "customer", "customer_name": customer, "phone": MASKED_PHONE},
        "attempts": 1, "last_error": GATEWAY_ERROR,
        "created_at": "2026-11-26T01:00:00+00:00", "last_attempt_at": "2026-11-26T01:00:00+00:00",
    }
    assert items[1]["recipient"] == {"role": "account_manager", "customer_name": None, "phone": None}
    assert PHONE not in listed.get_data(as_text=True)
    assert [item["id"] for item in api.get(f"/failed-messages?case={other}", "admin").get_json()["items"]] == [third]

    assert api.post(f"/failed-messages/{first}/retry", "account_manager").status_code == 403
    with caplog.at_level(logging.INFO, logger="baozhuang.admin"):
        sent = api.post(f"/failed-messages/{first}/retry", "supervisor")
    assert sent.status_code == 200 and sent.get_json() == {"id": first, "sent_again": True}
    assert f"admin=supervisor action=send_message_again message={first}" in caplog.text
    conflict = api.post(f"/failed-messages/{first}/retry", "admin")
    assert conflict.status_code == 409 and "not failed" in error_of(conflict)["message"]
    for unknown in (str(third + 1000), "0", "-1", "x", "9" * 30):
        missing = api.post(f"/failed-messages/{unknown}/retry", "supervisor")
        assert missing.status_code == 404 and "no outbox message" in error_of(missing)["message"], unknown
    assert statuses(api.db) == {first: ("pending", 0), second: ("failed", 1), third: ("failed", 1)}

    assert api.post("/failed-messages/retry", "account_manager").status_code == 403
    everything = api.post("/failed-messages/retry", "admin")
    assert everything.status_code == 200 and everything.get_json() == {"sent_again": 2}
    assert api.get("/failed-messages", "supervisor").get_json() == {"items": []}
    assert api.post("/failed-messages/retry", "admin").get_json() == {"sent_again": 0}


def test_the_openapi_document_declares_failed_messages(api: Api) -> None:
    document = api.get("/openapi.json").get_json()
    assert set(document["paths"]["/failed-messages"]) == {"get"}
    assert "409" in document["paths"]["/failed-messages/{message_id}/retry"]["post"]["responses"]
    assert set(document["paths"]["/failed-messages/retry"]) == {"post"}
    assert "FailedMessage" in document["components"]["schemas"]


# -- in a browser ------------------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_a_supervisor_sends_a_message_again_in_the_browser(live: LiveServer, pages: Pages) -> None:
    number = start_case(live.db)
    (message,) = fail_messages(live.db, number, customer_sms(number))
    page = pages.page()
    pages.login(page, "supervisor")
    page.goto("/incidents/")
    assert MASKED_PHONE in visible_text(page) and PHONE not in page.content()
    pages.shot(page, "failed-messages")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"form[action='/incidents/messages/{message}/send-again'] button")
    page.wait_for_load_state()
    assert f"已将通知 #{message} 重新排入发送队列。" in visible_text(page)
    assert "当前没有发送失败的通知。" in visible_text(page) and not page.js_errors
    pages.shot(page, "sent-again")
    assert statuses(live.db) == {message: ("pending", 0)}
