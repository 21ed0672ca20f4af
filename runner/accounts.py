"""Staff accounts: users with hashed passwords, groups (one per lane role, plus analyst, process_owner, admin),
membership, and the record of failed logins that throttles password guessing.

Plain functions over a session, like ``runner.services``: the caller owns the transaction; nothing here imports
Flask. Passwords are hashed with ``werkzeug.security`` (scrypt by default).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .models import Base

LANE_ROLES = ("account_manager", "surveyor", "plan_reviewer", "inspector", "installer", "archivist",
              "followup_agent", "supervisor")
"""The staff lanes of the process (``lane_<role>``); the customer lane has no staff group."""
OTHER_GROUPS = ("analyst", "process_owner", "admin")
GROUPS = LANE_ROLES + OTHER_GROUPS
USERNAME_MAX = 80
MIN_PASSWORD_LENGTH = 6

user_groups = Table(
    "user_groups", Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)


class Group(Base):
    """A group of staff: a lane role (who may work on the lane's tasks) or a function (analyst, admin …)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class User(Base):
    """A member of staff who signs in to the web UI."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    groups: Mapped[list[Group]] = relationship(secondary=user_groups, lazy="selectin", order_by=Group.name)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(group.name for group in self.groups)


class LoginFailure(Base):
    """One failed sign-in (user name as typed, client address): counted to throttle guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_login_failures_who", "username", "address", "at"),)


class ApiToken(Base):
    """A bearer token for the REST API, acting as its user; only a SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, shown in lists
    created_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    scope: Mapped[str] = mapped_column(String(20), default="read-write", server_default="read-write")
    """``read`` (GET only) or ``read-write``; tokens from before migration 0013 are ``read-write``."""


class LoginSession(Base):
    """One signed-in browser session (``runner.login_sessions``): the cookie holds a secret whose SHA-256 is
    ``key_hash``; signing out, an administrator, a password reset or a deactivation sets ``ended_at``."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(20))  # logout|admin|password|deactivated
    address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))


USERNAME_FORBIDDEN = frozenset('/\\:?#%<>"\'&')
"""Characters a user name may not hold besides white space and control characters: ``/`` and ``\\`` break the
user's page (``/admin/users/<name>``), ``:`` is how the case records name the customer's pseudo users
(``customer:…``, ``applicant:…``), and the rest are taken apart by URLs, logs or HTML."""


class AccountError(Exception):
    """A user name, password or group that cannot be used; the message (English, for the command line and the
    log) says why. ``code`` and ``params`` let the web UI say it in the user's language."""

    def __init__(self, message: str, code: str = "", **params: str) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Account:
    """What the web UI keeps of a signed-in user: plain data, detached from any session."""

    id: int
    username: str
    display_name: str
    groups: tuple[str, ...]
    active: bool
    session_key: str = ""
    """Changes whenever the password does (a digest of its hash): a login session carries it, so resetting a
    password ends every session signed in with the old one (``webui.security.load_user``)."""


def normalize_username(username: str) -> str:
    return username.strip().casefold()


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.display_name, user.group_names, user.active,
                   session_key_of(user.password_hash))


def session_key_of(password_hash: str) -> str:
    """A short digest of a password hash: tells sessions of the current password from older ones, and gives away
    nothing of the hash (let alone the password)."""
    return hashlib.sha256(b"baozhuang-session:" + password_hash.encode()).hexdigest()[:32]


# A hash to check against when the user does not exist, so that both cases take the same time.
_DUMMY_HASH = generate_password_hash("not a password")


def create_user(session: Session, username: str, password: str, now: datetime, *, display_name: str | None = None,
                groups: tuple[str, ...] = (), password_method: str = "scrypt") -> Account:
    """Add a user (refused if the name is taken or the password too short) and put them in ``groups``."""
    name = check_new_user(session, username, groups)
    check_password(password)
    user = User(username=name, display_name=display_name or name, active=True, created_at=now,
                password_hash=generate_password_hash(password, method=password_method))
    session.add(user)
    user.groups = _groups_named(session, groups)
    session.flush()
    return _account(user)


def check_new_user(session: Session, username: str, groups: tuple[str, ...] = ()) -> str:
    """The stored form of ``username`` if a user of that name may be created in ``groups``, else AccountError
    (an invalid or taken name, an unknown group): checked before a password is asked for, and by ``create_user``."""
    name = normalize_username(username)
    if not name or len(name) > USERNAME_MAX:
        raise AccountError(f"invalid user name {username!r}", "username_length",
                           max=str(USERNAME_MAX))
    if any(ch.isspace() or not ch.isprintable() or ch in USERNAME_FORBIDDEN for ch in name):
        shown = " ".join(sorted(USERNAME_FORBIDDEN))
        raise AccountError(f"invalid user name {username!r}", "username_characters", chars=shown)
    _check_groups(groups)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise AccountError(f"user {name} exists", "user_exists", user=name)
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password shorter than {MIN_PASSWORD_LENGTH} characters", "password_short",
                           min=str(MIN_PASSWORD_LENGTH))


def set_password(session: Session, username: str, password: str, password_method: str = "scrypt") -> None:
    check_password(password)
    _user(session, username).password_hash = generate_password_hash(password, method=password_method)


def authenticate(session: Session, username: str, password: str, now: datetime) -> Account | None:
    """The active user with this name and password (their last login is recorded), else None."""
    account, _deactivated = check_login(session, username, password, now)
    return account


def check_login(session: Session, username: str, password: str, now: datetime) -> tuple[Account | None, bool]:
    """As ``authenticate``, and whether the name and password were right but the account is deactivated (so the
    login page can say so to the person who knows the password, and to nobody else)."""
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None, False
    if not check_password_hash(user.password_hash, password):
        return None, False
    if not user.active:
        return None, True
    user.last_login_at = now
    return _account(user), False


def get_account(session: Session, user_id: int) -> Account | None:
    """The user with this id (as stored in the login session), active or not; None if deleted."""
    user = session.get(User, user_id)
    return _account(user) if user is not None else None


def get_account_by_name(session: Session, username: str) -> Account | None:
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    return _account(user) if user is not None else None


def set_groups(session: Session, username: str, groups: tuple[str, ...] | list[str]) -> None:
    """Replace the user's groups; only the known ``GROUPS`` exist."""
    _user(session, username).groups = _groups_named(session, tuple(groups))
    session.flush()


def groups_of(session: Session, username: str) -> tuple[str, ...]:
    """The user's group names, sorted; empty for an unknown user."""
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    return user.group_names if user is not None else ()


def users_in_group(session: Session, group: str) -> list[Account]:
    """Active members of a group, by user name (e.g. whom a supervisor may assign a lane's task to)."""
    users = session.scalars(select(User).join(User.groups).where(Group.name == group, User.active.is_(True))
                            .order_by(User.username))
    return [_account(user) for user in users]


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    if user is None:
        raise AccountError(f"no user {username}", "no_user", user=username)
    return user


def _check_groups(names: tuple[str, ...]) -> None:
    unknown = sorted(set(names) - set(GROUPS))
    if unknown:
        raise AccountError(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}", "unknown_group",
                           groups=", ".join(unknown))


def _groups_named(session: Session, names: tuple[str, ...]) -> list[Group]:
    _check_groups(names)
    found = {group.name: group for group in session.scalars(select(Group).where(Group.name.in_(names)))}
    for name in set(names) - set(found):  # the migration creates them; a missing row is made on demand
        found[name] = Group(name=name)
        session.add(found[name])
    return [found[name] for name in sorted(set(names))]


# -- throttling ----------------------------------------------------------------------------------------------------


def recent_failures(session: Session, username: str, address: str, now: datetime, window: timedelta) -> int:
    """Failed logins of this user name from this address within ``window`` before ``now``."""
    count = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.username == normalize_username(username)[:USERNAME_MAX], LoginFailure.address == address,
        LoginFailure.at > now - window))
    return int(count or 0)


def record_failure(session: Session, username: str, address: str, now: datetime, window: timedelta) -> None:
    """Note a failed login; rows older than ``window`` are of no use any more and go."""
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - window))
    session.add(LoginFailure(username=normalize_username(username)[:USERNAME_MAX], address=address[:64], at=now))


def clear_failures(session: Session, username: str, address: str) -> None:
    """Forget the failures of a user name and address after a successful login."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == normalize_username(username),
                                               LoginFailure.address == address))
