"""Files sent through the portal: with the application form (one input per kind of material, camera on phones)
or one at a time to ``/portal/upload`` from a customer task's file field. Anonymous uploads are rate-limited per
client address; a refused file is reported at its field and nothing of it is kept."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask.typing import ResponseReturnValue

from runner import documents, portal
from runner.case import CUSTOMER_ROLE
from runner.models import OpenTask

from ..extensions import runtime
from ..extensions import session as db_session
from ..i18n import _
from ..uploads import UPLOAD_REQUEST_LIMIT, describe, refused, store_file, stored, the_file
from . import access

__all__ = ["UPLOAD_REQUEST_LIMIT", "receive_portal_upload", "store_files", "too_many"]


def too_many(wait: int) -> ResponseReturnValue:
    """429 with ``Retry-After`` and a message in the visitor's language."""
    minutes = max(1, (wait + 59) // 60)
    page = render_template("portal/error.html", status=429, title=_("请求过于频繁"),
                           message=_("操作过于频繁，请 %(minutes)s 分钟后再试。", minutes=minutes))
    return page, 429, {"Retry-After": str(wait)}


def store_files(materials: dict[str, list[str]], applicant: str) -> list[tuple[str, str]]:
    """Keep the files sent with the application (inputs ``file.<kind>``) and add their references to
    ``materials``; committed at once, so a refused application keeps them. Returns the refusals as
    (``materials.<kind>``, message)."""
    errors: list[tuple[str, str]] = []
    now = runtime().clock.now()
    for kind in portal.MATERIAL_KINDS:
        for file in request.files.getlist(f"file.{kind}"):
            if not file.filename:
                continue
            if portal.retry_after(db_session(), portal.UPLOAD_LIMIT, access.client_address(), now) is not None:
                errors.append((f"materials.{kind}", _("上传过于频繁，请稍后再试。")))
                continue
            try:
                document = store_file(file, applicant, field=kind)
            except documents.UploadError as err:
                errors.append((f"materials.{kind}", f"{file.filename}：{describe(err)}"))
                continue
            portal.count_hit(db_session(), portal.UPLOAD_LIMIT, access.client_address(), now)
            materials.setdefault(kind, []).append(documents.reference_of(document.id))
    db_session().commit()
    return errors


def receive_portal_upload() -> ResponseReturnValue:
    """One file (JSON answer): for the signed-in customer's case, else held for this browser's application."""
    now = runtime().clock.now()
    wait = portal.retry_after(db_session(), portal.UPLOAD_LIMIT, access.client_address(), now)
    if wait is not None:
        return jsonify(error=_("上传过于频繁，请稍后再试。")), 429, {"Retry-After": str(wait)}
    file = the_file()
    number = access.signed_in_case()
    case_id = documents.case_id_of(db_session(), number) if number else None
    uploaded_by = portal.customer_user(number) if number else access.applicant()
    step = (task_step(case_id, request.form.get("task_id", "")[:100]) if case_id is not None else None) \
        or request.form.get("element_id", "")[:100] or None
    try:
        document = store_file(file, uploaded_by, case_id, step, request.form.get("field", "")[:200] or None)
    except documents.UploadError as err:
        return refused(err)
    portal.count_hit(db_session(), portal.UPLOAD_LIMIT, access.client_address(), now)
    return stored(document)


def task_step(case_id: int, task_id: str) -> str | None:
    """The step (BPMN element id) of the signed-in case's open customer task ``task_id`` — what the portal's task
    forms send with each file (``static/uploads.js``) — so that the case page names the step and the form field
    the file came with (补充申请资料 › 资料文件), not the application; None for any other id."""
    if not task_id:
        return None
    task = db_session().get(OpenTask, task_id)
    if task is None or task.case_id != case_id or task.lane != CUSTOMER_ROLE:
        return None
    return task.element_id
