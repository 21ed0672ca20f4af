"""A colleague's 暂存 is not lost when the task passes on: deactivating its author releases the task (as before) and
the next person working on it sees who saved a draft and when, and may take it over; a supervisor assigning the task
sees that there is one. A draft of a colleague still working the lane stays theirs. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from runner import accounts, drafts, services
from runner.clock import SHANGHAI
from runner.models import TaskDraft
from tests.db import Db, open_task, start
from tests.webui_helpers import (
    FAST_HASH,
    Browser,
    Web,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

AUTHOR = "am.1"
REMARK = "待补充产权证明（李明）"


def add_author(db: Db) -> None:
    with db.transaction() as session:
        accounts.create_user(session, AUTHOR, "secret-am1", db.clock.now(), display_name="李明",
                             groups=("account_manager",), password_method=FAST_HASH)


def author_saves_a_draft(web: Web, task: str, *, claim: bool = True) -> Browser:
    author = Browser(web.app.test_client(), "127.0.0.1")
    assert author.login(AUTHOR, "secret-am1").status_code == 302
    if claim:
        author.post(f"/tasks/{task}/claim")
    author.get(f"/tasks/{task}")
    saved = author.post(f"/tasks/{task}", {"_action": "draft", "remarks": REMARK, "request_id": uuid.uuid4().hex})
    assert saved.status_code == 302
    return author


def test_the_next_person_sees_a_deactivated_colleagues_draft_and_takes_it_over(web: Web) -> None:
    add_author(web.db)
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    author_saves_a_draft(web, task)
    saved_at = web.db.clock.now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    admin = web.client("admin")
    admin.get(f"/admin/users/{AUTHOR}")
    assert admin.post(f"/admin/users/{AUTHOR}/active", {"active": "0"}).status_code == 302
    assert open_task(web.db, number, "accept_application").assignee is None  # released to the lane's queue

    colleague = web.client("account_manager")
    page = colleague.get(f"/tasks/{task}")
    text = text_of(page)
    assert f"李明 曾于 {saved_at} 暂存了本任务未提交的内容" in text and "接手并载入该暂存内容" in text
    assert REMARK not in page.get_data(as_text=True)  # not loaded until taken over
    taken = colleague.post(f"/tasks/{task}", {"_action": "take_draft", "request_id": uuid.uuid4().hex})
    assert taken.status_code == 302 and taken.headers["Location"] == f"/tasks/{task}"
    page = colleague.get(f"/tasks/{task}")
    assert REMARK in page.get_data(as_text=True)
    assert "已接手 李明 暂存的内容" in text_of(page) and f"已载入 {saved_at} 暂存的内容" in text_of(page)
    with web.db.reading() as session:
        draft = session.get(TaskDraft, task)
        assert draft is not None and draft.user == "account_manager"


def test_a_supervisor_assigning_sees_the_draft_and_the_assignee_gets_it(web: Web) -> None:
    add_author(web.db)
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    author = author_saves_a_draft(web, task)  # the author stays active and in the lane (e.g. on leave)
    supervisor = web.client("supervisor")
    assign_page = text_of(supervisor.get(f"/tasks/{task}/assign"))
    assert "李明 曾于" in assign_page and "新办理人打开任务时可接手" in assign_page
    assert supervisor.post(f"/tasks/{task}/assign", {"assignee": "account_manager"}).status_code == 302
    assignee = web.client("account_manager")
    assert "李明 曾于" in text_of(assignee.get(f"/tasks/{task}"))
    # the author, no longer holding the task, is told so on trying to take it back
    refused = author.post(f"/tasks/{task}", {"_action": "take_draft", "request_id": uuid.uuid4().hex})
    assert refused.status_code == 302
    assert "该暂存内容已不可接手" in text_of(author.get(f"/tasks/{task}"))


def test_a_draft_of_a_colleague_still_in_the_lane_of_a_free_task_stays_theirs(web: Web) -> None:
    add_author(web.db)
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    author_saves_a_draft(web, task, claim=False)
    colleague = web.client("account_manager")
    page = colleague.get(f"/tasks/{task}")
    assert "暂存了本任务未提交的内容" not in text_of(page) and REMARK not in page.get_data(as_text=True)
    colleague.post(f"/tasks/{task}", {"_action": "take_draft", "request_id": uuid.uuid4().hex})
    assert "该暂存内容已不可接手" in text_of(colleague.get(f"/tasks/{task}"))
    with web.db.reading() as session:
        draft = session.get(TaskDraft, task)
        assert draft is not None and draft.user == AUTHOR and draft.data["remarks"] == REMARK


def test_who_may_see_an_earlier_draft(db: Db) -> None:
    with db.transaction() as session:
        for name in ("am.1", "am.2", "am.3"):
            accounts.create_user(session, name, "secret-1", db.clock.now(), groups=("account_manager",),
                                 password_method=FAST_HASH)
    number = start(db)
    task = task_of(db, number, "accept_application")
    with db.transaction() as session:
        drafts.save_draft(session, task, "am.1", {"remarks": "一半"}, db.clock.now())
    with db.reading() as session:
        assert drafts.earlier_draft(session, task, "am.1") is None  # one's own: load_draft
        assert drafts.earlier_draft(session, task, "am.2") is None  # the author may come back to it
    with db.transaction() as session:
        accounts.set_groups(session, "am.1", ("surveyor",))  # moved to another lane
    with db.reading() as session:
        assert drafts.earlier_draft(session, task, "am.2") is not None
    with db.transaction() as session:
        services.claim_task(session, task, "am.3", ("account_manager",), now=db.clock.now())
    with db.reading() as session:
        assert drafts.earlier_draft(session, task, "am.2") is None  # am.3 holds the task now
        found = drafts.earlier_draft(session, task, "am.3")
        assert found is not None and found.user == "am.1"
    with db.transaction() as session, pytest.raises(services.PermissionDenied):
        drafts.take_over_draft(session, task, "am.2")
    with db.transaction() as session:
        assert drafts.take_over_draft(session, task, "am.3") == "am.1"
    with db.reading() as session:
        own = drafts.load_draft(session, task, "am.3")
        assert own is not None and own.data == {"remarks": "一半"}
