"""Schema revision 0010 (``outbox.last_attempt_at``) down to 0009 and up again, on SQLite and PostgreSQL: the
messages stay; coming up, a delivered message's last attempt is its delivery, a failed one's the time it was due,
a pending one has none yet."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from sqlalchemy import inspect, select

from runner import schema
from runner.database import make_engine
from runner.models import OutboxMessage
from runner.sinks import DbOutbox
from tests.db import Db


def outbox_columns(db: Db) -> set[str]:
    engine = make_engine(db.url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("outbox")}
    finally:
        engine.dispose()


def test_0010_goes_down_to_0009_keeping_the_messages_and_up_again_with_their_last_attempts(db: Db) -> None:
    with db.transaction() as session:
        outbox = DbOutbox(session, db.clock)
        for key in ("delivered", "failed", "pending"):
            outbox.put({"idempotency_key": key, "case_number": None, "template": "test", "to_role": "customer",
                        "channel": "sms", "params": {}})
    created = db.clock.now()
    with db.transaction() as session:
        rows = {row.idempotency_key: row for row in session.scalars(select(OutboxMessage))}
        rows["delivered"].status, rows["delivered"].delivered_at = "delivered", created + timedelta(minutes=5)
        rows["failed"].status, rows["failed"].next_attempt_at = "failed", created + timedelta(hours=3)
        rows["failed"].attempts = rows["pending"].attempts = 8
    db.engine.dispose()

    command.downgrade(schema.alembic_config(db.url), "0009")
    assert schema.current(db.url) == "0009" and "last_attempt_at" not in outbox_columns(db)
    schema.upgrade(db.url)

    assert schema.current(db.url) == schema.head() and "last_attempt_at" in outbox_columns(db)
    with db.reading() as session:
        last = {row.idempotency_key: row.last_attempt_at for row in session.scalars(select(OutboxMessage))}
    assert last == {"delivered": created + timedelta(minutes=5), "failed": created + timedelta(hours=3),
                    "pending": None}
