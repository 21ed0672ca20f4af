"""Signed-in browser sessions kept on the server (table ``login_sessions``), so that a session can be ended there.

A login creates a row and gives the browser a random secret (only its SHA-256 is stored); the cookie carries it
(``webui.security``). A request is signed in only while its row is not ended, so signing out ends that session even
for a copy of the cookie, and only that one: the user's other sessions go on. An administrator can end every
session of a user (``end_sessions``); a password reset and a deactivation end them too. ``last_seen_at`` is written
at most once per ``LAST_SEEN_RESOLUTION``: no write on every request.

Plain functions over a session like ``runner.accounts``: the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .accounts import LoginSession

LAST_SEEN_RESOLUTION = timedelta(minutes=5)
"""``last_seen_at`` is written at most this often per session."""
RETENTION = timedelta(days=90)
"""Ended or unused sessions older than this are deleted when their user next signs in."""
SECRET_MAX = 100
END_REASONS = ("logout", "admin", "password", "deactivated")


@dataclass(frozen=True)
class SessionInfo:
    """A session as the user's admin page lists it."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    address: str
    user_agent: str

    def state(self, now: datetime, lifetime: timedelta) -> str:
        """``active``, ``ended`` or ``expired`` (unused longer than the cookie lives)."""
        if self.ended_at is not None:
            return "ended"
        return "expired" if now - self.last_seen_at >= lifetime else "active"


def _hash(secret: str) -> str:
    return hashlib.sha256(b"baozhuang-login:" + secret.encode()).hexdigest()


def start_session(session: Session, user_id: int, now: datetime, *, address: str = "",
                  user_agent: str = "") -> str:
    """A new session of the user; returns its secret (for the cookie only, never stored). Drops the user's
    sessions ended or unused for ``RETENTION``."""
    session.execute(delete(LoginSession).where(LoginSession.user_id == user_id,
                                               LoginSession.last_seen_at < now - RETENTION))
    secret = secrets.token_urlsafe(24)
    session.add(LoginSession(user_id=user_id, key_hash=_hash(secret), created_at=now, last_seen_at=now,
                             address=address[:64], user_agent=user_agent[:200]))
    session.flush()
    return secret


def find_session(session: Session, user_id: int, secret: str) -> LoginSession | None:
    """The user's live (not ended) session with this secret, else None."""
    if not secret or len(secret) > SECRET_MAX or not secret.isascii():
        return None
    row = session.scalar(select(LoginSession).where(LoginSession.key_hash == _hash(secret)))
    if row is None or row.user_id != user_id or row.ended_at is not None:
        return None
    return row


def needs_touch(row: LoginSession, now: datetime) -> bool:
    return now - row.last_seen_at >= LAST_SEEN_RESOLUTION


def touch(session: Session, session_id: int, now: datetime) -> None:
    """Record a use of the session (call only when ``needs_touch``)."""
    session.execute(update(LoginSession).where(LoginSession.id == session_id).values(last_seen_at=now))


def end_session(session: Session, user_id: int, secret: str, now: datetime, reason: str = "logout") -> bool:
    """End the one session with this secret (signing out); whether it was live."""
    row = find_session(session, user_id, secret)
    if row is None:
        return False
    row.ended_at, row.end_reason = now, reason
    session.flush()
    return True


def end_sessions(session: Session, user_id: int, now: datetime, reason: str, *,
                 keep_secret: str | None = None) -> int:
    """End every live session of the user (but the one of ``keep_secret``, when given); how many were ended."""
    if reason not in END_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    query = update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
    if keep_secret:
        query = query.where(LoginSession.key_hash != _hash(keep_secret))
    result = session.execute(query.values(ended_at=now, end_reason=reason))
    return int(result.rowcount)  # type: ignore[attr-defined]


def sessions_of(session: Session, user_id: int, limit: int = 20) -> list[SessionInfo]:
    """The user's latest sessions, most recently used first."""
    rows = session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)
                           .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc()).limit(limit))
    return [SessionInfo(row.id, row.created_at, row.last_seen_at, row.ended_at, row.end_reason, row.address,
                        row.user_agent) for row in rows]
