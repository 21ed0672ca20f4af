"""``/admin/users``: list and search users, create one, change groups, deactivate or reactivate, reset a password
(group ``admin``); ``/admin/data-access``: who saw full personal data of which case (supervisors and admins).

Each change is a POST with a CSRF token, one service call (``runner.user_admin``, which writes the admin log line)
and one commit; refused input comes back as a flashed message or the form again with 400.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner import pii, user_admin
from runner.accounts import GROUPS, AccountError

from ..extensions import runtime, session
from ..i18n import _
from ..security import require_account, staff_required

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
            error = _("无法创建用户：%(reason)s", reason=str(err))
        else:
            session().commit()
            flash(_("已创建用户 %(user)s", user=created.username), "success")
            return redirect(url_for("admin.user", username=created.username))
    page = render_template("admin/new_user.html", form=form, groups=GROUPS, error=error)
    return page, 400 if error else 200


@bp.get("/users/<username>")
@staff_required("admin")
def user(username: str) -> ResponseReturnValue:
    found = user_admin.get_user(session(), username)
    return render_template("admin/user.html", user=found, groups=GROUPS)


@bp.post("/users/<username>/groups")
@staff_required("admin")
def set_groups(username: str) -> ResponseReturnValue:
    admin = require_account()
    try:
        released = user_admin.set_groups(session(), admin.username, username, chosen_groups(), runtime().clock.now())
    except AccountError as err:
        session().rollback()
        flash(_("无法修改岗位：%(reason)s", reason=str(err)), "error")
        return redirect(url_for("admin.user", username=username))
    session().commit()
    flash(_("已更新 %(user)s 的岗位", user=username), "success")
    if released:
        flash(_("已将其 %(n)s 项任务退回岗位待领取", n=len(released)), "info")
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/active")
@staff_required("admin")
def set_active(username: str) -> ResponseReturnValue:
    admin = require_account()
    active = request.form.get("active") == "1"
    try:
        released = user_admin.set_active(session(), admin.username, username, active, runtime().clock.now())
    except AccountError as err:
        session().rollback()
        flash(_("操作未成功：%(reason)s", reason=str(err)), "error")
        return redirect(url_for("admin.user", username=username))
    session().commit()
    flash(_("已启用 %(user)s", user=username) if active else _("已停用 %(user)s", user=username), "success")
    if released:
        flash(_("已将其 %(n)s 项任务退回岗位待领取", n=len(released)), "info")
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/password")
@staff_required("admin")
def reset_password(username: str) -> ResponseReturnValue:
    admin = require_account()
    try:
        user_admin.reset_password(session(), admin.username, username, request.form.get("password", ""))
    except AccountError as err:
        session().rollback()
        flash(_("无法重置密码：%(reason)s", reason=str(err)), "error")
        return redirect(url_for("admin.user", username=username))
    session().commit()
    flash(_("已重置 %(user)s 的密码", user=username), "success")
    return redirect(url_for("admin.user", username=username))


@bp.get("/data-access")
@staff_required(*pii.LOG_READERS)
def data_access() -> ResponseReturnValue:
    case_number = request.args.get("case", "").strip()[:40]
    who = request.args.get("user", "").strip()[:80]
    page = page_number()
    rows, total = pii.access_log(session(), case_number=case_number or None, user=who or None, page=page,
                                 page_size=PER_PAGE)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    return render_template("admin/data_access.html", rows=rows, total=total, page=page, pages=pages,
                           case_number=case_number, who=who)
