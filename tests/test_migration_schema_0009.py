"""Schema revision 0009 (``start_requests``, the idempotency of case starts) down to 0008 and up again, on SQLite
and PostgreSQL: the cases stay, only the record of which submission started them goes."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from runner import schema
from runner.database import make_engine
from runner.models import Case as CaseRow
from runner.models import StartRequest
from runner.services import start_case
from tests.db import Db, sample


def tables(db: Db) -> set[str]:
    engine = make_engine(db.url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0009_goes_down_to_0008_keeping_the_cases_and_up_again(db: Db) -> None:
    with db.transaction() as session:
        start_case(session, db.runtime, {"application": sample("lv_residential")["application"]}, "portal",
                   request_id="submission-0001", requested_by="applicant:test")
    assert db.count(StartRequest) == 1
    db.engine.dispose()

    command.downgrade(schema.alembic_config(db.url), "0008")
    assert schema.current(db.url) == "0008" and "start_requests" not in tables(db)
    schema.upgrade(db.url)

    assert schema.current(db.url) == schema.head() and "start_requests" in tables(db)
    assert db.count(CaseRow) == 1 and db.count(StartRequest) == 0
