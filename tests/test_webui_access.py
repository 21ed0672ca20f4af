"""Every route × every role: allowed, forbidden (403) or, for anonymous visitors, sent to the login page.

The task in question is a new case's 业务受理 (accept_application, lane account_manager). Each test walks all the
roles on one database; the allowed ones go last where the request changes something.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from runner.accounts import GROUPS
from tests.db import case_row, open_tasks
from tests.webui_helpers import (
    NO_GROUP,
    Browser,
    Web,
    start_case,
    task_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

STAFF = (*GROUPS, NO_GROUP)


def statuses(web: Web, users: tuple[str, ...], request: Callable[[Browser], int]) -> dict[str, int]:
    return {user: request(web.client(user)) for user in users}


def assert_login_redirect(web: Web, method: str, url: str) -> None:
    client = web.client()
    response = client.get(url) if method == "GET" else client.post(url, {"request_id": uuid.uuid4().hex})
    assert response.status_code == 302, f"anonymous {method} {url}: {response.status_code}"
    assert response.headers["Location"].startswith("/auth/login?next="), response.headers["Location"]


def test_task_list_needs_a_group(web: Web) -> None:
    got = statuses(web, STAFF, lambda client: client.get("/tasks/").status_code)
    assert got == {user: 403 if user == NO_GROUP else 200 for user in STAFF}
    assert_login_redirect(web, "GET", "/tasks/")
    assert web.client().get("/").headers["Location"] == "/auth/login"  # signed in, each one goes to their home


def test_task_form_is_for_the_lane(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    got = statuses(web, STAFF, lambda client: client.get(f"/tasks/{task}").status_code)
    assert got == {user: 200 if user == "account_manager" else 403 for user in STAFF}
    assert_login_redirect(web, "GET", f"/tasks/{task}")


def test_claim_is_for_the_lane(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    others = tuple(user for user in STAFF if user != "account_manager")
    got = statuses(web, others, lambda client: client.post(f"/tasks/{task}/claim").status_code)
    assert got == dict.fromkeys(others, 403)
    assert_login_redirect(web, "POST", f"/tasks/{task}/claim")
    assert open_tasks(web.db, number)[0].assignee is None
    assert web.client("account_manager").post(f"/tasks/{task}/claim").status_code == 302
    assert open_tasks(web.db, number)[0].assignee == "account_manager"


def test_unclaim_is_for_the_assignee_and_supervisors(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    assert web.client("account_manager").post(f"/tasks/{task}/claim").status_code == 302
    others = tuple(user for user in STAFF if user not in ("account_manager", "supervisor"))
    got = statuses(web, others, lambda client: client.post(f"/tasks/{task}/unclaim").status_code)
    assert got == dict.fromkeys(others, 403)
    assert_login_redirect(web, "POST", f"/tasks/{task}/unclaim")
    assert open_tasks(web.db, number)[0].assignee == "account_manager"
    assert web.client("supervisor").post(f"/tasks/{task}/unclaim").status_code == 302
    assert open_tasks(web.db, number)[0].assignee is None


def test_completion_is_for_the_lane(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    revision = case_row(web.db, number).revision
    others = tuple(user for user in STAFF if user != "account_manager")

    def complete(client: Browser) -> int:
        return client.post(f"/tasks/{task}", {"request_id": uuid.uuid4().hex, "decision": "accept",
                                              "one_certificate": "false", "commitment_signed": "false",
                                              "contract_signed": "false"}).status_code

    assert statuses(web, others, complete) == dict.fromkeys(others, 403)
    assert_login_redirect(web, "POST", f"/tasks/{task}")
    assert case_row(web.db, number).revision == revision
    assert complete(web.client("account_manager")) == 302
    assert case_row(web.db, number).revision > revision


def test_assign_is_for_supervisors(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    got = statuses(web, STAFF, lambda client: client.get(f"/tasks/{task}/assign").status_code)
    assert got == {user: 200 if user == "supervisor" else 403 for user in STAFF}
    others = tuple(user for user in STAFF if user != "supervisor")
    got = statuses(web, others, lambda client: client.post(f"/tasks/{task}/assign",
                                                           {"assignee": "account_manager"}).status_code)
    assert got == dict.fromkeys(others, 403)
    assert_login_redirect(web, "GET", f"/tasks/{task}/assign")
    assert open_tasks(web.db, number)[0].assignee is None


def test_case_detail_needs_a_group(web: Web) -> None:
    number = start_case(web.db)
    got = statuses(web, STAFF, lambda client: client.get(f"/cases/{number}").status_code)
    assert got == {user: 403 if user == NO_GROUP else 200 for user in STAFF}
    assert_login_redirect(web, "GET", f"/cases/{number}")
    assert web.client("analyst").get("/cases/NO-SUCH-CASE").status_code == 404


def test_health_is_public(web: Web) -> None:
    got = statuses(web, (*STAFF, ), lambda client: client.get("/healthz").status_code)
    assert got == dict.fromkeys(STAFF, 200)
    assert web.client().get("/healthz").status_code == 200


def test_forbidden_page_and_login_page_speak_chinese(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    forbidden = web.client("surveyor").get(f"/tasks/{task}")
    assert forbidden.status_code == 403 and "无权访问" in forbidden.get_data(as_text=True)
    login = web.client().get(f"/tasks/{task}", follow_redirects=True)
    assert login.status_code == 200 and "员工登录" in login.get_data(as_text=True)
