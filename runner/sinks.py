"""Database-backed sinks the handlers write to: the outbox and the customer archive, in the case's transaction.

Each write is one statement built once (``INSERT … ON CONFLICT``, which SQLite and PostgreSQL both have): a handler
may run twice for one case (a retry, or a concurrent run of the same case whose revision check then decides which
transaction counts), and the conflict clause settles that in the database without a read first or a savepoint
around the insert. Reads go to the table, not to ORM objects a session may hold from before an upsert.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .clock import Clock
from .models import ArchiveRecord, OutboxMessage

_OUTBOX = OutboxMessage.__table__
_ARCHIVE = ArchiveRecord.__table__


def _put_statement(dialect_insert: Any) -> Any:
    return dialect_insert(_OUTBOX).values(
        idempotency_key=bindparam("key"), case_number=bindparam("case_number"), channel=bindparam("channel"),
        to_role=bindparam("to_role"), template=bindparam("template"), payload=bindparam("payload"),
        status="pending", attempts=0, next_attempt_at=bindparam("now"), created_at=bindparam("now"),
    ).on_conflict_do_nothing(index_elements=["idempotency_key"])


def _upsert_statement(dialect_insert: Any) -> Any:
    statement = dialect_insert(_ARCHIVE).values(case_number=bindparam("case_number"),
                                                address_key=bindparam("address_key"), record=bindparam("record"),
                                                updated_at=bindparam("now"))
    return statement.on_conflict_do_update(index_elements=["case_number"], set_={
        "record": statement.excluded.record, "address_key": statement.excluded.address_key,
        "updated_at": statement.excluded.updated_at})


_PUT = {"sqlite": _put_statement(sqlite_insert), "postgresql": _put_statement(postgresql_insert)}
_UPSERT = {"sqlite": _upsert_statement(sqlite_insert), "postgresql": _upsert_statement(postgresql_insert)}
_RECORD = select(_ARCHIVE.c.record).where(_ARCHIVE.c.case_number == bindparam("case_number"))
_COUNT = select(func.count()).select_from(_ARCHIVE).where(_ARCHIVE.c.address_key == bindparam("address_key"))
_COUNT_OTHERS = _COUNT.where(_ARCHIVE.c.case_number != bindparam("exclude_case"))


class DbOutbox:
    """Notifications land as outbox rows; a repeated idempotency key is ignored (the handler may be retried)."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def put(self, message: dict[str, Any]) -> None:
        self.session.execute(_PUT[self.session.get_bind().dialect.name], {
            "key": message["idempotency_key"], "case_number": message.get("case_number"),
            "channel": message.get("channel", "sms"), "to_role": message.get("to_role"),
            "template": message.get("template", ""), "payload": message, "now": self.clock.now()})


class DbArchive:
    """用户用电档案 records, one per case number."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def upsert(self, case_number: str, record: dict[str, Any]) -> None:
        self.session.execute(_UPSERT[self.session.get_bind().dialect.name], {
            "case_number": case_number, "address_key": record.get("address_key"), "record": record,
            "now": self.clock.now()})

    def get(self, case_number: str) -> dict[str, Any] | None:
        record = self.session.scalar(_RECORD, {"case_number": case_number})
        return dict(record) if record is not None else None

    def count_applications(self, address_key: str, exclude_case: str | None) -> int:
        if exclude_case:
            return int(self.session.scalar(_COUNT_OTHERS, {"address_key": address_key,
                                                           "exclude_case": exclude_case}) or 0)
        return int(self.session.scalar(_COUNT, {"address_key": address_key}) or 0)
