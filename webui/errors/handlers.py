"""One error page for every status; the runner's exceptions become statuses: ``PermissionDenied`` → 403,
``NotFoundError`` → 404, ``ConflictError`` → 409, ``CaseError`` → 422. CSRF failures are 400."""

from __future__ import annotations

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from runner.case import CaseError
from runner.services import PermissionDenied
from runner.store import ConflictError, NotFoundError

from ..extensions import db
from ..i18n import _


def page(status: int, title: str, message: str | None = None) -> ResponseReturnValue:
    db.session.rollback()
    return render_template("errors/error.html", status=status, title=title, message=message), status


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
        return page(409, _("操作冲突"), str(err))

    @app.errorhandler(CaseError)
    def case_error(err: CaseError) -> ResponseReturnValue:
        return page(422, _("案件当前无法办理"), str(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> ResponseReturnValue:
        titles = {400: _("请求有误"), 403: _("无权访问"), 404: _("页面不存在"), 405: _("请求方式不允许"),
                  429: _("请求过于频繁"), 500: _("服务器内部错误")}
        status = err.code or 500
        return page(status, titles.get(status, err.name), _("您没有访问该页面的权限。") if status == 403 else None)
