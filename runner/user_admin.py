"""User administration (the admin's 用户管理): list and search users, create them, change their groups, deactivate
and reactivate them, reset passwords.

Group membership takes effect at once: the web UI reads a user's groups on every request and task visibility is by
lane group, so a new member of a lane sees and may claim its open tasks on their next page. A user who leaves a
lane (or is deactivated) gives back the tasks of that lane they held (``services.release_claims``).

Every change is written to the application log (logger ``baozhuang.admin``) as one structured line
``admin=<who> action=<what> user=<whom> …``; the hash-chained event log is about cases, not accounts.
Plain functions over a session; the caller commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import accounts, login_sessions, services
from .accounts import GROUPS, Account, AccountError, User
from .store import NotFoundError

log = logging.getLogger("baozhuang.admin")
ADMIN_GROUP = "admin"
"""The group of the user administration: an administrator may not leave it (nor deactivate themselves), so that
the last one cannot lock everybody out of ``/admin/users`` by a slip of the mouse."""


@dataclass
class UserPage:
    items: list[User]
    total: int
    page: int
    page_size: int


def list_users(session: Session, search: str = "", page: int = 1, page_size: int = 50) -> UserPage:
    """Users by user name; ``search`` matches a part of the user name or the display name."""
    page, page_size = max(page, 1), min(max(page_size, 1), 200)
    where = []
    text = search.strip()
    if text:
        where.append(or_(User.username.contains(text.casefold(), autoescape=True),
                         User.display_name.contains(text, autoescape=True)))
    users = session.scalars(select(User).where(*where).order_by(User.username)
                            .offset((page - 1) * page_size).limit(page_size))
    total = session.scalar(select(func.count()).select_from(User).where(*where)) or 0
    return UserPage(list(users), int(total), page, page_size)


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == accounts.normalize_username(username)))
    if user is None:
        raise NotFoundError(f"no user {username}")
    return user


def create_user(session: Session, admin: str, username: str, display_name: str, password: str,
                groups: tuple[str, ...], now: datetime) -> Account:
    account = accounts.create_user(session, username, password, now, display_name=display_name.strip() or None,
                                   groups=groups)
    log.info("admin=%s action=create_user user=%s groups=%s", admin, account.username, ",".join(account.groups))
    return account


def set_groups(session: Session, admin: str, username: str, groups: tuple[str, ...], now: datetime) -> list[str]:
    """Replace the user's groups; their claimed tasks of lanes they left go back to the lanes' queues.
    Returns the ids of the tasks released."""
    user = get_user(session, username)
    before = user.group_names
    if (user.username == accounts.normalize_username(admin) and ADMIN_GROUP in before
            and ADMIN_GROUP not in groups):
        raise AccountError("you cannot take yourself out of the admin group: ask another administrator",
                           "self_admin")
    accounts.set_groups(session, user.username, groups)
    released = services.release_claims(session, user.username, tuple(groups), by=admin, now=now)
    log.info("admin=%s action=set_groups user=%s before=%s after=%s released_tasks=%d", admin, user.username,
             ",".join(before), ",".join(sorted(set(groups))), len(released))
    return [task.id for task in released]


def set_active(session: Session, admin: str, username: str, active: bool, now: datetime) -> list[str]:
    """Deactivate (they can no longer sign in; their claimed tasks are released) or reactivate a user."""
    user = get_user(session, username)
    if not active and user.username == accounts.normalize_username(admin):
        raise AccountError("you cannot deactivate yourself", "self_deactivate")
    user.active = active
    released = [] if active else services.release_claims(session, user.username, (), by=admin, now=now)
    ended = 0 if active else login_sessions.end_sessions(session, user.id, now, "deactivated")
    log.info("admin=%s action=%s user=%s released_tasks=%d ended_sessions=%d", admin,
             "reactivate" if active else "deactivate", user.username, len(released), ended)
    return [task.id for task in released]


def reset_password(session: Session, admin: str, username: str, password: str, now: datetime, *,
                   keep_session: str | None = None) -> None:
    """A new password; every session of the user ends (but ``keep_session``, the secret of the administrator's own
    session when they reset their own password). The sessions' key changes with the password hash anyway
    (``Account.session_key``): ending the rows is what the session list shows."""
    user = get_user(session, username)
    accounts.set_password(session, user.username, password)
    ended = login_sessions.end_sessions(session, user.id, now, "password", keep_secret=keep_session)
    log.info("admin=%s action=reset_password user=%s ended_sessions=%d", admin, user.username, ended)


def end_sessions(session: Session, admin: str, username: str, now: datetime, *,
                 keep_session: str | None = None) -> int:
    """The security officer's 强制下线: end every session of the user now (the administrator's own current one
    kept, when they end their own); how many were ended."""
    user = get_user(session, username)
    ended = login_sessions.end_sessions(session, user.id, now, "admin", keep_secret=keep_session)
    log.info("admin=%s action=end_sessions user=%s ended_sessions=%d", admin, user.username, ended)
    return ended


def known_groups() -> tuple[str, ...]:
    return GROUPS
