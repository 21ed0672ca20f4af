"""Worker heartbeats: each worker writes its row of ``worker_heartbeats`` when it starts (host, pid, started_at, its
poll interval), moves ``seen_at`` once per poll and marks the row stopped on a graceful shutdown; ``/healthz`` reads
them to tell whether a worker is alive.

A worker counts as alive while its newest heartbeat is younger than ``stale_after(poll_seconds)`` of *its own* poll
interval (``poll_seconds`` in its row; rows of workers from before 0011 have none, and the reader's default is
used): three polls, but never less than ``MIN_STALE`` (a pass over a full batch may take a while before the next
beat).

Heartbeats are wall-clock time (``heartbeat_clock``): ``BAOZHUANG_CLOCK_OFFSET_DAYS`` moves the time of cases, due
dates and leases, not the time at which a process was last seen — otherwise a worker run with an offset would be
"seen" days in the future and count as alive long after it died. A heartbeat more than ``CLOCK_SKEW`` ahead of
the reader's clock (a host whose clock is wrong, or a row an offset worker wrote before this) is *from the future*:
reported as such and never counted alive.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock, SystemClock
from .environment import OffsetClock
from .models import WorkerHeartbeat

MIN_STALE = timedelta(seconds=30)
CLOCK_SKEW = timedelta(seconds=5)
"""How far a heartbeat may lie ahead of the reader's clock (hosts' clocks differ a little even when synchronised)."""


def heartbeat_clock(clock: Clock) -> Clock:
    """The clock heartbeats are written and judged on: the wall clock when ``clock`` is the system clock shifted by
    ``BAOZHUANG_CLOCK_OFFSET_DAYS``; otherwise ``clock`` itself (the system clock, or a test's virtual clock, which
    is the only time there is in that test)."""
    return SystemClock() if isinstance(clock, OffsetClock) else clock


def stale_after(poll_seconds: float) -> timedelta:
    """How old the newest heartbeat may be before the worker counts as gone."""
    return max(timedelta(seconds=3 * poll_seconds), MIN_STALE)


class WorkerIdInUse(Exception):
    """Another live process runs under the worker id this one was given."""


def in_use_by(session: Session, worker_id: str, now: datetime) -> WorkerHeartbeat | None:
    """The heartbeat row of *another* live process running as ``worker_id``, or None when the id is free.

    The id is free when it has no row, its row is stopped or stale (``stale_after`` of the row's poll interval), or
    the row is this host's and its pid is this process or no longer runs (a worker restarted by its supervisor after
    a crash, which takes its old leases back at once). A fresh row of another host, or of a live process here, is
    a second worker under the same id: both would hold one set of leases and could send a message twice."""
    row = session.get(WorkerHeartbeat, worker_id)
    if row is None or row.stopped_at is not None or now - row.seen_at > stale_after(row.poll_seconds or 0.0):
        return None
    if row.host == socket.gethostname()[:120] and (row.pid == os.getpid() or not _pid_alive(row.pid)):
        return None
    return row


def _pid_alive(pid: int | None) -> bool:
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: it runs
        return True
    return True


def started(sessions: sessionmaker[Session], worker_id: str, now: datetime, poll_seconds: float) -> None:
    """Record that this process now runs as ``worker_id``: its row (new, or left by an earlier process under the
    same id) gets this host, pid, ``started_at`` and poll interval."""
    identity = _identity(now, poll_seconds)
    with sessions.begin() as session:
        moved = session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                                .values(**identity).execution_options(synchronize_session=False))
        if not moved.rowcount:  # type: ignore[attr-defined]
            session.add(WorkerHeartbeat(worker_id=worker_id, **identity))


def beat(sessions: sessionmaker[Session], worker_id: str, now: datetime, poll_seconds: float | None = None) -> None:
    """Record that ``worker_id`` is alive now (its own short transaction): insert its row or move ``seen_at``."""
    moved_values: dict[str, object] = {"seen_at": now, "stopped_at": None}
    if poll_seconds is not None:
        moved_values["poll_seconds"] = poll_seconds
    with sessions.begin() as session:
        moved = session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                                .values(**moved_values).execution_options(synchronize_session=False))
        if not moved.rowcount:  # type: ignore[attr-defined]
            session.add(WorkerHeartbeat(worker_id=worker_id, **_identity(now, poll_seconds)))


def _identity(now: datetime, poll_seconds: float | None) -> dict[str, object]:
    """The columns a worker's row gets when this process starts as it (or beats without a row): this host and pid,
    started and seen now, running, its poll interval."""
    return {"host": socket.gethostname()[:120], "pid": os.getpid(), "started_at": now, "seen_at": now,
            "stopped_at": None, "poll_seconds": poll_seconds}


def stopped(sessions: sessionmaker[Session], worker_id: str, now: datetime) -> None:
    """Mark the worker's row stopped (a graceful shutdown), so health does not wait for it to go stale."""
    with sessions.begin() as session:
        session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                        .values(seen_at=now, stopped_at=now).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class HeartbeatStatus:
    """``ok`` (a running worker beat within its ``stale_after``), ``stale`` (heartbeats, but none fresh: the workers
    stopped or hang, or beat from the future) or ``none`` (no worker ever wrote one); with the row shown (the newest
    alive one, else the newest running one, else the newest), its age and allowance, and how many running rows lie
    more than ``CLOCK_SKEW`` ahead of the reader's clock."""

    status: str
    alive: int
    newest: WorkerHeartbeat | None
    age_seconds: float | None
    stale_after_seconds: float | None = None
    from_future: int = 0


def heartbeat_status(session: Session, now: datetime, default_poll_seconds: float) -> HeartbeatStatus:
    """The workers' state at ``now`` (wall-clock: ``heartbeat_clock``); a row without its own poll interval is
    judged by ``default_poll_seconds``."""
    rows = list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.seen_at.desc()).limit(50)))
    if not rows:
        return HeartbeatStatus("none", 0, None, None)

    def allowance(row: WorkerHeartbeat) -> timedelta:
        return stale_after(row.poll_seconds if row.poll_seconds is not None else default_poll_seconds)

    running = [row for row in rows if row.stopped_at is None]
    future = [row for row in running if row.seen_at - now > CLOCK_SKEW]
    alive = [row for row in running if row not in future and now - row.seen_at <= allowance(row)]
    newest = alive[0] if alive else running[0] if running else rows[0]
    return HeartbeatStatus("ok" if alive else "stale", len(alive), newest, (now - newest.seen_at).total_seconds(),
                           allowance(newest).total_seconds(), len(future))
