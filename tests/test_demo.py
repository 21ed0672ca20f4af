"""``make run``'s demo seed: the demo cases are created once, each start prints a fresh portal access code per demo
case (the old one stops working), and DEMO-0008 waits at 回访 where its customer can answer the survey."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from runner import portal
from runner.demo import DEMO_CASES, seed
from runner.environment import Environment
from runner.models import Case as CaseRow
from runner.models import OpenTask
from tests.conftest import PROCESSES


def _seed(env: Environment, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    seed(PROCESSES, env)
    printed = capsys.readouterr().out
    return {number: code.replace("-", "") for number, code in
            re.findall(r"(DEMO-\d{4}) .*portal code ([A-Z0-9]{5}-[A-Z0-9]{5})", printed)}


def test_seeding_twice_creates_nothing_twice_and_renews_the_codes(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    env = Environment(url=f"sqlite:///{tmp_path / 'demo.sqlite3'}", instance=tmp_path)
    first = _seed(env, capsys)
    second = _seed(env, capsys)
    assert set(first) == set(second) == {number for number, *_ in DEMO_CASES}
    with env.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == len(DEMO_CASES)
        assert not portal.check_access_code(session, "DEMO-0008", first["DEMO-0008"])
        assert portal.check_access_code(session, "DEMO-0008", second["DEMO-0008"])
        waiting = set(session.scalars(select(OpenTask.element_id).where(OpenTask.case_number == "DEMO-0008")))
    assert waiting == {"followup_call", "customer_survey"}
