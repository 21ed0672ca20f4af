"""Database-backed sinks the handlers write to: the outbox and the customer archive, in the case's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .clock import Clock
from .models import ArchiveRecord, OutboxMessage


class DbOutbox:
    """Notifications land as outbox rows; a repeated idempotency key is ignored (the handler may be retried)."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def put(self, message: dict[str, Any]) -> None:
        key = message["idempotency_key"]
        if self.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None:
            return
        now = self.clock.now()
        try:
            with self.session.begin_nested():  # a concurrent run of the same case may insert the key first
                self.session.add(OutboxMessage(
                    idempotency_key=key, case_number=message.get("case_number"),
                    channel=message.get("channel", "sms"), to_role=message.get("to_role"),
                    template=message.get("template", ""), payload=message,
                    status="pending", attempts=0, next_attempt_at=now, created_at=now,
                ))
        except IntegrityError:
            pass  # it did: the case's revision check decides which of the two transactions counts


class DbArchive:
    """用户用电档案 records, one per case number."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def upsert(self, case_number: str, record: dict[str, Any]) -> None:
        row = self.session.get(ArchiveRecord, case_number)
        if row is None:
            try:
                with self.session.begin_nested():  # a concurrent run of the same case may insert it first
                    self.session.add(ArchiveRecord(case_number=case_number, address_key=record.get("address_key"),
                                                   record=record, updated_at=self.clock.now()))
                return
            except IntegrityError:  # it did: update its row; the case's revision check decides who counts
                row = self.session.get(ArchiveRecord, case_number)
                assert row is not None
        row.record, row.address_key, row.updated_at = record, record.get("address_key"), self.clock.now()
        self.session.flush()

    def get(self, case_number: str) -> dict[str, Any] | None:
        row = self.session.get(ArchiveRecord, case_number)
        return dict(row.record) if row is not None else None

    def count_applications(self, address_key: str, exclude_case: str | None) -> int:
        query = select(func.count()).select_from(ArchiveRecord).where(ArchiveRecord.address_key == address_key)
        if exclude_case:
            query = query.where(ArchiveRecord.case_number != exclude_case)
        return int(self.session.scalar(query) or 0)
