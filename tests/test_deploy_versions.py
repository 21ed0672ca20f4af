"""Which version new cases start on: deploying a new folder makes it current, deploying an older version's files
again makes that version current again (a rollback, recorded), and two deployments of one new folder at once store
it once. Both databases."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select

from runner import schema, store
from runner.models import ProcessVersion, VersionActivation
from runner.store import Deployment, deploy, latest_version
from tests.db import PROCESSES, Db, case_row, run_cli, start


def changed_copy(process_copy: Path) -> Path:
    """``processes/`` with one form's wording changed: a new version."""
    form = process_copy / "forms" / "review_plan.schema.json"
    form.write_text(form.read_text(encoding="utf-8").replace("审核", "审核（修订）", 1), encoding="utf-8")
    return process_copy


def deploy_as(db: Db, folder: Path, user: str) -> Deployment:
    with db.transaction() as session:
        deployment = deploy(session, db.runtime, folder, user)
        session.expunge_all()
    return deployment


def current_id(db: Db) -> int:
    with db.reading() as session:
        return latest_version(session).id


def test_redeploying_an_older_version_makes_it_current_again(db: Db, process_copy: Path) -> None:
    running = start(db)
    newer = deploy_as(db, changed_copy(process_copy), "analyst")
    assert newer.created and newer.previous_id == db.version_id and current_id(db) == newer.version.id
    assert start(db) and case_row(db, start(db)).version_id == newer.version.id

    db.clock.advance(timedelta(hours=1))
    back = deploy_as(db, PROCESSES, "owner")
    assert (back.version.id, back.created, back.previous_id, back.rolled_back) == (db.version_id, False,
                                                                                 newer.version.id, True)
    assert back.message() == (f"version {db.version_id} ({back.version.version_hash[:12]}) is current again "
                              f"(was {newer.version.id})")
    assert current_id(db) == db.version_id
    assert case_row(db, start(db)).version_id == db.version_id  # new cases start on the version rolled back to
    assert case_row(db, running).version_id == db.version_id  # a running case keeps its version

    with db.reading() as session:
        newest = session.scalars(select(VersionActivation).order_by(VersionActivation.id.desc())).first()
        assert newest is not None
        assert (newest.version_id, newest.previous_version_id, newest.activated_by) == (
            db.version_id, newer.version.id, "owner")
        assert newest.activated_at == db.clock.now()


def test_redeploying_the_current_version_changes_nothing(db: Db) -> None:
    again = deploy_as(db, PROCESSES, "analyst")
    assert (again.version.id, again.created, again.previous_id, again.rolled_back) == (db.version_id, False, None,
                                                                                      False)
    assert again.message().startswith("unchanged: ")
    version, created = again  # the two-value form callers unpack
    assert (version.id, created) == (db.version_id, False)
    assert db.count(VersionActivation, VersionActivation.version_id == db.version_id) <= 1


def test_two_deployments_of_one_new_folder_at_once_store_it_once(db: Db, process_copy: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = changed_copy(process_copy)
    both_hashed = threading.Barrier(2, timeout=30)
    hash_of = store.content_hash

    def hash_together(path: Path) -> str:
        """Both deployments look for the version only once both have hashed the folder: neither finds it."""
        value = hash_of(path)
        both_hashed.wait()
        return value

    monkeypatch.setattr(store, "content_hash", hash_together)
    results: list[Deployment] = []
    errors: list[BaseException] = []

    def run(user: str) -> None:
        try:
            results.append(deploy_as(db, folder, user))
        except BaseException as err:  # reported below, with the thread's traceback gone
            errors.append(err)

    threads = [threading.Thread(target=run, args=(user,)) for user in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(result.created for result in results) == [False, True]
    assert len({result.version.id for result in results}) == 1
    loser = next(result for result in results if not result.created)
    assert loser.message().startswith("unchanged: ") and not loser.rolled_back
    assert db.count(ProcessVersion) == 2 and current_id(db) == loser.version.id


def test_migration_0008_records_the_newest_version_as_current_and_goes_back(db: Db, process_copy: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    newer = deploy_as(db, changed_copy(process_copy), "analyst")
    deploy_as(db, PROCESSES, "owner")  # rolled back: the activations say so, the version ids do not
    monkeypatch.setenv("BAOZHUANG_DOWNGRADE_FORGET_ROLLBACKS", "yes")  # else refused (test_migration_schema_0008)
    db.engine.dispose()
    command.downgrade(schema.alembic_config(db.url), "0007")
    schema.upgrade(db.url)
    assert current_id(db) == newer.version.id  # backfilled from the versions: the newest one
    with db.reading() as session:
        rows = session.scalars(select(VersionActivation).order_by(VersionActivation.id)).all()
        assert [(row.version_id, row.previous_version_id) for row in rows] == [(db.version_id, None),
                                                                              (newer.version.id, db.version_id)]


def test_the_deploy_command_says_which_version_is_current(db: Db, process_copy: Path, tmp_path: Path) -> None:
    """``baozhuang deploy``: a new version, the older folder again (a rollback, named as such), then unchanged."""
    instance = tmp_path / "instance"
    new = run_cli(db, instance, "deploy", str(changed_copy(process_copy)))
    assert new.exit_code == 0 and new.output.startswith("deployed version "), new.output
    new_id = current_id(db)
    back = run_cli(db, instance, "deploy", str(PROCESSES))
    assert back.exit_code == 0, back.output
    assert f"version {db.version_id} (" in back.output and f"is current again (was {new_id})" in back.output
    assert current_id(db) == db.version_id
    again = run_cli(db, instance, "deploy", str(PROCESSES))
    assert again.exit_code == 0 and again.output.startswith(f"unchanged: version {db.version_id} ("), again.output


def test_deploying_a_version_that_drops_a_message_warns(db: Db, process_copy: Path, tmp_path: Path) -> None:
    """A renamed ``bpmn:message`` deploys (its own version is consistent), but the metering system still sends
    ``meter_online``: every new case would refuse it. The deploy says so; a version catching the same messages
    says nothing."""
    instance = tmp_path / "instance"
    wording = run_cli(db, instance, "deploy", str(changed_copy(process_copy)))
    assert wording.exit_code == 0 and "warning:" not in wording.stderr, wording.output
    wording_id = current_id(db)
    bpmn = process_copy / "baozhuang.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace('name="meter_online"', 'name="meter_onlin"', 1),
                    encoding="utf-8")
    renamed = run_cli(db, instance, "deploy", str(process_copy))
    assert renamed.exit_code == 0 and renamed.stdout.startswith("deployed version "), renamed.output
    assert renamed.stderr.splitlines()[-1] == (
        f"warning: version {current_id(db)} catches no message meter_online any more (version {wording_id} did): "
        "the systems sending it get 'no message' for new cases; running cases keep their version")
