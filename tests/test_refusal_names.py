"""Refusals name people as the rest of the pages do: a colleague by their display name, the customer as 客户 —
never by a login name or the customer's pseudo user (``customer:<case number>``)."""

from __future__ import annotations

from runner import accounts, services
from tests.webui_helpers import FAST_HASH, Web, password_of, start_case, task_of, text_of, web_fixture  # noqa: F401
from webui.refusals import who

COLLEAGUE = "li.na"


def test_a_claim_refused_names_the_holder_by_display_name(web: Web) -> None:
    with web.db.transaction() as session:
        accounts.create_user(session, COLLEAGUE, password_of(COLLEAGUE), web.db.clock.now(), display_name="李娜",
                             groups=("account_manager",), password_method=FAST_HASH)
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    with web.db.transaction() as session:
        services.claim_task(session, task, COLLEAGUE, ("account_manager",))
    client = web.client("account_manager")
    assert client.post(f"/tasks/{task}/claim").status_code == 302
    text = text_of(client.get("/tasks/"))
    assert "该任务已被 李娜 领取。" in text and COLLEAGUE not in text


def test_the_customer_is_named_as_the_customer(web: Web) -> None:
    with web.app.test_request_context("/"):
        assert who("customer:YK202611280001") == "客户"
        assert who("applicant:0f3a") == "客户"
        assert who("nobody.known") == "nobody.known"  # an old log entry's name stays as it is
