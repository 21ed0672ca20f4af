"""Two colleagues of one lane on one task form: the one who did not claim it, pressing 暂存 on a form opened before
the other claimed the task, gets the form back with their input and a message in words naming who holds it — not a
bare 403 page with the runner's English ("task … is claimed by …")."""

from __future__ import annotations

import uuid

from runner import accounts
from runner.models import TaskDraft
from tests.webui_helpers import FAST_HASH, Web, password_of, start_case, task_of, text_of, web_fixture  # noqa: F401

COLLEAGUE = "li.na"


def add_colleague(web: Web) -> None:
    with web.db.transaction() as session:
        accounts.create_user(session, COLLEAGUE, password_of(COLLEAGUE), web.db.clock.now(), display_name="李娜",
                             groups=("account_manager",), password_method=FAST_HASH)


def test_a_draft_of_a_task_a_colleague_claimed_meanwhile_is_refused_in_words(web: Web) -> None:
    add_colleague(web)
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    mine = web.client("account_manager")
    mine.get(f"/tasks/{task}")  # the form, opened while the task is unclaimed
    colleague = web.client(COLLEAGUE)
    assert colleague.post(f"/tasks/{task}/claim", {"next": "/tasks/"}).status_code == 302

    refused = mine.post(f"/tasks/{task}", {"_action": "draft", "remarks": "待补充产权证明",
                                           "request_id": uuid.uuid4().hex})
    text = text_of(refused)
    assert refused.status_code == 409, text[:300]
    assert "无法暂存：该任务已被 李娜 领取" in text and "claimed by" not in text
    assert "待补充产权证明" in refused.get_data(as_text=True)  # the input is kept on the page
    assert web.db.count(TaskDraft) == 0

    english = web.client("account_manager")
    english.get("/auth/language/en")
    english.get(f"/tasks/{task}")
    answer = english.post(f"/tasks/{task}", {"_action": "draft", "remarks": "x", "request_id": uuid.uuid4().hex})
    assert answer.status_code == 409 and "Not saved: 李娜 has claimed this task" in text_of(answer)

    own = colleague.post(f"/tasks/{task}", {"_action": "draft", "remarks": "李娜的草稿",
                                            "request_id": uuid.uuid4().hex})
    assert own.status_code == 302 and web.db.count(TaskDraft) == 1  # the holder still saves theirs


def test_due_dates_say_the_working_days_left_or_late(web: Web) -> None:
    """Time limits are working days; the lists, the form and the case page say how many are left (or late) besides
    the date: 业务受理 applied for on Friday 27 November is due on Monday 30 November, one working day left (the
    weekend does not count); seen on Wednesday 2 December it is two working days late (Tuesday, Wednesday)."""
    from datetime import datetime

    from runner.clock import SHANGHAI
    from tests.db import open_task

    web.db.clock.advance_to(datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI))  # a Friday
    number = start_case(web.db, "lv_residential")
    task = open_task(web.db, number, "accept_application")
    assert task.due_at is not None and task.due_at.astimezone(SHANGHAI).date().isoformat() == "2026-11-30"
    client = web.client("account_manager")
    assert "（剩 1 个工作日）" in text_of(client.get("/tasks/"))
    assert "（剩 1 个工作日）" in text_of(client.get(f"/tasks/{task.id}"))
    web.db.clock.advance_to(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))  # the Wednesday after
    page = text_of(client.get("/tasks/"))
    assert "已超期 ·" in page and "（超期 2 个工作日）" in page
    client.get("/auth/language/en")
    assert "(2 working day(s) late)" in text_of(client.get(f"/tasks/{task.id}"))
    assert "(2 working day(s) late)" in text_of(client.get(f"/cases/{number}"))
