"""``baozhuang deploy`` says, as ``baozhuang versions`` does, which decision tables of the other deployed versions the
engine cannot run, for those versions that still have open cases: an operator deploying the corrected table learns
that those cases still run the old one (until migrated). On stderr; the exit code is the deployment's. SQLite and
PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.models import Case
from runner.process_folder import content_hash
from runner.store import _activate, _insert_version, current_version_id
from tests.conftest import PROCESSES
from tests.db import Db, run_cli, start
from tests.test_dmn2_cases import time_limits_copy


def old_version_with_priority_table(db: Db, tmp_path: Path) -> tuple[int, str]:
    """A version holding time_limits.dmn under PRIORITY without listed values, stored as before ``validate``
    refused it, made current; its id and hash."""
    folder = time_limits_copy(tmp_path, "PRIORITY")
    with db.transaction() as session:
        previous = current_version_id(session)
        old = _insert_version(session, db.runtime, folder, content_hash(folder), "earlier", "before the check")
        assert old is not None
        _activate(session, db.runtime, old, previous, "earlier", None)
        return old.id, old.version_hash


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def test_deploy_names_an_unrunnable_table_of_a_version_with_open_cases(db: Db, tmp_path: Path) -> None:
    old_id, old_hash = old_version_with_priority_table(db, tmp_path)
    number = start(db, "lv_other")  # a case of the old version, still open
    assert db.count(Case, Case.case_number == number, Case.status == "running") == 1
    listed = run_cli(db, tmp_path / "instance", "versions")
    [expected] = warnings_of(listed.stderr)
    assert expected.startswith(f"warning: version {old_id} ({old_hash[:12]}): time_limits.dmn:5: decision "
                               "time_limits: hit policy PRIORITY ranks the rules"), expected

    back = run_cli(db, tmp_path / "instance", "deploy", str(PROCESSES))  # the shipped folder: current again
    assert back.exit_code == 0, back.output
    assert back.stdout.strip() == f"version {db.version_id} ({content_hash(PROCESSES)[:12]}) is current again " \
                                  f"(was {old_id})"
    assert warnings_of(back.stderr) == [expected]  # the very words of ``versions``, file and line

    fixed = tmp_path / "fixed" / "processes"  # a corrected folder: a new version
    shutil.copytree(PROCESSES, fixed)
    dmn = fixed / "time_limits.dmn"
    dmn.write_text(dmn.read_text(encoding="utf-8").replace("</definitions>", "<!-- fixed -->\n</definitions>"),
                   encoding="utf-8")
    deployed = run_cli(db, tmp_path / "instance", "deploy", str(fixed))
    assert deployed.exit_code == 0, deployed.output
    assert deployed.stdout.startswith("deployed version ")
    assert warnings_of(deployed.stderr) == [expected]

    again = run_cli(db, tmp_path / "instance", "deploy", str(fixed))  # unchanged: the old cases still run
    assert again.exit_code == 0 and again.stdout.startswith("unchanged: ")
    assert warnings_of(again.stderr) == [expected]


def test_deploy_is_silent_about_a_version_without_open_cases(db: Db, tmp_path: Path) -> None:
    old_id, _old_hash = old_version_with_priority_table(db, tmp_path)  # no case ever started on it
    [listed] = warnings_of(run_cli(db, tmp_path / "instance", "versions").stderr)
    assert listed.startswith(f"warning: version {old_id} ")
    back = run_cli(db, tmp_path / "instance", "deploy", str(PROCESSES))
    assert back.exit_code == 0, back.output
    assert warnings_of(back.stderr) == []
