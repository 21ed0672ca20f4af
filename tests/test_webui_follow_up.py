"""跟进日期: set and clear a task's follow-up date from the list or the form, see it, filter by it."""

from __future__ import annotations

from datetime import datetime, timedelta

from runner.clock import SHANGHAI
from tests.db import open_task
from tests.webui_helpers import (
    Web,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def test_set_filter_and_clear_a_follow_up_date(web: Web) -> None:
    number = start_case(web.db)
    other = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    assert "跟进到期 0" in text_of(client.get("/tasks/"))
    tomorrow = (web.db.clock.now().astimezone(SHANGHAI) + timedelta(days=1)).date()
    response = client.post(f"/tasks/{task}/follow-up", {"follow_up": tomorrow.isoformat(), "next": "/tasks/"})
    assert response.status_code == 302 and response.headers["Location"] == "/tasks/"
    assert open_task(web.db, number, "accept_application").follow_up_at == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=SHANGHAI)
    page = text_of(client.get("/tasks/"))
    assert f"跟进日期已设为 {tomorrow.isoformat()}" in page and f"跟进日期：{tomorrow.isoformat()}" in page
    assert "跟进到期 0" in page  # not yet
    assert f"跟进日期：{tomorrow.isoformat()}" in text_of(client.get(f"/tasks/{task}"))

    web.db.clock.advance(timedelta(days=1))
    due = client.get("/tasks/?due=follow_up")
    assert "跟进到期 1" in text_of(due) and number in due.get_data(as_text=True)
    assert other not in due.get_data(as_text=True)

    bad = client.post(f"/tasks/{task}/follow-up", {"follow_up": "next week"})
    assert bad.status_code == 400 and "跟进日期格式应为" in text_of(bad)
    client.post(f"/tasks/{task}/follow-up", {"follow_up": tomorrow.isoformat(), "clear": "1"})
    assert open_task(web.db, number, "accept_application").follow_up_at is None
    assert "已清除跟进日期" in text_of(client.get("/tasks/"))
    assert web.client("surveyor").post(f"/tasks/{task}/follow-up", {"follow_up": ""}).status_code == 403
