"""双电源 on the case page's summary and in the exported event log: the customer applies for dual supply, the
supply plan decides it (按方案核定费用 bills dual supply when the plan has two or more sources, whatever was applied
for). Before a plan decided, the application's value shows, labelled as applied; from the plan on, the plan's,
labelled as the plan's. On SQLite and PostgreSQL, through the web app and the real ``export-log`` command."""

from __future__ import annotations

import csv
import io
from typing import Any

from lxml import etree

from runner.case_queries import DualSupply, dual_supply
from tests.db import Db, advance_to, case_row, complete, run_cli, start
from tests.test_webui_cases import section
from tests.webui_helpers import (
    Web,
    web_fixture,  # noqa: F401  (the web fixture)
)

XES = "{http://www.xes-standard.org/}"


def at_signing(db: Db, applied_dual: bool, plan_sources: int) -> str:
    """An hv_ordinary case whose plan grants ``plan_sources`` sources, waiting for the customer to sign it."""
    number = start(db, "hv_ordinary", dual_supply=applied_dual)
    advance_to(db, number, "draft_plan")
    complete(db, number, "draft_plan", user="plan_designer.1", extra={"supply_points": plan_sources})
    advance_to(db, number, "sign_plan")
    return number


def summary_text(web: Web, number: str, language: str | None = None) -> str:
    """The visible text of the case page's 案件摘要 card (Case summary in English)."""
    client = web.client("supervisor")
    if language:
        client.get(f"/auth/language/{language}")
    html = client.get(f"/cases/{number}").get_data(as_text=True)
    return section(html, "Case summary" if language == "en" else "案件摘要")


def exported(db: Db, tmp_path: Any) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """Per case: (dual_supply, dual_supply_basis) in the CSV and in the XES log ``baozhuang export-log`` writes."""
    result = run_cli(db, tmp_path / "instance", "export-log", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    in_csv = {row["case_id"]: (row["dual_supply"], row["dual_supply_basis"]) for row in rows}
    result = run_cli(db, tmp_path / "instance", "export-log", "--format", "xes")
    assert result.exit_code == 0, result.output
    in_xes = {}
    for trace in etree.fromstring(result.stdout_bytes).iterfind(f"{XES}trace"):
        values = {child.get("key"): child.get("value") for child in trace if child.tag != f"{XES}event"}
        in_xes[values["concept:name"]] = (values.get("dual_supply", ""), values.get("dual_supply_basis", ""))
    return in_csv, in_xes


def test_the_summary_and_the_export_show_the_plan_s_dual_supply_once_it_decided(web: Web, tmp_path: Any) -> None:
    db = web.db
    refused = at_signing(db, applied_dual=True, plan_sources=1)  # applied for two, the plan grants one
    granted = at_signing(db, applied_dual=False, plan_sources=2)  # applied for one, the plan grants two
    waiting = start(db, "hv_ordinary", dual_supply=True)  # no plan yet
    assert case_row(db, refused).summary["dual_supply"] is True  # the application's flag, as kept

    assert "双电源 否（按供电方案）" in summary_text(web, refused)
    assert "双电源 是（按供电方案）" in summary_text(web, granted)
    assert "双电源 是（按客户申请）" in summary_text(web, waiting)
    assert "Dual supply No" in summary_text(web, refused, "en")

    in_csv, in_xes = exported(db, tmp_path)
    expected = {refused: ("false", "plan"), granted: ("true", "plan"), waiting: ("true", "application")}
    assert {number: in_csv[number] for number in expected} == expected
    assert {number: in_xes[number] for number in expected} == expected


def test_the_decision_read_from_a_summary() -> None:
    plan = {"costed_on": "plan", "items": [{"code": "high_reliability", "amount": 0.0}]}
    assert dual_supply({"dual_supply": False, "fees": plan}) == DualSupply(True, "plan")
    assert dual_supply({"dual_supply": True, "fees": {**plan, "items": []}}) == DualSupply(False, "plan")
    estimate = {"costed_on": "application", "items": [{"code": "high_reliability"}]}
    assert dual_supply({"dual_supply": True, "fees": estimate}) == DualSupply(True, "application")
    assert dual_supply({"fees": {"items": []}}) is None and dual_supply(None) is None
