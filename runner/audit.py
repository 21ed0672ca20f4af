"""The append-only event log, hash-chained so that an edited or deleted row is detected.

Every event's hash is SHA-256 over the previous event's hash and the event's own fields (canonical JSON). The newest
hash is kept in ``chain_head``, a single row locked while appending, so the chain stays one line even with several
web and worker processes writing at once; ``verify`` recomputes the chain from the first row to the head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from .case import CaseEvent
from .clock import parse_iso
from .models import ChainHead, Event

GENESIS = "0" * 64
_HEAD = cast(Table, ChainHead.__table__)
_EVENTS = cast(Table, Event.__table__)
# built once: every save appends (see ``store``: building a statement costs more than running it)
_LOCK_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=_HEAD.c.last_hash).returning(_HEAD.c.last_hash)
_ADD_EVENTS = insert(_EVENTS)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(
    last_hash=bindparam("head_hash", type_=_HEAD.c.last_hash.type),
    last_event_id=select(func.max(_EVENTS.c.id)).scalar_subquery())


def event_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


HASHED_COLUMNS = ("case_id", "case_number", "task_id", "element_id", "activity", "lifecycle", "role", "user", "at",
                  "data")
"""The columns the hash covers (everything but the id and the hashes themselves)."""


def hashed_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """What the hash covers, from an event's column values (``at`` as a UTC ISO string)."""
    fields = {name: values[name] for name in HASHED_COLUMNS}
    fields["at"] = fields["at"].astimezone(UTC).isoformat()
    return fields


def event_fields(row: Event) -> dict[str, Any]:
    """``hashed_fields`` of a stored event."""
    return hashed_fields({name: getattr(row, name) for name in HASHED_COLUMNS})


def _locked_head_hash(session: Session) -> str:
    """The newest hash, with the head row locked until the transaction ends (created on the first append). A
    no-op UPDATE … RETURNING locks and reads in one statement."""
    head = session.scalar(_LOCK_HEAD)
    if head is None:
        session.execute(insert(_HEAD).values(id=1, last_event_id=0, last_hash=GENESIS))
        return GENESIS
    return str(head)


def append(session: Session, case_id: int | None, case_number: str | None, events: Iterable[CaseEvent]) -> None:
    """Append events to the chain, in the caller's transaction: one multi-row INSERT (no per-row round trip for
    generated ids: appends are serialized by the head's lock, so the largest id afterwards is this append's last)."""
    events = list(events)
    if not events:
        return
    previous = _locked_head_hash(session)
    rows = []
    for event in events:
        row = {
            "case_id": case_id, "case_number": case_number, "task_id": event.task_id, "element_id": event.element_id,
            "activity": event.name, "lifecycle": event.lifecycle, "role": event.role, "user": event.user,
            "at": parse_iso(event.at), "data": event.data,
        }
        row["prev_hash"] = previous
        row["hash"] = previous = event_digest(previous, hashed_fields(row))
        rows.append(row)
    session.execute(_ADD_EVENTS, rows)
    session.execute(_MOVE_HEAD, {"head_hash": previous})


def last_user_of(session: Session, case_id: int, element_id: str) -> str | None:
    """Who last completed ``element_id`` in the case, according to the log."""
    return session.scalar(
        select(Event.user)
        .where(Event.case_id == case_id, Event.element_id == element_id, Event.lifecycle == "completed")
        .order_by(Event.id.desc())
        .limit(1)
    )


@dataclass
class VerifyResult:
    """``ok`` when every row's hash and link hold and the head points at the last row."""

    ok: bool
    checked: int
    problems: list[str]


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Recompute the chain; report the first rows whose hash or link does not hold, and a mismatched head."""
    problems: list[str] = []
    previous_hash, previous_id, checked = GENESIS, 0, 0
    while True:
        rows = session.scalars(select(Event).where(Event.id > previous_id).order_by(Event.id).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            checked += 1
            if row.prev_hash != previous_hash:
                problems.append(f"event {row.id}: link broken (a row before it was deleted or edited)")
            if event_digest(row.prev_hash, event_fields(row)) != row.hash:
                problems.append(f"event {row.id}: hash mismatch (the row was edited)")
            previous_hash, previous_id = row.hash, row.id
            if len(problems) >= 20:
                return VerifyResult(False, checked, problems)
    head = session.get(ChainHead, 1)
    head_hash = head.last_hash if head is not None else GENESIS
    if head_hash != previous_hash:
        problems.append("chain head does not match the last event (events at the end were deleted)")
    return VerifyResult(not problems, checked, problems)
