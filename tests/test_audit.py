"""The hash-chained event log and deployments, on SQLite and PostgreSQL: what is appended, that tampering is found
(by ``audit.verify`` and by ``baozhuang audit verify``), and that a deployment is stored once per content."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic import command
from click.testing import Result
from sqlalchemy import delete, func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runner import audit, schema
from runner.case import CaseEvent
from runner.clock import to_iso
from runner.models import ChainHead, Event, ProcessVersion
from runner.store import DeployError, deploy
from tests.db import PROCESSES, Db, complete, events, run_cli, start

PROBLEM_LINE = re.compile(r"^\S+\.(bpmn|dmn|json):\d+: [^:\s]+: .+$")


def verify(db: Db) -> audit.VerifyResult:
    with db.reading() as session:
        return audit.verify(session)


def cli(db: Db, tmp_path: Path, *args: str) -> Result:
    """``baozhuang ARGS`` against the test database, as the environment variables point it there."""
    return run_cli(db, tmp_path / "instance", *args)


@pytest.fixture()
def logged(db: Db) -> str:
    """A case accepted and surveyed: a few dozen events in the log."""
    number = start(db)
    complete(db, number, "accept_application", user="am.1")
    complete(db, number, "site_survey", user="sv.1")
    return number


def test_human_tasks_log_enabled_started_completed(db: Db, logged: str) -> None:
    log = events(db, logged)
    accept = [e for e in log if e.element_id == "accept_application"]
    assert [e.lifecycle for e in accept] == ["enabled", "started", "completed"]
    assert {e.task_id for e in accept} == {accept[0].task_id} and accept[0].task_id is not None
    assert [e.user for e in accept] == [None, "am.1", "am.1"]
    assert {e.role for e in accept} == {"account_manager"}
    assert accept[-1].activity == "业务受理"
    assert accept[-1].data is not None and accept[-1].data["decision"] == "accept"
    engine_steps = [e.element_id for e in log if e.lifecycle == "completed" and e.user is None]
    assert {"assess_capacity", "decide_category", "check_materials", "register_customer"} <= set(engine_steps)
    assert [e.lifecycle for e in log if e.element_id == "site_survey"] == ["enabled", "started", "completed"]
    assert log[-1].element_id == "draft_plan" and log[-1].lifecycle == "enabled"
    ids = [e.id for e in log]
    assert ids == sorted(ids) and all(e.at.tzinfo is not None for e in log)


def test_the_chain_links_every_event_to_the_one_before(db: Db, logged: str) -> None:
    log = events(db, logged)
    assert log[0].prev_hash == audit.GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(log, log[1:], strict=False))
    with db.reading() as session:
        head = session.get(ChainHead, 1)
    assert head is not None and (head.last_hash, head.last_event_id) == (log[-1].hash, log[-1].id)


def test_an_untouched_log_verifies(db: Db, logged: str, tmp_path: Path) -> None:
    result = verify(db)
    assert (result.ok, result.checked, result.problems) == (True, db.count(Event), [])
    run = cli(db, tmp_path, "audit", "verify")
    assert run.exit_code == 0, run.output
    assert f"{db.count(Event)} events checked: intact" in run.output


def test_an_empty_log_verifies(db: Db, tmp_path: Path) -> None:
    assert verify(db).ok
    assert cli(db, tmp_path, "audit", "verify").exit_code == 0


def _middle(db: Db) -> Event:
    with db.reading() as session:
        ids = list(session.scalars(select(Event.id).order_by(Event.id)))
        row = session.get(Event, ids[len(ids) // 2])
        assert row is not None
        return row


def edit_data(db: Db) -> str:
    row = _middle(db)
    with db.transaction() as session:  # straight SQL, past the ORM and the audit module
        session.execute(update(Event).where(Event.id == row.id).values(data={"decision": "reject", "forged": True})
                        .execution_options(synchronize_session=False))
    return f"event {row.id}: hash mismatch"


def edit_user(db: Db) -> str:
    row = _middle(db)
    with db.transaction() as session:
        session.execute(text('UPDATE events SET "user" = :user WHERE id = :id'), {"user": "mallory", "id": row.id})
    return f"event {row.id}: hash mismatch"


def edit_time(db: Db) -> str:
    row = _middle(db)
    with db.transaction() as session:
        session.execute(text("UPDATE events SET at = :at WHERE id = :id"),
                        {"at": row.at.replace(tzinfo=None, year=2020), "id": row.id})
    return f"event {row.id}: hash mismatch"


def delete_middle(db: Db) -> str:
    row = _middle(db)
    with db.transaction() as session:
        session.execute(text("DELETE FROM events WHERE id = :id"), {"id": row.id})
        following = session.scalar(select(func.min(Event.id)).where(Event.id > row.id))
    return f"event {following}: link broken"


def delete_last(db: Db) -> str:
    with db.transaction() as session:
        last = session.scalar(select(func.max(Event.id)))
        session.execute(delete(Event).where(Event.id == last).execution_options(synchronize_session=False))
    return "chain head does not match"


def rewrite_last_consistently(db: Db) -> str:
    """An attacker who recomputes the edited row's own hash: the head still gives it away."""
    with db.transaction() as session:
        row = session.scalar(select(Event).order_by(Event.id.desc()).limit(1))
        assert row is not None
        row.user = "mallory"
        row.hash = audit.event_digest(row.prev_hash, audit.event_fields(row))
    return "chain head does not match"


TAMPERING = [edit_data, edit_user, edit_time, delete_middle, delete_last, rewrite_last_consistently]


@pytest.mark.parametrize("tamper", TAMPERING, ids=[t.__name__ for t in TAMPERING])
def test_tampering_is_found(db: Db, logged: str, tmp_path: Path, tamper: object) -> None:
    assert callable(tamper)
    expected = tamper(db)
    result = verify(db)
    assert not result.ok
    assert any(problem.startswith(expected) for problem in result.problems), result.problems
    run = cli(db, tmp_path, "audit", "verify")
    assert run.exit_code == 1, run.output
    assert expected in run.output and "TAMPERED" in run.output


def test_events_appended_after_tampering_do_not_heal_the_chain(db: Db, logged: str) -> None:
    delete_middle(db)
    complete(db, logged, "draft_plan", user="sv.1")
    assert not verify(db).ok


def _append_probe(db: Db, user: str) -> None:
    with db.transaction() as session:
        audit.append(session, None, None, [CaseEvent(
            element_id="probe", name="probe", lifecycle="completed", at=to_iso(db.clock.now()), task_id=None,
            role=None, user=user, data=None)])


MAX_APPENDS = 1500


def test_verify_while_others_append_never_reports_tampering(db: Db, logged: str) -> None:
    """Each verify reads one snapshot: an append committing between its batches (small here, so there are many) and
    its read of the head must not look like deleted events. The writer pauses a millisecond between appends and
    stops at ``MAX_APPENDS``: unthrottled, on a busy machine it outran the checks (136,602 appends read three at a
    time by each of them: minutes for one test)."""
    stop, appended = threading.Event(), [0]

    def append_until_stopped() -> None:
        while not stop.is_set() and appended[0] < MAX_APPENDS:
            _append_probe(db, f"writer.{appended[0]}")
            appended[0] += 1
            stop.wait(0.001)

    appender = threading.Thread(target=append_until_stopped)
    appender.start()
    try:
        results = []
        for _ in range(25):
            with db.reading() as session:
                results.append(audit.verify(session, batch=3))
    finally:
        stop.set()
        appender.join(60)
    assert not appender.is_alive()
    assert [result.problems for result in results if not result.ok] == []
    assert appended[0] > 0 and [r.checked for r in results] == sorted(r.checked for r in results)
    assert len({r.checked for r in results}) > 1  # the checks did run while the log grew
    final = verify(db)
    assert (final.ok, final.checked) == (True, db.count(Event))


def test_an_append_between_the_last_batch_and_the_head_is_not_seen(db: Db, logged: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The race made certain: verify reads the head (``session.get``) just after another transaction appended.
    PostgreSQL: that append commits first (a snapshot reader blocks no writer); SQLite: it waits for the reader."""
    real_get = Session.get
    appenders: list[threading.Thread] = []

    def append_then_get(session: Session, *args: object, **kwargs: object) -> object:
        if not appenders:
            appenders.append(threading.Thread(target=_append_probe, args=(db, "writer")))
            appenders[0].start()
            if db.kind == "postgresql":
                appenders[0].join(60)
                assert not appenders[0].is_alive()
        return real_get(session, *args, **kwargs)  # type: ignore[call-overload]

    before = db.count(Event)
    monkeypatch.setattr(Session, "get", append_then_get)
    result = verify(db)
    monkeypatch.undo()
    appenders[0].join(60)
    assert (result.ok, result.problems, result.checked) == (True, [], before)
    assert db.count(Event) == before + 1 and verify(db).ok


# -- deployments -------------------------------------------------------------------------------------------------


def versions(db: Db) -> list[tuple[int, str]]:
    with db.reading() as session:
        return [(v.id, v.version_hash) for v in session.scalars(select(ProcessVersion).order_by(ProcessVersion.id))]


def _log_rows(db: Db) -> list[tuple[object, ...]]:
    with db.reading() as session:
        return [tuple(row) for row in session.execute(select(Event.__table__).order_by(Event.id))]


def _hash_is_unique(db: Db) -> bool:
    with db.engine.connect() as connection:
        found = inspect(connection)
        return (any(c["column_names"] == ["hash"] for c in found.get_unique_constraints("events"))
                or any(i["column_names"] == ["hash"] and i["unique"] for i in found.get_indexes("events")))


def test_migration_0007_drops_the_unique_hash_index_and_keeps_the_log(db: Db, logged: str) -> None:
    """Without the index (random keys: a random page per event) the log keeps its rows both ways and still
    verifies; a second row with a taken hash is then stored, and verify finds it."""
    before = _log_rows(db)
    assert not _hash_is_unique(db)
    db.engine.dispose()
    command.downgrade(schema.alembic_config(db.url), "0006")
    assert _hash_is_unique(db) and _log_rows(db) == before
    copy = {key: value for key, value in zip(Event.__table__.c.keys(), before[-1], strict=True) if key != "id"}
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.execute(insert(Event.__table__).values(copy))
    db.engine.dispose()
    schema.upgrade(db.url)
    assert not _hash_is_unique(db) and _log_rows(db) == before
    assert verify(db).ok
    with db.transaction() as session:
        session.execute(insert(Event.__table__).values(copy))
    result = verify(db)
    assert not result.ok and any("link broken" in problem for problem in result.problems), result.problems


def test_deploying_unchanged_files_is_a_no_op(db: Db, tmp_path: Path) -> None:
    before = versions(db)
    with db.transaction() as session:
        version, created = deploy(session, db.runtime, PROCESSES, "analyst")
    assert (created, version.id) == (False, db.version_id)
    assert versions(db) == before
    run = cli(db, tmp_path, "deploy", str(PROCESSES))
    assert run.exit_code == 0 and "unchanged" in run.output, run.output
    assert versions(db) == before


def test_a_changed_form_is_a_new_version(db: Db, process_copy: Path, tmp_path: Path) -> None:
    form = process_copy / "forms" / "review_plan.schema.json"
    form.write_text(form.read_text(encoding="utf-8").replace("审核", "审核（修订）", 1), encoding="utf-8")
    with db.transaction() as session:
        version, created = deploy(session, db.runtime, process_copy, "analyst", note="wording")
        new_id = version.id
    assert created and new_id != db.version_id
    assert [v for v, _ in versions(db)] == [db.version_id, new_id]
    with db.reading() as session:
        stored = session.get(ProcessVersion, new_id)
        assert stored is not None
        assert stored.files["forms/review_plan.schema.json"] == form.read_text(encoding="utf-8")
        assert (stored.deployed_by, stored.note) == ("analyst", "wording")
        assert db.runtime.bundle(stored).version == stored.version_hash  # what was stored parses back
    with db.transaction() as session:  # and deploying it again is a no-op
        again, created_again = deploy(session, db.runtime, process_copy, "analyst")
    assert (again.id, created_again) == (new_id, False)
    run = cli(db, tmp_path, "deploy", str(process_copy))
    assert run.exit_code == 0 and "unchanged" in run.output, run.output


def test_an_invalid_folder_is_refused_with_every_problem_located(db: Db, process_copy: Path, tmp_path: Path) -> None:
    (process_copy / "forms" / "review_plan.schema.json").unlink()
    bpmn = process_copy / "baozhuang.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('id="fee_calculation"', 'id="fee_magic"', 1),
                    encoding="utf-8")
    before = versions(db)
    with pytest.raises(DeployError) as raised, db.transaction() as session:
        deploy(session, db.runtime, process_copy, "analyst")
    problems = raised.value.problems
    assert problems and all(PROBLEM_LINE.match(line) for line in problems), problems
    assert any("baozhuang.bpmn:" in line and ": review_plan: " in line for line in problems), problems
    assert any(": calculate_fees: " in line and "fee_magic" in line for line in problems), problems
    assert versions(db) == before
    run = cli(db, tmp_path, "deploy", str(process_copy))
    assert run.exit_code == 1
    assert "review_plan" in run.output and "fee_magic" in run.output
    assert versions(db) == before


def test_verify_on_sqlite_reads_a_snapshot_without_holding_up_writers(db: Db, logged: str) -> None:
    if db.kind != "sqlite":
        pytest.skip("PostgreSQL readers never block writers")
    with db.sessions() as reader:
        result = audit.verify(reader)  # its transaction stays open until the session closes
        assert result.ok
        writer = sqlite3.connect(db.url.removeprefix("sqlite:///"), timeout=1, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # waited 30 s, then "database is locked", while verify held the lock
            writer.execute("COMMIT")
        finally:
            writer.close()
        start(db)  # a case starts while the check's transaction is open
        assert reader.scalar(select(func.count()).select_from(Event)) == result.checked  # still its snapshot
    assert verify(db).checked > result.checked
