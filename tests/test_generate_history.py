"""``baozhuang generate-history``: a scenario's cases through the real runner on a virtual clock, into an empty
database — the history ``baozhuang calibrate`` reads, made with every step a real transaction."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from runner.models import ArchiveRecord, Event
from runner.models import Case as CaseRow
from runner.simulation.scenario import load_scenario
from tests.conftest import PROCESSES
from tests.db import Db, run_cli, start

TODAY = PROCESSES / "scenarios" / "today.yaml"


def test_a_generated_history_runs_each_case_to_its_end_with_the_scenarios_staff(db: Db, tmp_path: Path) -> None:
    result = run_cli(db, tmp_path / "instance", "generate-history", str(TODAY), "--days", "3", "--seed", "5")
    assert result.exit_code == 0, result.output
    found = re.search(r"^(\d+) cases arrived in 3 days from 2026-11-02 \(version \d+\): (\d+) completed; "
                      r"(\d+) transactions", result.stdout)
    assert found, result.stdout
    arrived, completed, transactions = (int(group) for group in found.groups())
    assert arrived >= 10 and completed == arrived and transactions > 10 * arrived
    scenario = load_scenario(TODAY)
    with db.reading() as session:
        assert Counter(session.scalars(select(CaseRow.status))) == {"completed": arrived}
        workers = set(session.scalars(select(Event.user).where(Event.lifecycle == "started")))
        addresses = list(session.scalars(select(ArchiveRecord.address_key)))
    pool_people = {f"{lane}.{i + 1}" for lane, pool in scenario.pools.items() for i in range(pool.count)}
    staff = workers - {"customer"}  # the customer's own steps are the customer's
    assert staff and staff <= pool_people, staff - pool_people  # claims by the scenario's staff only
    # each case its own address: the risk check counts earlier applications at one address as repeated ones
    assert len(addresses) == arrived and len(set(addresses)) == arrived
    assert run_cli(db, tmp_path / "instance", "audit", "verify").exit_code == 0


def test_a_database_with_cases_is_refused(db: Db, tmp_path: Path) -> None:
    start(db)
    refused = run_cli(db, tmp_path / "instance", "generate-history", str(TODAY), "--days", "1")
    assert refused.exit_code == 1
    assert "error: the database holds cases already" in refused.output
    with db.reading() as session:
        assert len(session.scalars(select(CaseRow)).all()) == 1  # nothing added
