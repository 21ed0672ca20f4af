"""Domain review of the handlers (capacity, KPIs) and the portal's suggestion:

A. the applied capacity (报装容量) is the larger of the declared capacity and the equipment list, so a declared
   400 kW with 60 kW of listed equipment is no 380 V 三零 case; B. the load current follows the supply voltage
   (single phase S/U, three phase S/(√3·U), HV with the transformer losses); C. customer-held time is working
   time, so a two-hour signing does not swallow the utility's day; D. the portal suggests no transformer to a
   low-voltage customer.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from handlers.capacity import capacity_assessment
from handlers.common import SHANGHAI
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.kpis import case_kpis
from runner.process_folder import ProcessBundle
from runner.simulation.case_time import utility_working_days
from runner.trial import TrialDriver, TrialOptions, run_trial
from runner.workdays import WorkingCalendar
from tests.webui_helpers import Web, web_fixture  # noqa: F401  (the web fixture)

SIGNED_AT_ACCEPTANCE = {"accept_application": {"decision": "accept", "contract_signed": True}}
#: The sample lv_smallmicro equipment: 4 × 8 kW (Kd 0.7) + 4 × 5 kW (Kd 0.8) at cosφ 0.85, 8 kW (Kd 0.9) at 0.9.
CAFE = [
    {"name": "商用厨房设备", "count": 4, "unit_kw": 8.0, "demand_factor": 0.7, "power_factor": 0.85},
    {"name": "空调", "count": 4, "unit_kw": 5.0, "demand_factor": 0.8, "power_factor": 0.85},
    {"name": "照明", "count": 1, "unit_kw": 8.0, "demand_factor": 0.9, "power_factor": 0.9},
]


def ctx(calendar: Any = None, now: datetime | None = None) -> HandlerContext:
    moment = now or datetime(2026, 12, 31, 12, 0, tzinfo=SHANGHAI)
    return HandlerContext("YK-TEST", lambda: moment, calendar or WorkingCalendar.default(), MemoryOutbox(),
                          MemoryArchive())


def smallmicro_trial(bundle: ProcessBundle, declared_kw: float, **changes: Any) -> dict[str, Any]:
    """The lv_smallmicro sample (60 kW of equipment) declaring ``declared_kw``, run to its end."""
    driver = TrialDriver(bundle, TrialOptions(category="lv_smallmicro", answers=SIGNED_AT_ACCEPTANCE))
    driver.start_data["application"] = {**driver.start_data["application"], "declared_capacity_kw": declared_kw,
                                        **changes}
    result = driver.run()
    assert result.completed, result.visited[-10:]
    return result.summary


# -- A. applied capacity -----------------------------------------------------------------------------------------


def test_a_declared_capacity_above_the_equipment_is_the_applied_capacity() -> None:
    result = capacity_assessment(ctx(), CAFE, 400, "non_residential")
    assert (result["installed_kw"], result["equipment_kw"], result["declared_kw"]) == (400.0, 60.0, 400.0)
    assert result["applied_basis"] == "declared" and result["capacity_mismatch"] is True
    # the 340 kW the list does not name are taken as the same mix: P, Q of the list × 400 / 60
    listed = capacity_assessment(ctx(), CAFE, 60, "non_residential")
    assert listed["installed_kw"] == 60.0 and listed["capacity_mismatch"] is False and listed["load_scale"] == 1.0
    assert result["demand_kw"] == pytest.approx(listed["demand_kw"] * 400 / 60, abs=0.02)
    assert result["apparent_kva"] == pytest.approx(listed["apparent_kva"] * 400 / 60, abs=0.05)
    assert result["transformer_kva"] == 400  # 318.8 kVA / 0.8 = 398.6 → 400, not the list's 63 kVA
    assert [row["installed_kw"] for row in result["rows"]] == [32.0, 20.0, 8.0]  # the rows stay as listed


def test_a_equipment_above_the_declared_capacity_is_the_applied_capacity() -> None:
    result = capacity_assessment(ctx(), CAFE, 25, "non_residential")
    assert (result["installed_kw"], result["applied_basis"], result["load_scale"]) == (60.0, "equipment", 1.0)
    assert result["capacity_mismatch"] is True  # 60 > 2 × 25
    assert capacity_assessment(ctx(), CAFE, 31, "non_residential")["capacity_mismatch"] is False
    assert capacity_assessment(ctx(), CAFE, 31, "non_residential", mismatch_ratio=1.5)["capacity_mismatch"] is True
    with pytest.raises(ValueError, match="mismatch_ratio"):
        capacity_assessment(ctx(), CAFE, 31, "non_residential", mismatch_ratio=0.5)
    with pytest.raises(ValueError, match="declared_capacity_kw"):
        capacity_assessment(ctx(), CAFE, -5, "non_residential")


def test_a_voltage_and_three_zero_follow_the_declared_capacity(bundle: ProcessBundle) -> None:
    hv_materials = ["identity", "property_proof", "business_licence", "application_letter", "load_list", "site_plan",
                    "project_approval"]  # what a 10 kV application must bring (the hv_ordinary sample's)
    applied_400 = smallmicro_trial(bundle, 400, provided_materials=hv_materials)
    assert applied_400["capacity"]["installed_kw"] == 400.0
    assert applied_400["supply_voltage_kv"] == 10
    assert applied_400["category"] != "lv_smallmicro"  # above the 160 kW 三零 limit
    assert applied_400["route"]["ge_steps"] > 2
    assert applied_400["fees"]["zero_investment"] is False
    assert applied_400["capacity"]["capacity_mismatch"] is True
    as_listed = smallmicro_trial(bundle, 60)  # the sample: declared = listed
    assert (as_listed["supply_voltage_kv"], as_listed["category"]) == (0.38, "lv_smallmicro")
    assert as_listed["route"]["ge_steps"] == 2 and as_listed["capacity"]["capacity_mismatch"] is False


# -- B. load current at the supply voltage -------------------------------------------------------------------------


def test_b_current_is_single_phase_at_220_v_and_three_phase_above() -> None:
    home = [  # the lv_residential sample
        {"name": "空调", "count": 3, "unit_kw": 1.5, "demand_factor": 0.8, "power_factor": 0.9},
        {"name": "电热水器", "count": 1, "unit_kw": 2.0, "demand_factor": 1.0, "power_factor": 1.0},
        {"name": "照明及家用电器", "count": 1, "unit_kw": 1.5, "demand_factor": 0.7, "power_factor": 0.9},
    ]
    unknown = capacity_assessment(ctx(), home, 8, "residential")
    assert unknown["current_a"] is None and unknown["current_phases"] is None  # the DMN decides the voltage later
    single = capacity_assessment(ctx(), home, 8, "residential", supply_voltage_kv=0.22)
    s = single["apparent_kva"]
    assert s == pytest.approx(6.32, abs=0.01)
    assert single["current_a"] == pytest.approx(s / 0.22, abs=0.06)  # ≈ 28.7 A, not 9.1 A
    assert (single["current_phases"], single["current_voltage_kv"]) == (1, 0.22)
    three = capacity_assessment(ctx(), home, 8, "residential", supply_voltage_kv=0.38)
    assert three["current_a"] == pytest.approx(s / (math.sqrt(3) * 0.38), abs=0.06)
    assert three["current_phases"] == 3


def test_b_high_voltage_current_carries_the_transformer_losses() -> None:
    result = capacity_assessment(ctx(), CAFE, 400, "non_residential", supply_voltage_kv=10)
    assert result["current_a"] == pytest.approx(result["hv_apparent_kva"] / (math.sqrt(3) * 10), abs=0.06)
    assert result["current_phases"] == 3


# -- C. customer-held time as working time ---------------------------------------------------------------------------


def test_c_a_two_hour_signing_does_not_swallow_the_utilitys_day(bundle: ProcessBundle) -> None:
    kpis = run_trial(bundle, TrialOptions(category="hv_ordinary", dual_supply=True)).kpis
    assert kpis["working_days"] == 1  # Thu 26 Nov 14:00 → Fri 27 Nov 14:00
    # counted from midnight: construction 00:00–02:00 and contract signing 06:00–08:00 on Friday, 4 h = 0.17 day
    assert kpis["customer_held_working_days"] == pytest.approx(0.17)
    assert kpis["utility_held_working_days"] == pytest.approx(0.83)
    assert kpis["customer_held_working_days"] + kpis["utility_held_working_days"] == pytest.approx(1)


def test_c_customer_time_over_a_weekend_counts_only_the_working_hours() -> None:
    timeline = {
        "applied": "2026-11-26T09:00:00+08:00",  # Thursday
        "plan_answered": "2026-11-27T17:00:00+08:00",  # Friday 17:00: 7 h of Friday
        "plan_signed": "2026-11-30T09:00:00+08:00",  # Monday 09:00: 9 h of Monday; the weekend counts nothing
        "energized": "2026-12-01T17:00:00+08:00",  # Tuesday
    }
    result = case_kpis(ctx(), timeline, "lv_other", 3, 0)
    assert result["working_days"] == 3  # Fri, Mon, Tue
    assert result["customer_held_working_days"] == pytest.approx(0.67)  # 16 h, not the whole Monday
    assert result["utility_held_working_days"] == pytest.approx(2.33)
    assert result["customer_held_periods"] == [{"period": "plan_signing", "start": timeline["plan_answered"],
                                                "end": timeline["plan_signed"], "working_days": 0.67}]


def test_c_the_day_of_application_is_not_counted_for_either_side() -> None:
    timeline = {
        "applied": "2026-11-26T09:00:00+08:00",
        "plan_answered": "2026-11-26T10:00:00+08:00",
        "plan_signed": "2026-11-26T17:00:00+08:00",  # all on the day of application
        "energized": "2026-11-27T12:00:00+08:00",
    }
    result = case_kpis(ctx(), timeline, "lv_other", 3, 0)
    assert (result["working_days"], result["customer_held_working_days"]) == (1, 0)
    assert result["utility_held_working_days"] == 1


def test_c_the_simulation_keeps_fractional_utility_days() -> None:
    calendar = WorkingCalendar.default()
    now = datetime(2026, 12, 31, 12, 0, tzinfo=SHANGHAI)
    assert utility_working_days({"kpis": {"utility_held_working_days": 2.33}}, "C1", lambda: now, calendar) == 2.33


# -- D. no transformer for a low-voltage customer on the portal --------------------------------------------------

HOME = {
    "category": "residential", "customer_name": "张伟", "id_type": "id_card", "id_number": "110105199003070017",
    "phone": "13800000001", "address": "北京市朝阳区示例路1号院3号楼2单元501", "industry": "城乡居民生活用电",
    "declared_capacity_kw": "9", "important_customer": "false", "special_load": "false", "dual_supply": "false",
    "requested_date": "2026-12-10",
}
SHOP = {**HOME, "category": "small_micro", "customer_name": "示例咖啡有限公司", "id_type": "social_credit_code",
        "id_number": "91110105MA00000001", "industry": "餐饮业", "declared_capacity_kw": "160"}
WORKS = {**SHOP, "category": "other", "customer_name": "示例精密机械制造有限公司", "industry": "通用设备制造业",
         "declared_capacity_kw": "800"}


def test_d_the_portal_suggests_a_transformer_only_for_a_high_voltage_supply(web: Web) -> None:
    client = web.client()
    page = client.get("/portal/apply").get_data(as_text=True)
    assert "报装容量" in page and "设备总容量" not in page
    assert '<dt data-row="transformer_kva" hidden>' in page  # shown by portal.js only when suggested
    for fields, voltage, suggested in ((HOME, 0.22, False), (SHOP, 0.38, False), (WORKS, 10, True)):
        answer = client.post("/portal/assess", fields).get_json()
        assert answer["ok"] is True, answer
        assert (answer["supply_voltage_kv"], answer["transformer_suggested"]) == (voltage, suggested)
