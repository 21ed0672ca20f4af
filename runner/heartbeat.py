"""Worker heartbeats: each worker upserts its row of ``worker_heartbeats`` once per poll and marks it stopped on a
graceful shutdown; ``/healthz`` reads them to tell whether a worker is alive.

A worker counts as alive while its newest heartbeat is younger than ``stale_after(poll_seconds)``: three polls, but
never less than ``MIN_STALE`` (a pass over a full batch may take a while before the next beat).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .models import WorkerHeartbeat

MIN_STALE = timedelta(seconds=30)


def stale_after(poll_seconds: float) -> timedelta:
    """How old the newest heartbeat may be before the worker counts as gone."""
    return max(timedelta(seconds=3 * poll_seconds), MIN_STALE)


def beat(sessions: sessionmaker[Session], worker_id: str, now: datetime) -> None:
    """Record that ``worker_id`` is alive now (its own short transaction): insert its row or move ``seen_at``."""
    with sessions.begin() as session:
        moved = session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                                .values(seen_at=now, stopped_at=None).execution_options(synchronize_session=False))
        if not moved.rowcount:  # type: ignore[attr-defined]
            session.add(WorkerHeartbeat(worker_id=worker_id, host=socket.gethostname()[:120], pid=os.getpid(),
                                        started_at=now, seen_at=now, stopped_at=None))


def stopped(sessions: sessionmaker[Session], worker_id: str, now: datetime) -> None:
    """Mark the worker's row stopped (a graceful shutdown), so health does not wait for it to go stale."""
    with sessions.begin() as session:
        session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                        .values(seen_at=now, stopped_at=now).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class HeartbeatStatus:
    """``ok`` (a running worker beat within ``stale_after``), ``stale`` (heartbeats, but none fresh: the workers
    stopped or hang) or ``none`` (no worker ever wrote one); with the newest running worker's row, if any."""

    status: str
    alive: int
    newest: WorkerHeartbeat | None
    age_seconds: float | None


def heartbeat_status(session: Session, now: datetime, stale: timedelta) -> HeartbeatStatus:
    rows = list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.seen_at.desc()).limit(50)))
    if not rows:
        return HeartbeatStatus("none", 0, None, None)
    running = [row for row in rows if row.stopped_at is None]
    alive = [row for row in running if now - row.seen_at <= stale]
    newest = running[0] if running else rows[0]
    age = (now - newest.seen_at).total_seconds()
    return HeartbeatStatus("ok" if alive else "stale", len(alive), newest, age)
