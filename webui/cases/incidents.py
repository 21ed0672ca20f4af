"""``/incidents``: for supervisors, the open incidents (service tasks that failed after their retries: the step by
name, when it first and last failed, when it is retried automatically next) and retrying one
(``runner.services.retry_incident``: the task runs again at once; failing again starts its retries over; not while
the case is suspended); refusals in words (already resolved, the case suspended); and
the notifications the worker gave up on (outbox status ``failed``) with 重新发送, one or all
(``runner.services.send_message_again``: pending again under the same idempotency key, who did it is logged)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from runner import case_queries, services
from runner.case import CaseError
from runner.models import ROW_ID_MAX, Incident
from runner.models import Case as CaseRow
from runner.store import ConflictError, NotFoundError

from ..auth.routes import safe_next
from ..extensions import runtime, session
from ..i18n import _
from ..labels import CASE_STATUS_LABELS, label
from ..security import require_account, staff_required

bp = Blueprint("incidents", __name__, url_prefix="/incidents")

MAX_MESSAGE_ID = 2**63 - 1  # the outbox id column (BIGINT); larger ids cannot exist


@bp.get("/")
@staff_required("supervisor")
def index() -> ResponseReturnValue:
    return listing()


def listing(status: int = 200) -> ResponseReturnValue:
    """The page: open incidents, then failed notifications (with ``status`` when a refusal is shown on it)."""
    return render_template("cases/incidents.html", rows=case_queries.failed_tasks(session(), incidents_only=True),
                           failed_messages=services.failed_messages(session())), status


def back_or_listing(status: int) -> ResponseReturnValue:
    """A refusal: back to the page the button was on (the case page gives ``next``: a stale button there must not
    leave the user on this list at a POST URL), else this page with ``status``."""
    back = safe_next(request.form.get("next"))
    return redirect(back) if back else listing(status)


@bp.post("/<int:incident_id>/retry")
@staff_required("supervisor")
def retry(incident_id: int) -> ResponseReturnValue:
    try:
        if incident_id > ROW_ID_MAX:
            raise NotFoundError(f"no open incident {incident_id}")
        outcome = services.retry_incident(session(), runtime(), incident_id, require_account().username)
    except NotFoundError:
        session().rollback()
        flash(_("重试未成功：异常 #%(id)s 已解决或不存在（可能已由他人重试，或已随案件撤销关闭），未做任何更改。",
                id=incident_id), "error")
    except CaseError:
        session().rollback()
        flash(refusal_of_case(incident_id), "error")
    except ConflictError:
        session().rollback()
        flash(_("重试未成功：案件刚被他人修改，请刷新页面后重试。"), "error")
    else:
        session().commit()
        def name(element_id: str) -> str:
            return case_queries.step_name(session(), outcome.case_number, element_id)
        if outcome.ok:
            flash(_("已重试异常 #%(id)s：“%(step)s”已执行成功。", id=incident_id, step=name(outcome.element_id)),
                  "success")
        for failure in outcome.failures:
            if failure.incident_id == incident_id and failure.retry_at is None:
                flash(_("已重试异常 #%(id)s，但“%(step)s”再次失败：%(reason)s（自动重试已用完，异常仍未解决）",
                        id=incident_id, step=name(failure.element_id), reason=failure.message), "error")
            elif failure.incident_id is not None:
                flash(_("已重试异常 #%(id)s，但“%(step)s”再次失败：%(reason)s（新的异常 #%(new)s）",
                        id=incident_id, step=name(failure.element_id), reason=failure.message,
                        new=failure.incident_id), "error")
            else:
                flash(_("已重试异常 #%(id)s，但“%(step)s”再次失败：%(reason)s"
                        "（系统将于 %(at)s 自动重试；执行成功前异常保持未解决）",
                        id=incident_id, step=name(failure.element_id), reason=failure.message,
                        at=shown_time(failure.retry_at)), "error")
    return redirect(safe_next(request.form.get("next")) or url_for("incidents.index"))


def shown_time(at: datetime | None) -> str:
    """A time as the pages show it (Shanghai time)."""
    return str(current_app.jinja_env.filters["shanghai"](at))


def refusal_of_case(incident_id: int) -> str:
    """Why an incident's case refused a retry, in words: suspended (resume it first), or not running."""
    status = session().scalar(select(CaseRow.status).join(Incident, Incident.case_id == CaseRow.id)
                              .where(Incident.id == incident_id))
    if status == "suspended":
        return _("重试未成功：案件已挂起，请先恢复办理再重试异常 #%(id)s。", id=incident_id)
    if status == "running":  # its task is not failed any more (run by someone else meanwhile)
        return _("重试未成功：异常 #%(id)s 的环节已不在失败状态（可能已由他人处理），请刷新页面。", id=incident_id)
    return _("重试未成功：案件当前状态为“%(status)s”，无法重试异常 #%(id)s。",
             status=label(CASE_STATUS_LABELS, status), id=incident_id)


@bp.post("/messages/<int:message_id>/send-again")
@staff_required("supervisor")
def send_message_again(message_id: int) -> ResponseReturnValue:
    """One failed notification: pending again. An unknown id is a 404 and a message that is not failed any more
    (someone sent it again meanwhile) a 409, each shown on this page with the current lists."""
    try:
        if message_id > MAX_MESSAGE_ID:
            raise NotFoundError(f"no outbox message {message_id}")
        services.send_message_again(session(), runtime(), message_id, require_account().username)
    except NotFoundError:
        session().rollback()
        flash(_("没有编号为 #%(id)s 的通知。", id=message_id), "error")
        return back_or_listing(404)
    except ConflictError:
        session().rollback()
        flash(_("通知 #%(id)s 已不是发送失败状态（可能已由他人重新发送），未做任何更改。", id=message_id), "error")
        return back_or_listing(409)
    session().commit()
    flash(_("已将通知 #%(id)s 重新排入发送队列。", id=message_id), "success")
    return redirect(safe_next(request.form.get("next")) or url_for("incidents.index"))


@bp.post("/messages/send-again")
@staff_required("supervisor")
def send_all_messages_again() -> ResponseReturnValue:
    count = services.send_failed_messages_again(session(), runtime(), require_account().username)
    session().commit()
    if count:
        flash(_("已将 %(count)s 条发送失败的通知重新排入发送队列。", count=count), "success")
    else:
        flash(_("没有发送失败的通知。"), "info")
    return redirect(url_for("incidents.index"))
