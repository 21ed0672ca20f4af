"""Personal data (ID numbers 身份证号, phone numbers) in case data: masking by role, and the log of unmasked views.

Which fields are personal: the form schemas mark them with ``"x-pii": "id_number" | "phone"``
(``processes/forms/README.md``); ``pii_fields`` reads those markers, and ``DEFAULT_PII_FIELDS`` holds the ones the
forms mark today so that callers without a bundle at hand mask the same. Values are masked wherever their key
appears in the data, at any depth (the application, completed task data, event data).

Who may see the full value (``UNMASK_ROLES``): staff who must reach or identify the customer — account managers
(acceptance, contracts), follow-up agents (the 回访 call), archivists (the 用户用电档案) — and supervisors. They see
masked values too until they ask for the full ones; each such view is written to ``data_access_log``
(``log_unmasked_view``). Everybody else only ever gets masked values. No Flask here: the web UI and the REST API
call the same functions (channel ``web`` or ``api``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import DataAccess
from .services import get_case
from .store import Runtime

UNMASK_ROLES = ("account_manager", "followup_agent", "archivist", "supervisor")
LOG_READERS = ("supervisor", "admin")
"""Who may read the access log (``/admin/data-access``)."""
CHANNELS = ("web", "api")
MAX_PAGE = 100_000
"""The highest page of the access log read (a higher one reads this one: its offset stays a database integer)."""
DEFAULT_PII_FIELDS = {"id_number": "id_number", "phone": "phone", "contact_phone": "phone"}
"""Field name → kind, as ``processes/forms`` marks them with ``x-pii``."""


def may_unmask(roles: Iterable[str]) -> bool:
    """Whether someone with these groups may ask for the full values."""
    return bool(set(roles) & set(UNMASK_ROLES))


def pii_fields(schemas: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Field name → kind of every property marked ``x-pii`` in the JSON Schemas (nested objects and arrays too),
    on top of ``DEFAULT_PII_FIELDS``."""
    found = dict(DEFAULT_PII_FIELDS)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict) and isinstance(prop.get("x-pii"), str):
                    found[str(name)] = prop["x-pii"]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    for schema in schemas:
        visit(schema)
    return found


def mask_value(value: Any, kind: str) -> Any:
    """``110101199003071233`` → ``110***********1233``; ``13812345678`` → ``138****5678``. Short values keep only
    their last two characters; anything that is not a non-empty string is left as it is."""
    if not isinstance(value, str) or not value:
        return value
    keep_head, keep_tail = (3, 4) if len(value) >= 8 else (0, min(2, len(value) - 1))
    hidden = len(value) - keep_head - keep_tail
    return value[:keep_head] + "*" * hidden + value[len(value) - keep_tail:]


def mask_data(data: Any, fields: dict[str, str] | None = None) -> Any:
    """A copy of ``data`` with the value of every personal field masked, at any depth."""
    fields = DEFAULT_PII_FIELDS if fields is None else fields
    if isinstance(data, dict):
        return {key: mask_value(value, fields[key]) if key in fields and isinstance(value, str)
                else mask_data(value, fields) for key, value in data.items()}
    if isinstance(data, list):
        return [mask_data(item, fields) for item in data]
    return data


def mask_case_data(data: dict[str, Any], roles: Iterable[str], *, reveal: bool = False,
                   fields: dict[str, str] | None = None) -> dict[str, Any]:
    """The case data as someone with ``roles`` may see it: the full values only when they asked (``reveal``) and
    may (``may_unmask``) — then log the view with ``log_unmasked_view`` — else masked."""
    if reveal and may_unmask(roles):
        return data
    masked: dict[str, Any] = mask_data(data, fields)
    return masked


def pii_paths(data: Any, fields: dict[str, str] | None = None, prefix: str = "") -> list[str]:
    """Dotted paths of the personal values present in ``data`` (what an unmasked view showed), sorted."""
    fields = DEFAULT_PII_FIELDS if fields is None else fields
    return sorted(set(_paths(data, fields, prefix)))


def _paths(data: Any, fields: dict[str, str], prefix: str) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key in fields and isinstance(value, str) and value:
                yield path
            else:
                yield from _paths(value, fields, path)
    elif isinstance(data, list):
        for item in data:
            yield from _paths(item, fields, f"{prefix}[]")


def log_unmasked_view(session: Session, user: str, case_number: str, fields: list[str], channel: str,
                      now: datetime) -> DataAccess:
    """Record that ``user`` saw the full values of ``fields`` of the case, through ``channel`` (web|api)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
    row = DataAccess(user=user, case_number=case_number, fields=list(fields), channel=channel, at=now)
    session.add(row)
    session.flush()
    return row


def access_log(session: Session, *, case_number: str | None = None, user: str | None = None,
               page: int = 1, page_size: int = 50) -> tuple[list[DataAccess], int]:
    """A page of the access log, newest first, optionally of one case or one user; and how many rows match."""
    where = []
    if case_number:
        where.append(DataAccess.case_number == case_number)
    if user:
        where.append(DataAccess.user == user)
    page, page_size = min(max(page, 1), MAX_PAGE), min(max(page_size, 1), 200)
    rows = session.scalars(select(DataAccess).where(*where).order_by(DataAccess.at.desc(), DataAccess.id.desc())
                           .offset((page - 1) * page_size).limit(page_size))
    total = session.scalar(select(func.count()).select_from(DataAccess).where(*where)) or 0
    return list(rows), int(total)


def fields_for_case(session: Session, runtime: Runtime, case_number: str) -> dict[str, str]:
    """The personal fields the forms of the case's version mark (plus ``DEFAULT_PII_FIELDS``)."""
    row = get_case(session, case_number)
    return pii_fields(runtime.bundle_for_case(session, row).forms.values())
