"""Command-line arguments that are not valid UTF-8 (a GBK terminal, say): every command refuses them with one
``error:`` line and exit 2 before it runs, instead of a traceback from deep inside (a hash, the database driver).

Python decodes such bytes with ``surrogateescape``; CliRunner is given the decoded form ("\\udcbc\\udcc6"), the
console script the raw bytes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from runner.accounts import ApiToken
from runner.cli import main
from runner.models import ProcessVersion
from tests.conftest import PROCESSES
from tests.db import Db, run_cli

GBK_JIFEI = "计费".encode("gbk").decode("utf-8", "surrogateescape")
"""``计费`` typed on a GBK terminal, as Python hands it to the program: "\\udcbc\\udcc6\\udcb7\\udcd1"."""
BAD = "\udcbc\udcc6"
SHOWN = {GBK_JIFEI: "\\xbc\\xc6\\xb7\\xd1", BAD: "\\xbc\\xc6"}
COMMANDS = [
    ("token", "create", "account_manager", "--name", GBK_JIFEI),
    ("deploy", str(PROCESSES), "--note", BAD),
    ("migrate", "--to", "1", "--case", BAD),
    ("user", "create", BAD, "--admin", "--password-stdin"),
    ("calendar", "show", BAD),
    ("validate", BAD),
    (BAD,),
]


def assert_refused(result: Result, number: int, shown: str) -> None:
    """Exit 2 through SystemExit, nothing on standard output, and the one error line naming the argument."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert result.stderr == f"error: argument {number} ({shown}) is not valid UTF-8; set the terminal to UTF-8\n"


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]).encode("ascii", "replace").decode())
def test_every_command_refuses_an_argument_that_is_not_utf8_before_it_runs(tmp_path: Path,
                                                                          args: tuple[str, ...]) -> None:
    instance = tmp_path / "instance"
    result = CliRunner().invoke(main, list(args), env={"BAOZHUANG_INSTANCE": str(instance), "DATABASE_URL": None},
                                input="secret-pw\n")
    number, arg = next((index, arg) for index, arg in enumerate(args, start=1) if arg in (BAD, GBK_JIFEI))
    assert_refused(result, number, SHOWN[arg])
    assert not instance.exists()  # no command ran: not even the instance folder was made


def test_nothing_is_written_to_the_database(db: Db, tmp_path: Path) -> None:
    def counts() -> tuple[int, int]:
        with db.reading() as session:
            return (session.scalar(select(func.count()).select_from(ApiToken)) or 0,
                    session.scalar(select(func.count()).select_from(ProcessVersion)) or 0)

    before = counts()
    assert_refused(run_cli(db, tmp_path, "token", "create", "account_manager", "--name", GBK_JIFEI), 5,
                   SHOWN[GBK_JIFEI])
    assert_refused(run_cli(db, tmp_path, "deploy", str(PROCESSES), "--note", BAD, "--user", "ops"), 4, SHOWN[BAD])
    assert counts() == before


def test_valid_utf8_arguments_are_untouched(db: Db, tmp_path: Path) -> None:
    result = run_cli(db, tmp_path, "calendar", "show", "2026")
    assert result.exit_code == 0, result.output
    env = {"DATABASE_URL": db.url, "BAOZHUANG_INSTANCE": str(tmp_path)}
    result = CliRunner().invoke(main, ["user", "create", "wang.fang", "--admin", "--display-name", "王芳",
                                       "--password-stdin"], env=env, input="secret-pw\n")
    assert result.exit_code == 0, result.output
    assert "王芳" in result.stdout


def test_the_console_script_refuses_raw_gbk_bytes(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("baozhuang")
    completed = subprocess.run([script, "calendar", "show", "计费".encode("gbk")], capture_output=True,
                               env={"BAOZHUANG_INSTANCE": str(tmp_path), "LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
                               check=False)
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == b""
    assert completed.stderr.decode() == ("error: argument 3 (\\xbc\\xc6\\xb7\\xd1) is not valid UTF-8; "
                                         "set the terminal to UTF-8\n")
