"""The notice a draft carries after its case moved to another process version (``runner.drafts.recheck_drafts``):
each saved value the new form no longer takes, under the form's titles, as it was saved, and why — in the reader's
language (the new form's reasons as the form's own errors say them, ``formrender.describe_error``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.clock import parse_iso

from ..formrender import describe_error
from ..i18n import _

MAX_VALUE_CHARS = 200
"""A long saved text is shown up to this many characters (the person typed it: enough to recognise and copy)."""


@dataclass
class NoticeItem:
    label: str
    value: str
    reason: str


@dataclass
class DraftNotice:
    at: datetime | None
    step: str
    items: list[NoticeItem]


def draft_notice(notice: dict[str, Any] | None, schema: dict[str, Any] | None) -> DraftNotice | None:
    """What the stored notice says, for the form ``schema`` the task has now; None without one."""
    if not isinstance(notice, dict) or not notice.get("values"):
        return None
    items = [NoticeItem(path_label(entry.get("titles") or entry.get("path") or []),
                        value_text(entry.get("value"), entry.get("value_title")),
                        reason_text(str(entry.get("problem") or ""), field_schema(schema, entry.get("path") or [])))
             for entry in notice["values"] if isinstance(entry, dict)]
    at = notice.get("at")
    return DraftNotice(parse_iso(at) if isinstance(at, str) else None, str(notice.get("step") or ""), items)


def path_label(titles: list[Any]) -> str:
    """``用电设备清单 · 第 2 行 · 台数``: a field, a row of a table (counted from 1), a column."""
    return " · ".join(_("第 %(n)s 行", n=part + 1) if isinstance(part, int) else str(part) for part in titles)


def value_text(value: Any, choice: Any = None) -> str:
    """The saved value as the person gave it: a choice by its title, yes/no in words, text as typed (clipped)."""
    if isinstance(choice, str) and choice:
        text = choice
    elif isinstance(value, bool):
        text = _("是") if value else _("否")
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def reason_text(problem: str, schema: dict[str, Any]) -> str:
    if not problem:
        return _("新表单已没有此项")
    return _("新表单不接受此值：%(reason)s", reason=describe_error(problem, schema))


def field_schema(schema: dict[str, Any] | None, path: list[Any]) -> dict[str, Any]:
    """The new form's schema of the value at ``path`` (empty when the form has none)."""
    node: Any = schema or {}
    for part in path:
        node = node.get("items") if isinstance(part, int) else (node.get("properties") or {}).get(part)
        if not isinstance(node, dict):
            return {}
    return dict(node)
