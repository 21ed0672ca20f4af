"""The DMN decision tables in processes/*.dmn, rule by rule: a table of inputs → expected outputs.

In the style of SpiffWorkflow's own DMN tests, every row of ``CASES`` gives the data a business rule task would
see, the rule ids that must match and the outputs the table must produce. Expected values are written out from
/work/shared/DOMAIN.md (section numbers in the comments); values DOMAIN.md does not give (placeholders marked (U)
in the table descriptions) are written out from the table and say so.

SpiffWorkflow alone stops a UNIQUE table at the first matching rule; ``test_unique_tables_match_exactly_one_rule``
re-runs each UNIQUE row with every rule checked, so that overlapping rules are caught too. Our engine
(``runner.decision_engine``) refuses an overlap or a gap at run time: the tests at the end show a case failing at its
business rule task and ``baozhuang decide`` exiting 1.
``test_every_rule_is_exercised`` reads the DMN files with lxml: a rule added without a row here fails it.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import HitPolicy

from runner.cli import main
from runner.decisions import DecisionError, DecisionResult, evaluate, load_decisions
from runner.models import Incident
from runner.store import DeployError, deploy
from tests.conftest import PROCESSES
from tests.db import Db, case_row, open_tasks, start
from tests.worker_helpers import run_retries_out

DMN_NS = {"dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/"}

CATEGORIES = ("lv_residential", "lv_smallmicro", "lv_other", "hv_ordinary", "hv_important")
REGIMES = ("statute", "sgcc_commitment", "sgcc_internal", "csg")


@dataclass(frozen=True)
class Case:
    """One row of the test table: ``data`` must match exactly ``rules`` and produce exactly ``outputs``."""

    id: str
    decision: str
    data: dict[str, Any]
    rules: tuple[str, ...]
    outputs: dict[str, Any] = field(default_factory=dict)


# --- data builders (inputs only; the expected outputs are written out in each row) -----------------------------


def voltage_data(installed_kw: float, transformer_kva: float) -> dict[str, Any]:
    return {"capacity": {"installed_kw": installed_kw, "transformer_kva": transformer_kva}}


def category_data(
    customer_type: str,
    supply_voltage_kv: float,
    installed_kw: float,
    enterprise_size: str | None = None,
    important: bool = False,
    special: bool = False,
) -> dict[str, Any]:
    return {
        "supply_voltage_kv": supply_voltage_kv,
        "capacity": {"installed_kw": installed_kw},
        "application": {
            "customer_type": customer_type,
            "enterprise_size": enterprise_size,
            "important_customer": important,
            "special_load": special,
        },
    }


def limits_data(regime: str, category: str, dual_supply: bool) -> dict[str, Any]:
    return {"regime": regime, "category": category, "application": {"dual_supply": dual_supply}}


def materials_data(category: str, important: bool = False, by_agent: bool | None = None) -> dict[str, Any]:
    application: dict[str, Any] = {"important_customer": important}
    if by_agent is not None:  # the key is optional in the application; the table defaults it to False
        application["applied_by_agent"] = by_agent
    return {"category": category, "application": application}


def fee_data(category: str, supply_voltage_kv: float) -> dict[str, Any]:
    return {"category": category, "supply_voltage_kv": supply_voltage_kv}


def risk_data(
    missing_proof: bool = False,
    repeated: int = 0,
    important: bool = False,
    special: bool = False,
    capacity_kva: float = 100.0,
    site_survey: dict[str, Any] | None = None,
    mismatch: bool | None = None,
) -> dict[str, Any]:
    """``site_survey`` None is what ``assess_risk_direct`` sets for cases without a survey; ``mismatch`` None: risk
    inputs collected before they carried ``capacity_mismatch``."""
    inputs: dict[str, Any] = {
        "missing_property_proof": missing_proof,
        "repeated_applications": repeated,
        "important_customer": important,
        "special_load": special,
        "dual_supply": False,
        "capacity_kva": capacity_kva,
    }
    if mismatch is not None:
        inputs["capacity_mismatch"] = mismatch
    return {"risk_inputs": inputs, "site_survey": site_survey}


def route_data(category: str, important: bool = False, special: bool = False) -> dict[str, Any]:
    """What ``process_route`` reads: the category, and the flags that add design review and interim checks."""
    return {"category": category, "application": {"important_customer": important, "special_load": special}}


def followup_data(satisfaction: str) -> dict[str, Any]:
    return {"followup": {"channel": "customer", "satisfaction": satisfaction}}


# --- expected-output builders -------------------------------------------------------------------------------


def route(
    *,
    survey: bool,
    design_review: bool,
    interim_check: bool,
    completion_check: bool,
    contract_step: bool,
    customer_works: bool,
    grid_works: bool,
    ge_steps: int,
) -> dict[str, Any]:
    return {
        "route": {
            "survey": survey,
            "design_review": design_review,
            "interim_check": interim_check,
            "completion_check": completion_check,
            "contract_step": contract_step,
            "customer_works": customer_works,
            "grid_works": grid_works,
            "ge_steps": ge_steps,
        }
    }


def limits(
    *, plan_reply: int, design_review: int, interim_check: int, completion_check: int, energize: int,
    whole_case: int | None = None,
) -> dict[str, Any]:
    """Working-day limits; the regime-specific steps are arguments, the rest are the same in every regime:
    acceptance 1, contract 5 and archive 5 are placeholders (U, not in DOMAIN.md); follow-up 2 is DOMAIN §7 (V);
    supervision (督办) 1 is a placeholder (U, after the complaint rule "contact within 1 working day", DOMAIN §2);
    whole_case, the whole-process target, is 15 for small/micro enterprises only (DOMAIN §2, decision 87)."""
    return {
        "limits": {
            "acceptance": 1,
            "plan_reply": plan_reply,
            "design_review": design_review,
            "interim_check": interim_check,
            "completion_check": completion_check,
            "contract": 5,
            "energize": energize,
            "archive": 5,
            "followup": 2,
            "supervision": 1,
            "whole_case": whole_case,
        }
    }


def risk(*rows: tuple[str, str]) -> dict[str, Any]:
    """COLLECT output of ``risk_rules``: one {flag, severity} per matched rule, in rule order; nothing if none."""
    return {"risk": [{"flag": flag, "severity": severity} for flag, severity in rows]} if rows else {}


# LV application materials (DOMAIN §4: identity and property proof only) and the HV list (§4).
LV_MATERIALS = ["identity", "property_proof"]
HV_MATERIALS = [
    "identity",
    "property_proof",
    "business_licence",
    "application_letter",
    "load_list",
    "site_plan",
    "project_approval",
]
HV_RULES = ("rule_1", "rule_2", "rule_3", "rule_4", "rule_5", "rule_6", "rule_7")


CASES: list[Case] = [
    # ---- supply_voltage (DOMAIN §3): 220 V under 10 kW; 380 V up to the 160 kW LV access limit; above it
    # 10 kV up to ~8 MVA of transformer, then 35 kV (U); 110 kV above 40 MVA is the table's placeholder (U).
    Case("sv-9.99kW-single-phase", "supply_voltage", voltage_data(9.99, 30), ("rule_1",), {"supply_voltage_kv": 0.22}),
    Case("sv-10kW-three-phase", "supply_voltage", voltage_data(10, 30), ("rule_2",), {"supply_voltage_kv": 0.38}),
    Case("sv-160kW-lv-limit", "supply_voltage", voltage_data(160, 250), ("rule_2",), {"supply_voltage_kv": 0.38}),
    Case("sv-160.01kW-hv", "supply_voltage", voltage_data(160.01, 250), ("rule_3",), {"supply_voltage_kv": 10}),
    Case("sv-8000kVA-10kV", "supply_voltage", voltage_data(6000, 8000), ("rule_3",), {"supply_voltage_kv": 10}),
    Case("sv-8001kVA-35kV", "supply_voltage", voltage_data(6000, 8001), ("rule_4",), {"supply_voltage_kv": 35}),
    Case("sv-40000kVA-35kV", "supply_voltage", voltage_data(30000, 40000), ("rule_4",), {"supply_voltage_kv": 35}),
    Case("sv-40001kVA-110kV", "supply_voltage", voltage_data(30000, 40001), ("rule_5",), {"supply_voltage_kv": 110}),
    # ---- customer_category (DOMAIN §1): 35 kV+, important (GB/T 29328) and special loads are hv_important;
    # LV ≤160 kW small/micro is 三零 (lv_smallmicro).
    Case("cat-35kV", "customer_category", category_data("non_residential", 35, 9000, "other"),
         ("rule_1",), {"category": "hv_important"}),
    Case("cat-110kV-residential-type", "customer_category", category_data("residential", 110, 30000),
         ("rule_1",), {"category": "hv_important"}),
    Case("cat-10kV-important", "customer_category", category_data("non_residential", 10, 800, "other", True),
         ("rule_2",), {"category": "hv_important"}),
    Case("cat-10kV-important-and-special", "customer_category",
         category_data("non_residential", 10, 800, "other", True, True), ("rule_2",), {"category": "hv_important"}),
    Case("cat-35kV-important-and-special", "customer_category",
         category_data("non_residential", 35, 9000, "other", True, True), ("rule_1",), {"category": "hv_important"}),
    Case("cat-10kV-special-load", "customer_category",
         category_data("non_residential", 10, 800, "other", False, True), ("rule_3",), {"category": "hv_important"}),
    Case("cat-10kV-ordinary", "customer_category", category_data("non_residential", 10, 800, "other"),
         ("rule_4",), {"category": "hv_ordinary"}),
    Case("cat-20kV-ordinary", "customer_category", category_data("non_residential", 20, 5000, "small_micro"),
         ("rule_4",), {"category": "hv_ordinary"}),
    Case("cat-residential-220V", "customer_category", category_data("residential", 0.22, 8),
         ("rule_5",), {"category": "lv_residential"}),
    Case("cat-residential-380V", "customer_category", category_data("residential", 0.38, 20),
         ("rule_5",), {"category": "lv_residential"}),
    Case("cat-smallmicro-160kW", "customer_category", category_data("non_residential", 0.38, 160, "small_micro"),
         ("rule_6",), {"category": "lv_smallmicro"}),
    Case("cat-smallmicro-220V", "customer_category", category_data("non_residential", 0.22, 5, "small_micro"),
         ("rule_6",), {"category": "lv_smallmicro"}),
    Case("cat-smallmicro-160.01kW", "customer_category",
         category_data("non_residential", 0.38, 160.01, "small_micro"), ("rule_7",), {"category": "lv_other"}),
    Case("cat-lv-other-enterprise", "customer_category", category_data("non_residential", 0.38, 100, "other"),
         ("rule_8",), {"category": "lv_other"}),
    Case("cat-lv-size-unknown", "customer_category", category_data("non_residential", 0.38, 100, None),
         ("rule_8",), {"category": "lv_other"}),
    # an important customer or a special load never gets the 三零 two steps (DOMAIN §1): other LV, with design review
    Case("cat-smallmicro-important", "customer_category",
         category_data("non_residential", 0.38, 60, "small_micro", True), ("rule_9",), {"category": "lv_other"}),
    Case("cat-smallmicro-special-load", "customer_category",
         category_data("non_residential", 0.38, 60, "small_micro", False, True), ("rule_10",),
         {"category": "lv_other"}),
    # ---- process_route (DOMAIN §1): steps 2 / 2 / 3 / 4 / 6; contract signed at acceptance for the two 2-step
    # categories; 零投资 grid works for small/micro.
    Case("route-lv-residential", "process_route", route_data("lv_residential"), ("rule_1",),
         route(survey=False, design_review=False, interim_check=False, completion_check=False, contract_step=False,
               customer_works=False, grid_works=False, ge_steps=2)),
    Case("route-lv-smallmicro", "process_route", route_data("lv_smallmicro"), ("rule_2",),
         route(survey=False, design_review=False, interim_check=False, completion_check=False, contract_step=False,
               customer_works=False, grid_works=True, ge_steps=2)),
    Case("route-lv-other", "process_route", route_data("lv_other"), ("rule_3",),
         route(survey=True, design_review=False, interim_check=False, completion_check=False, contract_step=True,
               customer_works=False, grid_works=False, ge_steps=3)),
    Case("route-lv-other-important", "process_route", route_data("lv_other", important=True), ("rule_6",),
         route(survey=True, design_review=True, interim_check=True, completion_check=True, contract_step=True,
               customer_works=True, grid_works=False, ge_steps=6)),
    Case("route-lv-other-special-load", "process_route", route_data("lv_other", special=True), ("rule_7",),
         route(survey=True, design_review=True, interim_check=True, completion_check=True, contract_step=True,
               customer_works=True, grid_works=False, ge_steps=6)),
    Case("route-hv-ordinary", "process_route", route_data("hv_ordinary"), ("rule_4",),
         route(survey=True, design_review=False, interim_check=False, completion_check=True, contract_step=True,
               customer_works=True, grid_works=False, ge_steps=4)),
    Case("route-hv-important", "process_route", route_data("hv_important"), ("rule_5",),
         route(survey=True, design_review=True, interim_check=True, completion_check=True, contract_step=True,
               customer_works=True, grid_works=False, ge_steps=6)),
    # ---- time_limits (DOMAIN §2). statute 《供电监管办法》: plan 3/8/20/45, design –/8/20/20, interim –/3/5/5,
    # completion –/5/7/7, energize 3/5/7/7 (residential takes the other-LV value where statute has none).
    Case("tl-statute-lv-residential", "time_limits", limits_data("statute", "lv_residential", False), ("rule_1",),
         limits(plan_reply=3, design_review=8, interim_check=3, completion_check=5, energize=3)),
    Case("tl-statute-lv-residential-dual-ignored", "time_limits", limits_data("statute", "lv_residential", True),
         ("rule_1",), limits(plan_reply=3, design_review=8, interim_check=3, completion_check=5, energize=3)),
    Case("tl-statute-lv-smallmicro", "time_limits", limits_data("statute", "lv_smallmicro", False), ("rule_2",),
         limits(plan_reply=8, design_review=8, interim_check=3, completion_check=5, energize=5, whole_case=15)),
    Case("tl-statute-lv-other", "time_limits", limits_data("statute", "lv_other", False), ("rule_2",),
         limits(plan_reply=8, design_review=8, interim_check=3, completion_check=5, energize=5)),
    Case("tl-statute-hv-single", "time_limits", limits_data("statute", "hv_ordinary", False), ("rule_3",),
         limits(plan_reply=20, design_review=20, interim_check=5, completion_check=7, energize=7)),
    Case("tl-statute-hv-dual", "time_limits", limits_data("statute", "hv_important", True), ("rule_4",),
         limits(plan_reply=45, design_review=20, interim_check=5, completion_check=7, energize=7)),
    # SGCC 十项承诺: plan 3/7/15/30, energize residential 3, non-residential 5; other steps statutory (U).
    Case("tl-sgcc-commitment-lv-residential", "time_limits", limits_data("sgcc_commitment", "lv_residential", False),
         ("rule_5",), limits(plan_reply=3, design_review=8, interim_check=3, completion_check=5, energize=3)),
    Case("tl-sgcc-commitment-lv-other", "time_limits", limits_data("sgcc_commitment", "lv_other", False),
         ("rule_6",), limits(plan_reply=7, design_review=8, interim_check=3, completion_check=5, energize=5)),
    Case("tl-sgcc-commitment-hv-single", "time_limits", limits_data("sgcc_commitment", "hv_ordinary", False),
         ("rule_7",), limits(plan_reply=15, design_review=20, interim_check=5, completion_check=7, energize=5)),
    Case("tl-sgcc-commitment-hv-dual", "time_limits", limits_data("sgcc_commitment", "hv_ordinary", True),
         ("rule_8",), limits(plan_reply=30, design_review=20, interim_check=5, completion_check=7, energize=5)),
    # SGCC internal assessment: plan 15/30, design 10, interim 5, completion 5, energize 5; the LV plan values
    # 3 and 7 are placeholders (U: LV assesses only 受理 → 装表接电).
    Case("tl-sgcc-internal-lv-residential", "time_limits", limits_data("sgcc_internal", "lv_residential", False),
         ("rule_9",), limits(plan_reply=3, design_review=10, interim_check=5, completion_check=5, energize=5)),
    Case("tl-sgcc-internal-lv-smallmicro", "time_limits", limits_data("sgcc_internal", "lv_smallmicro", False),
         ("rule_10",), limits(plan_reply=7, design_review=10, interim_check=5, completion_check=5, energize=5,
                              whole_case=15)),
    Case("tl-sgcc-internal-hv-single", "time_limits", limits_data("sgcc_internal", "hv_important", False),
         ("rule_11",), limits(plan_reply=15, design_review=10, interim_check=5, completion_check=5, energize=5)),
    Case("tl-sgcc-internal-hv-dual", "time_limits", limits_data("sgcc_internal", "hv_ordinary", True),
         ("rule_12",), limits(plan_reply=30, design_review=10, interim_check=5, completion_check=5, energize=5)),
    # China Southern Grid: plan 2/5/15/30, energize 2/3/5; design/interim/completion statutory (U).
    Case("tl-csg-lv-residential", "time_limits", limits_data("csg", "lv_residential", False), ("rule_13",),
         limits(plan_reply=2, design_review=8, interim_check=3, completion_check=5, energize=2)),
    Case("tl-csg-lv-other", "time_limits", limits_data("csg", "lv_other", False), ("rule_14",),
         limits(plan_reply=5, design_review=8, interim_check=3, completion_check=5, energize=3)),
    Case("tl-csg-hv-single", "time_limits", limits_data("csg", "hv_ordinary", False), ("rule_15",),
         limits(plan_reply=15, design_review=20, interim_check=5, completion_check=7, energize=5)),
    Case("tl-csg-hv-dual", "time_limits", limits_data("csg", "hv_important", True), ("rule_16",),
         limits(plan_reply=30, design_review=20, interim_check=5, completion_check=7, energize=5)),
    # ---- required_materials (DOMAIN §4, COLLECT): LV only identity + property proof; HV adds licence,
    # application letter, load list, site plan, project approval; important customers government approval;
    # an agent a power of attorney.
    Case("mat-lv-residential", "required_materials", materials_data("lv_residential"), ("rule_1", "rule_2"),
         {"required_materials": LV_MATERIALS}),
    Case("mat-lv-smallmicro", "required_materials", materials_data("lv_smallmicro", by_agent=False),
         ("rule_1", "rule_2"), {"required_materials": LV_MATERIALS}),
    Case("mat-lv-other", "required_materials", materials_data("lv_other"), ("rule_1", "rule_2", "rule_3"),
         {"required_materials": ["identity", "property_proof", "business_licence"]}),
    Case("mat-hv-ordinary", "required_materials", materials_data("hv_ordinary"), HV_RULES,
         {"required_materials": HV_MATERIALS}),
    Case("mat-hv-important-35kV-not-gbt29328", "required_materials", materials_data("hv_important"), HV_RULES,
         {"required_materials": HV_MATERIALS}),
    Case("mat-hv-important-customer", "required_materials", materials_data("hv_important", important=True),
         (*HV_RULES, "rule_8"), {"required_materials": [*HV_MATERIALS, "government_approval"]}),
    Case("mat-hv-by-agent", "required_materials", materials_data("hv_ordinary", by_agent=True),
         (*HV_RULES, "rule_9"), {"required_materials": [*HV_MATERIALS, "power_of_attorney"]}),
    Case("mat-hv-important-by-agent", "required_materials",
         materials_data("hv_important", important=True, by_agent=True), (*HV_RULES, "rule_8", "rule_9"),
         {"required_materials": [*HV_MATERIALS, "government_approval", "power_of_attorney"]}),
    # ---- fee_rates (DOMAIN §5): small/micro zero investment, no fee for LV; 高可靠性供电费 per kVA for HV at
    # provincial rates — 200/170/140 CNY/kVA are the table's placeholders (U; DOMAIN: amounts not found).
    Case("fee-lv-smallmicro", "fee_rates", fee_data("lv_smallmicro", 0.38), ("rule_1",),
         {"fee_rates": {"high_reliability_per_kva": 0, "zero_investment": True}}),
    Case("fee-lv-residential", "fee_rates", fee_data("lv_residential", 0.22), ("rule_2",),
         {"fee_rates": {"high_reliability_per_kva": 0, "zero_investment": False}}),
    Case("fee-lv-other", "fee_rates", fee_data("lv_other", 0.38), ("rule_2",),
         {"fee_rates": {"high_reliability_per_kva": 0, "zero_investment": False}}),
    Case("fee-hv-10kV", "fee_rates", fee_data("hv_ordinary", 10), ("rule_3",),
         {"fee_rates": {"high_reliability_per_kva": 200, "zero_investment": False}}),
    Case("fee-hv-20kV", "fee_rates", fee_data("hv_ordinary", 20), ("rule_4",),
         {"fee_rates": {"high_reliability_per_kva": 170, "zero_investment": False}}),
    Case("fee-hv-35kV", "fee_rates", fee_data("hv_important", 35), ("rule_4",),
         {"fee_rates": {"high_reliability_per_kva": 170, "zero_investment": False}}),
    Case("fee-hv-66kV", "fee_rates", fee_data("hv_important", 66), ("rule_5",),
         {"fee_rates": {"high_reliability_per_kva": 140, "zero_investment": False}}),
    # ---- risk_rules (COLLECT). Severities are the product's choice (DOMAIN §8 asks for a risk register but
    # gives none): missing property proof (一证受理) medium, everything else high.
    Case("risk-none", "risk_rules", risk_data(repeated=1, site_survey=None), (), risk()),
    Case("risk-missing-proof", "risk_rules", risk_data(missing_proof=True), ("rule_1",),
         risk(("missing_property_proof", "medium"))),
    Case("risk-2-repeats", "risk_rules", risk_data(repeated=2), ("rule_2",), risk(("repeated_applications", "high"))),
    Case("risk-important", "risk_rules", risk_data(important=True), ("rule_3",), risk(("important_customer", "high"))),
    Case("risk-special-load", "risk_rules", risk_data(special=True), ("rule_4",), risk(("special_load", "high"))),
    Case("risk-over-margin", "risk_rules", risk_data(capacity_kva=400.1, site_survey={"feeder_margin_kva": 400}),
         ("rule_5",), risk(("capacity_over_feeder_margin", "high"))),
    Case("risk-at-margin", "risk_rules", risk_data(capacity_kva=400, site_survey={"feeder_margin_kva": 400}), (),
         risk()),
    Case("risk-capacity-mismatch", "risk_rules", risk_data(mismatch=True), ("rule_6",),
         risk(("capacity_mismatch", "medium"))),
    Case("risk-capacity-match", "risk_rules", risk_data(mismatch=False), (), risk()),
    Case("risk-survey-without-margin", "risk_rules", risk_data(capacity_kva=5000, site_survey={}), (), risk()),
    Case("risk-all", "risk_rules",
         risk_data(True, 3, True, True, capacity_kva=900, site_survey={"feeder_margin_kva": 500}),
         ("rule_1", "rule_2", "rule_3", "rule_4", "rule_5"),
         risk(("missing_property_proof", "medium"), ("repeated_applications", "high"), ("important_customer", "high"),
              ("special_load", "high"), ("capacity_over_feeder_margin", "high"))),
    # ---- followup_outcome (DOMAIN §7): dissatisfaction (or any rating outside the scale) opens a rectification.
    Case("fu-satisfied", "followup_outcome", followup_data("satisfied"), ("rule_1",), {"needs_rectification": False}),
    Case("fu-basically-satisfied", "followup_outcome", followup_data("basically_satisfied"), ("rule_2",),
         {"needs_rectification": False}),
    Case("fu-dissatisfied", "followup_outcome", followup_data("dissatisfied"), ("rule_3",),
         {"needs_rectification": True}),
    Case("fu-unknown-rating", "followup_outcome", followup_data("no_answer"), ("rule_3",),
         {"needs_rectification": True}),
    Case("fu-unreached", "followup_outcome", {"followup": {"channel": "agent", "reached": False, "satisfaction": None}},
         ("rule_4",), {"needs_rectification": False}),  # nobody to rectify for: the agent gave up after 3 calls
]


@pytest.fixture(scope="session")
def engines() -> dict[str, Any]:
    return load_decisions(PROCESSES)


def dmn_tables(root: Path) -> dict[str, tuple[str, list[str]]]:
    """Read with lxml, independently of SpiffWorkflow: decision id → (hit policy, rule ids in order)."""
    tables: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(root.glob("*.dmn")):
        for decision in etree.parse(str(path)).iterfind(".//dmn:decision", DMN_NS):
            table = decision.find("dmn:decisionTable", DMN_NS)
            assert table is not None, f"{path.name}: decision {decision.get('id')} has no decision table"
            rule_ids = [rule.get("id") for rule in table.iterfind("dmn:rule", DMN_NS)]
            assert len(set(rule_ids)) == len(rule_ids), f"{path.name}: duplicate rule ids {rule_ids}"
            tables[decision.get("id")] = (table.get("hitPolicy", "UNIQUE"), rule_ids)
    return tables


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_decision_table(engines: dict[str, Any], case: Case) -> None:
    result = evaluate(engines[case.decision], case.data)
    assert result.matched_rules == list(case.rules)
    assert result.outputs == case.outputs


UNIQUE_CASES = [case for case in CASES if dmn_tables(PROCESSES)[case.decision][0] == HitPolicy.UNIQUE.value]


@pytest.mark.parametrize("case", UNIQUE_CASES, ids=[case.id for case in UNIQUE_CASES])
def test_unique_tables_match_exactly_one_rule(engines: dict[str, Any], case: Case) -> None:
    """SpiffWorkflow returns the first match of a UNIQUE table; checking every rule proves the rules don't overlap."""
    table = copy.copy(engines[case.decision].decision_table)
    table.hit_policy = HitPolicy.COLLECT.value
    assert evaluate(DMNEngine(table), case.data).matched_rules == list(case.rules)


def test_every_rule_is_exercised(engines: dict[str, Any]) -> None:
    tables = dmn_tables(PROCESSES)
    assert set(tables) == set(engines), "lxml and SpiffWorkflow see different decisions"
    in_files = {(decision, rule) for decision, (_, rules) in tables.items() for rule in rules}
    exercised = {(case.decision, rule) for case in CASES for rule in case.rules}
    assert sorted(in_files - exercised) == [], "rules without a test case"
    assert sorted(exercised - in_files) == [], "test cases name rules that do not exist"


def test_every_table_has_a_test_case() -> None:
    assert {case.decision for case in CASES} == set(dmn_tables(PROCESSES))


# --- the tables fit together: whatever customer_category can produce, the later tables have a rule for --------


@pytest.mark.parametrize(
    ("regime", "category", "dual_supply"), list(itertools.product(REGIMES, CATEGORIES, (False, True)))
)
def test_time_limits_cover_every_regime_and_category(
    engines: dict[str, Any], regime: str, category: str, dual_supply: bool
) -> None:
    result = evaluate(engines["time_limits"], limits_data(regime, category, dual_supply))
    assert len(result.matched_rules) == 1
    assert set(result.outputs["limits"]) == {
        "acceptance", "plan_reply", "design_review", "interim_check", "completion_check", "contract", "energize",
        "archive", "followup", "supervision", "whole_case",
    }
    assert result.outputs["limits"]["whole_case"] == (15 if category == "lv_smallmicro" else None)


@pytest.mark.parametrize(
    ("category", "supply_voltage_kv"),
    [("lv_residential", 0.22), ("lv_residential", 0.38), ("lv_smallmicro", 0.22), ("lv_smallmicro", 0.38),
     ("lv_other", 0.22), ("lv_other", 0.38), ("hv_ordinary", 10), ("hv_ordinary", 20), ("hv_important", 10),
     ("hv_important", 35), ("hv_important", 110)],
)
def test_route_and_fee_rates_cover_every_category(
    engines: dict[str, Any], category: str, supply_voltage_kv: float
) -> None:
    assert len(evaluate(engines["process_route"], route_data(category)).matched_rules) == 1
    assert len(evaluate(engines["fee_rates"], fee_data(category, supply_voltage_kv)).matched_rules) == 1


# --- negative cases ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "data"),
    [
        ("time_limits", {"category": "hv_ordinary", "application": {"dual_supply": False}}),  # no regime
        ("time_limits", {"regime": "statute", "category": "hv_ordinary", "application": {}}),  # no dual_supply
        ("supply_voltage", {"capacity": {"installed_kw": 500}}),  # above LV: transformer_kva is needed
        ("customer_category", {"supply_voltage_kv": 0.38, "capacity": {"installed_kw": 50}}),  # no application
        ("followup_outcome", {"followup": {}}),
        ("risk_rules", {"risk_inputs": risk_data()["risk_inputs"]}),  # no site_survey key at all
    ],
    ids=["no-regime", "no-dual-supply", "no-transformer-kva", "no-application", "no-satisfaction", "no-site-survey"],
)
def test_missing_key_is_a_decision_error(engines: dict[str, Any], decision: str, data: dict[str, Any]) -> None:
    with pytest.raises(DecisionError):
        evaluate(engines[decision], data)


def test_decision_error_names_the_failing_expression(engines: dict[str, Any]) -> None:
    with pytest.raises(DecisionError) as caught:
        evaluate(engines["time_limits"], {"regime": "statute", "category": "hv_ordinary", "application": {}})
    assert "dual_supply" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        limits_data("beijing_2024", "hv_ordinary", False),  # unknown regime
        limits_data("statute", "hv_medium", False),  # unknown category
        {"regime": "statute", "category": "hv_ordinary", "application": {"dual_supply": None}},  # HV, dual unknown
    ],
    ids=["unknown-regime", "unknown-category", "hv-dual-supply-null"],
)
def test_time_limits_without_a_rule_is_a_decision_error(engines: dict[str, Any], data: dict[str, Any]) -> None:
    """The table has no fallback rule: no match is an error naming the file, the decision and the input values
    (SpiffWorkflow alone gives no outputs, and a case would fail later, far from the cause)."""
    with pytest.raises(DecisionError) as caught:
        evaluate(engines["time_limits"], data)
    message = str(caught.value)
    assert message.startswith('time_limits.dmn: decision "time_limits" (确定办理时限): no rule matches regime = ')
    assert f"category = {data['category']!r}" in message
    assert f'application["dual_supply"] = {data["application"]["dual_supply"]!r}' in message


def test_unknown_category_gets_no_route_and_no_fee_rates(engines: dict[str, Any]) -> None:
    with pytest.raises(DecisionError, match=r"process_route\.dmn: .*no rule matches category = 'hv_medium'"):
        evaluate(engines["process_route"], route_data("hv_medium"))
    with pytest.raises(DecisionError, match=r"fee_rates\.dmn: .*no rule matches category = 'hv_medium'"):
        evaluate(engines["fee_rates"], fee_data("hv_medium", 10))


def test_collect_without_a_match_collects_nothing(engines: dict[str, Any]) -> None:
    """COLLECT keeps its meaning: no matching rule is an empty collection, not an error."""
    data = risk_data(missing_proof=True)
    assert evaluate(engines["risk_rules"], data).matched_rules  # the sample matches some rules ...
    table = copy.copy(engines["risk_rules"].decision_table)
    table.rules = []
    empty = type(engines["risk_rules"])(table)
    assert evaluate(empty, data) == DecisionResult({}, [])  # ... and none of an empty table


def test_a_first_hit_policy_takes_the_first_of_several_matches(engines: dict[str, Any]) -> None:
    table = copy.copy(engines["time_limits"].decision_table)
    table.rules = [table.rules[1], *table.rules]
    table.hit_policy = "FIRST"
    result = evaluate(type(engines["time_limits"])(table), limits_data("statute", "lv_other", False))
    assert result.matched_rules == ["rule_2", "rule_2"]


def copy_with_time_limits(tmp_path: Path, edit: Any) -> Path:
    """processes/ copied with ``edit`` applied to the text of time_limits.dmn."""
    target = tmp_path / "processes"
    shutil.copytree(PROCESSES, target)
    dmn = target / "time_limits.dmn"
    dmn.write_text(edit(dmn.read_text(encoding="utf-8")), encoding="utf-8")
    return target


def without_rule_2(text: str) -> str:
    return re.sub(r'\s*<rule id="rule_2">.*?</rule>', "", text, count=1, flags=re.S)


def with_rule_2_twice(text: str) -> str:
    """rule_2 copied at the end as rule_17 (a row added, the old one left in)."""
    rule = re.search(r'<rule id="rule_2">.*?</rule>', text, re.S)
    assert rule
    return text.replace("</decisionTable>", rule.group(0).replace("rule_2", "rule_17") + "\n    </decisionTable>")


LV_OTHER = '{"regime": "statute", "category": "lv_other", "application": {"dual_supply": false}}'
LV_OTHER_INPUTS = "regime = 'statute', category = 'lv_other', application[\"dual_supply\"] = False"


@pytest.mark.parametrize(
    ("edit", "message"),
    [(without_rule_2, f"no rule matches {LV_OTHER_INPUTS}"),
     (with_rule_2_twice, f"hit policy UNIQUE, but rules rule_2, rule_17 all match {LV_OTHER_INPUTS}")],
    ids=["gap", "two-identical-rules"],
)
def test_cli_decide_fails_on_a_gap_or_an_overlap(tmp_path: Path, edit: Any, message: str) -> None:
    folder = copy_with_time_limits(tmp_path, edit)
    result = CliRunner().invoke(main, ["decide", "time_limits", "--data", LV_OTHER, "--processes", str(folder)])
    assert result.exit_code == 1
    assert result.stdout == ""
    decision = 'time_limits.dmn: decision "time_limits" (确定办理时限)'
    assert result.stderr.strip() == f"error: time_limits: {decision}: {message}"


# --- the CLI ------------------------------------------------------------------------------------------------


def test_cli_decide_time_limits() -> None:
    data = json.dumps(limits_data("statute", "hv_ordinary", True))
    result = CliRunner().invoke(main, ["decide", "time_limits", "--data", data, "--processes", str(PROCESSES)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["matched_rules"] == ["rule_4"]
    assert printed["outputs"]["limits"]["plan_reply"] == 45  # statute, HV dual supply (DOMAIN §2)
    assert printed["outputs"] == limits(
        plan_reply=45, design_review=20, interim_check=5, completion_check=7, energize=7
    )


def test_cli_decide_unknown_decision() -> None:
    result = CliRunner().invoke(main, ["decide", "time_limit", "--data", "{}", "--processes", str(PROCESSES)])
    assert result.exit_code == 1
    assert "no decision 'time_limit'" in result.stderr
    assert "time_limits" in result.stderr  # the known decisions are listed
    assert result.stdout == ""


def test_the_case_script_engine_validates_as_the_library_does_and_remembers_it() -> None:
    """``CaseScriptEngine.validate`` (cached per text, the DMN engine calls it for every rule on every evaluation)
    accepts and refuses the same texts as ``ast.parse``, with the same message and position each time."""
    import ast

    from handlers import build_registry
    from runner.clock import VirtualClock, parse_iso
    from runner.script_engine import CaseScriptEngine
    from runner.workdays import WorkingCalendar

    engine = CaseScriptEngine(VirtualClock(parse_iso("2026-11-02T09:00:00+08:00")), WorkingCalendar.default(),
                              build_registry(), lambda _task: None)  # type: ignore[arg-type,return-value]
    for text in ('"高压"', "> 10", "v > 10", "[1, 2", "x ==", 'in ("a", "b")'):
        try:
            ast.parse(text)
            expected = None
        except SyntaxError as err:
            expected = (err.msg, err.lineno, err.offset)
        for _ in range(2):  # the second call answers from the cache
            try:
                engine.validate(text)
                got = None
            except SyntaxError as err:
                got = (err.msg, err.lineno, err.offset)
            assert got == expected, text


# --- a case meeting a gap fails at its business rule task -----------------------------------------------------


def only_dual_supply_in_rule_2(text: str) -> str:
    """rule_2 (statute, other LV) narrowed to dual supply: a gap ``validate`` cannot see (it knows the categories
    and regimes a table meets, not every value of other inputs; a deleted rule_2 is refused,
    tests/test_validate_review.py)."""
    cell = '<inputEntry id="rule_2_input_3"><text>{}</text>'
    return text.replace(cell.format("-"), cell.format("True"))


def test_a_case_meeting_a_gap_fails_at_the_business_rule_task(db: Db, tmp_path: Path) -> None:
    """rule_2 (statute, other LV) only for dual supply: the version deploys (without samples/ validate tries no case:
    with them it refuses the folder, tests/test_validate_samples.py), but a single-supply case of that kind stops at
    ``decide_time_limits`` with an incident naming the table, not later at a timer."""
    folder = copy_with_time_limits(tmp_path, only_dual_supply_in_rule_2)
    shutil.rmtree(folder / "samples")
    with db.transaction() as session:
        deploy(session, db.runtime, folder, "test")
    number = start(db, "lv_other")
    incident_id = run_retries_out(db, db.runtime, case_row(db, number).id, tmp_path)
    assert incident_id is not None
    with db.reading() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert incident.element_id == "decide_time_limits"
        assert incident.message.startswith(
            f'time_limits.dmn: decision "time_limits" (确定办理时限): no rule matches {LV_OTHER_INPUTS}')
    assert open_tasks(db, number) == []  # stopped there: acceptance never opened


def test_deploy_refuses_two_identical_rules(db: Db, tmp_path: Path) -> None:
    folder = copy_with_time_limits(tmp_path, with_rule_2_twice)
    with db.transaction() as session, pytest.raises(DeployError) as caught:
        deploy(session, db.runtime, folder, "test")
    assert "rule_17: same input entries as rule_2" in str(caught.value)
