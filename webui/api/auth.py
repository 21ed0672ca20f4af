"""Bearer-token authentication of the API: ``Authorization: Bearer <token>`` and nothing else.

A ``read`` token may only send reading requests (GET, HEAD, OPTIONS): anything else is a 403 ``read_only_token``
before the endpoint runs, whatever the token's user may do.

The token's user and groups are read on every request (a membership change or a revocation applies at once).
A signed-in browser session does not authenticate the API, so the API needs no CSRF protection: a forged
cross-site request cannot carry the header.
"""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from flask import g, request

from runner import api_tokens
from runner.accounts import Account
from runner.portal import RateLimit, count_hit, retry_after

from ..extensions import runtime, session
from .errors import ApiError

PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BAD_TOKEN_LIMIT = RateLimit("api_bad_token", 20, 600)
"""Invalid tokens one client address may present in ten minutes; then its invalid tokens get 429 until the oldest
leaves the window (valid tokens from it are still accepted)."""


def authenticate() -> None:
    """``before_request`` of the blueprint: the account of a valid token in ``g.api_account``, else 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "a bearer token is required (Authorization: Bearer <token>)")
    now = runtime().clock.now()
    access = api_tokens.verify_token(session(), secret.strip(), now)
    if access is None:
        refuse_invalid_token(request.remote_addr or "unknown", now)
    if session().dirty:
        session().commit()  # last_used_at, written at most once a minute
    if access.read_only and request.method not in READING_METHODS:
        raise ApiError(403, "this token is read-only: it may not change anything (ask for a read-write token)",
                       "read_only_token")
    g.api_account = access.account


def refuse_invalid_token(address: str, now: datetime) -> NoReturn:
    """401 for an invalid token, counted against the client address; 429 (not counted) while the address has
    presented too many. Only invalid tokens are refused so: behind a proxy every client shares one address, and one
    misconfigured script must not lock out the others."""
    wait = retry_after(session(), BAD_TOKEN_LIMIT, address, now)
    if wait is not None:
        raise ApiError(429, f"too many invalid tokens from {address}; try again in {wait} s",
                       headers={"Retry-After": str(wait)})
    count_hit(session(), BAD_TOKEN_LIMIT, address, now)
    session().commit()
    raise ApiError(401, "the token is invalid, revoked or expired", "invalid_token")


def api_account() -> Account:
    account: Account = g.api_account
    return account


def require_groups(*groups: str) -> Account:
    """The token's account if it is in one of ``groups`` (any group when none is given), else 403."""
    account = api_account()
    if not account.groups or (groups and not set(groups) & set(account.groups)):
        needed = ", ".join(groups) if groups else "any staff group"
        raise ApiError(403, f"{account.username} may not do this (needs {needed})")
    return account
