"""One error page for every status; the runner's exceptions become statuses: ``PermissionDenied`` → 403,
``NotFoundError`` → 404, ``ConflictError`` → 409 (a task completed or claimed meanwhile in the reader's words),
``CaseError`` → 422. CSRF failures are 400. A database that stays busy past its lock timeout (SQLite's write lock, a
PostgreSQL lock timeout) is a 503 with ``Retry-After``: nothing was changed and the same request may simply be sent
again."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from runner.case import CaseError
from runner.services import PermissionDenied
from runner.store import ConflictError, NotFoundError

from ..extensions import db
from ..i18n import _
from ..refusals import task_conflict

BUSY_RETRY_SECONDS = 5


def page(status: int, title: str, message: str | None = None,
         headers: dict[str, str] | None = None) -> ResponseReturnValue:
    db.session.rollback()
    return render_template("errors/error.html", status=status, title=title, message=message), status, headers or {}


def database_busy(err: OperationalError) -> bool:
    """SQLite's "database is locked" after its busy timeout, or PostgreSQL's lock_not_available (55P03)."""
    return "database is locked" in str(err.orig) or getattr(err.orig, "sqlstate", None) == "55P03"


def retry_after(err: HTTPException) -> dict[str, str]:
    seconds = getattr(err, "retry_after", None)
    return {"Retry-After": str(seconds)} if seconds else {}


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_failed(err: CSRFError) -> ResponseReturnValue:
        return page(400, _("请求已失效"), _("页面已过期或来源无法验证，请返回刷新后重试。"))

    @app.errorhandler(PermissionDenied)
    def permission_denied(err: PermissionDenied) -> ResponseReturnValue:
        return page(403, _("无权操作"), str(err))

    @app.errorhandler(NotFoundError)
    def not_found(err: NotFoundError) -> ResponseReturnValue:
        return page(404, _("未找到"), _("该任务已办结或不存在，或案件编号有误。"))

    @app.errorhandler(ConflictError)
    def conflict(err: ConflictError) -> ResponseReturnValue:
        return page(409, _("操作冲突"), task_conflict(err) or str(err))

    @app.errorhandler(CaseError)
    def case_error(err: CaseError) -> ResponseReturnValue:
        return page(422, _("案件当前无法办理"), str(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> ResponseReturnValue:
        titles = {400: _("请求有误"), 403: _("无权访问"), 404: _("页面不存在"), 405: _("请求方式不允许"),
                  429: _("请求过于频繁"), 500: _("服务器内部错误"), 503: _("系统繁忙")}
        status = err.code or 500
        messages = {403: _("您没有访问该页面的权限。"), 503: _("系统正忙，本次操作未执行，请稍后重试。")}
        message = messages.get(status)
        if status == 503:
            if not getattr(err, "retry_after", None):  # not busy: unavailable, and why
                message = err.description
        elif err.description != type(err).description:  # a page's own words (``abort(404, description=…)``)
            message = err.description
        return page(status, titles.get(status, err.name), message, retry_after(err))

    @app.errorhandler(OperationalError)
    def operational_error(err: OperationalError) -> ResponseReturnValue:
        if not database_busy(err):
            raise err  # a real failure: the 500 page, logged
        db.session.rollback()
        current_app.logger.warning("database busy, answered 503: %s", err.orig)
        busy = ServiceUnavailable("the database is busy; nothing was changed, send the request again shortly")
        busy.retry_after = BUSY_RETRY_SECONDS
        return current_app.handle_http_exception(busy)
