"""Who is signed in, and who may do what: the Flask-Login user, view decorators, and the task permissions.

Rules: staff see and work on the tasks of the lanes (groups) they belong to and the tasks assigned to them;
supervisors may also assign and release any task. Anonymous users are sent to the login page; signed-in users
without the needed group get 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, cast

import flask_login
from flask import abort, g
from flask.typing import ResponseReturnValue

from runner import accounts
from runner.accounts import Account
from runner.models import OpenTask

from .extensions import login_manager, session

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]


class StaffUser:
    """The signed-in user as Flask-Login sees it (an ``Account``, reloaded on every request)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, account: Account) -> None:
        self.account = account

    @property
    def is_active(self) -> bool:
        return self.account.active

    def get_id(self) -> str:
        """``<user id>:<session key>``: the key changes with the password, so a reset ends the old sessions."""
        return f"{self.account.id}:{self.account.session_key}"


def load_user(user_id: str) -> StaffUser | None:
    """The session's active user, if the session was signed in with the user's current password (a session of
    an older password, or of the format without the key, is anonymous: the login page)."""
    if g.get("without_database"):  # a 5xx page (webui.errors): the database may be why it is shown
        return None
    number, _, key = user_id.partition(":")
    if not (number.isascii() and number.isdigit() and len(number) <= 18) or not (key and key.isascii()):
        return None
    account = accounts.get_account(session(), int(number))
    if account is None or not account.active or not hmac.compare_digest(key, account.session_key):
        return None
    return StaffUser(account)


login_manager.user_loader(load_user)


def current_account() -> Account | None:
    """The signed-in account, or None for an anonymous visitor."""
    user = flask_login.current_user
    return user.account if isinstance(user, StaffUser) else None


def require_account() -> Account:
    account = current_account()
    if account is None:  # the decorators let no anonymous request through
        abort(401)
    return account


def staff_required(*groups: str) -> Callable[[View[P]], View[P]]:
    """Signed in (else the login page) and a member of one of ``groups`` (any group when none is given)."""

    def decorator(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            account = current_account()
            if account is None:
                return cast(ResponseReturnValue, login_manager.unauthorized())
            if not account.groups or (groups and not set(groups) & set(account.groups)):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def is_supervisor(account: Account) -> bool:
    return "supervisor" in account.groups


def may_work_on(account: Account, task: OpenTask) -> bool:
    """Open the task's form, claim it or complete it: its lane's members and its assignee."""
    return task.assignee == account.username or (task.lane is not None and task.lane in account.groups)


def may_unclaim(account: Account, task: OpenTask) -> bool:
    return task.assignee == account.username or is_supervisor(account)
