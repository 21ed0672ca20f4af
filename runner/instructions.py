"""A user task's instructions: its BPMN documentation, written by the analyst as a Jinja template over the task's
data (as SpiffArena renders instructions), e.g. ``{{ breach.step_name }} 超出时限，到期 {{ breach.deadline }}``.

Rendered in a sandbox (no attribute tricks, no imports); a value the data lacks renders empty; text without
``{{``/``{%`` is returned as written, and so is a template that does not render (the analyst sees it as written
rather than the staff member seeing an error). The result is plain text: the page escapes it."""

from __future__ import annotations

from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_TEMPLATES = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)


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
