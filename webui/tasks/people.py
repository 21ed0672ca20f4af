"""Staff by their names: the pages show a person's display name (姓名, as the assign dropdown does) with the login
name in a tooltip, not the login name alone. Names are read once per request; a user name no account has (the
customer's pseudo users, an old log entry) is shown as it is."""

from __future__ import annotations

from flask import g
from markupsafe import Markup, escape
from sqlalchemy import select

from runner.accounts import User

from ..extensions import session


def display_name(username: str | None) -> str:
    """The account's display name, or ``username`` itself when no account has it ('' for None)."""
    if not username:
        return ""
    known: dict[str, str] = g.setdefault("display_names", {})
    if username not in known:
        found = session().scalar(select(User.display_name).where(User.username == username))
        known[username] = found or username
    return known[username]


def person(username: str | None) -> Markup:
    """A person in a page: the display name, the login name as its tooltip (just the login name, as text, when the
    two are the same)."""
    if not username:
        return Markup("")
    name = display_name(username)
    if name == username:
        return escape(username)
    return Markup('<span class="person" title="{}">{}</span>').format(username, escape(name))
