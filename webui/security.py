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
from flask import abort, current_app, g, request
from flask import session as flask_session
from flask.typing import ResponseReturnValue

from runner import accounts, login_sessions
from runner.accounts import LANE_ROLES, Account
from runner.models import OpenTask

from .extensions import login_manager, runtime, session

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]


class StaffUser:
    """The signed-in user as Flask-Login sees it (an ``Account``, reloaded on every request) and the secret of
    their login session (``runner.login_sessions``)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, account: Account, session_secret: str) -> None:
        self.account = account
        self.session_secret = session_secret

    @property
    def is_active(self) -> bool:
        return self.account.active

    def get_id(self) -> str:
        """``<user id>:<session key>:<session secret>``: the key changes with the password, so a reset ends the old
        sessions; the secret names the server-side session, which signing out ends."""
        return f"{self.account.id}:{self.account.session_key}:{self.session_secret}"


def load_user(user_id: str) -> StaffUser | None:
    """The session's active user, if the session was signed in with the user's current password and has not been
    ended on the server (signed out, ended by an administrator); else anonymous: the login page. A session of an
    older cookie format (no secret) is anonymous too. Notes in ``g.login_session_touch`` the session whose last
    use is due to be written (``touch_login_session``)."""
    if g.get("without_database"):  # a 5xx page (webui.errors): the database may be why it is shown
        return None
    number, _, rest = user_id.partition(":")
    key, _, secret = rest.partition(":")
    if not (number.isascii() and number.isdigit() and len(number) <= 18) or not (key and key.isascii()):
        return None
    account = accounts.get_account(session(), int(number))
    if account is None or not account.active or not hmac.compare_digest(key, account.session_key):
        return None
    row = login_sessions.find_session(session(), account.id, secret)
    if row is None:
        return None
    if login_sessions.needs_touch(row, runtime().clock.now()):
        g.login_session_touch = row.id
    return StaffUser(account, secret)


login_manager.user_loader(load_user)


def current_account() -> Account | None:
    """The signed-in account, or None for an anonymous visitor."""
    user = flask_login.current_user
    return user.account if isinstance(user, StaffUser) else None


def current_session_secret() -> str | None:
    """The secret of the signed-in user's login session (None for an anonymous visitor)."""
    user = flask_login.current_user
    return user.session_secret if isinstance(user, StaffUser) else None


def touch_login_session() -> None:
    """``before_app_request``: load the signed-in user before the view (never in the middle of its transaction)
    and, when due, write the session's last use in a transaction of its own (at most once per
    ``login_sessions.LAST_SEEN_RESOLUTION``)."""
    if request.endpoint in ("static", "health.healthz") or "_user_id" not in flask_session:
        return
    if not current_app.extensions["baozhuang_availability"].checked:
        return  # the schema check (``webui.schema_check``) runs next; the view loads the user itself
    current_account()
    session_id = g.pop("login_session_touch", None)
    if session_id is not None:
        login_sessions.touch(session(), session_id, runtime().clock.now())
        session().commit()


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


def home_endpoint(account: Account | None) -> str:
    """Where a signed-in person starts: the task workbench for anyone in a staff lane; the simulation runs for a
    process owner or analyst who works in none (the workbench would greet them with no tasks, ever)."""
    if account is not None and set(account.groups) & {"process_owner", "analyst"} \
            and not set(account.groups) & set(LANE_ROLES):
        return "simulation.index"
    return "tasks.index"


def is_supervisor(account: Account) -> bool:
    return "supervisor" in account.groups


def may_work_on(account: Account, task: OpenTask) -> bool:
    """Open the task's form, claim it or complete it: its lane's members and its assignee."""
    return task.assignee == account.username or (task.lane is not None and task.lane in account.groups)


def may_unclaim(account: Account, task: OpenTask) -> bool:
    return task.assignee == account.username or is_supervisor(account)
