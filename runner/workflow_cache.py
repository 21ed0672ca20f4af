"""Live workflows kept between requests of one process, so that loading a case need not restore its state.

A shortcut only: the database stays the truth. An entry remembers the revision, version and exact state bytes it
was saved as; ``take`` hands the workflow out only when the row just read (under the row lock) still holds all
three, so a change by another process (another web or worker host, a migration) or a transaction that did not
commit can never bring back a stale workflow. Hand-outs are exclusive: ``take`` removes the entry, and only a
committed ``save_case`` puts the workflow back (``keep_after_commit``). A load that does not save — a read, a dry
run, a failed or refused change — therefore leaves nothing behind that it may have changed in memory.

Bounded (least recently used first out) and thread-safe (waitress serves requests from several threads).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

DEFAULT_CAPACITY = 128  # a live HV case near its end takes about 0.45 MB
_PENDING = "runner.workflow_cache.pending"


@dataclass(frozen=True)
class RowsWritten:
    """What a committed save left in the case's side tables (SQLite): the ids of the ready human tasks that have an
    open-task row, and of the waiting timers that have a timer job. The next save of the same revision writes only
    the difference (``runner.store.sync_open_tasks``, ``sync_timer_jobs``)."""

    open_tasks: frozenset[str]
    timers: frozenset[str]


@dataclass(frozen=True)
class CachedWorkflow:
    """A live workflow as a committed save left it."""

    workflow: Any
    revision: int
    version_id: int
    state: bytes
    written: RowsWritten | None = None
    """None: not known (PostgreSQL writes the side tables in the statement that writes the case row)."""


@dataclass
class CacheCounts:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    """Misses where an entry existed but the row had moved on (another process, a rolled-back save …)."""


class WorkflowCache:
    """Per-process LRU of live workflows, keyed by (database, case id)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.counts = CacheCounts()
        self._entries: OrderedDict[tuple[str, int], CachedWorkflow] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, session: Session, case_id: int, revision: int, version_id: int, state: bytes
             ) -> CachedWorkflow | None:
        """The entry of the live workflow saved as exactly this revision, version and state, removed from the
        cache; else None (and any older entry of the case is dropped)."""
        with self._lock:
            entry = self._entries.pop((database_key(session), case_id), None)
            fresh = (entry is not None and entry.revision == revision and entry.version_id == version_id
                     and entry.state == state)
            if fresh:
                self.counts.hits += 1
            else:
                self.counts.misses += 1
                self.counts.stale += entry is not None
        return entry if fresh and entry is not None else None

    def keep_after_commit(self, session: Session, case_id: int, entry: CachedWorkflow) -> None:
        """Keep the workflow once the session's transaction commits; forget it if the transaction rolls back."""
        pending: dict[tuple[WorkflowCache, str, int], CachedWorkflow] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = {}
        pending[(self, database_key(session), case_id)] = entry

    def keep(self, database: str, case_id: int, entry: CachedWorkflow) -> None:
        """Keep (or replace) a case's entry, unless a newer revision is already kept."""
        key = (database, case_id)
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None and existing.revision > entry.revision:
                return
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def evict(self, session: Session, case_id: int) -> None:
        with self._lock:
            self._entries.pop((database_key(session), case_id), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def database_key(session: Session) -> str:
    """Which database a session talks to (case ids are only unique within one)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


def _promote_pending(session: Session) -> None:
    pending: dict[tuple[WorkflowCache, str, int], CachedWorkflow] = session.info.get(_PENDING) or {}
    for (cache, database, case_id), entry in pending.items():
        cache.keep(database, case_id, entry)
    pending.clear()


def _drop_pending(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        pending.clear()


# Every session's commit and rollback see the pending entries (listening per session cost about 60 µs a transaction).
event.listen(Session, "after_commit", _promote_pending)
event.listen(Session, "after_rollback", _drop_pending)
