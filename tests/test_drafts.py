"""暂存: a task form saved unfinished comes back into the form for the same person only, and goes when the task
completes; saving it validates nothing."""

from __future__ import annotations

import uuid

import pytest

from runner import drafts, services
from runner.models import TaskDraft
from tests.db import Db, complete, start
from tests.webui_helpers import (
    Web,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def test_draft_service(db: Db) -> None:
    number = start(db)
    task = task_of(db, number, "accept_application")
    with db.transaction() as session:
        drafts.save_draft(session, task, "am.1", {"remarks": "第一稿"}, db.clock.now())
        drafts.save_draft(session, task, "am.1", {"remarks": "第二稿"}, db.clock.now())
    with db.reading() as session:
        draft = drafts.load_draft(session, task, "am.1")
        assert draft is not None and draft.data == {"remarks": "第二稿"}
        assert drafts.load_draft(session, task, "am.2") is None
    with db.transaction() as session:
        services.claim_task(session, task, "am.2", ("account_manager",), now=db.clock.now())
    with db.transaction() as session, pytest.raises(services.PermissionDenied):
        drafts.save_draft(session, task, "am.1", {"remarks": "第三稿"}, db.clock.now())
    complete(db, number, "accept_application", user="am.2")
    assert db.count(TaskDraft) == 0


def test_save_as_draft_reload_and_complete(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    form = client.get(f"/tasks/{task}").get_data(as_text=True)
    assert 'value="draft"' in form and "暂存" in form
    saved = client.post(f"/tasks/{task}", {"_action": "draft", "decision": "reject", "remarks": "待补充产权证明",
                                           "request_id": uuid.uuid4().hex})
    assert saved.status_code == 302 and saved.headers["Location"] == f"/tasks/{task}"
    assert web.db.count(TaskDraft) == 1
    page = client.get(f"/tasks/{task}")
    html = page.get_data(as_text=True)
    assert "已暂存" in text_of(page) and "暂存的内容" in text_of(page) and "待补充产权证明" in html
    assert 'name="decision" value="reject" checked' in html and 'name="decision" value="accept" checked' not in html
    other = web.client("supervisor")
    assert other.get(f"/tasks/{task}").status_code == 403  # not their lane, and not their draft either
    colleague_page = web.client("account_manager").get(f"/tasks/{task}")  # same user, new session: still there
    assert "待补充产权证明" in colleague_page.get_data(as_text=True)

    client.get(f"/tasks/{task}")
    done = client.post(f"/tasks/{task}", {"decision": "accept", "one_certificate": "false",
                                          "commitment_signed": "false", "contract_signed": "false",
                                          "request_id": uuid.uuid4().hex})
    assert done.status_code == 302 and done.headers["Location"] == "/tasks/"
    assert web.db.count(TaskDraft) == 0


def test_a_draft_can_be_discarded(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    client.get(f"/tasks/{task}")
    client.post(f"/tasks/{task}", {"_action": "draft", "remarks": "草稿", "request_id": uuid.uuid4().hex})
    assert "删除暂存" in text_of(client.get(f"/tasks/{task}"))
    client.post(f"/tasks/{task}", {"_action": "discard_draft", "request_id": uuid.uuid4().hex})
    assert web.db.count(TaskDraft) == 0
    page = client.get(f"/tasks/{task}")
    assert "草稿" not in page.get_data(as_text=True) and "已删除暂存内容" in text_of(page)


def test_drafts_of_tasks_withdrawn_without_completion_go(db: Db) -> None:
    """A cancelled case takes its tasks' drafts with it (so does a timer or a race that withdraws a task)."""
    number = start(db)
    task = task_of(db, number, "accept_application")
    with db.transaction() as session:
        drafts.save_draft(session, task, "am.1", {"remarks": "写了一半"}, db.clock.now())
    other = start(db)
    other_task = task_of(db, other, "accept_application")
    with db.transaction() as session:
        drafts.save_draft(session, other_task, "am.1", {"remarks": "另一个案件"}, db.clock.now())
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "cancelled", "supervisor.1", "客户撤销申请")
    with db.reading() as session:
        assert drafts.load_draft(session, task, "am.1") is None
        assert drafts.load_draft(session, other_task, "am.1") is not None  # other cases keep theirs
