"""``/incidents``: the open incidents (service tasks that failed after their retries) for supervisors, and retrying
one (``runner.services.retry_incident``: the task runs again at once; failing again starts its retries over)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner import services
from runner.case import CaseError
from runner.store import ConflictError, NotFoundError

from ..auth.routes import safe_next
from ..extensions import runtime, session
from ..i18n import _
from ..security import staff_required

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


@bp.get("/")
@staff_required("supervisor")
def index() -> ResponseReturnValue:
    rows = services.incidents_with_cases(session())
    return render_template("cases/incidents.html", rows=rows)


@bp.post("/<int:incident_id>/retry")
@staff_required("supervisor")
def retry(incident_id: int) -> ResponseReturnValue:
    try:
        outcome = services.retry_incident(session(), runtime(), incident_id)
    except (NotFoundError, CaseError, ConflictError) as err:
        session().rollback()
        flash(_("重试未成功：%(reason)s", reason=str(err)), "error")
    else:
        session().commit()
        if outcome.ok:
            flash(_("已重试异常 #%(id)s：%(step)s 已执行成功。", id=incident_id, step=outcome.element_id), "success")
        for failure in outcome.failures:
            if failure.incident_id is not None:
                flash(_("已重试异常 #%(id)s，但 %(step)s 再次失败：%(reason)s（新的异常 #%(new)s）",
                        id=incident_id, step=failure.element_id, reason=failure.message, new=failure.incident_id),
                      "error")
            else:
                flash(_("已重试异常 #%(id)s，但 %(step)s 再次失败：%(reason)s（系统将自动重试）",
                        id=incident_id, step=failure.element_id, reason=failure.message), "error")
    return redirect(safe_next(request.form.get("next")) or url_for("incidents.index"))
