"""A user task's instructions: its BPMN documentation, written by the analyst as a Jinja template over the task's
data (as SpiffArena renders instructions), e.g.
``{{ breach.step_name }} 超出时限，到期 {{ breach.deadline | local_time }}``.

Rendered in a sandbox (no attribute tricks, no imports); a value the data lacks renders empty; text without
``{{``/``{%`` is returned as written, and so is a template that does not render (the analyst sees it as written
rather than the staff member seeing an error). The result is plain text: the page escapes it.

Filters for the analyst, besides Jinja's own: ``local_time`` (an ISO timestamp as ``YYYY-MM-DD HH:MM`` in
Asia/Shanghai) and ``role_name`` (a role id as its display name, e.g. ``inspector`` → 检验人员); either leaves a
value it does not know as it is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .roles import role_name
from .workdays import TZ


def local_time(value: object) -> object:
    """An ISO timestamp (or datetime) as ``YYYY-MM-DD HH:MM`` in Asia/Shanghai, a naive one taken as Shanghai time;
    anything else (a bare date, other text, a missing value) as it is."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= len("YYYY-MM-DD"):  # a date alone has no time to show
            return value
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return value
    elif isinstance(value, datetime):
        moment = value
    else:
        return value
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=TZ)
    return moment.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


_TEMPLATES = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)
_TEMPLATES.filters["local_time"] = local_time
_TEMPLATES.filters["role_name"] = role_name


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render_instructions(text: str, data: dict[str, Any]) -> str:
    """The instructions with the task's data filled in."""
    if not is_template(text):
        return text
    try:
        return _TEMPLATES.from_string(text).render(data)
    except (TemplateError, TypeError, ValueError, AttributeError, KeyError):
        return text
