"""What an operator of the durable runner met on the command line (issue 3), each on SQLite and PostgreSQL where a
database is involved: settings of the environment that the worker cannot use, option values longer than their
columns, listings that tell failed messages and incidents apart and show Shanghai time, rollbacks in ``versions``,
``audit verify`` naming the event, clear outbox errors, a clear missing process folder, and a stopped worker that
claims nothing more.

Commands run in process through click's runner (``run_cli``); times are compared with the test database's virtual
clock, never with the wall clock.
"""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from runner import accounts
from runner.cli import main
from runner.clock import shown_time
from runner.delivery import registry_from_env
from runner.models import Event, Incident, Job, OutboxMessage, ProcessVersion, VersionActivation
from runner.sinks import DbOutbox
from runner.store import deploy
from runner.worker import Worker
from tests.conftest import PROCESSES
from tests.db import Db, case_row, run_cli, start
from tests.worker_helpers import insert_noop_jobs, leases_held, put_messages

TIMES_HEADER = "times: Asia/Shanghai"


def cli(db: Db, instance: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """``baozhuang ARGS`` against the test database, with extra environment variables."""
    full = {"DATABASE_URL": db.url, "BAOZHUANG_INSTANCE": str(instance), **(env or {})}
    return CliRunner().invoke(main, list(args), env=full, input=input)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def assert_refused(result: Result, message: str, exit_code: int = 1) -> None:
    """Ended through SystemExit with ``exit_code``, no traceback, the one ``error:`` line ``message``."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert error_lines(result) == [f"error: {message}"], result.output


# -- 1. settings of the environment ------------------------------------------------------------------------------


BAD_WEBHOOK_SETTINGS = [
    ({"BAOZHUANG_WEBHOOK_URL": "http://127.0.0.1:9/n", "BAOZHUANG_WEBHOOK_TIMEOUT": "abc"},
     "BAOZHUANG_WEBHOOK_TIMEOUT must be a positive number of seconds (at most 3600), got 'abc'"),
    ({"BAOZHUANG_WEBHOOK_URL": "http://127.0.0.1:9/n", "BAOZHUANG_WEBHOOK_TIMEOUT": "-5"},
     "BAOZHUANG_WEBHOOK_TIMEOUT must be a positive number of seconds (at most 3600), got '-5'"),
    ({"BAOZHUANG_WEBHOOK_URL": "http://127.0.0.1:9/n", "BAOZHUANG_WEBHOOK_TIMEOUT": "inf"},
     "BAOZHUANG_WEBHOOK_TIMEOUT must be a positive number of seconds (at most 3600), got 'inf'"),
    ({"BAOZHUANG_WEBHOOK_TIMEOUT": "nan"},  # checked even while no URL is set: it is wrong all the same
     "BAOZHUANG_WEBHOOK_TIMEOUT must be a positive number of seconds (at most 3600), got 'nan'"),
    ({"BAOZHUANG_WEBHOOK_URL": "notaurl"},
     "BAOZHUANG_WEBHOOK_URL must be an http:// or https:// URL with a host name, got 'notaurl'"),
    ({"BAOZHUANG_WEBHOOK_URL": "ftp://gateway.example/sms"},
     "BAOZHUANG_WEBHOOK_URL must be an http:// or https:// URL with a host name, got 'ftp://gateway.example/sms'"),
    ({"BAOZHUANG_WEBHOOK_URL": "http://gateway:port/sms"},
     "BAOZHUANG_WEBHOOK_URL must be an http:// or https:// URL with a host name, got 'http://gateway:port/sms'"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_WEBHOOK_SETTINGS,
                         ids=["timeout abc", "timeout -5", "timeout inf", "timeout nan", "url notaurl", "url ftp",
                              "url bad port"])
def test_the_worker_refuses_to_start_on_a_webhook_setting_it_cannot_use(
        db: Db, tmp_path: Path, settings: dict[str, str], message: str) -> None:
    keys = put_messages(db, 2)
    result = cli(db, tmp_path / "instance", "worker", "--once", env=settings)
    assert_refused(result, message)
    assert result.stdout == ""
    with db.reading() as session:  # nothing was tried, so nothing counts down to "failed"
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.in_(keys))).all()
        assert {(row.status, row.attempts, row.lease_owner) for row in rows} == {("pending", 0, None)}


def test_good_webhook_settings_start_the_worker(db: Db, tmp_path: Path) -> None:
    put_messages(db, 1, channel="log")
    result = cli(db, tmp_path / "instance", "worker", "--once",
                 env={"BAOZHUANG_WEBHOOK_URL": "https://gateway.example:8443/sms", "BAOZHUANG_WEBHOOK_TIMEOUT": "2.5"})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "jobs claimed=0; outbox claimed=1 delivered=1"


@pytest.mark.parametrize("args", [("worker", "--once"), ("deploy", str(PROCESSES)), ("versions",)],
                         ids=" ".join)
@pytest.mark.parametrize("offset", ["x", "inf", "1e9"])
def test_a_clock_offset_that_is_no_number_of_days_stops_every_command(db: Db, tmp_path: Path,
                                                                     args: tuple[str, ...], offset: str) -> None:
    with db.reading() as session:
        versions = session.scalar(select(func.count()).select_from(ProcessVersion))
    result = cli(db, tmp_path / "instance", *args, env={"BAOZHUANG_CLOCK_OFFSET_DAYS": offset})
    assert_refused(result, "BAOZHUANG_CLOCK_OFFSET_DAYS must be a number of days (between -36500 and 36500; tests "
                           f"and demos only), got {offset!r}")
    assert db.count(ProcessVersion) == versions


# -- 2. option values longer than their columns ------------------------------------------------------------------


def other_folder(tmp_path: Path, mark: str) -> Path:
    """``processes/`` with a comment added: other files, hence another version, that runs like the shipped one."""
    folder = tmp_path / f"processes-{mark}"
    shutil.copytree(PROCESSES, folder)
    bpmn = folder / "baozhuang.bpmn"
    bpmn.write_text(bpmn.read_text(encoding="utf-8") + f"<!-- version {mark} -->\n", encoding="utf-8")
    return folder


def stored_versions(db: Db) -> tuple[int, int]:
    return db.count(ProcessVersion), db.count(VersionActivation)


@pytest.mark.parametrize(("option", "length", "limit"), [("--note", 3000, 400), ("--note", 401, 400),
                                                         ("--user", 200, 80), ("--user", 81, 80)])
def test_deploy_refuses_a_note_or_user_longer_than_its_column(db: Db, tmp_path: Path, option: str, length: int,
                                                              limit: int) -> None:
    before = stored_versions(db)
    result = cli(db, tmp_path / "instance", "deploy", str(other_folder(tmp_path, "E")), option, "长" * length)
    assert_refused(result, f"{option} is longer than {limit} characters ({length} given)", exit_code=2)
    assert result.stdout == ""
    assert stored_versions(db) == before


def test_deploy_stores_a_note_and_user_of_the_full_length(db: Db, tmp_path: Path) -> None:
    note, user = "长" * 400, "u" * 80  # characters, not bytes: PostgreSQL's varchar(n) counts characters
    result = cli(db, tmp_path / "instance", "deploy", str(other_folder(tmp_path, "E")), "--note", note, "--user", user)
    assert result.exit_code == 0, result.output
    with db.reading() as session:
        version = session.scalar(select(ProcessVersion).order_by(ProcessVersion.id.desc()).limit(1))
        assert version is not None and (version.note, version.deployed_by) == (note, user)


def test_migrate_refuses_a_user_longer_than_the_events_column(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_other")
    deployed = cli(db, tmp_path / "instance", "deploy", str(other_folder(tmp_path, "F")))
    assert deployed.exit_code == 0, deployed.output
    with db.reading() as session:
        target = session.scalar(select(func.max(ProcessVersion.id)))
        events_before = session.scalar(select(func.count()).select_from(Event))

    result = cli(db, tmp_path / "instance", "migrate", "--to", str(target), "--case", number, "--user", "u" * 200)

    assert_refused(result, "--user is longer than 80 characters (200 given)", exit_code=2)
    assert case_row(db, number).version_id == db.version_id  # not moved
    assert db.count(Event) == events_before


def failed_messages(db: Db, number: str | None, roles: list[str], template: str = "survey_invitation") -> list[int]:
    """Messages of one case and template for ``roles`` that the worker gave up on (8 attempts, the last an hour
    after they were written); their ids."""
    with db.transaction() as session:
        outbox = DbOutbox(session, db.clock)
        for role in roles:
            outbox.put({"idempotency_key": f"{number}:{template}:{role}", "case_number": number, "template": template,
                        "to_role": role, "channel": "sms", "params": {}})
        session.flush()
        ids = list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
            status="failed", attempts=8, last_attempt_at=db.clock.now() + timedelta(hours=1),
            last_error="DeliveryError: webhook answered HTTP 500\ntrace").execution_options(synchronize_session=False))
    return ids


def test_outbox_retry_refuses_a_user_longer_than_a_user_name(db: Db, tmp_path: Path) -> None:
    [message] = failed_messages(db, None, ["customer"])
    result = cli(db, tmp_path / "instance", "outbox", "retry", str(message), "--user", "u" * 200)
    assert_refused(result, "--user is longer than 80 characters (200 given)", exit_code=2)
    with db.reading() as session:
        assert session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message)) == "failed"


def test_worker_refuses_a_worker_id_longer_than_its_column(db: Db, tmp_path: Path) -> None:
    put_messages(db, 1, channel="log")
    result = cli(db, tmp_path / "instance", "worker", "--once", "--worker-id", "w" * 81)
    assert_refused(result, "--worker-id is longer than 80 characters (81 given)", exit_code=2)
    assert db.count(OutboxMessage, OutboxMessage.status == "pending") == 1


def test_user_create_refuses_a_display_name_longer_than_its_column_before_the_password(db: Db,
                                                                                      tmp_path: Path) -> None:
    result = cli(db, tmp_path / "instance", "user", "create", "wang.fang", "--admin", "--display-name", "王" * 121,
                 input="first-secret\nfirst-secret\n")
    assert_refused(result, "--display-name is longer than 120 characters (121 given)", exit_code=2)
    assert "Password" not in result.output
    with db.reading() as session:
        assert accounts.get_account_by_name(session, "wang.fang") is None


# -- 3. and 7. the failed messages -------------------------------------------------------------------------------


def test_outbox_list_tells_recipients_apart_with_times_a_header_and_a_count(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_residential")
    customer, manager = failed_messages(db, number, ["customer", "account_manager"])

    result = run_cli(db, tmp_path / "instance", "outbox", "list")

    assert result.exit_code == 0, result.output
    written, last = shown_time(db.clock.now()), shown_time(db.clock.now() + timedelta(hours=1))
    assert result.output.splitlines() == [
        TIMES_HEADER,
        "id\tcase\trecipient\tchannel\ttemplate\tcreated\tattempts\tlast attempt\tlast error",
        f"{customer}\t{number}\t客户 (customer)\tsms\tsurvey_invitation\t{written}\t8\t{last}\t"
        "DeliveryError: webhook answered HTTP 500",
        f"{manager}\t{number}\t客户经理 (account_manager)\tsms\tsurvey_invitation\t{written}\t8\t{last}\t"
        "DeliveryError: webhook answered HTTP 500",
        "2 failed message(s)",
    ]
    of_case = run_cli(db, tmp_path / "instance", "outbox", "list", "--case", number)
    assert of_case.output == result.output


def test_outbox_list_of_a_case_that_does_not_exist_says_so_and_exits_1(db: Db, tmp_path: Path) -> None:
    result = run_cli(db, tmp_path / "instance", "outbox", "list", "--case", "NOPE")
    assert_refused(result, "no case NOPE")
    assert result.stdout == ""
    number = start(db, "lv_residential")  # a case without failed messages is no error
    listed = run_cli(db, tmp_path / "instance", "outbox", "list", "--case", number)
    assert (listed.exit_code, listed.output) == (0, "no failed messages\n")


def message_statuses(db: Db, ids: list[int]) -> list[str]:
    with db.reading() as session:
        statuses = dict(session.execute(select(OutboxMessage.id, OutboxMessage.status)
                                        .where(OutboxMessage.id.in_(ids))).tuples().all())
    return [statuses[message_id] for message_id in ids]


def test_outbox_retry_names_each_id_it_did_not_send_again_and_why(db: Db, tmp_path: Path) -> None:
    first, second, delivered = failed_messages(db, None, ["customer", "account_manager", "surveyor"])
    with db.transaction() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == delivered).values(status="delivered"))

    unknown = run_cli(db, tmp_path / "instance", "outbox", "retry", "999")
    assert_refused(unknown, "not sent again: 999 (no such message); see baozhuang outbox list")
    assert unknown.stdout == ""

    mixed = run_cli(db, tmp_path / "instance", "outbox", "retry", str(first), "999", str(delivered))
    assert_refused(mixed, f"not sent again: {delivered} (delivered already), 999 (no such message); "
                          "see baozhuang outbox list")
    assert mixed.stdout == f"1 message(s) to be sent again: {first}\n"
    assert message_statuses(db, [first, second, delivered]) == ["pending", "failed", "delivered"]

    again = run_cli(db, tmp_path / "instance", "outbox", "retry", str(first))
    assert_refused(again, f"not sent again: {first} (pending: the worker is still trying it); "
                          "see baozhuang outbox list")


def test_outbox_retry_with_ids_and_all_failed_says_not_both_and_changes_nothing(db: Db, tmp_path: Path) -> None:
    ids = failed_messages(db, None, ["customer", "account_manager"])
    result = run_cli(db, tmp_path / "instance", "outbox", "retry", str(ids[0]), "--all-failed")
    assert_refused(result, "give message ids or --all-failed, not both", exit_code=2)
    assert message_statuses(db, ids) == ["failed", "failed"]


# -- 4. and 5. versions ------------------------------------------------------------------------------------------


def test_versions_shows_shanghai_times_and_says_so(db: Db, tmp_path: Path) -> None:
    db.clock.advance(timedelta(hours=2))  # 11:00 in Shanghai, 03:00 UTC
    with db.transaction() as session:
        deploy(session, db.runtime, other_folder(tmp_path, "E"), "analyst", note="E")
        new_id = session.scalar(select(func.max(ProcessVersion.id)))
    shown = shown_time(db.clock.now())
    assert shown.endswith(" 11:00")

    listing = run_cli(db, tmp_path / "instance", "versions").output.splitlines()
    history = run_cli(db, tmp_path / "instance", "versions", "--history").output.splitlines()

    assert listing[0] == TIMES_HEADER and history[0] == TIMES_HEADER
    assert listing[-1].startswith(f"* {new_id:>4}  ") and f"  {shown}  analyst" in listing[-1]
    assert history[1] == f"{new_id:>4}  current from {shown} by analyst, was {db.version_id}: E"


def test_versions_marks_a_rollback_made_within_a_minute_of_the_deployments(db: Db, tmp_path: Path) -> None:
    """Deploy E, then F, then E again at once (the virtual clock stands still): E is current again."""
    folders, versions = {mark: other_folder(tmp_path, mark) for mark in "EF"}, {}
    for mark, note in (("E", None), ("F", None), ("E", "回滚到E")):
        with db.transaction() as session:
            deployment = deploy(session, db.runtime, folders[mark], "analyst", note=note)
            versions[mark] = deployment.version.id
    assert deployment.rolled_back

    listing = run_cli(db, tmp_path / "instance", "versions").output.splitlines()

    [current] = [line for line in listing if line.startswith("*")]
    assert current.startswith(f"* {versions['E']:>4}  ")
    assert current.endswith(f"  [current again since {shown_time(db.clock.now())} by analyst, was {versions['F']}: "
                            "回滚到E]"), current
    assert [line for line in listing if "current again" in line] == [current]


def test_versions_marks_no_rollback_after_a_plain_deployment(db: Db, tmp_path: Path) -> None:
    db.clock.advance(timedelta(hours=2))  # a deployment long after the first is no rollback either
    with db.transaction() as session:
        deploy(session, db.runtime, other_folder(tmp_path, "E"), "analyst")
    listing = run_cli(db, tmp_path / "instance", "versions").output
    assert "current again" not in listing


# -- 6. incidents and the audit log ------------------------------------------------------------------------------


def test_incidents_list_names_the_step_and_when_it_was_raised(db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary")
    raised = db.clock.now() + timedelta(minutes=30)
    with db.transaction() as session:
        incident = Incident(case_id=case_row(db, number).id, task_id="task-1", element_id="decide_time_limits",
                            message="decision failed: no rule matched\ndetails", attempts=3, created_at=raised)
        session.add(incident)
        session.flush()
        incident_id = incident.id

    result = run_cli(db, tmp_path / "instance", "incidents", "list")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        TIMES_HEADER,
        "id\tcase\tstep\tstate\traised\tmessage",
        f"{incident_id}\tcase {number}\t确定办理时限 (decide_time_limits)\topen\t{shown_time(raised)}\t"
        "decision failed: no rule matched",
    ]


def test_audit_verify_names_the_case_step_and_time_of_a_tampered_event(db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary")
    with db.reading() as session:
        row = session.scalar(select(Event).where(Event.case_number == number, Event.element_id != "case",
                                                 Event.activity != Event.element_id).order_by(Event.id).limit(1))
        assert row is not None
        event_id, element, activity, lifecycle, at = row.id, row.element_id, row.activity, row.lifecycle, row.at
    with db.transaction() as session:
        session.execute(update(Event).where(Event.id == event_id).values(data={"forged": True})
                        .execution_options(synchronize_session=False))

    result = run_cli(db, tmp_path / "instance", "audit", "verify")

    assert result.exit_code == 1, result.output
    assert (f"event {event_id}: hash mismatch (the row was edited); case {number}, {activity} ({element}) "
            f"{lifecycle}, {shown_time(at)} Asia/Shanghai") in result.output.splitlines()


# -- 8. a process folder that is not there -----------------------------------------------------------------------


def test_deploy_of_a_folder_that_does_not_exist_says_so_plainly(db: Db, tmp_path: Path) -> None:
    before = stored_versions(db)
    missing = tmp_path / "nope"
    result = cli(db, tmp_path / "instance", "deploy", str(missing))
    assert_refused(result, f"{missing}: no such folder (give the process folder, e.g. baozhuang deploy "
                           "path/to/processes)")
    a_file = tmp_path / "processes.zip"
    a_file.write_bytes(b"PK")
    result = cli(db, tmp_path / "instance", "deploy", str(a_file))
    assert_refused(result, f"{a_file}: is a file, not a folder (give the process folder, e.g. baozhuang deploy "
                           "path/to/processes)")
    assert stored_versions(db) == before


def test_deploy_without_a_path_elsewhere_names_the_folder_it_looked_in(db: Db, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli(db, tmp_path / "instance", "deploy")
    assert_refused(result, f"processes: no such folder in {elsewhere} (give the process folder, e.g. baozhuang "
                           "deploy path/to/processes)")


# -- 9. a worker told to stop ------------------------------------------------------------------------------------


def test_a_pass_after_the_stop_request_claims_nothing(db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    start(db, "lv_residential")
    insert_noop_jobs(db, 5)
    put_messages(db, 3, channel="log")
    worker = Worker(db.sessions, db.runtime, deliverers=registry_from_env(tmp_path / "instance", {}),
                    worker_id="test-worker")
    stop = threading.Event()
    stop.set()  # SIGTERM arrived while the worker waited between passes

    with caplog.at_level(logging.INFO, logger="baozhuang.worker"):
        counts = worker.run_once(stop)

    assert counts.idle and not counts.jobs and not counts.messages
    assert not [message for message in caplog.messages if "claimed" in message or "released" in message]
    assert leases_held(db) == 0
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.kind == "noop", Job.status == "done")
                              ) == 0
    assert worker.run_once().jobs == {"done": 5}  # without the stop, the next pass runs them
