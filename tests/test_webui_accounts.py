"""``runner.accounts``: users, passwords, groups and failed logins, on SQLite and PostgreSQL; the 0002 migration
matches the models; demo users are created once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from runner import accounts, schema
from runner.accounts import AccountError, Group
from tests.db import Db
from webui.demo_users import demo_password, ensure_demo_users


def test_create_authenticate_and_groups(db: Db) -> None:
    now = db.clock.now()
    with db.transaction() as session:
        made = accounts.create_user(session, " Li.Wei ", "s3cret!", now, display_name="李伟",
                                    groups=("surveyor", "inspector"), password_method="pbkdf2:sha256:1000")
    assert (made.username, made.display_name, made.groups) == ("li.wei", "李伟", ("inspector", "surveyor"))
    with db.transaction() as session:
        assert accounts.authenticate(session, "LI.WEI", "s3cret!", now) is not None
        assert accounts.authenticate(session, "li.wei", "wrong", now) is None
        assert accounts.authenticate(session, "nobody", "s3cret!", now) is None
        accounts.set_groups(session, "li.wei", ["supervisor"])
    with db.reading() as session:
        assert accounts.groups_of(session, "li.wei") == ("supervisor",)
        assert accounts.groups_of(session, "ghost") == ()
        assert [a.username for a in accounts.users_in_group(session, "supervisor")] == ["li.wei"]
        hashed = session.scalar(select(accounts.User.password_hash).where(accounts.User.username == "li.wei"))
        assert hashed is not None and "s3cret!" not in hashed


def test_refusals(db: Db) -> None:
    now = db.clock.now()
    with db.transaction() as session:
        accounts.create_user(session, "a", "long enough", now, password_method="pbkdf2:sha256:1000")
    for name, password, groups in (("a", "long enough", ()), ("b", "short", ()), ("has space", "long enough", ()),
                                   ("c", "long enough", ("customer",))):
        with pytest.raises(AccountError), db.transaction() as session:
            accounts.create_user(session, name, password, now, groups=groups)


def test_failures_are_counted_per_user_and_address_within_the_window(db: Db) -> None:
    now, window = db.clock.now(), timedelta(minutes=10)
    with db.transaction() as session:
        for minutes in (15, 9, 1):
            accounts.record_failure(session, "x", "1.2.3.4", now - timedelta(minutes=minutes), window)
        accounts.record_failure(session, "x", "5.6.7.8", now, window)
    with db.reading() as session:
        assert accounts.recent_failures(session, "X", "1.2.3.4", now, window) == 2
    with db.transaction() as session:
        accounts.clear_failures(session, "x", "1.2.3.4")
        assert accounts.recent_failures(session, "x", "1.2.3.4", now, window) == 0
        assert accounts.recent_failures(session, "x", "5.6.7.8", now, window) == 1


def test_migration_matches_the_models_and_creates_the_groups(db: Db) -> None:
    with db.engine.connect() as connection:
        assert schema.model_differences(connection) == []
    with db.reading() as session:
        assert sorted(session.scalars(select(Group.name))) == sorted(accounts.GROUPS)


def test_demo_users_are_created_once(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    first = ensure_demo_users(db.sessions, password_method="pbkdf2:sha256:1000")
    assert all(created for _, created in first) and len(first) == 11
    assert not any(created for _, created in ensure_demo_users(db.sessions))
    with db.transaction() as session:
        for group in accounts.GROUPS:
            account = accounts.authenticate(session, group, demo_password(group), db.clock.now())
            assert account is not None and account.groups == (group,)
    assert demo_password("admin") == "admin123"
