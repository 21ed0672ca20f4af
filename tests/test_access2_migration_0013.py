"""Schema revision 0013 (``login_sessions``, ``api_tokens.scope``) down to 0012 and up again, on SQLite and
PostgreSQL: a token made before 0013 comes up read-write with the expiry it had (none), and keeps working; the models
match the migrated schema."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from runner import accounts, api_tokens, schema
from runner.api_tokens import TOKEN_MARK, token_hash
from runner.database import make_engine
from tests.db import Db
from tests.webui_helpers import FAST_HASH


def tables_and_token_columns(db: Db) -> tuple[set[str], set[str]]:
    engine = make_engine(db.url)
    try:
        inspector = inspect(engine)
        return set(inspector.get_table_names()), {column["name"] for column in inspector.get_columns("api_tokens")}
    finally:
        engine.dispose()


def test_0013_goes_down_and_up_and_old_tokens_stay_read_write_without_expiry(db: Db) -> None:
    with db.transaction() as session:
        accounts.create_user(session, "reporting", "secret-1", db.clock.now(), groups=("analyst",),
                             password_method=FAST_HASH)
    db.engine.dispose()
    command.downgrade(schema.alembic_config(db.url), "0012")
    tables, columns = tables_and_token_columns(db)
    assert schema.current(db.url) == "0012" and "login_sessions" not in tables and "scope" not in columns
    secret = TOKEN_MARK + "made-before-0013"
    engine = make_engine(db.url)
    try:
        with engine.begin() as connection:  # a token as the release before 0013 wrote it
            user_id = connection.execute(text("SELECT id FROM users WHERE username = 'reporting'")).scalar_one()
            connection.execute(text("INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) "
                                    "VALUES (:user, 'old', :hash, :prefix, :at)"),
                               {"user": user_id, "hash": token_hash(secret), "prefix": secret[:12],
                                "at": db.clock.now().replace(tzinfo=None)})
    finally:
        engine.dispose()

    schema.upgrade(db.url)
    tables, columns = tables_and_token_columns(db)
    assert schema.current(db.url) == schema.head() and "login_sessions" in tables and "scope" in columns
    with db.transaction() as session:
        access = api_tokens.verify_token(session, secret, db.clock.now())
        assert access is not None and access.account.username == "reporting" and not access.read_only
        (info,) = api_tokens.list_tokens(session, "reporting")
        assert (info.scope, info.expires_at, info.state(db.clock.now())) == ("read-write", None, "active")
    with db.engine.connect() as connection:
        assert schema.model_differences(connection) == []
