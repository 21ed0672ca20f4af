"""Tests for handlers.materials (application materials) and handlers.fees (connection fees)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from handlers.common import SHANGHAI
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.fees import fee_calculation
from handlers.materials import MATERIAL_LABELS, materials_checklist


class NoCalendar:
    def working_days_between(self, start: datetime | str, end: datetime | str) -> int:
        raise AssertionError("not expected to consult the calendar")

    def deadline(self, start: datetime | str, days: int) -> datetime:
        raise AssertionError("not expected to consult the calendar")


def make_ctx() -> HandlerContext:
    return HandlerContext(
        case_number="BZ-2026-0002",
        now=lambda: datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI),
        calendar=NoCalendar(),
        outbox=MemoryOutbox(),
        archive=MemoryArchive(),
    )


# ----- materials_checklist -------------------------------------------------------------------------------------------
def test_lv_residential_without_property_proof_allows_one_certificate() -> None:
    result = materials_checklist(make_ctx(), ["identity", "property_proof"], ["identity"], False)
    assert result["missing"] == ["property_proof"]
    assert result["complete"] is False
    assert result["property_proof_missing"] is True
    assert result["one_certificate_possible"] is True
    assert result["missing_except_property_proof"] == []
    assert result["labels"] == {"identity": "身份证明", "property_proof": "用电地址产权证明"}


def test_no_identity_means_no_one_certificate() -> None:
    result = materials_checklist(make_ctx(), ["identity", "property_proof"], [], False)
    assert result["missing"] == ["identity", "property_proof"]
    assert result["one_certificate_possible"] is False


def test_declared_property_proof_counts_as_present() -> None:
    result = materials_checklist(make_ctx(), ["identity", "property_proof"], ["identity"], True)
    assert result["complete"] is True
    assert result["missing"] == []
    assert result["provided"] == ["identity", "property_proof"]
    assert result["one_certificate_possible"] is False


def test_hv_list_from_collect_shape_keeps_required_order() -> None:
    required = {
        "code": [
            "application_letter",
            "identity",
            "business_licence",
            "property_proof",
            "load_list",
            "site_plan",
            "project_approval",
            "identity",
        ]
    }
    provided = ["identity", "load_list", "business_licence", "drone_photos"]
    result = materials_checklist(make_ctx(), required, provided, True)
    assert result["required"] == [
        "application_letter",
        "identity",
        "business_licence",
        "property_proof",
        "load_list",
        "site_plan",
        "project_approval",
    ]  # duplicate identity dropped
    assert result["missing"] == ["application_letter", "site_plan", "project_approval"]
    assert result["property_proof_missing"] is False
    assert result["unrecognised"] == ["drone_photos"]
    assert "drone_photos" not in result["labels"]
    assert result["labels"]["project_approval"] == MATERIAL_LABELS["project_approval"]


@pytest.mark.parametrize("required", [None, [], {}])
def test_nothing_required_is_complete(required: Any) -> None:
    result = materials_checklist(make_ctx(), required, None, False)
    assert result["complete"] is True
    assert result["property_proof_missing"] is False
    assert result["one_certificate_possible"] is False


def test_unknown_required_code_is_a_model_error() -> None:
    with pytest.raises(ValueError, match="idcard"):
        materials_checklist(make_ctx(), ["idcard"], [], False)
    with pytest.raises(ValueError, match="list of material codes"):
        materials_checklist(make_ctx(), "identity", [], False)


def test_material_table_has_the_eleven_codes() -> None:
    assert set(MATERIAL_LABELS) == {
        "identity",
        "property_proof",
        "business_licence",
        "application_letter",
        "load_list",
        "site_plan",
        "project_approval",
        "power_of_attorney",
        "government_approval",
        "design_qualification",
        "completion_documents",
    }


# ----- fee_calculation -----------------------------------------------------------------------------------------------
def test_dual_supply_high_reliability_fee() -> None:
    # 165.5 CNY/kVA × 630 kVA = 104 265.00 CNY
    rates = {"high_reliability_per_kva": 165.5, "zero_investment": False}
    result = fee_calculation(make_ctx(), "hv_important", True, 630, rates)
    assert result["items"] == [
        {"code": "high_reliability", "name": "高可靠性供电费", "amount": 104265.0, "basis": "165.5 元/kVA × 630 kVA"}
    ]
    assert result["total"] == 104265.0
    assert result["currency"] == "CNY"
    assert result["zero_investment"] is False


def test_amounts_are_exact_to_the_fen() -> None:
    # 0.1 × 3 is 0.30000000000000004 in binary floating point; in Decimal it is 0.30.
    # 2.675 × 1 → 2.68 half-up; float round(2.675, 2) gives 2.67 because 2.675 is stored as 2.67499999…
    assert fee_calculation(make_ctx(), "hv_ordinary", True, 3, {"high_reliability_per_kva": 0.1})["total"] == 0.3
    assert fee_calculation(make_ctx(), "hv_ordinary", True, 1, {"high_reliability_per_kva": 2.675})["total"] == 2.68


def test_single_supply_pays_nothing_and_temporary_fee_is_waived() -> None:
    result = fee_calculation(make_ctx(), "hv_ordinary", False, 500, {"high_reliability_per_kva": 165.5})
    assert result["items"] == []
    assert result["total"] == 0.0
    assert [w["code"] for w in result["waived"]] == ["temporary_connection"]
    assert all(item["code"] != "temporary_connection" for item in result["items"])


def test_zero_investment_small_micro() -> None:
    result = fee_calculation(make_ctx(), "lv_smallmicro", False, None, {"zero_investment": True})
    assert result["zero_investment"] is True
    assert result["total"] == 0.0


def test_no_rates_for_single_supply_is_fine() -> None:
    assert fee_calculation(make_ctx(), "lv_residential", False, None, None)["total"] == 0.0


def test_dual_supply_needs_rate_and_capacity() -> None:
    with pytest.raises(ValueError, match="high_reliability_per_kva"):
        fee_calculation(make_ctx(), "hv_important", True, 630, {"zero_investment": False})
    with pytest.raises(ValueError, match="apparent_kva"):
        fee_calculation(make_ctx(), "hv_important", True, 0, {"high_reliability_per_kva": 165.5})
    with pytest.raises(ValueError, match="high_reliability_per_kva"):
        fee_calculation(make_ctx(), "hv_important", True, 630, {"high_reliability_per_kva": -1})


def test_unknown_category() -> None:
    with pytest.raises(ValueError, match="category"):
        fee_calculation(make_ctx(), "hv", False, 500, {})
