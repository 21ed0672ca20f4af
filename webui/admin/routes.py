"""``/admin/users``: list and search users, create one, change groups, deactivate or reactivate, reset a password
(group ``admin``); ``/admin/data-access``: who saw full personal data of which case (supervisors and admins).

Each change is a POST with a CSRF token, one service call (``runner.user_admin``, which writes the admin log line)
and one commit; refused input comes back as a flashed message or the form again with 400.
"""

from __future__ import annotations

import flask_login
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner import accounts, api_tokens, login_sessions, pii, user_admin
from runner.accounts import GROUPS, AccountError

from ..extensions import runtime, session
from ..i18n import _
from ..security import StaffUser, current_session_secret, require_account, staff_required
from .access_fields import access_rows

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 50
MAX_PAGE = 100_000
"""The highest page number the lists answer (far beyond any real list, as on ``/tasks/``); a higher one is refused
with 400: its offset would not fit the database's integers (a 500)."""


def page_number() -> int:
    """The ``page`` asked for; 1 for anything but ASCII digits (``²`` is a digit to ``str.isdigit``, not to ``int``).
    Over ``MAX_PAGE`` is a 400, also when the number has too many digits for ``int`` to read."""
    text = request.args.get("page", "1")
    if not (text.isascii() and text.isdigit()):
        return 1
    digits = text.lstrip("0")
    if len(digits) > len(str(MAX_PAGE)) or int(digits or "0") > MAX_PAGE:
        abort(400)
    return max(int(digits or "0"), 1)


def reason(err: AccountError) -> str:
    """Why an account change was refused, in the user's language (the runner's English for an unknown code)."""
    params = err.params
    texts = {
        "username_length": lambda: _("用户名须为 1 至 %(max)s 个字符", max=params.get("max", "")),
        "username_characters": lambda: _("用户名不能包含空格、控制字符或以下字符：%(chars)s",
                                         chars=params.get("chars", "")),
        "user_exists": lambda: _("用户名 %(user)s 已被使用", user=params.get("user", "")),
        "password_short": lambda: _("密码至少需要 %(min)s 个字符", min=params.get("min", "")),
        "no_user": lambda: _("没有用户 %(user)s", user=params.get("user", "")),
        "unknown_group": lambda: _("没有岗位 %(groups)s", groups=params.get("groups", "")),
        "self_deactivate": lambda: _("不能停用自己的账号，请由其他管理员操作"),
        "self_admin": lambda: _("不能将自己移出系统管理员岗位，请由其他管理员操作"),
    }
    text = texts.get(err.code)
    return text() if text is not None else str(err)


def chosen_groups() -> tuple[str, ...]:
    """The checked group boxes; unknown names are refused by the service."""
    return tuple(dict.fromkeys(request.form.getlist("groups")))


@bp.get("/users")
@staff_required("admin")
def users() -> ResponseReturnValue:
    q = request.args.get("q", "").strip()[:80]
    found = user_admin.list_users(session(), q, page_number(), PER_PAGE)
    pages = max((found.total + PER_PAGE - 1) // PER_PAGE, 1)
    return render_template("admin/users.html", found=found, q=q, pages=pages)


@bp.route("/users/new", methods=["GET", "POST"])
@staff_required("admin")
def new_user() -> ResponseReturnValue:
    admin = require_account()
    form = {"username": "", "display_name": "", "groups": ()}
    error = None
    if request.method == "POST":
        form = {"username": request.form.get("username", "").strip(),
                "display_name": request.form.get("display_name", "").strip()[:120], "groups": chosen_groups()}
        try:
            created = user_admin.create_user(session(), admin.username, str(form["username"]),
                                             str(form["display_name"]), request.form.get("password", ""),
                                             chosen_groups(), runtime().clock.now())
        except AccountError as err:
            session().rollback()
            error = _("无法创建用户：%(reason)s", reason=reason(err))
        else:
            session().commit()
            flash(_("已创建用户 %(user)s", user=created.username), "success")
            return redirect(url_for("admin.user", username=created.username))
    page = render_template("admin/new_user.html", form=form, groups=GROUPS, error=error)
    return page, 400 if error else 200


@bp.get("/users/<path:username>")
@staff_required("admin")
def user(username: str) -> ResponseReturnValue:
    found = user_admin.get_user(session(), username)
    now = runtime().clock.now()
    lifetime = current_app.permanent_session_lifetime
    sessions = [(info, info.state(now, lifetime)) for info in login_sessions.sessions_of(session(), found.id)]
    tokens = [(info, info.state(now)) for info in api_tokens.list_tokens(session(), found.username)]
    return render_template("admin/user.html", user=found, groups=GROUPS, sessions=sessions, tokens=tokens,
                           session_states=session_states(), token_states=token_states(),
                           scopes=token_scopes())


def session_states() -> dict[str, str]:
    return {"active": _("在线"), "ended": _("已结束"), "expired": _("已过期"), "logout": _("已退出登录"),
            "admin": _("管理员强制下线"), "password": _("密码已重置"), "deactivated": _("账号已停用")}


def token_states() -> dict[str, str]:
    return {"active": _("有效"), "revoked": _("已吊销"), "expired": _("已过期")}


def token_scopes() -> dict[str, str]:
    return {api_tokens.READ: _("只读"), api_tokens.READ_WRITE: _("读写")}


@bp.post("/users/<path:username>/sessions/end")
@staff_required("admin")
def end_sessions(username: str) -> ResponseReturnValue:
    """强制下线: every session of the user ends now (an administrator ending their own keeps the present one)."""
    admin = require_account()
    own = accounts.normalize_username(username) == admin.username
    ended = user_admin.end_sessions(session(), admin.username, username, runtime().clock.now(),
                                    keep_session=current_session_secret() if own else None)
    session().commit()
    flash(_("已结束 %(user)s 的 %(n)s 个登录会话", user=username, n=ended), "success")
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<path:username>/groups")
@staff_required("admin")
def set_groups(username: str) -> ResponseReturnValue:
    admin = require_account()
    try:
        released = user_admin.set_groups(session(), admin.username, username, chosen_groups(), runtime().clock.now())
    except AccountError as err:
        session().rollback()
        flash(_("无法修改岗位：%(reason)s", reason=reason(err)), "error")
        return redirect(url_for("admin.user", username=username))
    session().commit()
    flash(_("已更新 %(user)s 的岗位", user=username), "success")
    if released:
        flash(_("已将其 %(n)s 项任务退回岗位待领取", n=len(released)), "info")
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<path:username>/active")
@staff_required("admin")
def set_active(username: str) -> ResponseReturnValue:
    admin = require_account()
    active = request.form.get("active") == "1"
    try:
        released = user_admin.set_active(session(), admin.username, username, active, runtime().clock.now())
    except AccountError as err:
        session().rollback()
        flash(_("操作未成功：%(reason)s", reason=reason(err)), "error")
        return redirect(url_for("admin.user", username=username))
    session().commit()
    flash(_("已启用 %(user)s", user=username) if active else _("已停用 %(user)s", user=username), "success")
    if released:
        flash(_("已将其 %(n)s 项任务退回岗位待领取", n=len(released)), "info")
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<path:username>/password")
@staff_required("admin")
def reset_password(username: str) -> ResponseReturnValue:
    admin = require_account()
    own = accounts.normalize_username(username) == admin.username
    secret = current_session_secret()
    try:
        user_admin.reset_password(session(), admin.username, username, request.form.get("password", ""),
                                  runtime().clock.now(), keep_session=secret if own else None)
    except AccountError as err:
        session().rollback()
        flash(_("无法重置密码：%(reason)s", reason=reason(err)), "error")
        return redirect(url_for("admin.user", username=username))
    session().commit()
    renewed = accounts.get_account(session(), admin.id)
    if renewed is not None and renewed.session_key != admin.session_key and secret:  # their own: stay signed in
        flask_login.login_user(StaffUser(renewed, secret))                           # here only
    flash(_("已重置 %(user)s 的密码，其已登录的会话均已失效", user=username), "success")
    return redirect(url_for("admin.user", username=username))


@bp.get("/data-access")
@staff_required(*pii.LOG_READERS)
def data_access() -> ResponseReturnValue:
    case_number = request.args.get("case", "").strip()[:40]
    who = request.args.get("user", "").strip()[:80]
    page = page_number()
    rows, total = pii.access_log(session(), case_number=case_number or None,  # user names are stored casefolded
                                 user=accounts.normalize_username(who) or None, page=page, page_size=PER_PAGE)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    channels = {"web": _("网页"), "api": _("接口")}
    return render_template("admin/data_access.html", rows=access_rows(rows), total=total, page=page, pages=pages,
                           case_number=case_number, who=who, channels=channels)
