"""Bearer tokens for the REST API (``/api/v1``): create, verify, list and revoke rows of ``api_tokens``.

A token acts as its user, with the groups the user has at the moment of each request, within its scope: ``read``
(only reading requests: a reporting system, a dashboard) or ``read-write``. Only a SHA-256 of the secret is stored,
with its first characters (``prefix``) to tell tokens apart in lists; the secret itself is shown once, when the token
is created. ``baozhuang token create`` gives a token ``DEFAULT_EXPIRY_DAYS`` unless told otherwise. Plain functions
over a session like ``runner.accounts``: the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .accounts import Account, AccountError, ApiToken, User, get_account, normalize_username

TOKEN_MARK = "bzt_"
"""Every token starts with this, so a leaked one is easy to recognise (secret scanners, logs)."""
PREFIX_LENGTH = 12
NAME_MAX = 80
MAX_TOKEN_LENGTH = 200
READ = "read"
READ_WRITE = "read-write"
SCOPES = (READ, READ_WRITE)
DEFAULT_EXPIRY_DAYS = 90
"""How long a token from ``baozhuang token create`` lasts unless ``--expires`` or ``--no-expiry`` says otherwise
(the environment variable ``BAOZHUANG_TOKEN_EXPIRY_DAYS`` changes the default)."""
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token: no write on every request of a busy client."""


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``secret`` is the only copy of the token and is never shown again."""

    id: int
    secret: str
    name: str
    prefix: str
    expires_at: datetime | None
    scope: str = READ_WRITE


@dataclass(frozen=True)
class TokenAccess:
    """What a valid token allows: its account and scope."""

    account: Account
    scope: str

    @property
    def read_only(self) -> bool:
        return self.scope != READ_WRITE


@dataclass(frozen=True)
class TokenInfo:
    """A token as lists show it: never the secret."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    scope: str = READ_WRITE

    def state(self, now: datetime) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, username: str, now: datetime, *, name: str = "",
                 expires_in: timedelta | None = None, scope: str = READ_WRITE) -> IssuedToken:
    """A new token for an active user; ``expires_in`` None means it holds until revoked; ``scope`` one of
    ``SCOPES``."""
    if scope not in SCOPES:
        raise AccountError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
    user = session.scalar(select(User).where(User.username == normalize_username(username)))
    if user is None:
        raise AccountError(f"no user {username}")
    if not user.active:
        raise AccountError(f"user {user.username} is deactivated")
    if expires_in is not None and expires_in <= timedelta(0):
        raise AccountError("a token must expire in the future")
    name = name.strip() or f"{user.username} token"
    if len(name) > NAME_MAX:
        raise AccountError(f"token name longer than {NAME_MAX} characters")
    secret = TOKEN_MARK + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(secret), prefix=secret[:PREFIX_LENGTH],
                   created_at=now, expires_at=now + expires_in if expires_in is not None else None, scope=scope)
    session.add(row)
    session.flush()
    return IssuedToken(row.id, secret, row.name, row.prefix, row.expires_at, row.scope)


def verify_token(session: Session, secret: str, now: datetime) -> TokenAccess | None:
    """The active account a token acts as, with the token's scope, or None (unknown, revoked, expired, or its user
    deactivated).

    The lookup is by the hash of the secret, so the comparison never sees the secret itself."""
    if not secret.startswith(TOKEN_MARK) or len(secret) > MAX_TOKEN_LENGTH:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(secret)))
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    account = get_account(session, row.user_id)
    if account is None or not account.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return TokenAccess(account, row.scope)


def revoke_token(session: Session, token_id: int, now: datetime) -> TokenInfo:
    """Revoke a token at once (revoking it again changes nothing); unknown id → ``AccountError``."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
    return _info(session, row)


def list_tokens(session: Session, username: str | None = None) -> list[TokenInfo]:
    """Every token (of one user, when given), oldest first; unknown user → ``AccountError``."""
    query = select(ApiToken).order_by(ApiToken.id)
    if username is not None:
        user_id = session.scalar(select(User.id).where(User.username == normalize_username(username)))
        if user_id is None:
            raise AccountError(f"no user {username}")
        query = query.where(ApiToken.user_id == user_id)
    return [_info(session, row) for row in session.scalars(query)]


def _info(session: Session, row: ApiToken) -> TokenInfo:
    user = session.get(User, row.user_id)
    return TokenInfo(row.id, user.username if user is not None else "?", row.name, row.prefix, row.created_at,
                     row.last_used_at, row.expires_at, row.revoked_at, row.scope)
