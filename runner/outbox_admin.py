"""Notifications the worker gave up on: an outbox message is ``failed`` after its last attempt
(``runner.worker``, 8 attempts with backoff). They are counted on ``/healthz``, listed and sent again with
``baozhuang outbox list|retry``, and by supervisors on ``/incidents/`` and the case page (``runner.services``
``failed_messages`` / ``send_message_again``, which also serve ``/api/v1/failed-messages``): a customer's SMS must
not vanish because the gateway was down for a day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from .models import OutboxMessage

FAILED = "failed"


def failed_count(session: Session) -> int:
    """Messages given up on and not sent again (``ix_outbox_pending`` covers the status)."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == FAILED)) or 0


def failed_messages(session: Session, case_number: str | None = None, limit: int = 500) -> list[OutboxMessage]:
    """The failed messages, oldest first (of one case when given)."""
    query = select(OutboxMessage).where(OutboxMessage.status == FAILED)
    if case_number:
        query = query.where(OutboxMessage.case_number == case_number)
    return list(session.scalars(query.order_by(OutboxMessage.id).limit(limit)))


def status_of(session: Session, message_id: int) -> str | None:
    """The message's status (pending|delivered|failed), None when there is no such message."""
    return session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message_id))


def statuses(session: Session, ids: Sequence[int], lock: bool = False) -> dict[int, str]:
    """The status of each of the messages that exist among ``ids``. ``lock``: hold their rows until the transaction
    ends (PostgreSQL; SQLite's write transactions hold the whole database), so that a ``send_again`` of the failed
    ones in the same transaction sends exactly those."""
    if not ids:
        return {}
    query = select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.id.in_(list(ids)))
    return dict(session.execute(query.with_for_update() if lock else query).tuples().all())


def send_again(session: Session, now: datetime, ids: Sequence[int] = ()) -> int:
    """Make failed messages (the given ones, else all) pending again with fresh attempts, due now; how many. Each
    keeps its idempotency key, so a receiver that did get an earlier attempt sees the same message again."""
    statement = (update(OutboxMessage).where(OutboxMessage.status == FAILED)
                 .values(status="pending", attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None))
    if ids:
        statement = statement.where(OutboxMessage.id.in_(list(ids)))
    return cast(CursorResult[None], session.execute(statement)).rowcount or 0
