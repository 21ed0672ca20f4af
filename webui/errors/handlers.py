"""One error page for every status; the runner's exceptions become statuses: ``PermissionDenied`` → 403,
``NotFoundError`` → 404, ``ConflictError`` → 409 (a task completed or claimed meanwhile in the reader's words),
``CaseError`` → 422. CSRF failures are 400. A database that stays busy past its lock timeout (SQLite's write lock, a
PostgreSQL lock timeout) is a 503 with ``Retry-After``: nothing was changed and the same request may simply be sent
again. A database that cannot serve at all — gone (a restart, a failover), read-only, full — is a 503 naming the
problem (``webui.schema_check``: logged once, served again when it is back); any other database error is a 500.

Pages of a 5xx never touch the database (no signed-in user in the header): the database may be why they are
shown, and a page failing in turn would leave the visitor with the WSGI server's bare English 500."""

from __future__ import annotations

from flask import Flask, current_app, g, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from runner.case import CaseError
from runner.services import PermissionDenied
from runner.store import ConflictError, NotFoundError

from ..i18n import _
from ..refusals import task_conflict
from ..schema_check import DatabaseNotServed, availability, request_problem, rollback_quietly

BUSY_RETRY_SECONDS = 5


def page(status: int, title: str, message: str | None = None, headers: dict[str, str] | None = None,
         detail: str | None = None, back: tuple[str, str] | None = None) -> ResponseReturnValue:
    """The error page; ``detail`` is the technical cause, as an operator reads it in the log; ``back`` the link
    out (address, label) where the visitor came from a list other than their home page's."""
    rollback_quietly()
    if status >= 500:
        g.without_database = True  # webui.security.load_user: nobody signed in on this page
    return render_template("errors/error.html", status=status, title=title, message=message,
                           detail=detail, back=back), status, headers or {}


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
        titles = {400: _("请求有误"), 401: _("未登录"), 403: _("无权访问"), 404: _("页面不存在"),
                  405: _("请求方式不允许"), 413: _("提交的内容过大"), 414: _("网址过长"), 415: _("不支持的内容类型"),
                  429: _("请求过于频繁"), 431: _("请求头过大"), 500: _("服务器内部错误"), 503: _("系统繁忙")}
        status = err.code or 500
        if isinstance(err, DatabaseNotServed):
            unavailable = _("数据库当前无法使用，本次操作未执行。请稍后重试；如持续出现，请联系系统管理员。")
            return page(503, _("暂时无法服务"), unavailable, detail=err.description)
        limit_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) / (1024 * 1024)
        messages = {403: _("您没有访问该页面的权限。"), 503: _("系统正忙，本次操作未执行，请稍后重试。"),
                    413: _("提交的内容超过 %(mb)s MB 上限，本次操作未执行。请减少填写内容，附件请逐个上传。",
                           mb=f"{limit_mb:g}")}
        message = messages.get(status)
        if status == 503:
            if not getattr(err, "retry_after", None):  # not busy: unavailable, and why
                message = err.description
        elif err.description != type(err).description:  # a page's own words (``abort(404, description=…)``)
            message = err.description
        # a status without a title of ours: a title in the reader's language all the same (werkzeug's is English)
        return page(status, titles.get(status, _("请求未能完成")), message, retry_after(err))

    @app.errorhandler(DBAPIError)
    def database_error(err: DBAPIError) -> ResponseReturnValue:
        if not (isinstance(err, OperationalError) and database_busy(err)):
            problem = request_problem(err)
            if problem is None:
                raise err  # a real failure: the 500 page, logged
            rollback_quietly()
            return current_app.handle_http_exception(availability().refuse(problem))
        rollback_quietly()
        current_app.logger.warning("database busy, answered 503: %s", err.orig)
        busy = ServiceUnavailable("the database is busy; nothing was changed, send the request again shortly")
        busy.retry_after = BUSY_RETRY_SECONDS
        return current_app.handle_http_exception(busy)
