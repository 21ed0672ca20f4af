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
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.orm import Session

from .case import CaseEvent
from .clock import parse_iso, shown_time
from .database import READ_ONLY
from .models import ChainHead, Event, UtcDateTime
from .sqlite_statements import DriverStatement

GENESIS = "0" * 64
_HEAD = cast(Table, ChainHead.__table__)
_EVENTS = cast(Table, Event.__table__)
HASHED_COLUMNS = ("case_id", "case_number", "task_id", "element_id", "activity", "lifecycle", "role", "user", "at",
                  "data")
"""The columns the hash covers (everything but the id and the hashes themselves)."""
# built once: every save appends (see ``store``: building a statement costs more than running it)
# SQLite: run on the driver (``runner.sqlite_statements``)
_SQLITE_LOCK_HEAD = DriverStatement(
    update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=_HEAD.c.last_hash).returning(_HEAD.c.last_hash))
_SQLITE_CREATE_HEAD = DriverStatement(insert(_HEAD).values(id=1, last_event_id=0, last_hash=GENESIS))
_EVENT_COLUMNS = (*HASHED_COLUMNS, "prev_hash", "hash")
_SQLITE_ADD_EVENTS = DriverStatement(insert(_EVENTS), _EVENT_COLUMNS)
_SQLITE_MOVE_HEAD = DriverStatement(update(_HEAD).where(_HEAD.c.id == 1).values(
    last_hash=bindparam("head_hash", type_=_HEAD.c.last_hash.type),
    last_event_id=select(func.max(_EVENTS.c.id)).scalar_subquery()))
_UTC_TIME = UtcDateTime()
_CREATE_HEAD_POSTGRES = (postgresql_insert(_HEAD).values(id=1, last_event_id=0, last_hash=GENESIS)
                         .on_conflict_do_nothing())
# PostgreSQL: lock the head, insert the events and move the head in ONE statement (one round trip instead of three).
# The chain is computed by the server from the head it locked: sha256 over the previous hash and the event's canonical
# JSON, which Python encodes (``canonical_json``); ``append`` then checks the result against Python's own digests
# before the transaction goes on. ``FOR UPDATE`` in READ COMMITTED waits for a concurrent appender and
# then returns the head as that one left it, so the chain stays one line; the lock is held until the transaction ends.
_APPEND_POSTGRES = text("""
WITH RECURSIVE head AS (
    SELECT CAST(last_hash AS TEXT) AS last_hash FROM chain_head WHERE id = 1 FOR UPDATE
), new AS (
    SELECT * FROM unnest(:task_ids, :element_ids, :activities, :lifecycles, :roles, :users, :ats, :data, :canonical)
        WITH ORDINALITY AS new (task_id, element_id, activity, lifecycle, role, "user", at, data, canonical, n)
), chain (n, prev_hash, hash) AS (
    SELECT CAST(0 AS BIGINT), last_hash, last_hash FROM head
    UNION ALL
    SELECT new.n, chain.hash, encode(sha256(convert_to(chain.hash, 'UTF8') || new.canonical), 'hex')
    FROM chain JOIN new ON new.n = chain.n + 1
), added AS (
    INSERT INTO events (case_id, case_number, task_id, element_id, activity, lifecycle, role, "user", at, data,
                        prev_hash, hash)
    SELECT :case_id, :case_number, new.task_id, new.element_id, new.activity, new.lifecycle, new.role, new."user",
           new.at, CAST(new.data AS JSON), chain.prev_hash, chain.hash
    FROM new JOIN chain ON chain.n = new.n ORDER BY new.n
    RETURNING id
)
UPDATE chain_head SET last_hash = (SELECT hash FROM chain ORDER BY n DESC LIMIT 1),
                      last_event_id = (SELECT max(id) FROM added)
WHERE id = 1
RETURNING (SELECT last_hash FROM head) AS previous, last_hash
""").bindparams(
    bindparam("case_id", type_=Integer), bindparam("case_number", type_=String),
    *[bindparam(name, type_=ARRAY(String)) for name in ("task_ids", "element_ids", "activities", "lifecycles",
                                                          "roles", "users")],
    bindparam("ats", type_=ARRAY(DateTime)), bindparam("data", type_=ARRAY(Text)),
    bindparam("canonical", type_=ARRAY(LargeBinary)))


_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
"""``json.dumps`` with these options builds this encoder on every call; its ``encode`` keeps no state between calls."""


def canonical_json(fields: dict[str, Any]) -> str:
    """What an event's hash covers besides the previous hash: its fields as canonical JSON (``json.dumps(fields,
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)``, through one encoder made once)."""
    return _CANONICAL_ENCODER.encode(fields)


def chained_hash(prev_hash: str, canonical: str) -> str:
    """The hash of an event whose fields' canonical JSON is ``canonical``, after the event hashed ``prev_hash``."""
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def event_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    return chained_hash(prev_hash, canonical_json(fields))




def hashed_fields(values: Mapping[str, Any], at: str | None = None) -> dict[str, Any]:
    """What the hash covers, from an event's column values (``at`` as a UTC ISO string; the caller may pass that
    string when it has it already)."""
    fields = {name: values[name] for name in HASHED_COLUMNS}
    fields["at"] = fields["at"].astimezone(UTC).isoformat() if at is None else at
    return fields


def event_fields(row: Event) -> dict[str, Any]:
    """``hashed_fields`` of a stored event."""
    return hashed_fields({name: getattr(row, name) for name in HASHED_COLUMNS})


def _locked_head_hash(session: Session) -> str:
    """SQLite: the newest hash, with the head row locked until the transaction ends (created on the first append).
    A no-op UPDATE … RETURNING locks and reads in one statement."""
    head = _SQLITE_LOCK_HEAD.execute(session, {}).fetchall()
    if not head:
        _SQLITE_CREATE_HEAD.execute(session, {})
        return GENESIS
    return str(head[0][0])


def append(session: Session, case_id: int | None, case_number: str | None, events: Iterable[CaseEvent]) -> None:
    """Append events to the chain, in the caller's transaction. PostgreSQL: one statement (``_APPEND_POSTGRES``).
    SQLite (one writer at a time): read the head, one multi-row INSERT (no per-row round trip for generated ids:
    appends are serialized, so the largest id afterwards is this append's last), move the head.

    The events of one save mostly share their time: each distinct ``at`` text is parsed, and turned into the UTC
    text the hash covers, once (``_moments``)."""
    events = list(events)
    moments = _moments(event.at for event in events)
    rows = [{
        "case_id": case_id, "case_number": case_number, "task_id": event.task_id, "element_id": event.element_id,
        "activity": event.name, "lifecycle": event.lifecycle, "role": event.role, "user": event.user,
        "at": moments[event.at][0], "data": event.data,
    } for event in events]
    if not rows:
        return
    utc_texts = [moments[event.at][1] for event in events]
    if session.get_bind().dialect.name == "postgresql":
        _append_postgres(session, case_id, case_number, rows, utc_texts)
        return
    previous = _locked_head_hash(session)
    for row, at in zip(rows, utc_texts, strict=True):
        row["prev_hash"] = previous
        row["hash"] = previous = event_digest(previous, hashed_fields(row, at))
    _SQLITE_ADD_EVENTS.executemany(session, rows)
    _SQLITE_MOVE_HEAD.execute(session, {"head_hash": previous})


def _moments(texts: Iterable[str]) -> dict[str, tuple[datetime, str]]:
    """Each distinct event time text: (``parse_iso`` of it, its UTC ISO text as ``hashed_fields`` writes it)."""
    moments: dict[str, tuple[datetime, str]] = {}
    for at in texts:
        if at not in moments:
            moment = parse_iso(at)
            moments[at] = (moment, moment.astimezone(UTC).isoformat())
    return moments


def _append_postgres(session: Session, case_id: int | None, case_number: str | None,
                     rows: list[dict[str, Any]], utc_texts: list[str]) -> None:
    """``append`` in one statement; the server's chain is checked against Python's digests (same text, same hash)."""
    canonical = [canonical_json(hashed_fields(row, at)) for row, at in zip(rows, utc_texts, strict=True)]
    dialect = session.get_bind().dialect
    values = {
        "case_id": case_id, "case_number": case_number,
        "task_ids": [row["task_id"] for row in rows], "element_ids": [row["element_id"] for row in rows],
        "activities": [row["activity"] for row in rows], "lifecycles": [row["lifecycle"] for row in rows],
        "roles": [row["role"] for row in rows], "users": [row["user"] for row in rows],
        "ats": [_UTC_TIME.process_bind_param(row["at"], dialect) for row in rows],  # as the ``at`` column stores them
        "data": [json.dumps(row["data"]) for row in rows],  # as the JSON type stores them (None: JSON null)
        "canonical": [piece.encode() for piece in canonical],
    }
    moved = session.execute(_APPEND_POSTGRES, values).first()
    if moved is None:  # the first append ever: no head row yet (appenders racing to create it make one)
        session.execute(_CREATE_HEAD_POSTGRES)
        moved = session.execute(_APPEND_POSTGRES, values).one()
    expected = moved.previous
    for piece in canonical:
        expected = chained_hash(expected, piece)
    if moved.last_hash != expected:
        raise RuntimeError("the database computed other event hashes than Python: roll the transaction back")


_LAST_USER_OF = (select(Event.user)
                 .where(Event.case_id == bindparam("case_id"), Event.element_id == bindparam("element_id"),
                        Event.lifecycle == "completed")
                 .order_by(Event.id.desc())
                 .limit(1))
"""Built once: the four-eyes check reads it on completions (building a statement costs more than running it)."""


def last_user_of(session: Session, case_id: int, element_id: str) -> str | None:
    """Who last completed ``element_id`` in the case, according to the log."""
    return session.scalar(_LAST_USER_OF, {"case_id": case_id, "element_id": element_id})


def _event_place(row: Event) -> str:
    """Where an event sits, for the operator looking for it: ``case 2026…, 审核供电方案 (review_plan) completed,
    2026-11-27 14:11 Asia/Shanghai`` (as the row now reads: an edited row shows its edited values)."""
    step = f"{row.activity} ({row.element_id})" if row.activity and row.activity != row.element_id else row.element_id
    case = f"case {row.case_number}" if row.case_number else "no case"
    return f"{case}, {step} {row.lifecycle}, {shown_time(row.at)} Asia/Shanghai"


@dataclass
class VerifyResult:
    """``ok`` when every row's hash and link hold and the head points at the last row."""

    ok: bool
    checked: int
    problems: list[str]


SNAPSHOT_OPTIONS: dict[str, Any] = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
"""PostgreSQL: how ``verify`` reads, so that every batch and the head come from one snapshot of the log."""


def _read_one_snapshot(session: Session) -> None:
    """Make the session's transaction read one snapshot: a chain read in batches while others append must end where
    the head it reads says (under READ COMMITTED each statement sees a later log: an appender committing between the
    last batch and the head would look like deleted events). PostgreSQL: a REPEATABLE READ, read-only transaction;
    SQLite: a deferred (read) transaction, one snapshot in WAL mode, that does not hold the write lock for the
    length of the check. Must run before the session's first statement."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options=SNAPSHOT_OPTIONS)
    else:
        session.connection(execution_options=READ_ONLY)


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Recompute the chain; report the first rows whose hash or link does not hold, and a mismatched head. Call it
    first thing in a new session: the whole check reads one snapshot (``_read_one_snapshot``)."""
    _read_one_snapshot(session)
    problems: list[str] = []
    previous_hash, previous_id, checked = GENESIS, 0, 0
    while True:
        rows = session.scalars(select(Event).where(Event.id > previous_id).order_by(Event.id).limit(batch)).all()
        if not rows:
            break
        for row in rows:
            checked += 1
            if row.prev_hash != previous_hash:
                problems.append(f"event {row.id}: link broken (a row before it was deleted or edited); "
                                f"{_event_place(row)}")
            if event_digest(row.prev_hash, event_fields(row)) != row.hash:
                problems.append(f"event {row.id}: hash mismatch (the row was edited); {_event_place(row)}")
            previous_hash, previous_id = row.hash, row.id
            if len(problems) >= 20:
                return VerifyResult(False, checked, problems)
    head = session.get(ChainHead, 1)
    head_hash = head.last_hash if head is not None else GENESIS
    if head_hash != previous_hash:
        problems.append("chain head does not match the last event (events at the end were deleted)")
    return VerifyResult(not problems, checked, problems)
