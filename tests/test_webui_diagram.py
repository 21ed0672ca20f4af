"""The case diagram: the main process XML, the state that colours it (completed / active / overdue element ids)
and the bpmn-js viewer served from node_modules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from runner.store import Runtime
from tests.db import advance_to, events, fire_due_timers, open_tasks
from tests.webui_helpers import (
    NO_GROUP,
    Web,
    start_case,
    web_fixture,  # noqa: F401  (the web fixture)
)
from tests.worker_helpers import registry_with

ROOT = Path(__file__).resolve().parent.parent


def test_diagram_xml_for_staff_only(web: Web) -> None:
    number = start_case(web.db)
    response = web.client("surveyor").get(f"/cases/{number}/diagram.bpmn")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    xml = response.get_data(as_text=True)
    assert '<bpmn:process id="baozhuang"' in xml and "bpmndi:BPMNDiagram" in xml
    assert web.client(NO_GROUP).get(f"/cases/{number}/diagram.bpmn").status_code == 403
    anonymous = web.client().get(f"/cases/{number}/diagram.bpmn")
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    assert web.client(NO_GROUP).get(f"/cases/{number}/diagram-state.json").status_code == 403
    assert web.client("analyst").get("/cases/NO-SUCH-CASE/diagram.bpmn").status_code == 404


def test_diagram_state_from_the_event_log_and_the_open_tasks(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    state = web.client("surveyor").get(f"/cases/{number}/diagram-state.json")
    assert state.status_code == 200 and state.mimetype == "application/json"
    got = state.get_json()
    completed_in_log = {event.element_id for event in events(web.db, number) if event.lifecycle == "completed"}
    assert "accept_application" in got["completed"] and set(got["completed"]) <= completed_in_log
    assert "case" not in got["completed"] and "" not in got["completed"]
    assert got["active"] == [task.element_id for task in open_tasks(web.db, number)]
    assert "site_survey" in got["active"] and got["overdue"] == []


def test_an_open_task_past_its_due_date_is_overdue(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    survey = next(task for task in open_tasks(web.db, number) if task.element_id == "site_survey")
    assert survey.due_at is not None
    client = web.client("surveyor")
    assert client.get(f"/cases/{number}/diagram-state.json").get_json()["overdue"] == []
    web.db.clock.advance_to(survey.due_at + timedelta(minutes=1))
    got = client.get(f"/cases/{number}/diagram-state.json").get_json()
    assert "site_survey" in got["overdue"] and "site_survey" in got["active"]


def test_an_open_escalation_marks_the_call_activity_that_called_it(web: Web) -> None:
    """The 督办 (supervise_breach) lives in escalation.bpmn, not on the main diagram: the 时限督办 call activity there
    that called it is active while it is open and overdue once it is late."""
    number = start_case(web.db, "lv_other")
    client = web.client("supervisor")
    before = client.get(f"/cases/{number}/diagram-state.json").get_json()
    assert "escalate_acceptance" not in before["active"]
    web.db.clock.advance(timedelta(days=10))  # past the acceptance deadline; nobody accepted
    assert fire_due_timers(web.db, number) >= 1
    supervision = next(task for task in open_tasks(web.db, number) if task.element_id == "supervise_breach")
    diagram = client.get(f"/cases/{number}/diagram.bpmn").get_data(as_text=True)
    assert 'bpmnElement="escalate_acceptance"' in diagram and 'bpmnElement="supervise_breach"' not in diagram
    got = client.get(f"/cases/{number}/diagram-state.json").get_json()
    assert {"supervise_breach", "escalate_acceptance", "accept_application"} <= set(got["active"])
    assert "escalate_acceptance" not in got["overdue"] and "accept_application" in got["overdue"]
    assert supervision.due_at is not None
    web.db.clock.advance_to(supervision.due_at + timedelta(minutes=1))
    got = client.get(f"/cases/{number}/diagram-state.json").get_json()
    assert {"supervise_breach", "escalate_acceptance"} <= set(got["overdue"])


def test_a_failed_task_of_a_called_process_marks_the_call_activity_that_called_it(web: Web) -> None:
    """The late 督办's notification (escalation.bpmn) fails: its service task is not on the main diagram, so the
    时限督办 call activity that called it is marked failed, as an open 督办 marks it active."""
    number = start_case(web.db, "lv_other")
    client = web.client("supervisor")
    assert client.get(f"/cases/{number}/diagram-state.json").get_json()["failed"] == []

    def gateway_down(ctx: Any, **params: Any) -> dict[str, Any]:
        raise RuntimeError("SMS gateway down")

    runtime = Runtime(cache_dir=web.db.cache_dir, clock=web.db.clock, registry=registry_with("notify", gateway_down))
    runtime.bundles.update(web.db.runtime.bundles)
    web.db.clock.advance(timedelta(days=10))  # past the acceptance deadline: the 督办 opens
    assert fire_due_timers(web.db, number) >= 1
    supervision = next(task for task in open_tasks(web.db, number) if task.element_id == "supervise_breach")
    assert supervision.due_at is not None
    web.db.clock.advance_to(supervision.due_at + timedelta(minutes=1))  # the 督办 is late: its notification fails
    assert fire_due_timers(web.db, number, runtime=runtime) >= 1
    got = client.get(f"/cases/{number}/diagram-state.json").get_json()
    assert "escalate_acceptance" in got["failed"] and "accept_application" not in got["failed"], got
    assert {"notify_supervision_overdue", "notify_supervision_overdue_account_manager"} & set(got["failed"]), got


def test_the_case_page_loads_the_viewer_without_inline_script(web: Web) -> None:
    number = start_case(web.db)
    html = web.client("account_manager").get(f"/cases/{number}").get_data(as_text=True)
    assert 'id="diagram"' in html and f'data-xml-url="/cases/{number}/diagram.bpmn"' in html
    assert f'data-state-url="/cases/{number}/diagram-state.json"' in html
    assert '<script src="/static/vendor/bpmn-navigated-viewer.js" defer></script>' in html
    assert '<script src="/static/case-diagram.js" defer></script>' in html
    assert "<script>" not in html  # no inline script
    assert 'class="steps"' in html  # the step list stays as the text alternative


def test_the_vendor_route_serves_bpmn_js_from_node_modules(web: Web) -> None:
    assert (ROOT / "node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js").is_file(), "run make setup"
    client = web.client()
    bundle = client.get("/static/vendor/bpmn-navigated-viewer.js")
    assert bundle.status_code == 200 and bundle.mimetype == "text/javascript"
    assert b"BpmnJS" in bundle.get_data()
    bundle.close()
    css = client.get("/static/vendor/diagram-js.css")
    assert css.mimetype == "text/css"
    css.close()
    style = client.get("/static/style.css")
    assert style.status_code == 200  # Flask's own static files still answer
    style.close()
    assert client.get("/static/vendor/../../pyproject.toml").status_code == 404


def test_the_vendor_route_says_what_to_run_without_node_modules(web: Web, tmp_path: Path) -> None:
    web.app.config["NODE_MODULES_DIR"] = str(tmp_path / "absent")
    missing = web.client().get("/static/vendor/bpmn-navigated-viewer.js")
    assert missing.status_code == 404 and "npm ci" in missing.get_data(as_text=True)
