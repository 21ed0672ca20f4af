"""Attachments: ``POST /documents/upload`` (a file for a staff task form; JSON answer with the reference the form
keeps) and ``GET /documents/<id>`` (the file, for those who may read it). The portal's own upload route uses the
helpers here too. The work is in ``runner.documents``.

Who may read a document: its uploader; staff of the case's lanes and supervisors; the customer signed in to the
case in the portal. Anyone else gets 404, as for an unknown id. Identity and business-licence scans are personal
data (``runner.documents.PERSONAL_FIELDS``): of staff, only the roles that may see personal data in full
(``runner.pii.UNMASK_ROLES``) open them — the others of the case's lanes get 403 saying so — and each such view is
written to ``data_access_log`` (channel ``web``), as 显示完整信息 is.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from runner import documents, services
from runner.models import Document
from runner.portal import customer_user
from runner.store import NotFoundError

from .extensions import runner_env, runtime, session
from .i18n import _
from .security import current_account, may_work_on, staff_required

bp = Blueprint("documents", __name__, url_prefix="/documents")

UPLOAD_REQUEST_LIMIT = documents.MAX_BYTES + 1024 * 1024
"""A request carrying one file: the file's limit and room for the other fields. Larger requests are refused
(413) before they are read; files up to this size get the store's own 413 message."""


def storage_root() -> Path:
    """Uploads live under the instance folder (``<instance>/uploads/…``)."""
    return runner_env().environment.instance


def describe(err: documents.UploadError) -> str:
    if err.reason == "too_large":
        return _("文件超过 %(mb)s MB，请压缩后重新上传。", mb=documents.MAX_BYTES // (1024 * 1024))
    if err.reason == "empty":
        return _("文件为空。")
    return _("只能上传 PDF、JPEG、PNG、HEIC 或 WebP 格式的文件。")


def store_file(file: FileStorage, uploaded_by: str, case_id: int | None = None, element_id: str | None = None,
               field: str | None = None) -> Document:
    """Keep one uploaded file (``UploadError`` when refused)."""
    upload = documents.Upload(file.stream, file.filename or "file", uploaded_by, case_id, element_id, field)
    return documents.store_document(session(), storage_root(), upload, runtime().clock.now())


def stored(document: Document) -> ResponseReturnValue:
    """The JSON answer to an upload: the reference to keep in the form, and what to show."""
    session().commit()
    return jsonify(reference=documents.reference_of(document.id), filename=document.filename,
                   size=document.size, content_type=document.content_type,
                   url=url_for("documents.download", document_id=document.id)), 201


def refused(err: documents.UploadError) -> ResponseReturnValue:
    session().rollback()
    return jsonify(error=describe(err)), err.status


def the_file() -> FileStorage:
    file = request.files.get("file")
    if file is None or not file.filename:
        abort(400)
    return file


@bp.post("/upload")
@staff_required()
def upload() -> ResponseReturnValue:
    """A file for a field of an open task the user may work on (``task_id`` and ``field`` form fields)."""
    account = current_account()
    assert account is not None
    try:
        task = services.get_task(session(), request.form.get("task_id", ""))
    except NotFoundError:
        abort(404)
    if not may_work_on(account, task):
        abort(403)
    file = the_file()
    try:
        document = store_file(file, account.username, task.case_id, task.element_id,
                              request.form.get("field", "")[:200] or None)
    except documents.UploadError as err:
        return refused(err)
    return stored(document)


def viewer() -> documents.Viewer:
    """Who asks: a member of staff, else the portal visitor (signed in to a case, or an applicant)."""
    from .portal import access

    account = current_account()
    if account is not None:
        return documents.Viewer(account.username, account.groups)
    number = access.signed_in_case()
    if number is not None:
        return documents.Viewer(customer_user(number),
                                customer_case_id=documents.case_id_of(session(), number))
    return documents.Viewer(access.applicant())


@bp.get("/<document_id>")
def download(document_id: str) -> ResponseReturnValue:
    try:
        document, path = documents.read_document(session(), storage_root(), document_id, viewer(), channel="web",
                                                 now=runtime().clock.now())
    except documents.DocumentFileMissing:  # the row is here, the file is not (another host's folder?): logged
        abort(404, description=_("文件不在本机存储中，请联系系统管理员。"))
    except documents.PersonalDocumentDenied:
        abort(403, description=_("身份证明、营业执照等个人信息资料仅限客户经理、回访人员、归档人员和营销主管查看。"))
    except documents.DocumentAccessDenied:
        abort(404)
    session().commit()  # the access-log row of a personal document
    inline = request.args.get("inline") == "1" and document.content_type.startswith("image/")
    response = send_file(path, mimetype=document.content_type, as_attachment=not inline,
                         download_name=document.filename, etag=document.sha256, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
