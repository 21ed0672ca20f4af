"""Case detail: the process diagram (bpmn-js in the browser, ``static/case-diagram.js``) coloured from
``diagram-state.json``, and the steps as a list in the order the case reached them (the diagram's text
alternative); what the case waits for besides its open tasks (a message from billing, the meter data system or the
customer, or a timer when nothing else holds it; ``waiting.py``) as current work; a service task that failed and
holds the case up (its automatic retry, or its incident) for everyone, with its error for supervisors; the
application and the data of each step with personal fields masked (``runner.pii``, read by
``case_queries.case_data_view`` as the API's ``/cases/<n>/data`` reads them; the roles that may see them in full
ask with 显示完整信息, a POST that is logged and redirects to the page shown in full once); for supervisors the
case's open incidents and failed notifications (each with its retry, as on ``/incidents/``) and cancel / suspend /
resume, each with an optional reason (required to cancel)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask import session as web_session
from flask.typing import ResponseReturnValue
from flask_babel import lazy_pgettext as pgettext  # under this name, ``pybabel extract`` takes its context

from runner import case_queries, pii, portal, services, task_eligibility
from runner.case import CaseError
from runner.documents import case_documents
from runner.models import Document, Event
from runner.process_folder import ProcessBundle
from runner.store import ConflictError

from ..extensions import runtime, session
from ..i18n import _, _l
from ..labels import (
    CASE_STATUS_LABELS,
    CATEGORY_LABELS,
    REGIME_LABELS,
    label,
)
from ..portal.applyform import MATERIAL_TITLES
from ..security import is_supervisor, may_unclaim, may_work_on, require_account, staff_required
from ..tasks.people import display_name
from . import vendor
from .followup import followup_shown
from .sla import sla_rows
from .values import Shown, application_fields, case_summary_fields, event_fields
from .waiting import message_source

bp = Blueprint("cases", __name__, url_prefix="/cases")

SUMMARY_LABELS = {
    "category": _l("客户类别"), "supply_voltage_kv": _l("供电电压（kV）"), "limits": _l("办理时限（工作日）"),
    "timeline": _l("关键时间"), "fees": _l("费用"), "kpis": _l("获得电力指标"),
    # keys inside limits and timeline
    "acceptance": _l("业务受理"), "plan_reply": _l("供电方案答复"), "design_review": _l("设计文件审核"),
    "interim_check": _l("中间检查"), "completion_check": _l("竣工检验"), "contract": _l("合同签订"),
    # energize: the step; without a context 装表接电 is the installer lane's name (English "Installer")
    "energize": pgettext("step", "装表接电"), "archive": _l("资料归档"), "followup": _l("客户回访"),
    "supervision": _l("督办处理"),
    "applied": _l("申请"),
    "accepted": _l("受理"), "plan_signed": _l("方案确认"), "energized": _l("送电"), "total": _l("合计"),
    "materials_supplied": _l("资料补齐"), "property_proof_verified": _l("产权证明核验"),
    "plan_answered": _l("方案答复"), "plan_renewed": _l("方案延期"), "design_submitted": _l("设计文件报审"),
    "interim_requested": _l("中间检查报验"),
    "completion_reported": _l("竣工报验"), "inspection_passed": _l("竣工检验合格"), "contract_sent": _l("合同送达"),
    "contract_signed": _l("合同签署"), "energize_ready": _l("具备装表条件"), "archived": _l("资料归档完成"),
    "plan_refused": _l("客户暂不签署供电方案"), "contract_refused": _l("客户暂不签订合同"),
    "plan_refused_answered": _l("客户暂不签署的方案答复"), "contract_refused_sent": _l("客户暂不签订的合同送达"),
    "plan_refused_rounds": _l("客户暂不签署的各轮方案（答复 → 暂不签署）"),
    "contract_refused_rounds": _l("客户暂不签订的各轮合同（送达 → 暂不签订）"),
    # fees (handlers/fees.py)
    "items": _l("收费项目"), "currency": _l("币种"), "zero_investment": _l("零投资（“三零”服务）"),
    "waived": _l("免收费用"), "code": _l("编码"), "name": _l("名称"), "amount": _l("金额（元）"),
    "basis": _l("计费依据"), "reason": _l("原因"),
    # kpis (handlers/kpis.py)
    "steps": _l("办电环节数"), "customer_visits": _l("客户跑动次数"), "customer_visits_source": _l("跑动次数来源"),
    "in_progress": _l("办理中"), "calendar_days": _l("日历天数"), "working_days": _l("工作日数"),
    "customer_held_working_days": _l("其中客户用时（工作日）"),
    "utility_held_working_days": _l("其中供电企业用时（工作日）"), "customer_held_periods": _l("客户用时段"),
    "period": _l("阶段"), "start": _l("开始"), "end": _l("结束"), "cost_cny": _l("客户办电费用（元）"),
    "cost_pct_income_per_capita": _l("办电费用占人均可支配收入百分比"),
    "working_days_estimated": _l("工作日数为估算（缺少官方节假日数据）"), "whole_case": _l("全流程时限（小微企业）"),
    "limit_days": _l("时限（工作日）"), "working_days_used": _l("已用工作日"), "met": _l("是否达标"),
    "estimated": _l("按估算日历计算"), "costed_on": _l("计费容量依据"), "earlier": _l("此前告知客户的费用"),
    "replaced_at": _l("更新时间"),
    # from the application (runner.store.summarize) and the start data
    "dual_supply": _l("双电源"), "regime": _l("时限口径"),
}
SUMMARY_VALUE_LABELS: dict[str, dict[str, Any]] = {
    "category": CATEGORY_LABELS, "regime": REGIME_LABELS, "currency": {"CNY": _l("人民币")},
    "customer_visits_source": {"given": _l("登记数"), "derived": _l("按办理环节推算")},
    "costed_on": {"application": _l("按客户申请"), "plan": _l("按供电方案")},
    "period": {"plan_signing": _l("确认供电方案"), "design": _l("设计"), "construction": _l("施工"),
               "contract_signing": _l("签订合同"), "plan_refused": _l("考虑后暂不签署的供电方案"),
               "contract_refused": _l("考虑后暂不签订的合同")},
}
"""Names of the summary's codes, by the key that holds them."""


@dataclass
class Step:
    element_id: str
    name: str
    state: str  # open|waiting|done|fired|failed|other
    last_at: str


def steps_of(history: list[Event], open_elements: set[str], failed_elements: frozenset[str] = frozenset()
             ) -> list[Step]:
    """Named elements in the order the case first reached them, with the latest thing that happened to each;
    ``failed_elements`` (service tasks that failed and wait for a retry or are incidents) are ``failed``."""
    steps: dict[str, Step] = {}
    for event in history:
        if event.element_id in ("", "case") or event.activity == event.element_id and event.lifecycle != "fired":
            continue  # unnamed engine bookkeeping (gateways without a name, flows) and case-wide events
        state = {"completed": "done", "fired": "fired", "enabled": "open"}.get(event.lifecycle, "other")
        at = event.at.isoformat()
        step = steps.setdefault(event.element_id, Step(event.element_id, event.activity, state, at))
        step.state, step.last_at = state, at
    for step in steps.values():
        if step.element_id in failed_elements:
            step.state = "failed"
        elif step.element_id in open_elements:
            step.state = "open"
        elif step.state == "open":
            step.state = "other"  # enabled once, now neither open nor completed (ended by a timer or cancelled)
    return list(steps.values())


def with_waiting(steps: list[Step], waiting: list[case_queries.WaitingStep]) -> list[Step]:
    """The steps with those the case waits at marked ``waiting`` (a message or timer event logs nothing until it
    is caught, so one reached for the first time is added at the end)."""
    by_element = {step.element_id: step for step in steps}
    for wait in waiting:
        since = wait.since.isoformat() if wait.since else ""
        if wait.element_id in by_element:
            by_element[wait.element_id].state = "waiting"
        else:
            steps.append(Step(wait.element_id, wait.name, "waiting", since))
    return steps


@dataclass
class DocumentRow:
    """An attachment as the case page lists it: which material it is (the application's kind, or the title of the
    form field it was uploaded to) and who uploaded it in words."""

    document: Document
    material: str
    uploader: str


def material_label(document: Document, bundle: ProcessBundle) -> str:
    """The application's material kind by the portal's name for it (身份证明 …), a step's upload by its form
    field's title, else the field as stored ("—" when none)."""
    if not document.field:
        return "—"
    if document.element_id is None and document.field in MATERIAL_TITLES:
        return str(MATERIAL_TITLES[document.field])
    form = bundle.forms.get(bundle.form_files.get(document.element_id or "", ""), {})
    return str(form.get("properties", {}).get(document.field, {}).get("title", document.field))


def uploader_label(uploaded_by: str) -> str:
    """A member of staff by name; the customer (an applicant's browser, or the customer signed in to the case in
    the portal: internal pseudo users) as 客户（申请人）."""
    if uploaded_by.startswith(("applicant:", "customer:")):
        return _("客户（申请人）")
    return display_name(uploaded_by)


STATUS_CHANGES = ("cancelled", "suspended", "running")
REASON_MAX = 500
REVEAL_ONCE = "reveal_case"
"""Session key: the case number whose next page view shows personal data in full (set by the 显示完整信息 POST)."""
NEW_CODE_ONCE = "new_access_code"
"""Session key: ``{"case": number, "code": code}``, the access code just made by 重新生成查询码, shown on the case
page's next view only (then taken out of the session)."""



@bp.get("/<case_number>")
@staff_required()
def detail(case_number: str) -> ResponseReturnValue:
    """The case page; in full once after 显示完整信息 (``reveal``) for a role that may see it so (and logged then)."""
    once = web_session.pop(REVEAL_ONCE, None) == case_number
    made = web_session.pop(NEW_CODE_ONCE, None)
    new_code = made["code"] if isinstance(made, dict) and made.get("case") == case_number else None
    return show(case_number, reveal=once and pii.may_unmask(require_account().groups), new_code=new_code)


@bp.post("/<case_number>/reveal")
@staff_required(*pii.UNMASK_ROLES)
def reveal(case_number: str) -> ResponseReturnValue:
    """显示完整信息: redirect to the case page, shown with personal data in full for that one view (which writes
    ``data_access_log`` as it shows them), so that reloading it neither posts again nor shows them again."""
    services.get_case(session(), case_number)  # an unknown case: 404 here
    web_session[REVEAL_ONCE] = case_number
    return redirect(url_for("cases.detail", case_number=case_number), 303)


@bp.post("/<case_number>/access-code")
@staff_required(*portal.ACCESS_CODE_GROUPS)
def reissue_access_code(case_number: str) -> ResponseReturnValue:
    """重新生成查询码: a new portal access code for a customer who lost theirs or never got one (a case filed through
    the API); the old one stops working. Redirects to the case page, which shows the code once (a reload does not:
    the page is sent ``Cache-Control: no-store`` then)."""
    account = require_account()
    code = portal.reissue_access_code(session(), case_number, account.username)  # an unknown case: 404 here
    session().commit()
    web_session[NEW_CODE_ONCE] = {"case": case_number, "code": code}
    return redirect(url_for("cases.detail", case_number=case_number), 303)


def show(case_number: str, reveal: bool, new_code: str | None = None) -> ResponseReturnValue:
    account = require_account()
    view = case_queries.case_data_view(session(), runtime(), case_number, account.username, account.groups,
                                       reveal=reveal, channel="web")
    if view.revealed:
        session().commit()  # the access-log row
    row, history, bundle = view.case, view.history, view.bundle
    tasks = services.case_tasks(session(), case_number)
    failed = case_queries.failed_tasks(session(), case_number)
    waiting = case_queries.waiting_steps(session(), runtime(), case_number)
    steps = with_waiting(steps_of(history, {task.element_id for task in tasks},
                                  frozenset(task.element_id for task in failed)), waiting)
    start_schema = bundle.forms.get(bundle.start_form or "", {})
    start_ui = bundle.forms.get((bundle.start_form or "").replace(".schema.json", ".uischema.json"), {})
    visible: dict[str, Any] = {"application": view.application,
                               **{str(event_id): data for event_id, data in view.event_data.items()}}
    supervisor = is_supervisor(account)
    incidents = [task for task in failed if task.incident is not None] if supervisor else []
    failed_messages = services.failed_messages(session(), case_number) if supervisor else []
    sla = sla_rows(history, {task.element_id for task in tasks}, runtime().clock.now(), runtime().calendar)
    four_eyes = task_eligibility.four_eyes_blocked(
        session(), runtime(), [task for task in tasks if may_work_on(account, task)], account.username)
    documents = [DocumentRow(document, material_label(document, bundle), uploader_label(document.uploaded_by))
                 for document in case_documents(session(), row.id)]
    kpis = (row.summary or {}).get("kpis") or {}
    forms = bundle.form_files
    timeline = [event for event in history if not case_queries.is_bookkeeping(event)]
    event_shown: dict[int, Shown] = {
        event.id: event_fields(view.event_data[event.id], bundle.forms.get(forms.get(event.element_id, ""), {}),
                               bundle.forms.get(forms.get(event.element_id, "").replace(".schema.json",
                                                                                       ".uischema.json"), {}))
        for event in view.events}
    response = render_template("cases/detail.html", case=row, history=timeline, tasks=tasks, steps=steps,
                           moments=case_queries.case_moments(row),
                           followup=followup_shown(case_queries.latest_followup(history), bundle),
                           waiting=waiting, message_source=message_source,
                           sla=sla, documents=documents, kpis=kpis,
                           step_names={event.element_id: event.activity for event in history},
                           may_work_on=lambda task: may_work_on(account, task), four_eyes=four_eyes,
                           may_unclaim=lambda task: may_unclaim(account, task), may_assign=supervisor,
                           application=application_fields(view.application, start_schema, start_ui),
                           summary=case_summary_fields(row.summary or {}, SUMMARY_LABELS, SUMMARY_VALUE_LABELS,
                                                       case_queries.dual_supply(row.summary)),
                           event_data=visible, event_shown=event_shown, revealed=reveal,
                           may_reveal=pii.may_unmask(account.groups) and view.personal,
                           failed=failed, incidents=incidents, failed_messages=failed_messages,
                           may_control=supervisor,
                           paused_since=(case_queries.suspended_since(session(), [row.case_number]).get(row.case_number)
                                         if row.status == "suspended" else None),
                           may_reissue_code=bool(set(account.groups) & set(portal.ACCESS_CODE_GROUPS)),
                           new_code=portal.format_code(new_code) if new_code else None,
                           request_path=url_for("cases.detail", case_number=case_number))  # never back to a POST
    return (response, 200, {"Cache-Control": "no-store"}) if reveal or new_code else response


@bp.post("/<case_number>/status")
@staff_required("supervisor")
def change_status(case_number: str) -> ResponseReturnValue:
    """Cancel (with a reason), suspend or resume the case (with an optional reason, logged in the event); refusals
    come back as flashed messages in words (a second tab that changed the case first: its status now)."""
    account = require_account()
    status = request.form.get("status", "")
    reason = request.form.get("reason", "").strip()[:REASON_MAX]
    if status not in STATUS_CHANGES:
        abort(400)
    if status == "cancelled" and not reason:
        flash(_("撤销案件须填写原因。"), "error")
        return redirect(url_for("cases.detail", case_number=case_number))
    try:
        services.set_case_status(session(), runtime(), case_number, status, account.username, reason or None)
    except CaseError:
        session().rollback()
        current = services.get_case(session(), case_number).status
        flash(_("操作未成功：案件当前状态为“%(current)s”，不能改为“%(wanted)s”。请刷新页面查看最新状态。",
                current=label(CASE_STATUS_LABELS, current), wanted=label(CASE_STATUS_LABELS, status)), "error")
        return redirect(url_for("cases.detail", case_number=case_number))
    except ConflictError:
        session().rollback()
        flash(_("操作未成功：案件刚被他人修改，请刷新页面后重试。"), "error")
        return redirect(url_for("cases.detail", case_number=case_number))
    session().commit()
    done = {"cancelled": _("案件已撤销"), "suspended": _("案件已挂起"), "running": _("案件已恢复办理")}
    flash(done[status], "success")
    return redirect(url_for("cases.detail", case_number=case_number))


@bp.get("/<case_number>/diagram.bpmn")
@staff_required()
def diagram(case_number: str) -> ResponseReturnValue:
    """The BPMN XML of the main process of the case's version (who may see the case may see its diagram)."""
    xml = services.case_diagram(session(), case_number)
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=300"})


@bp.get("/<case_number>/diagram-state.json")
@staff_required()
def diagram_state(case_number: str) -> ResponseReturnValue:
    """``{"completed": [...], "active": [...], "overdue": [...], "failed": [...]}``: BPMN element ids to colour
    (``failed``: engine tasks in ERROR — a failed service task waiting for its retry or an incident — or the call
    activity that called one, from the stored state as ``services.case_diagram_state`` reads it). ``active`` holds
    every step the case page lists as current: open tasks and what the case waits at (``waiting_steps``: also a
    receive task, and a timer when nothing else holds the case)."""
    state = services.case_diagram_state(session(), runtime(), case_number)
    response = jsonify(completed=state.completed, active=state.active, overdue=state.overdue, failed=state.failed)
    response.headers["Cache-Control"] = "no-store"
    return response


bp.record_once(vendor.register)
