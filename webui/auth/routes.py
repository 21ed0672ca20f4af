"""Login with throttling, logout (ending the session on the server: ``runner.login_sessions``), and the language
switch.

Throttling: after ``LOGIN_MAX_FAILURES`` (5) failed logins for one user name from one client address within
``LOGIN_FAILURE_WINDOW_SECONDS`` (10 minutes), further attempts get 429 until the oldest failure leaves the window.
Failures are rows of ``login_failures`` in the database, so every server process (and a restart) sees them.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import flask_login
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from runner import accounts, login_sessions

from ..extensions import runtime
from ..extensions import session as db_session
from ..i18n import _
from ..security import StaffUser, current_account, current_session_secret, home_endpoint, touch_login_session

bp = Blueprint("auth", __name__, url_prefix="/auth")
bp.before_app_request(touch_login_session)


def safe_next(target: str | None) -> str | None:
    """A local path to go back to after login (never another site)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    signed_in = current_account()
    if signed_in is not None:
        return redirect(url_for(home_endpoint(signed_in)))
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/login.html", next_url=next_url, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    window = timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    now = runtime().clock.now()
    database = db_session()
    if accounts.recent_failures(database, username, address, now, window) >= current_app.config["LOGIN_MAX_FAILURES"]:
        minutes = int(window.total_seconds() // 60)
        message = _("登录失败次数过多，请 %(minutes)s 分钟后再试。", minutes=minutes)
        page = render_template("auth/login.html", next_url=next_url, username=username, error=message)
        return page, 429, {"Retry-After": str(int(window.total_seconds()))}
    account, deactivated = accounts.check_login(database, username, password, now)
    if account is None:
        accounts.record_failure(database, username, address, now, window)
        database.commit()
        error = _("该账号已停用，请联系系统管理员。") if deactivated else _("用户名或密码不正确。")
        return render_template("auth/login.html", next_url=next_url, username=username, error=error)
    accounts.clear_failures(database, username, address)
    secret = login_sessions.start_session(database, account.id, now, address=address,
                                          user_agent=request.headers.get("User-Agent", ""))
    database.commit()
    lang = session.get("lang")
    session.clear()  # a new session for the signed-in user (no fixation)
    if lang:
        session["lang"] = lang
    flask_login.login_user(StaffUser(account, secret))
    return redirect(next_url or url_for(home_endpoint(account)))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out: this session ends on the server too (a copy of its cookie is anonymous from now on); the user's
    sessions on other devices go on."""
    account, secret = current_account(), current_session_secret()
    if account is not None and secret is not None:
        login_sessions.end_session(db_session(), account.id, secret, runtime().clock.now())
        db_session().commit()
    lang = session.get("lang")
    flask_login.logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("auth.login"))


@bp.get("/language/<code>")
def language(code: str) -> ResponseReturnValue:
    """Switch the interface language (zh_CN or en) and go back where the user was."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")) or url_for(home_endpoint(current_account())))
