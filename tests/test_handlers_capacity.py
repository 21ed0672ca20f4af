"""Tests for handlers.capacity (demand-factor method), with the arithmetic done by hand in comments."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from handlers.capacity import STANDARD_RATINGS_KVA, capacity_assessment, choose_transformers
from handlers.common import SHANGHAI
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox


class NoCalendar:
    """A calendar that fails the test if a handler consults it."""

    def working_days_between(self, start: datetime | str, end: datetime | str) -> int:
        raise AssertionError("capacity_assessment must not need the calendar")

    def deadline(self, start: datetime | str, days: int) -> datetime:
        raise AssertionError("capacity_assessment must not need the calendar")


def make_ctx() -> HandlerContext:
    return HandlerContext(
        case_number="BZ-2026-0001",
        now=lambda: datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI),
        calendar=NoCalendar(),
        outbox=MemoryOutbox(),
        archive=MemoryArchive(),
    )


# A small 10 kV workshop. cosφ 0.6 and 0.8 give tanφ 4/3 and 3/4, so every row is exact by hand:
#   机床   40 × 10 kW = 400 kW, Kd 0.3, cosφ 0.6 → P = 120,  Q = 120 × 4/3 = 160
#   空压机  4 × 30 kW = 120 kW, Kd 0.75, cosφ 0.8 → P = 90,   Q = 90 × 0.75 = 67.5
#   风机   10 × 7.5 kW = 75 kW, Kd 0.8, cosφ 0.8 → P = 60,   Q = 45
#   照明    1 × 50 kW = 50 kW,  Kd 0.9, cosφ 1.0 → P = 45,   Q = 0
#   installed 645 kW; ΣP = 315, ΣQ = 272.5; × K∑ 0.9 → P = 283.5 kW, Q = 245.25 kvar
#   S = √(283.5² + 245.25²) = √(80372.25 + 60147.5625) = √140519.8125 ≈ 374.86 kVA
#   losses ΔP = 0.015 × 374.86 ≈ 5.62 kW, ΔQ = 0.06 × 374.86 ≈ 22.49 kvar
#   rating: ratio 1.0 → ≥ 374.86 → 400;  ratio 0.8 → ≥ 468.6 → 500;  ratio 0.7 → ≥ 535.5 → 630
WORKSHOP: list[dict[str, Any]] = [
    {"name": "机床", "count": 40, "unit_kw": 10, "demand_factor": 0.3, "power_factor": 0.6},
    {"name": "空压机", "count": 4, "unit_kw": 30, "demand_factor": 0.75, "power_factor": 0.8},
    {"name": "风机", "count": 10, "unit_kw": 7.5, "demand_factor": 0.8, "power_factor": 0.8},
    {"name": "照明", "count": 1, "unit_kw": 50, "demand_factor": 0.9, "power_factor": 1.0},
]


def assess(equipment: Any, declared: Any = 0, customer_type: str = "non_residential", **kw: Any) -> dict[str, Any]:
    return capacity_assessment(make_ctx(), equipment, declared, customer_type, **kw)


def test_workshop_totals() -> None:
    result = assess(WORKSHOP)
    assert result["method"] == "demand_factor"
    assert result["basis"] == "equipment"
    assert result["installed_kw"] == 645.0
    assert result["demand_kw"] == 283.5
    assert result["reactive_kvar"] == 245.25
    assert result["apparent_kva"] == pytest.approx(374.86, abs=0.01)
    assert result["current_a"] is None  # no supply voltage given: tests/test_domain_fixes_handlers.py
    assert result["loss_kw"] == pytest.approx(5.62, abs=0.01)
    assert result["loss_kvar"] == pytest.approx(22.49, abs=0.01)
    # HV side: P = 283.5 + 5.62 = 289.12, Q = 245.25 + 22.49 = 267.74, S = √(289.12² + 267.74²) ≈ 394.05
    assert result["hv_demand_kw"] == pytest.approx(289.12, abs=0.01)
    assert result["hv_reactive_kvar"] == pytest.approx(267.74, abs=0.01)
    assert result["hv_apparent_kva"] == pytest.approx(394.05, abs=0.02)
    # cosφ overall = 283.5 / 374.86 ≈ 0.756
    assert result["power_factor"] == pytest.approx(0.756, abs=0.001)


def test_workshop_rows() -> None:
    rows = assess(WORKSHOP)["rows"]
    assert [(r["name"], r["demand_kw"], r["reactive_kvar"]) for r in rows] == [
        ("机床", 120.0, 160.0),
        ("空压机", 90.0, 67.5),
        ("风机", 60.0, 45.0),
        ("照明", 45.0, 0.0),
    ]
    assert [r["installed_kw"] for r in rows] == [400.0, 120.0, 75.0, 50.0]


@pytest.mark.parametrize(
    ("ratio", "rating", "load_ratio"),
    [
        (1.0, 400, 0.937),  # 374.86 / 400
        (0.8, 500, 0.750),  # 374.86 / 500
        (0.7, 630, 0.595),  # 374.86 / 630
    ],
)
def test_workshop_transformer_rating(ratio: float, rating: int, load_ratio: float) -> None:
    result = assess(WORKSHOP, target_load_ratio=ratio)
    assert result["transformer_kva"] == rating
    assert result["transformer_units"] == [rating]
    assert result["load_ratio"] == pytest.approx(load_ratio, abs=0.001)


def test_simultaneity_factor_scales_p_and_q() -> None:
    # K∑ 0.8 instead of 0.9: P = 315 × 0.8 = 252, Q = 272.5 × 0.8 = 218, S = √(63504 + 47524) ≈ 333.21
    result = assess(WORKSHOP, simultaneity_factor=0.8)
    assert result["demand_kw"] == 252.0
    assert result["reactive_kvar"] == 218.0
    assert result["apparent_kva"] == pytest.approx(333.21, abs=0.01)
    assert result["transformer_kva"] == 500  # 333.21 / 0.8 = 416.5 → 500


def test_residential_declared_only() -> None:
    # 6 kW declared, Kd 1, cosφ 0.85, no K∑: P = 6, S = 6 / 0.85 = 7.0588, Q = √(7.0588² − 6²) ≈ 3.72
    # rating ≥ 7.0588 / 0.8 = 8.82 → the smallest standard unit, 30 kVA
    result = assess([], 6, "residential")
    assert result["basis"] == "declared"
    assert result["simultaneity_factor"] == 1.0
    assert result["installed_kw"] == 6.0
    assert result["demand_kw"] == 6.0  # not 5.4: K∑ 0.9 does not apply to a single declared figure
    assert result["reactive_kvar"] == pytest.approx(3.72, abs=0.01)
    assert result["apparent_kva"] == pytest.approx(7.06, abs=0.01)
    assert result["power_factor"] == 0.85
    assert result["current_a"] is None  # no supply voltage given: tests/test_domain_fixes_handlers.py
    assert result["transformer_kva"] == 30
    assert result["rows"][0]["name"] == "declared"


def test_none_equipment_is_declared_only() -> None:
    assert assess(None, 6, "residential")["demand_kw"] == 6.0


def test_above_largest_rating_splits_into_units() -> None:
    # 4000 kW at cosφ 0.85: S = 4705.88; / 0.8 = 5882.35 → 3 units (⌈5882.35 / 2500⌉);
    # 5882.35 / 3 = 1960.8 per unit → 2000 kVA each, 6000 kVA in all
    result = assess([], 4000)
    assert result["transformer_units"] == [2000, 2000, 2000]
    assert result["transformer_kva"] == 6000
    assert result["load_ratio"] == pytest.approx(4705.88 / 6000, abs=0.001)


def test_choose_transformers_boundaries() -> None:
    assert choose_transformers(400) == [400]  # exactly a rating: no step up
    assert choose_transformers(400.01) == [500]
    assert choose_transformers(2500) == [2500]
    assert choose_transformers(2500.5) == [1600, 1600]  # 1250.25 per unit → 1600
    assert choose_transformers(1) == [STANDARD_RATINGS_KVA[0]]


def test_result_is_rounded() -> None:
    result = assess(WORKSHOP)
    for key in ("apparent_kva", "loss_kw", "hv_apparent_kva"):
        assert result[key] == round(result[key], 2)
    assert not math.isclose(result["apparent_kva"], math.hypot(283.5, 245.25), abs_tol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count": 0}, "equipment row 2 ('空压机'): count"),
        ({"count": -3}, "equipment row 2 ('空压机'): count"),
        ({"count": 1.5}, "equipment row 2 ('空压机'): count"),
        ({"demand_factor": 1.2}, "equipment row 2 ('空压机'): demand_factor"),
        ({"demand_factor": 0}, "equipment row 2 ('空压机'): demand_factor"),
        ({"power_factor": 0}, "equipment row 2 ('空压机'): power_factor"),
        ({"power_factor": 1.01}, "equipment row 2 ('空压机'): power_factor"),
        ({"unit_kw": -5}, "equipment row 2 ('空压机'): unit_kw"),
        ({"unit_kw": None}, "equipment row 2 ('空压机'): unit_kw"),
        ({"power_factor": True}, "equipment row 2 ('空压机'): power_factor"),
    ],
)
def test_bad_row_is_named(change: dict[str, Any], message: str) -> None:
    equipment = [dict(row) for row in WORKSHOP]
    equipment[1].update(change)
    with pytest.raises(ValueError) as excinfo:
        assess(equipment)
    assert message in str(excinfo.value)


def test_bad_factors_and_inputs() -> None:
    with pytest.raises(ValueError, match="simultaneity_factor"):
        assess(WORKSHOP, simultaneity_factor=1.1)
    with pytest.raises(ValueError, match="target_load_ratio"):
        assess(WORKSHOP, target_load_ratio=0)
    with pytest.raises(ValueError, match="declared_capacity_kw"):
        assess([], None, "residential")
    with pytest.raises(ValueError, match="declared_capacity_kw"):
        assess([], -6, "residential")
    with pytest.raises(ValueError, match="customer_type"):
        assess(WORKSHOP, customer_type="industrial")


def test_input_rows_are_not_mutated() -> None:
    equipment = [dict(row) for row in WORKSHOP]
    assess(equipment)
    assert equipment == WORKSHOP
