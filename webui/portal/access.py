"""Who the anonymous portal visitor is, kept in Flask's signed session: an applicant token (owner of the files
uploaded before the case exists) and, after a right access code, the one case they may see until it expires."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import request, session

from runner.portal import customer_user

from ..extensions import runtime

CASE_KEY = "portal_case"
APPLICANT_KEY = "portal_applicant"
SIGNED_IN_FOR = timedelta(minutes=30)


def client_address() -> str:
    """The key of the rate limits: the client's address (the proxy's, until ProxyFix is configured)."""
    return request.remote_addr or "unknown"


def applicant() -> str:
    """The uploader name of this browser's files before its case exists (``applicant:<random>``)."""
    token = session.get(APPLICANT_KEY)
    if not isinstance(token, str):
        token = secrets.token_hex(16)
        session[APPLICANT_KEY] = token
    return f"applicant:{token}"


def sign_in(case_number: str) -> None:
    """After a right code: this browser may see the case for ``SIGNED_IN_FOR`` after its last request."""
    session[CASE_KEY] = {"number": case_number, "until": (runtime().clock.now() + SIGNED_IN_FOR).isoformat()}


def sign_out() -> None:
    session.pop(CASE_KEY, None)


def signed_in_case() -> str | None:
    """The case this browser is signed in to, or None (never signed in, or expired); each visit extends it."""
    entry = session.get(CASE_KEY)
    if not isinstance(entry, dict):
        return None
    try:
        until = datetime.fromisoformat(str(entry.get("until")))
    except ValueError:
        return None
    if until <= runtime().clock.now():
        sign_out()
        return None
    number = str(entry.get("number"))
    sign_in(number)
    return number


def customer() -> str | None:
    """The pseudo user of the signed-in customer (``customer:<case number>``), or None."""
    number = signed_in_case()
    return customer_user(number) if number else None
