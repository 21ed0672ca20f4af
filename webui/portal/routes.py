"""The portal's pages: landing, apply (with the live capacity assessment), the one-time access code, tracking by
case number and code (the progress also shows what the case waits for: 等待缴费确认 …), and the customer's own
tasks. Views only: the work is in ``runner.portal``.

Refusals: field errors → 400 with messages at the fields and the input kept (nothing created); too many
applications or code attempts from one address → 429 with ``Retry-After``; a wrong code and an unknown case
number get the same answer. One application form (its ``submission_id``) starts one case: sent again, also at the
same time to another host, it is answered with the first case. A request over its size limit → the portal's 413
page naming the limit, with the way back to the form.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from runner import case_queries, documents, portal, services
from runner.case import CaseError
from runner.forms import LOAD_PLAUSIBILITY, FormValidationError, LoadProblem, load_problems
from runner.store import ConflictError, NotFoundError, latest_version

from .. import refusals
from ..cases.waiting import customer_note
from ..extensions import runtime
from ..extensions import session as db_session
from ..formrender import initial_data, parse_submission, render_form
from ..i18n import _
from ..labels import CATEGORY_LABELS, label
from ..uploads import storage_root
from . import access, applyform, sheets
from .uploading import UPLOAD_REQUEST_LIMIT, receive_portal_upload, store_files, too_many

log = logging.getLogger(__name__)

bp = Blueprint("portal", __name__, url_prefix="/portal")

APPLY_FORM = "apply.schema.json"
APPLY_UI = "apply.uischema.json"
NEW_CASE_KEY = "portal_new_case"
MB = 1024 * 1024
APPLY_REQUEST_LIMIT = 4 * UPLOAD_REQUEST_LIMIT


def start_forms() -> tuple[dict[str, Any], dict[str, Any]]:
    """The start form and its UI schema of the newest version (what a new case is checked against)."""
    bundle = runtime().bundle(latest_version(db_session()))
    return bundle.form(bundle.start_form or APPLY_FORM), bundle.forms.get(APPLY_UI, {})


def raise_upload_limits() -> None:
    """Forms with files may be larger than the app's 1 MB; set before anything (CSRF) reads the body."""
    if request.endpoint == "portal.apply_submit":
        request.max_content_length = APPLY_REQUEST_LIMIT
    elif request.endpoint in ("portal.upload", "documents.upload"):
        request.max_content_length = UPLOAD_REQUEST_LIMIT


@bp.record_once
def _first_before_request(state: BlueprintSetupState) -> None:
    """Run ``raise_upload_limits`` before every other request hook (CSRFProtect's reads the form)."""
    state.app.before_request_funcs.setdefault(None, []).insert(0, raise_upload_limits)


@bp.errorhandler(NotFoundError)
@bp.errorhandler(404)
def not_found(err: Exception) -> ResponseReturnValue:
    """The portal's own page (no staff links): a task or case that is not the visitor's, or gone."""
    db_session().rollback()
    page = render_template("portal/error.html", status=404, title=_("未找到"),
                           message=_("该事项已办结或不存在。"))
    return page, 404


@bp.errorhandler(RequestEntityTooLarge)
def too_large(err: RequestEntityTooLarge) -> ResponseReturnValue:
    """A request over its limit, refused before it was read: the portal's page in the visitor's language naming
    the limit (for the application form: all files together), with the way back to the form (JSON for the
    in-page upload)."""
    db_session().rollback()
    limit_mb = (request.max_content_length or UPLOAD_REQUEST_LIMIT) // MB
    file_mb = documents.MAX_BYTES // MB
    if request.endpoint == "portal.upload":
        return jsonify(error=_("文件超过 %(mb)s MB，请压缩后重新上传。", mb=file_mb)), 413
    message = _("本次提交的内容合计超过 %(limit)s MB（每个文件不超过 %(file)s MB），系统未能接收。",
                limit=limit_mb, file=file_mb)
    page = render_template("portal/error.html", status=413, title=_("提交的文件过大"), message=message,
                           detail=_("很抱歉，由于内容未能接收，已填写的信息没有保存。请压缩或减少文件后重新填写提交。"),
                           back_url=request.path, back_label=_("返回重新填写"))
    return page, 413


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("portal/index.html", case_number=access.signed_in_case())


# -- applying ----------------------------------------------------------------------------------------------------


@bp.get("/apply")
def apply_form() -> ResponseReturnValue:
    schema, ui = start_forms()
    access.applicant()  # fixed in the session now: a form sent twice at once comes from one applicant
    form = applyform.build_form(schema, ui, applyform.initial(), "", {}, applyform.new_submission_id())
    return render_template("portal/apply.html", form=form, categories=applyform.CATEGORY_TITLES,
                           materials=applyform.MATERIAL_TITLES)


@bp.post("/apply")
def apply_submit() -> ResponseReturnValue:
    submission_id = request.form.get("submission_id", "")
    if not services.REQUEST_ID.match(submission_id):
        abort(400)
    earlier = services.earlier_start(db_session(), submission_id)
    if earlier is not None:  # sent again (refresh, a second click): nothing is stored or counted again
        return already_applied(earlier)
    now = runtime().clock.now()
    wait = portal.retry_after(db_session(), portal.APPLY_LIMIT, access.client_address(), now)
    if wait is not None:
        return too_many(wait)
    schema, ui = start_forms()
    submission = applyform.read_submission(schema, ui, request.form)
    applicant = access.applicant()
    sent_before = {ref for refs in submission.materials.values() for ref in refs}
    upload_errors = store_files(submission.materials, applicant)  # committed: kept when the form is refused
    action = request.form.get("_action", "apply")
    if action.startswith("add_row:"):
        shown = request.form.get("equipment.rows", "0")
        return show_apply(schema, ui, submission, [], rows=(int(shown) if shown.isdigit() else 0) + 1)
    try:
        created = portal.apply(db_session(), runtime(), submission.application, submission.materials, applicant,
                               submission_id)
    except FormValidationError as err:
        db_session().rollback()
        errors = in_customer_words(schema, submission.application, err.errors)
        return show_apply(schema, ui, submission, errors + upload_errors, status=400)
    except services.StartRepeated as repeated:  # the same submission, sent at the same time, started it first
        db_session().rollback()
        stored_now = [ref for refs in submission.materials.values() for ref in refs if ref not in sent_before]
        portal.discard_uploads(db_session(), storage_root(), stored_now, applicant)
        db_session().commit()
        return already_applied(repeated)
    if upload_errors:  # the application is fine, but a file was refused: say so before anything is created
        db_session().rollback()
        return show_apply(schema, ui, submission, upload_errors, status=400)
    portal.count_hit(db_session(), portal.APPLY_LIMIT, access.client_address(), now)
    db_session().commit()
    session[NEW_CASE_KEY] = {"number": created.case_number, "code": created.access_code}
    access.sign_in(created.case_number)
    return redirect(url_for("portal.applied"))


def in_customer_words(schema: dict[str, Any], application: dict[str, Any], errors: list[tuple[str, str]]
                      ) -> list[tuple[str, str]]:
    """The errors with the start form's load-plausibility refusals (``runner.forms.load_problems``: a residential
    capacity above the low-voltage limit, equipment and declared capacity far apart) in the visitor's language; the
    runner words them in English for API clients."""
    problems = {(problem.path, problem.message): problem
                for problem in load_problems(schema.get(LOAD_PLAUSIBILITY), application)}
    return [(path, load_message(problems[path, message]) if (path, message) in problems else message)
            for path, message in errors]


def load_message(problem: LoadProblem) -> str:
    figures = {"declared": kw(problem.declared_kw), "equipment": kw(problem.equipment_kw), "limit": kw(problem.limit)}
    if problem.code == "residential_capacity":
        return _("居民用电为低压供电，申请容量不能超过 %(limit)s 千瓦。需要更大容量的，请选择非居民用电类别申请。",
                 **figures)
    if problem.code == "residential_equipment":
        return _("用电设备合计 %(equipment)s 千瓦，超过居民低压供电上限 %(limit)s 千瓦，请核对台数和单台功率。",
                 **figures)
    if problem.code == "equipment_above_declared":
        return _("用电设备合计 %(equipment)s 千瓦，超过申请容量 %(declared)s 千瓦的 %(limit)s 倍，"
                 "请核对台数和单台功率（单位是千瓦，不是瓦）。", **figures)
    return _("申请容量 %(declared)s 千瓦超过用电设备合计 %(equipment)s 千瓦的 %(limit)s 倍，"
             "请核对申请容量和设备清单。", **figures)


def kw(value: float | None) -> str:
    return "" if value is None else f"{value:.12g}"


def already_applied(earlier: services.StartRepeated) -> ResponseReturnValue:
    """The answer to a submission sent again: its case (the access code only if this session still holds it
    from the first answer: only its hash is stored); to another browser only that it was received."""
    if earlier.requested_by != access.applicant():
        page = render_template("portal/error.html", status=409, title=_("申请已提交"),
                               message=_("该申请已提交过，请勿重复提交。"))
        return page, 409
    shown = session.get(NEW_CASE_KEY)
    if not (isinstance(shown, dict) and shown.get("number") == earlier.case_number):
        session[NEW_CASE_KEY] = {"number": earlier.case_number, "code": None}
    access.sign_in(earlier.case_number)
    return redirect(url_for("portal.applied"))


def show_apply(schema: dict[str, Any], ui: dict[str, Any], submission: applyform.Submission,
               errors: list[tuple[str, str]], *, rows: int = 2, status: int = 200) -> ResponseReturnValue:
    uploads = {kind: [applyform.Upload(documents.reference_of(doc.id), doc.filename)
                      for doc in portal.owned_documents(db_session(), refs, access.applicant())]
               for kind, refs in submission.materials.items()}
    form = applyform.build_form(schema, ui, submission.application, submission.category, uploads,
                                submission.submission_id, errors, rows)
    if status == 400:
        form.form_errors.insert(0, _("提交未成功，请按提示修改后重新提交。"))
    page = render_template("portal/apply.html", form=form, categories=applyform.CATEGORY_TITLES,
                           materials=applyform.MATERIAL_TITLES)
    return page, status


@bp.get("/applied")
def applied() -> ResponseReturnValue:
    """The case number and the access code, shown once (the code is taken out of the session here)."""
    created = session.pop(NEW_CASE_KEY, None)
    response = render_template("portal/applied.html", created=created)
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/assess")
def assess() -> ResponseReturnValue:
    """The applied capacity, supply voltage and category of the form as typed so far, and the transformer rating
    the load needs (``transformer_suggested`` only for a high-voltage supply: the page shows no transformer to a
    low-voltage customer), as JSON. Any other failure
    of the capacity handler or the tables (a service down, a bug) is logged and answered 503 with a short message
    (the form works on without the estimate)."""
    schema, ui = start_forms()
    submission = applyform.read_submission(schema, ui, request.form)
    try:
        result = portal.assess(db_session(), runtime(), submission.application)
    except ValueError:
        return jsonify(ok=False, message=_("请填写申请容量或用电设备（台数、功率）后自动测算。"))
    except Exception:
        log.exception("portal capacity estimate failed")
        db_session().rollback()
        return jsonify(ok=False, message=_("暂时无法自动测算，您可以继续填写并提交申请，供电方案以现场勘查为准。")), 503
    # A low-voltage customer connects to the public network: no transformer of its own to suggest.
    transformer_suggested = result.supply_voltage_kv is not None and result.supply_voltage_kv >= 1
    return jsonify(ok=True, installed_kw=result.installed_kw, apparent_kva=result.apparent_kva,
                   transformer_kva=result.transformer_kva, transformer_suggested=transformer_suggested,
                   supply_voltage_kv=result.supply_voltage_kv,
                   supply_voltage=voltage_label(result.supply_voltage_kv), category=result.category,
                   category_label=label(CATEGORY_LABELS, result.category) if result.category else None)


def voltage_label(kv: float | None) -> str | None:
    if kv is None:
        return None
    if kv < 1:
        return _("%(volts)s 伏", volts=f"{kv * 1000:.0f}") + (_("（单相）") if kv < 0.3 else _("（三相）"))
    return _("%(kv)s 千伏", kv=f"{kv:g}")


# -- tracking ----------------------------------------------------------------------------------------------------


@bp.get("/track")
def track_form() -> ResponseReturnValue:
    return render_template("portal/track.html", case_number=request.args.get("case", ""), error=None)


@bp.post("/track")
def track_submit() -> ResponseReturnValue:
    now = runtime().clock.now()
    address = access.client_address()
    wait = portal.retry_after(db_session(), portal.CODE_LIMIT, address, now)
    if wait is not None:
        return too_many(wait)
    number = request.form.get("case_number", "").strip().upper()[:40]
    code = request.form.get("access_code", "")[:40]
    portal.count_hit(db_session(), portal.CODE_LIMIT, address, now)
    db_session().commit()
    if not number or not code or not portal.check_access_code(db_session(), number, code):
        page = render_template("portal/track.html", case_number=number,
                               error=_("案件编号或查询码不正确。"))
        return page, 400
    access.sign_in(number)
    return redirect(url_for("portal.progress"))


def signed_in() -> str:
    number = access.signed_in_case()
    if number is None:
        abort(redirect(url_for("portal.track_form")))
    return number


@bp.get("/case")
def progress() -> ResponseReturnValue:
    number = signed_in()
    view = portal.progress(db_session(), runtime(), number)
    return render_template("portal/progress.html", progress=view, waiting=waiting_steps(number),
                           customer_note=customer_note, paused=view.status == "suspended")


def waiting_steps(number: str) -> list[case_queries.WaitingStep]:
    """What the case waits at besides its open steps (缴费确认, 表计在线确认 …), the utility's internal
    supervision (``portal.INTERNAL_PROCESSES``) left out."""
    row = services.get_case(db_session(), number)
    internal = portal.internal_elements(runtime().bundle_for_case(db_session(), row))
    return [wait for wait in case_queries.waiting_steps(db_session(), runtime(), number)
            if wait.element_id not in internal]


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    access.sign_out()
    flash(_("已退出查询。"), "info")
    return redirect(url_for("portal.index"))


# -- the customer's tasks ----------------------------------------------------------------------------------------


@bp.get("/case/tasks/<task_id>")
def task_form(task_id: str) -> ResponseReturnValue:
    number = signed_in()
    tf = portal.customer_task_form(db_session(), runtime(), number, task_id)
    return show_task(tf, initial_data(tf.schema), uuid.uuid4().hex)


def show_task(tf: services.TaskForm, data: dict[str, Any], request_id: str, *,
              errors: list[tuple[str, str]] | None = None, message: str | None = None,
              min_rows: dict[str, int] | None = None, status: int = 200) -> ResponseReturnValue:
    """The task's form, below what the task asks the customer to read (``sheets``); a suspended case's task is
    shown as paused, without the submit button."""
    form = render_form(tf.schema, tf.ui_schema, data, errors, min_rows)
    if message:
        form.errors.insert(0, message)
    row = services.get_case(db_session(), tf.task.case_number)
    sheet = None
    if tf.task.element_id in sheets.SHEETS:
        sheet = sheets.sheet_for(db_session(), runtime().bundle_for_case(db_session(), row), tf.task.element_id,
                                 services.case_data(db_session(), runtime(), row.case_number))
    page = render_template("portal/task.html", tf=tf, task=tf.task, form=form, request_id=request_id, sheet=sheet,
                           paused=row.status == "suspended")
    return page, status


@bp.post("/case/tasks/<task_id>")
def task_submit(task_id: str) -> ResponseReturnValue:
    number = signed_in()
    request_id = request.form.get("request_id", "")
    if not services.REQUEST_ID.match(request_id):
        abort(400)
    try:
        tf = portal.customer_task_form(db_session(), runtime(), number, task_id)
    except NotFoundError:  # gone: completed by this very request before (a resubmission), else a conflict
        try:
            portal.complete_customer_task(db_session(), runtime(), number, task_id, {}, request_id)
        except (ConflictError, CaseError) as err:
            db_session().rollback()
            page = render_template("portal/error.html", status=409, title=_("无法提交"),
                                   message=customer_refusal(err, task_id, number),
                                   back_url=url_for("portal.progress"), back_label=_("查看办理进度"))
            return page, 409
        return task_done(repeated=True)
    data = parse_submission(tf.schema, tf.ui_schema, request.form)
    action = request.form.get("_action", "complete")
    if action.startswith("add_row:"):
        name = action.split(":", 1)[1]
        shown = request.form.get(f"{name}.rows", "0")
        return show_task(tf, data, request_id, min_rows={name: (int(shown) if shown.isdigit() else 0) + 1})
    try:
        portal.complete_customer_task(db_session(), runtime(), number, task_id, data, request_id)
    except FormValidationError as err:
        db_session().rollback()
        return show_task(tf, data, request_id, errors=err.errors, status=400,
                         message=_("提交未成功，请按提示修改后重新提交。"))
    except (ConflictError, CaseError) as err:
        db_session().rollback()
        return show_task(tf, data, request_id, status=409,
                         message=_("无法提交：%(reason)s", reason=customer_refusal(err, task_id, number)))
    return task_done(repeated=False, step=tf.task.name)


def customer_refusal(err: Exception, task_id: str, number: str) -> str:
    """Why the customer's answer was not taken, in the customer's words (no staff names, no runner English)."""
    status = services.get_case(db_session(), number).status
    if status == "suspended":
        return _("案件已暂停办理，恢复办理后才能提交，请稍后再试。")
    if status == "cancelled":
        return _("案件已撤销，该事项无需再办理。")
    if isinstance(err, services.TaskGone) or refusals.task_withdrawn(db_session(), task_id) is not None:
        return _("该事项已办理或已撤回，无需再提交。")
    if status == "completed":
        return _("案件已办结，该事项无需再办理。")
    return _("该事项刚被更新，请返回办理进度页面刷新后重试。")


def task_done(repeated: bool, step: str | None = None) -> ResponseReturnValue:
    db_session().commit()
    flash(_("已提交，感谢您的配合。") if repeated else _("已提交：%(step)s", step=step or ""), "success")
    return redirect(url_for("portal.progress"))


@bp.post("/upload")
def upload() -> ResponseReturnValue:
    """One file from a portal form (JSON answer): the signed-in customer's, for their case; else the applicant's."""
    return receive_portal_upload()
