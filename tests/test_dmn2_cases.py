"""Hit policies in real cases, on SQLite and PostgreSQL: a PRIORITY table decides a case by rank, an ANY conflict
stops the case at its business rule task with an incident (not a crash), and a version deployed before
``validate`` refused a table the engine cannot run is named by ``baozhuang versions`` — its cases stop at that
table with the reason as the incident, instead of running it as first match."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.models import Incident
from runner.process_folder import content_hash
from runner.store import DeployError, _activate, _insert_version, current_version_id, deploy, load_case
from tests.conftest import PROCESSES
from tests.db import Db, case_row, open_tasks, run_cli, start
from tests.test_dmn2_hit_policies import priority_category_folder
from tests.worker_helpers import run_retries_out

DECISION = 'time_limits.dmn: decision "time_limits" (确定办理时限)'
RULE_3_SINGLE_SUPPLY = '<inputEntry id="rule_3_input_3"><text>False</text>'


def time_limits_copy(tmp_path: Path, policy: str, *, rule_3_any_supply: bool = False) -> Path:
    """processes/ with time_limits.dmn under ``policy``; ``rule_3_any_supply``: the statute's single-supply HV row
    widened to dual supply too, so that a dual-supply HV case matches it and rule_4 (20 or 45 days for the plan)."""
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES, folder)
    dmn = folder / "time_limits.dmn"
    text = dmn.read_text(encoding="utf-8")
    assert 'hitPolicy="UNIQUE"' in text
    text = text.replace('hitPolicy="UNIQUE"', f'hitPolicy="{policy}"')
    if rule_3_any_supply:
        assert RULE_3_SINGLE_SUPPLY in text
        text = text.replace(RULE_3_SINGLE_SUPPLY, '<inputEntry id="rule_3_input_3"><text>-</text>')
    dmn.write_text(text, encoding="utf-8")
    return folder


def incident_of(db: Db, number: str, tmp_path: Path) -> Incident:
    incident_id = run_retries_out(db, db.runtime, case_row(db, number).id, tmp_path)
    assert incident_id is not None
    with db.reading() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        session.expunge(incident)
        return incident


def test_a_priority_table_decides_a_case_by_rank(db: Db, tmp_path: Path) -> None:
    """customer_category under PRIORITY with a catch-all residential row first: validate (with the samples) takes
    it, and an HV case is HV — first match would have made it residential."""
    with db.transaction() as session:
        deploy(session, db.runtime, priority_category_folder(tmp_path), "test")
    number = start(db, "hv_ordinary")
    with db.reading() as session:
        assert load_case(session, db.runtime, number).case.data["category"] == "hv_ordinary"


def test_an_any_conflict_stops_the_case_with_an_incident_naming_the_rules(db: Db, tmp_path: Path) -> None:
    folder = time_limits_copy(tmp_path, "ANY", rule_3_any_supply=True)
    shutil.rmtree(folder / "samples")  # with them validate refuses the folder (tests/test_dmn2_validate.py)
    with db.transaction() as session:
        deploy(session, db.runtime, folder, "test")
    single = start(db, "hv_ordinary")  # only rule_3 matches: the case goes on
    assert open_tasks(db, single)
    number = start(db, "hv_ordinary", dual_supply=True)
    incident = incident_of(db, number, tmp_path)
    assert incident.element_id == "decide_time_limits"
    assert incident.message.startswith(f"{DECISION}: hit policy ANY, but the matching rules give different outputs "
                                       "(rule_3 gives limits.acceptance = 1, limits.plan_reply = 20,"), incident.message
    assert "; rule_4 gives limits.acceptance = 1, limits.plan_reply = 45," in incident.message
    assert open_tasks(db, number) == []


def test_a_version_deployed_before_the_check_is_named_by_versions(db: Db, tmp_path: Path) -> None:
    """A PRIORITY table without listed values, stored as a version before validate refused it (inserted here without
    validate): ``versions`` warns naming version, file and decision; a case of it stops at the table."""
    folder = time_limits_copy(tmp_path, "PRIORITY")
    with db.transaction() as session, pytest.raises(DeployError, match="hit policy PRIORITY ranks the rules"):
        deploy(session, db.runtime, folder, "test")  # refused today
    with db.transaction() as session:
        previous = current_version_id(session)
        old = _insert_version(session, db.runtime, folder, content_hash(folder), "earlier", "before the check")
        assert old is not None
        _activate(session, db.runtime, old, previous, "earlier", None)
        old_id, old_hash = old.id, old.version_hash
    listed = run_cli(db, tmp_path / "instance", "versions")
    assert listed.exit_code == 0, listed.output
    [warning] = [line for line in listed.stderr.splitlines() if line.startswith("warning:")]
    assert warning.startswith(f"warning: version {old_id} ({old_hash[:12]}): time_limits.dmn:5: decision time_limits: "
                              "hit policy PRIORITY ranks the rules by their outputs' listed allowed values"), warning
    assert warning.endswith("its cases reaching the table stop there with an incident: deploy a corrected folder "
                            "and migrate them"), warning
    assert f"version {previous} " not in listed.stderr  # the shipped version runs every table it has
    number = start(db, "lv_other")
    incident = incident_of(db, number, tmp_path)
    assert incident.element_id == "decide_time_limits"
    assert incident.message.startswith(f"{DECISION}: hit policy PRIORITY ranks the rules by their outputs' listed "
                                       "allowed values, but no output of this table lists its values"), incident.message
