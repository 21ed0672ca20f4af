"""The supervisor's assign form takes a user name however it is cased, as the API does (user names are stored
casefolded); a name that is no member of the lane is refused alike by both. On SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api_helpers import (
    Api,
    api_fixture,  # noqa: F401  (the api fixture)
)
from tests.db import open_task
from tests.webui_helpers import Browser, password_of, start_case, task_of, text_of


def supervisor_browser(api: Api) -> Browser:
    browser = Browser(api.app.test_client(), "127.0.0.1")
    assert browser.login("supervisor", password_of("supervisor")).status_code == 302
    return browser


def test_the_web_form_and_the_api_accept_a_user_name_in_any_case(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    web = supervisor_browser(api)
    web.get(f"/tasks/{task}/assign")
    assigned = web.post(f"/tasks/{task}/assign", {"assignee": " Account_Manager "})
    assert assigned.status_code == 302, text_of(assigned)
    assert open_task(api.db, number, "accept_application").assignee == "account_manager"

    other = start_case(api.db)
    other_task = task_of(api.db, other, "accept_application")
    by_api = api.post(f"/tasks/{other_task}/assign", "supervisor", json={"user": "ACCOUNT_MANAGER"})
    assert by_api.status_code == 200 and by_api.get_json()["assignee"] == "account_manager"


def test_a_name_outside_the_lane_is_refused_by_both(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    web = supervisor_browser(api)
    web.get(f"/tasks/{task}/assign")
    for name in ("Surveyor", "ghost", ""):
        refused = web.post(f"/tasks/{task}/assign", {"assignee": name})
        assert refused.status_code == 400 and "请选择该环节岗位中的一位人员" in text_of(refused), name
        assert api.post(f"/tasks/{task}/assign", "supervisor", json={"user": name}).status_code == 422, name
    assert open_task(api.db, number, "accept_application").assignee is None
