"""Supervisors on the case page: suspend, resume and cancel (with a reason) a case, and see and retry incidents
(also on /incidents); everyone else gets 403 and sees no buttons."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from runner.models import Event, Incident, Job
from runner.store import Runtime
from tests.db import case_row, open_tasks, start
from tests.webui_helpers import (
    Web,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from tests.worker_helpers import registry_with


def case_events(web: Web, number: str) -> list[Event]:
    with web.db.reading() as session:
        return list(session.scalars(select(Event).where(Event.case_number == number, Event.element_id == "case")
                                    .order_by(Event.id)))


def test_supervisor_suspends_resumes_and_cancels_a_case(web: Web) -> None:
    number = start_case(web.db)
    supervisor = web.client("supervisor")
    page = supervisor.get(f"/cases/{number}").get_data(as_text=True)
    assert "挂起" in page and "撤销案件" in page and "confirm(" in page

    assert supervisor.post(f"/cases/{number}/status", {"status": "suspended"}).status_code == 302
    assert case_row(web.db, number).status == "suspended"
    page = text_of(supervisor.get(f"/cases/{number}"))
    assert "案件已挂起" in page and "恢复办理" in page and "已挂起" in page
    again = supervisor.post(f"/cases/{number}/status", {"status": "suspended"})
    assert again.status_code == 302 and "操作未成功" in text_of(supervisor.get(f"/cases/{number}"))

    supervisor.post(f"/cases/{number}/status", {"status": "running"})
    assert case_row(web.db, number).status == "running"

    supervisor.post(f"/cases/{number}/status", {"status": "cancelled"})  # no reason
    assert case_row(web.db, number).status == "running"
    assert "撤销案件须填写原因" in text_of(supervisor.get(f"/cases/{number}"))
    supervisor.post(f"/cases/{number}/status", {"status": "cancelled", "reason": "客户撤回申请"})
    assert case_row(web.db, number).status == "cancelled"
    assert open_tasks(web.db, number) == []
    page = text_of(supervisor.get(f"/cases/{number}"))
    assert "案件已撤销" in page and "客户撤回申请" in page and "撤销案件" not in page
    assert [(e.lifecycle, e.user) for e in case_events(web, number)] == [
        ("suspended", "supervisor"), ("running", "supervisor"), ("cancelled", "supervisor")]
    assert case_events(web, number)[-1].data == {"reason": "客户撤回申请"}
    assert supervisor.post(f"/cases/{number}/status", {"status": "deleted"}).status_code == 400


def test_only_supervisors_control_cases(web: Web) -> None:
    number = start_case(web.db)
    manager = web.client("account_manager")
    assert "撤销案件" not in manager.get(f"/cases/{number}").get_data(as_text=True)
    assert manager.post(f"/cases/{number}/status", {"status": "suspended"}).status_code == 403
    assert manager.get("/incidents/").status_code == 403
    assert web.client("supervisor").post(f"/cases/{number}/status", {"status": "suspended"},
                                         csrf=False).status_code == 400
    assert case_row(web.db, number).status == "running"


def unavailable(ctx: Any, **params: Any) -> dict[str, Any]:
    raise RuntimeError("capacity service unavailable")


def case_with_incident(web: Web) -> str:
    """A case whose capacity service failed until its retries were used up: one open incident."""
    failing = Runtime(cache_dir=web.db.cache_dir, clock=web.db.clock,
                      registry=registry_with("capacity_assessment", unavailable))
    failing.bundles.update(web.db.runtime.bundles)
    number = start(web.db, "hv_ordinary", runtime=failing)  # the failed task waits for a retry job
    with web.db.transaction() as session:  # its retries used up: what the worker records then
        job = session.scalars(select(Job).where(Job.kind == "retry")).one()
        job.status, job.attempts = "failed", 3
        session.add(Incident(case_id=job.case_id, task_id=job.task_id or "", element_id=job.element_id or "",
                             message="RuntimeError: capacity service unavailable", attempts=3,
                             created_at=web.db.clock.now()))
    assert open_tasks(web.db, number) == []
    return number


def test_a_retry_that_fails_again_says_so(web: Web) -> None:
    number = case_with_incident(web)
    with web.db.reading() as session:
        incident_id = session.scalars(select(Incident.id)).one()
    app_runtime = web.app.extensions["baozhuang"].runtime
    working = app_runtime.registry
    app_runtime.registry = registry_with("capacity_assessment", unavailable)
    try:
        supervisor = web.client("supervisor")
        response = supervisor.post(f"/incidents/{incident_id}/retry", {"next": f"/cases/{number}"})
    finally:
        app_runtime.registry = working
    assert response.status_code == 302
    page = text_of(supervisor.get(f"/cases/{number}"))
    assert f"已重试异常 #{incident_id}，但“容量评估”再次失败" in page
    assert "自动重试；执行成功前异常保持未解决" in page and "已执行成功" not in page
    assert f"/incidents/{incident_id}/retry" in supervisor.get("/incidents/").get_data(as_text=True)  # still open
    assert open_tasks(web.db, number) == []


def test_supervisor_sees_and_retries_an_incident(web: Web) -> None:
    number = case_with_incident(web)
    supervisor = web.client("supervisor")
    listed = text_of(supervisor.get("/incidents/"))
    assert number in listed and "容量评估 assess_capacity" in listed and "capacity service unavailable" in listed
    case_page = supervisor.get(f"/cases/{number}").get_data(as_text=True)
    assert "capacity service unavailable" in case_page and "/incidents/" in case_page
    assert "capacity service unavailable" not in web.client("account_manager").get(f"/cases/{number}").get_data(
        as_text=True)

    with web.db.reading() as session:
        incident_id = session.scalars(select(Incident.id)).one()
    response = supervisor.post(f"/incidents/{incident_id}/retry", {"next": f"/cases/{number}"})
    assert response.status_code == 302 and response.headers["Location"] == f"/cases/{number}"
    assert f"已重试异常 #{incident_id}：“容量评估”已执行成功" in text_of(supervisor.get(f"/cases/{number}"))
    assert [task.element_id for task in open_tasks(web.db, number)] == ["accept_application"]
    assert "当前没有未处理的异常" in text_of(supervisor.get("/incidents/"))
    again = supervisor.post(f"/incidents/{incident_id}/retry")
    assert again.status_code == 302 and "重试未成功" in text_of(supervisor.get("/incidents/"))
