"""Leases on ``jobs`` and ``outbox`` rows: claim due rows for one worker, give them back.

A lease is ``lease_owner`` + ``lease_until`` on a pending row. A row is free when it has no lease or its lease has
expired (its worker died or hangs); only free rows are claimed, so a claimed row is worked on by one worker at a
time. Claiming is a conditional UPDATE per candidate row whose row count says whether this worker won it: that is
atomic on SQLite (one writer at a time) and on PostgreSQL (the UPDATE re-checks its condition on the newest row
version). On PostgreSQL the candidates are picked with ``FOR UPDATE SKIP LOCKED`` besides, so that concurrent
workers pick different rows instead of competing for the same ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from .models import Job, OutboxMessage

Leased = type[Job] | type[OutboxMessage]


def rowcount(result: Any) -> int:
    """The number of rows an UPDATE matched."""
    return int(cast(CursorResult[Any], result).rowcount)


def is_free(model: Leased, now: datetime) -> ColumnElement[bool]:
    """The row has no lease, or an expired one."""
    return or_(model.lease_until.is_(None), model.lease_until < now)


def claim(sessions: sessionmaker[Session], model: Leased, due: InstrumentedAttribute[datetime], *, owner: str,
          now: datetime, lease: timedelta, limit: int) -> list[int]:
    """Lease up to ``limit`` free pending rows whose ``due`` time has come to ``owner``, earliest first.

    Returns:
        The ids of the rows this call won, in due order.
    """
    free = is_free(model, now)
    claimed: list[int] = []
    with sessions.begin() as session:
        query = select(model.id).where(model.status == "pending", due <= now, free).order_by(due, model.id)
        query = query.limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row_id in session.scalars(query).all():
            taken = session.execute(
                update(model).where(model.id == row_id, model.status == "pending", free)
                .values(lease_owner=owner, lease_until=now + lease).execution_options(synchronize_session=False))
            if rowcount(taken) == 1:
                claimed.append(row_id)
    return claimed


def renew(session: Session, model: Leased, row_id: int, *, owner: str, until: datetime) -> bool:
    """Extend ``owner``'s lease on a pending row, in the caller's transaction; False when the lease is gone.

    Inside a transaction this is also the fence: on PostgreSQL the row stays locked until the commit, and on SQLite
    the transaction holds the write lock, so nobody else can take the row meanwhile.
    """
    renewed = session.execute(
        update(model).where(model.id == row_id, model.status == "pending", model.lease_owner == owner)
        .values(lease_until=until).execution_options(synchronize_session=False))
    return rowcount(renewed) == 1


def release(sessions: sessionmaker[Session], model: Leased, ids: list[int], owner: str) -> int:
    """Give back ``owner``'s leases on ``ids``; return how many it still held."""
    with sessions.begin() as session:
        return rowcount(session.execute(
            update(model).where(model.id.in_(ids), model.lease_owner == owner)
            .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False)))


def release_all(sessions: sessionmaker[Session], owner: str) -> dict[str, int]:
    """Give back every lease ``owner`` holds; return how many per table."""
    released: dict[str, int] = {}
    with sessions.begin() as session:
        for model in (Job, OutboxMessage):
            released[model.__tablename__] = rowcount(session.execute(
                update(model).where(model.lease_owner == owner)
                .values(lease_owner=None, lease_until=None).execution_options(synchronize_session=False)))
    return released
