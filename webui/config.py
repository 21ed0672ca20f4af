"""Configuration: defaults here, then ``<instance>/webui.cfg``, then ``BAOZHUANG_*`` environment variables
(``app.config.from_prefixed_env("BAOZHUANG")``, e.g. ``BAOZHUANG_SECRET_KEY``), then a test's overrides.

The secret key comes only from the environment or from ``<instance>/secret_key``, a random key written the first
time the app starts (mode 0600); it is never a default in code.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

INSTANCE_CONFIG = "webui.cfg"
SECRET_KEY_FILE = "secret_key"


class Defaults:
    """Defaults every deployment starts from."""

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SECURE: bool | None = None  # None: Secure unless the app runs in debug mode
    REMEMBER_COOKIE_SECURE: bool | None = None  # None: like the session cookie
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    WTF_CSRF_TIME_LIMIT = 12 * 3600  # a long form may stay open for a shift; the token dies with the session
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    TASKS_PER_PAGE = 20
    LOGIN_MAX_FAILURES = 5
    LOGIN_FAILURE_WINDOW_SECONDS = 600
    MAX_CONTENT_LENGTH = 1024 * 1024  # forms only; attachments will have their own route
    TRUSTED_PROXIES = 0
    """Reverse proxies in front of the app (nginx: 1). With N > 0 the client address, scheme and host come from the
    last N entries of X-Forwarded-For/-Proto/-Host (werkzeug's ProxyFix), so that login and portal rate limits see
    the client, not the proxy. Never set it without a proxy: clients could then choose their own address."""


def instance_secret_key(instance: Path) -> str:
    """The key in ``<instance>/secret_key``, created (random, readable by the owner only) when missing.

    Several processes may start on a new instance at once: each writes its candidate to a file of its own and
    links it into place, which only the first does (``os.link`` fails when the name exists); everybody then reads
    the one that won. The file appears complete or not at all, so no process can read it half written."""
    path = instance / SECRET_KEY_FILE
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        candidate = instance / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(candidate, path)
            except FileExistsError:
                pass  # another process's key is in place: use that one
        finally:
            candidate.unlink(missing_ok=True)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it (a new key is made at the next start) or put a key in it")
    return key
