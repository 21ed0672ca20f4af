"""Commands against a database that is not ready, and files that cannot be written: one ``error:`` line, no traceback.

A fresh instance (no ``db upgrade`` yet), an old schema, a PostgreSQL server that refuses or lacks the database, an
unsupported ``DATABASE_URL``; ``export-log --out`` and ``calendar import --data-file`` into missing folders.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.exc import DBAPIError

from runner import schema
from runner.cli import main
from runner.environment import driver_reason
from runner.workdays import DATA_FILE
from tests.conftest import PROCESSES
from tests.db import Db, postgres_admin_url, run_cli

PASSWORD = "s3cret-pw"
COMMANDS_NEEDING_TABLES = [
    ("deploy", str(PROCESSES)),
    ("incidents", "list"),
    ("audit", "verify"),
    ("message", "X", "y"),
    ("migrate", "--to", "1"),
    ("export-log", "--format", "csv"),
    ("worker", "--once"),
    ("uploads", "prune"),
]


def invoke(instance: Path, *args: str, url: str | None = None) -> Result:
    env = {"BAOZHUANG_INSTANCE": str(instance), "DATABASE_URL": url}
    return CliRunner().invoke(main, list(args), env=env)


def assert_one_error_line(result: Result, *fragments: str) -> str:
    """Exit 1, no traceback (the command ended through SystemExit), and the message on one ``error:`` line."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def tables(instance: Path) -> list[str]:
    with sqlite3.connect(instance / "baozhuang.sqlite3") as connection:
        return [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


@pytest.mark.parametrize("args", COMMANDS_NEEDING_TABLES, ids=lambda args: " ".join(args[:2]))
def test_commands_on_a_fresh_instance_ask_for_db_upgrade(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = invoke(tmp_path, *args)
    assert_one_error_line(result, "has no schema yet", "run `baozhuang db upgrade`", str(tmp_path))
    assert tables(tmp_path) == []


def test_db_upgrade_makes_a_fresh_instance_usable(tmp_path: Path) -> None:
    assert invoke(tmp_path, "db", "upgrade").exit_code == 0
    result = invoke(tmp_path, "incidents", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no incidents"


def test_an_old_schema_names_its_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'baozhuang.sqlite3'}"
    schema.upgrade(url, "0001")
    result = invoke(tmp_path, "incidents", "list", url=url)
    assert_one_error_line(result, "is at the older schema revision 0001", "run `baozhuang db upgrade`")
    assert schema.current(url) == "0001"


def test_a_schema_newer_than_this_baozhuang_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'baozhuang.sqlite3'}"
    schema.upgrade(url)
    with sqlite3.connect(tmp_path / "baozhuang.sqlite3") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    for args in (("audit", "verify"), ("db", "upgrade")):
        result = invoke(tmp_path, *args, url=url)
        assert_one_error_line(result, "schema revision 9999", f"newest here: {schema.head()}")


def unreachable_postgres_urls() -> dict[str, str]:
    """A port nobody listens on, and the test server with a database that does not exist (both with a password)."""
    server = postgres_admin_url().set(drivername="postgresql", password=PASSWORD)
    return {
        "refused": server.set(host="127.0.0.1", port=1).render_as_string(hide_password=False),
        "no database": server.set(database="baozhuang_no_such_database").render_as_string(hide_password=False),
    }


@pytest.mark.parametrize("kind", ["refused", "no database"])
@pytest.mark.parametrize("args", [("db", "upgrade"), ("incidents", "list")], ids=" ".join)
def test_an_unreachable_postgresql_is_one_line_without_the_password(tmp_path: Path, kind: str,
                                                                     args: tuple[str, ...]) -> None:
    url = unreachable_postgres_urls()[kind]
    result = invoke(tmp_path, *args, url=url)
    line = assert_one_error_line(result, "error: cannot connect to postgresql", ":***@")
    assert PASSWORD not in result.output
    assert ("port 1" in line) if kind == "refused" else ("baozhuang_no_such_database" in line)


@pytest.mark.parametrize(("url", "message"), [
    (f"mysql://user:{PASSWORD}@db.example/x", "unsupported database (use sqlite:/// or postgresql://)"),
    ("garbage", "not a database URL"),
    (f"postgresql+nosuchdriver://user:{PASSWORD}@127.0.0.1/x", "cannot load the database driver"),
])
def test_an_unsupported_database_url_is_named(tmp_path: Path, url: str, message: str) -> None:
    result = invoke(tmp_path, "db", "upgrade", url=url)
    assert_one_error_line(result, "DATABASE_URL", message)
    assert PASSWORD not in result.output


def test_an_instance_folder_under_a_file_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = invoke(blocker / "instance", "incidents", "list")
    assert_one_error_line(result, f"cannot create the instance folder {blocker / 'instance'}")


# -- files that cannot be written -------------------------------------------------------------------------------------


def test_export_log_makes_missing_folders(db: Db, tmp_path: Path) -> None:
    out = tmp_path / "new" / "nested" / "log.xes"
    result = run_cli(db, tmp_path / "instance", "export-log", "--format", "xes", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"<?xml")
    assert [path.name for path in out.parent.iterdir()] == ["log.xes"]


def test_export_log_under_a_file_is_an_error_that_leaves_nothing(db: Db, tmp_path: Path) -> None:
    work = tmp_path / "exports"
    work.mkdir()
    blocker = work / "not-a-folder"
    blocker.write_text("keep me", encoding="utf-8")
    for out in (blocker / "log.csv", blocker / "deeper" / "log.csv"):
        result = run_cli(db, tmp_path / "instance", "export-log", "--format", "csv", "--out", str(out))
        assert_one_error_line(result, f"cannot write {out}")
    assert "is a file, not a folder" in result.stderr or "Not a directory" in result.stderr
    assert blocker.read_text(encoding="utf-8") == "keep me"
    assert [path.name for path in work.iterdir()] == ["not-a-folder"]


def test_calendar_import_names_a_missing_data_file(tmp_path: Path) -> None:
    year_file = tmp_path / "2031.csv"
    year_file.write_text("date,kind\n2031-01-01,holiday\n", encoding="utf-8")
    missing = tmp_path / "no" / "such" / "calendar.json"
    result = CliRunner().invoke(main, ["calendar", "import", str(year_file), "--data-file", str(missing)])
    assert_one_error_line(result, f"cannot read {missing}", "No such file or directory")
    assert not (tmp_path / "no").exists()


def test_calendar_import_replaces_the_data_file_whole(tmp_path: Path) -> None:
    data_file = tmp_path / "calendar.json"
    data_file.write_bytes(Path(DATA_FILE).read_bytes())
    year_file = tmp_path / "2031.csv"
    year_file.write_text("date,kind\n2031-01-01,holiday\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["calendar", "import", str(year_file), "--data-file", str(data_file)])
    assert result.exit_code == 0, result.output
    assert '"2031-01-01"' in data_file.read_text(encoding="utf-8")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["2031.csv", "calendar.json"]


def test_decide_names_a_missing_process_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(main, ["decide", "time_limits", "--data", "{}", "--processes", str(missing)])
    assert_one_error_line(result, f"{missing}: no such folder (give the process folder")


def test_try_on_a_flow_without_target_names_the_flow_and_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES, folder)
    bpmn = folder / "baozhuang.bpmn"
    lines = bpmn.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if 'id="flow_gw_review_to_gw_high_risk"' in line)
    lines[number] = re.sub(r' targetRef="[^"]*"', "", lines[number])
    bpmn.write_text("".join(lines), encoding="utf-8")

    result = invoke(tmp_path / "instance", "try", "--processes", str(folder), "--category", "lv_other")

    assert result.exit_code != 0
    assert f"{bpmn}:{number + 1}: flow_gw_review_to_gw_high_risk: sequence flow has no targetRef" in result.output


def test_the_drivers_reason_masks_a_password_it_repeats() -> None:
    """The CLI's connection error (``DatabaseNotReady``) prints the driver's reason: a driver that echoes the DSN
    must not print the password (the web's 503 text and the CLI share ``driver_reason``)."""
    url = f"postgresql+psycopg://someone:{PASSWORD}@127.0.0.1:1/baozhuang"
    echoed = DBAPIError(None, None, Exception(f"could not use 'user=someone password={PASSWORD} host=127.0.0.1'\n"
                                              "connection refused"))
    assert driver_reason(echoed, url) == "could not use 'user=someone password=*** host=127.0.0.1' connection refused"
    assert PASSWORD in driver_reason(echoed)  # nothing to mask without the URL: the caller must pass it
    assert driver_reason(echoed, "not a url") == driver_reason(echoed)
