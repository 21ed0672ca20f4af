"""Typed wrappers of Flask-Babel's gettext (its package has no type information). UI strings are Chinese msgids;
``translations/en`` holds the English catalogue (``make translations`` extracts and compiles)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _gettext
from flask_babel import lazy_gettext as _lazy_gettext


def _(text: str, **variables: Any) -> str:
    """The text in the request's language, with ``%(name)s`` variables filled in."""
    return str(_gettext(text, **variables))


def _l(text: str) -> Any:
    """A lazily translated text, for module-level tables (translated when shown)."""
    return _lazy_gettext(text)
