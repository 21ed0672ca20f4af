"""``baozhuang generate-history``: a scenario's cases through the real runner on a virtual clock, into an empty
database — the history ``baozhuang calibrate`` reads, made with every step a real transaction."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from runner.cli import main
from runner.models import ArchiveRecord, Event
from runner.models import Case as CaseRow
from runner.simulation.scenario import load_scenario
from tests.conftest import PROCESSES
from tests.db import Db, run_cli, start

TODAY = PROCESSES / "scenarios" / "today.yaml"
WHAT_IF = PROCESSES / "scenarios" / "fewer_surveyors_parallel_review.yaml"


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


def test_a_what_if_scenario_with_a_variant_process_runs_its_overlay_over_the_base(db: Db, tmp_path: Path) -> None:
    """The shipped what-if (one surveyor fewer, the parallel plan review overlay): its overlay folder alone is no
    process (it crashed deploying it); materialized over its base, as ``simulate`` does, it runs."""
    result = run_cli(db, tmp_path / "instance", "generate-history", str(WHAT_IF), "--days", "5", "--seed", "3")
    assert result.exit_code == 0, result.output
    with db.reading() as session:
        elements = set(session.scalars(select(Event.element_id)))
        statuses = set(session.scalars(select(CaseRow.status)))
    assert statuses == {"completed"}
    assert "review_plan" in elements and "gw_review_split" in elements, sorted(elements)  # the variant's split


def test_what_simulate_refuses_is_refused_before_any_case_starts(db: Db, tmp_path: Path) -> None:
    no_archivists = tmp_path / "no_archivists.yaml"
    no_archivists.write_text(f"extends: {TODAY}\npools:\n  archivist: null\n", encoding="utf-8")
    refused = run_cli(db, tmp_path / "instance", "generate-history", str(no_archivists), "--days", "1")
    assert refused.exit_code == 1 and "no pool for lane role 'archivist'" in refused.output, refused.output
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(f"extends: {TODAY}\nbranch_probabilities:\n  flow_gw_high_risk_to_approve_high_risk: 0.5\n",
                      encoding="utf-8")
    refused = run_cli(db, tmp_path / "instance", "generate-history", str(pinned), "--days", "1")
    assert refused.exit_code == 1 and "branch_probabilities replace gateway conditions" in refused.output
    for days in ("nan", "inf", "0", "-1", "1e9"):
        bad = run_cli(db, tmp_path / "instance", "generate-history", str(TODAY), "--days", days)
        assert bad.exit_code == 2 and "a number of days above 0" in bad.output, (days, bad.output)
    with db.reading() as session:
        assert session.scalars(select(CaseRow)).first() is None  # nothing started


def test_the_same_seed_gives_the_same_history(tmp_path: Path) -> None:
    """Case numbers come from the run's own stream (they came from ``secrets``): the same seed, the same log."""
    exports = []
    for name in ("one", "two"):
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / name}.sqlite", "BAOZHUANG_INSTANCE": str(tmp_path / name)}
        for args in (["db", "upgrade"], ["generate-history", str(TODAY), "--days", "2", "--seed", "11",
                                         "--start", "2026-09-01"]):
            done = CliRunner().invoke(main, args, env=env)
            assert done.exit_code == 0, done.output
        exported = CliRunner().invoke(main, ["export-log", "--format", "csv"], env=env)
        assert exported.exit_code == 0, exported.output
        exports.append(exported.stdout)
    assert exports[0] == exports[1] and exports[0].count("\n") > 20
    assert "\nYK2026090" in exports[0]  # --start moved the history


def test_an_unreached_call_in_the_scenario_answers_is_called_again_in_the_history(db: Db, tmp_path: Path) -> None:
    """``{"reached": false}`` over the 回访 form's sample answer leaves the sample's rating out
    (``runner.sample_answers``, as the simulator does): the completion was refused and the follow-up tasks stayed
    open for good."""
    scenario = tmp_path / "unreached.yaml"
    scenario.write_text(f"extends: {TODAY}\nname: unreached\n"
                        "answers:\n  followup_call:\n    - {weight: 1, data: {reached: false}}\n"
                        "customer_delays:\n  customer_survey: 60\n", encoding="utf-8")
    result = run_cli(db, tmp_path / "instance", "generate-history", str(scenario), "--days", "2", "--seed", "5")
    assert result.exit_code == 0, result.output
    with db.reading() as session:
        statuses = Counter(session.scalars(select(CaseRow.status)))
        retries = session.scalar(select(func.count()).select_from(Event).where(
            Event.element_id == "timer_call_retry", Event.lifecycle == "fired"))
    assert statuses and set(statuses) == {"completed"}, statuses
    assert retries == 2 * statuses["completed"]  # three calls a case, none reached
