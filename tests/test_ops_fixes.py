"""Operator findings on the command line and the exports (issue 3), on SQLite and PostgreSQL where a database is
involved: JSON options refuse numbers JSON has not (NaN, Infinity, 1e400), an open step renamed by a migration
shows under its new name in XES, ``versions --history`` marks rollbacks, and ``export-log`` stops quietly when the
reader of stdout goes away.

Commands run in process through click's runner, except the broken pipe, which needs a real process and pipe."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from lxml import etree
from sqlalchemy import select

from runner import migration
from runner.cli import main
from runner.export import Kind, ProcessModel, Selection, activity_instances, iter_case_logs, write_xes
from runner.models import Event
from runner.store import deploy
from tests.conftest import PROCESSES, ROOT
from tests.db import Db, advance_to, case_row, complete, run_cli, start
from tests.test_export import XES, attributes, synthetic
from tests.test_migration import deploy_folder, deployed_files, renamed

NOT_FINITE = [
    ('{"reading": NaN}', "NaN (numbers must be finite)"),
    ('{"reading": 1e400}', "1e400 is out of range (numbers must be finite)"),
    ('{"reading": [1, -Infinity]}', "-Infinity (numbers must be finite)"),
]


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def refused(result: Result, message: str) -> None:
    """Exit 1 through SystemExit, no traceback, the one ``error:`` line ``message``."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert error_lines(result) == [f"error: {message}"], result.output


# -- 1. JSON options: only finite numbers ------------------------------------------------------------------------


def waiting_for_meter(db: Db) -> str:
    number = start(db, "lv_residential", id_number="110105199003070017")
    advance_to(db, number, "install_meter")
    complete(db, number, "install_meter")
    return number


@pytest.mark.parametrize(("payload", "problem"), NOT_FINITE, ids=["NaN", "1e400", "-Infinity"])
def test_message_refuses_a_payload_with_a_number_json_has_not(db: Db, tmp_path: Path, payload: str,
                                                              problem: str) -> None:
    number = waiting_for_meter(db)
    before = db.count(Event)

    result = run_cli(db, tmp_path / "instance", "message", number, "meter_online", "--payload", payload)

    refused(result, f"--payload is not JSON: {problem}")
    assert db.count(Event) == before  # nothing delivered, nothing stored
    assert case_row(db, number).status == "running"
    delivered = run_cli(db, tmp_path / "instance", "message", number, "meter_online", "--payload",
                        '{"reading": 1.5e3}')
    assert delivered.exit_code == 0, delivered.output  # finite numbers in any notation still go through
    [caught] = [event for event in db_events(db, number) if event.lifecycle == "completed"
                and event.element_id == "wait_meter_online"]
    assert caught.data["payload"] == {"reading": 1500.0}


def db_events(db: Db, number: str) -> list[Event]:
    with db.reading() as session:
        return list(session.scalars(select(Event).where(Event.case_number == number).order_by(Event.id)))


@pytest.mark.parametrize(("data", "problem"), NOT_FINITE, ids=["NaN", "1e400", "-Infinity"])
def test_decide_refuses_data_with_a_number_json_has_not(data: str, problem: str) -> None:
    data = data.replace('"reading"', '"category": "hv_ordinary", "supply_voltage_kv"')
    result = CliRunner().invoke(main, ["decide", "fee_rates", "--data", data, "--processes", str(PROCESSES)])
    refused(result, f"--data is not JSON: {problem}")


def test_json_options_refuse_huge_integers_and_deep_nesting_with_one_line() -> None:
    digits = CliRunner().invoke(main, ["decide", "fee_rates", "--data", '{"x": ' + "9" * 5000 + "}"])
    refused(digits, "--data is not JSON: an integer of 5000 digits is too long")
    nested = CliRunner().invoke(main, ["decide", "fee_rates", "--data", "[" * 100_000])
    refused(nested, "--data is not JSON: nested too deeply")


def test_try_refuses_an_answers_file_with_a_number_json_has_not(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text('{"install_meter": {"readings": [1, {"kwh": NaN}]}}', encoding="utf-8")
    result = CliRunner().invoke(main, ["try", "--category", "lv_residential", "--answers", str(answers),
                                       "--processes", str(PROCESSES)])
    refused(result, f"{answers}: install_meter.readings[1].kwh: must be a finite number (NaN and Infinity are "
                    "not JSON)")
    assert result.stdout == ""


# -- 2. exports: an open step renamed by a migration -------------------------------------------------------------


def xes_steps(db: Db, number: str) -> list[dict[str, str]]:
    binary = io.BytesIO()
    write_xes(iter_case_logs(db.sessions, Selection((number,))), binary)
    [trace] = etree.fromstring(binary.getvalue()).findall(f"{XES}trace")
    assert attributes(trace)["concept:name"] == number
    return [{a.get("key"): a.get("value") for a in event} for event in trace.findall(f"{XES}event")]


def test_an_open_step_renamed_by_a_migration_shows_its_new_name_in_xes(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_other")
    advance_to(db, number, "review_plan")
    v2 = renamed(deployed_files(db, tmp_path / "v1"), tmp_path / "v2", "review_plan", "审核供电方案",
                 "审核供电方案（含复核）")
    v3 = renamed(v2, tmp_path / "v3", "accept_application", "业务受理", "受理申请")  # a step done before the move
    new = deploy_folder(db, v3)
    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id), case_numbers=[number])
    assert outcome.result == "migrated", outcome.reason

    steps = xes_steps(db, number)

    review = [(s["lifecycle:transition"], s["concept:name"]) for s in steps if s["element_id"] == "review_plan"]
    assert review == [("schedule", "审核供电方案（含复核）")]  # its only event, enabled under the old name
    accepted = {s["concept:name"] for s in steps if s["element_id"] == "accept_application"}
    assert accepted == {"业务受理"}  # done before the move: the name it had when it ran


def instance_names(events: list[Any], ended: bool) -> dict[str, str]:
    model = ProcessModel({"u": Kind.HUMAN, "v": Kind.HUMAN}, {}, names={"u": "u（新）", "v": "v（新）"})
    return {i.instance_id: i.activity for i in activity_instances(events, model, case_ended=ended)}


def test_only_steps_open_at_the_latest_migration_and_untouched_since_take_the_versions_name() -> None:
    events = synthetic(
        ("1", "v", "enabled", None, "0"), ("1", "v", "completed", "ann", "5"),  # done before the move
        ("2", "u", "enabled", None, "10"),  # open at the move, nothing since
        ("3", "v", "enabled", None, "12"),  # open at the move, then started under the new name
        (None, "case", "migrated", "cli", "20"),
        ("3", "v", "started", "bob", "30"),
    )
    events[5].activity = "v（新）"
    assert instance_names(events, ended=False) == {"1": "v", "2": "u（新）", "3": "v（新）"}
    # the case ended (a terminate end) with the step still open: withdrawn under its new name
    assert instance_names(events, ended=True)["2"] == "u（新）"
    # without a migration, names are the events' own
    unmoved = [event for event in events if event.lifecycle != "migrated"]
    assert instance_names(unmoved, ended=False)["2"] == "u"


# -- 3. versions --history marks rollbacks -----------------------------------------------------------------------


def other_folder(tmp_path: Path, mark: str) -> Path:
    """A copy of processes/ with a comment added (another version that runs like the shipped one), made once."""
    target = tmp_path / mark
    if not target.exists():
        shutil.copytree(PROCESSES, target)
        with (target / "baozhuang.bpmn").open("a", encoding="utf-8") as bpmn:
            bpmn.write(f"<!-- {mark} -->\n")
    return target


def test_versions_history_marks_rollbacks(db: Db, tmp_path: Path) -> None:
    ids: dict[str, int] = {}
    for mark, note in (("E", None), ("F", None), ("E", "回滚到E"), ("F", "再上F")):
        with db.transaction() as session:
            deployment = deploy(session, db.runtime, other_folder(tmp_path, mark), "analyst", note=note)
            ids[mark] = deployment.version.id

    history = run_cli(db, tmp_path / "instance", "versions", "--history").output.splitlines()[1:5]  # then the
    # fixture's first version, with an activation or without one (a copied row)

    assert [line.split(" from ")[0] for line in history] == [  # newest first
        f"{ids['F']:>4}  current again", f"{ids['E']:>4}  current again", f"{ids['F']:>4}  current",
        f"{ids['E']:>4}  current"]
    assert history[1].endswith(f"by analyst, was {ids['F']}: 回滚到E")
    listing = run_cli(db, tmp_path / "instance", "versions").output
    assert f"was {ids['E']}: 再上F]" in listing  # plain versions agrees: F is current again


# -- 4. export-log | head ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xes"])
def test_export_log_stops_quietly_when_stdout_is_closed(db: Db, tmp_path: Path, fmt: str) -> None:
    """A reader that went away (``| head -3``): the first write meets a broken pipe; exit 0, nothing on stderr."""
    start(db, "lv_residential", id_number="110105199003070017")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes anything
    try:
        done = subprocess.run([sys.executable, "-m", "runner.cli", "export-log", "--format", fmt], cwd=ROOT,
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
                              env={**os.environ, "DATABASE_URL": db.url,
                                   "BAOZHUANG_INSTANCE": str(tmp_path / "instance")})
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_export_log_to_stdout_still_writes_everything(db: Db, tmp_path: Path) -> None:
    number = start(db, "lv_residential", id_number="110105199003070017")
    advance_to(db, number, "install_meter")
    result = run_cli(db, tmp_path / "instance", "export-log", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("case_id,activity,")
    assert any(line.startswith(f"{number},") for line in result.stdout.splitlines()[1:])
    assert result.stderr == ""
