"""Case detail: the process diagram (bpmn-js in the browser, ``static/case-diagram.js``) coloured from
``diagram-state.json``, and the steps as a list in the order the case reached them (the diagram's text
alternative)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, render_template
from flask.typing import ResponseReturnValue

from runner import services
from runner.models import Event

from ..extensions import runtime, session
from ..i18n import _l
from ..security import is_supervisor, may_unclaim, may_work_on, require_account, staff_required
from . import vendor

bp = Blueprint("cases", __name__, url_prefix="/cases")

SUMMARY_LABELS = {
    "category": _l("客户类别"), "supply_voltage_kv": _l("供电电压（kV）"), "limits": _l("办理时限（工作日）"),
    "timeline": _l("关键时间"), "fees": _l("费用"), "kpis": _l("获得电力指标"),
    # keys inside limits and timeline
    "acceptance": _l("业务受理"), "plan_reply": _l("供电方案答复"), "design_review": _l("设计文件审核"),
    "interim_check": _l("中间检查"), "completion_check": _l("竣工检验"), "contract": _l("合同签订"),
    "energize": _l("装表接电"), "archive": _l("资料归档"), "followup": _l("客户回访"), "applied": _l("申请"),
    "accepted": _l("受理"), "plan_signed": _l("方案确认"), "energized": _l("送电"), "total": _l("合计"),
}


@dataclass
class Step:
    element_id: str
    name: str
    state: str  # open|done|fired|other
    last_at: str


def steps_of(history: list[Event], open_elements: set[str]) -> list[Step]:
    """Named elements in the order the case first reached them, with the latest thing that happened to each."""
    steps: dict[str, Step] = {}
    for event in history:
        if event.element_id in ("", "case") or event.activity == event.element_id and event.lifecycle != "fired":
            continue  # unnamed engine bookkeeping (gateways without a name, flows) and case-wide events
        state = {"completed": "done", "fired": "fired", "enabled": "open"}.get(event.lifecycle, "other")
        at = event.at.isoformat()
        step = steps.setdefault(event.element_id, Step(event.element_id, event.activity, state, at))
        step.state, step.last_at = state, at
    for step in steps.values():
        if step.element_id in open_elements:
            step.state = "open"
        elif step.state == "open":
            step.state = "other"  # enabled once, now neither open nor completed (ended by a timer or cancelled)
    return list(steps.values())


@bp.get("/<case_number>")
@staff_required()
def detail(case_number: str) -> ResponseReturnValue:
    account = require_account()
    row = services.get_case(session(), case_number)
    history = services.case_history(session(), case_number)
    tasks = services.case_tasks(session(), case_number)
    steps = steps_of(history, {task.element_id for task in tasks})
    return render_template("cases/detail.html", case=row, history=history, tasks=tasks, steps=steps,
                           summary_labels=SUMMARY_LABELS, may_work_on=lambda task: may_work_on(account, task),
                           may_unclaim=lambda task: may_unclaim(account, task), may_assign=is_supervisor(account))


@bp.get("/<case_number>/diagram.bpmn")
@staff_required()
def diagram(case_number: str) -> ResponseReturnValue:
    """The BPMN XML of the main process of the case's version (who may see the case may see its diagram)."""
    xml = services.case_diagram(session(), case_number)
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=300"})


@bp.get("/<case_number>/diagram-state.json")
@staff_required()
def diagram_state(case_number: str) -> ResponseReturnValue:
    """``{"completed": [...], "active": [...], "overdue": [...]}``: BPMN element ids to colour."""
    state = services.case_diagram_state(session(), runtime(), case_number)
    response = jsonify(completed=state.completed, active=state.active, overdue=state.overdue)
    response.headers["Cache-Control"] = "no-store"
    return response


bp.record_once(vendor.register)
