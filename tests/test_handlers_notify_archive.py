"""Tests for handlers.notify (idempotent outbox writes), handlers.archive (用户用电档案) and handlers.risk."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from handlers.archive import customer_archive_update
from handlers.common import SHANGHAI, normalise_address
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.notify import notify
from handlers.risk import risk_inputs


class NoCalendar:
    def working_days_between(self, start: datetime | str, end: datetime | str) -> int:
        raise AssertionError("not expected to consult the calendar")

    def deadline(self, start: datetime | str, days: int) -> datetime:
        raise AssertionError("not expected to consult the calendar")


class Clock:
    """A clock the test advances by hand."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current


def make_ctx(
    case_number: str = "BZ-2026-0100",
    *,
    archive: MemoryArchive | None = None,
    clock: Clock | None = None,
    simulation: bool = False,
) -> HandlerContext:
    return HandlerContext(
        case_number=case_number,
        now=clock or Clock(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)),
        calendar=NoCalendar(),
        outbox=MemoryOutbox(),
        archive=archive if archive is not None else MemoryArchive(),
        simulation=simulation,
    )


APPLICATION: dict[str, Any] = {
    "customer_name": "某某精密机械有限公司",
    "customer_type": "non_residential",
    "enterprise_size": "other",
    "id_type": "business_licence",
    "id_number": "91110105MA01ABCD2X",
    "phone": "13800138000",
    "address": "北京市朝阳区 建国路８８号（B座）",
    "industry": "manufacturing",
    "declared_capacity_kw": 300,
    "equipment": [],
    "important_customer": False,
    "special_load": True,
    "dual_supply": False,
    "has_property_proof": False,
    "provided_materials": ["identity"],
    "requested_date": "2027-03-01",
}
CAPACITY = {"demand_kw": 283.5, "apparent_kva": 374.86, "transformer_kva": 500}


# ----- notify --------------------------------------------------------------------------------------------------------
def test_notify_is_idempotent() -> None:
    ctx = make_ctx()
    first = notify(ctx, "plan_ready", "customer", params={"deadline": "2026-12-01", "step": "plan_reply"})
    # same content, keys in another order: the same notification
    second = notify(ctx, "plan_ready", "customer", params={"step": "plan_reply", "deadline": "2026-12-01"})
    assert first == second
    assert first["queued"] is True and first["simulated"] is False
    assert isinstance(ctx.outbox, MemoryOutbox)
    assert len(ctx.outbox.messages) == 1
    message = ctx.outbox.messages[0]
    assert message["idempotency_key"] == first["idempotency_key"]
    assert message["case_number"] == "BZ-2026-0100"
    assert (message["template"], message["to_role"], message["channel"]) == ("plan_ready", "customer", "sms")
    assert message["created_at"] == "2026-11-26T10:00:00+08:00"


def test_notify_key_is_stable_and_documented() -> None:
    # The key must not change between releases: a restored case re-running the task must hit the same key.
    canonical = json.dumps(
        {"to_role": "supervisor", "channel": "sms", "params": {"step": "plan_reply"}},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    expected = "BZ-2026-0100:sla_breach:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert notify(make_ctx(), "sla_breach", "supervisor", params={"step": "plan_reply"})["idempotency_key"] == expected


def test_different_content_makes_different_messages() -> None:
    ctx = make_ctx()
    notify(ctx, "sla_breach", "supervisor", params={"step": "plan_reply"})
    notify(ctx, "sla_breach", "supervisor", params={"step": "energize"})
    notify(ctx, "sla_breach", "account_manager", params={"step": "energize"})
    notify(ctx, "sla_breach", "account_manager", channel="email", params={"step": "energize"})
    notify(ctx, "plan_ready", "customer")
    assert isinstance(ctx.outbox, MemoryOutbox)
    assert len({m["idempotency_key"] for m in ctx.outbox.messages}) == len(ctx.outbox.messages) == 5


def test_notify_in_simulation_records_nothing() -> None:
    ctx = make_ctx(simulation=True)
    result = notify(ctx, "plan_ready", "customer")
    assert result["queued"] is False and result["simulated"] is True
    assert isinstance(ctx.outbox, MemoryOutbox)
    assert ctx.outbox.messages == []


def test_notify_validates() -> None:
    with pytest.raises(ValueError, match="to_role"):
        notify(make_ctx(), "plan_ready", "boss")
    with pytest.raises(ValueError, match="template"):
        notify(make_ctx(), "", "customer")
    with pytest.raises(ValueError, match="JSON"):
        notify(make_ctx(), "plan_ready", "customer", params={"when": datetime(2026, 1, 1)})


# ----- customer_archive_update ---------------------------------------------------------------------------------------
def test_archive_stage_history() -> None:
    archive, clock = MemoryArchive(), Clock(datetime(2026, 9, 24, 15, 0, tzinfo=SHANGHAI))
    ctx = make_ctx(archive=archive, clock=clock)
    application = copy.deepcopy(APPLICATION)
    first = customer_archive_update(ctx, application, "hv_ordinary", 10, CAPACITY)
    assert first["stage"] == "registered"
    assert first["stage_history"] == [{"stage": "registered", "at": "2026-09-24T15:00:00+08:00"}]
    assert first["contracted_capacity"] == {"value": 500, "unit": "kVA"}
    assert first["supply_voltage_kv"] == 10
    assert first["address_key"] == "北京市朝阳区建国路88号b座"

    # a retried service task does not duplicate the stage
    clock.current += timedelta(minutes=5)
    customer_archive_update(ctx, application, "hv_ordinary", 10, CAPACITY)

    clock.current = datetime(2026, 10, 23, 9, 30, tzinfo=SHANGHAI)
    second = customer_archive_update(ctx, application, "hv_ordinary", stage="archived", extra={"meter": "M-1"})
    assert second["stage_history"] == [
        {"stage": "registered", "at": "2026-09-24T15:00:00+08:00"},
        {"stage": "archived", "at": "2026-10-23T09:30:00+08:00"},
    ]
    # values not passed again are kept
    assert second["supply_voltage_kv"] == 10
    assert second["contracted_capacity"] == {"value": 500, "unit": "kVA"}
    assert second["created_at"] == "2026-09-24T15:00:00+08:00"
    assert second["updated_at"] == "2026-10-23T09:30:00+08:00"
    assert second["extra"] == {"meter": "M-1"}
    assert first["stage_history"] == [{"stage": "registered", "at": "2026-09-24T15:00:00+08:00"}]  # not aliased
    assert application == APPLICATION  # input untouched


def test_archive_summary_hides_private_fields_but_archive_keeps_them() -> None:
    ctx = make_ctx()
    summary = customer_archive_update(ctx, APPLICATION, "hv_ordinary", 10, CAPACITY)
    assert "id_number" not in summary and "phone" not in summary
    stored = ctx.archive.get("BZ-2026-0100")
    assert stored is not None
    assert stored["id_number"] == "91110105MA01ABCD2X"
    assert stored["phone"] == "13800138000"


def test_archive_lv_contracts_declared_kw() -> None:
    application = {**APPLICATION, "customer_type": "residential", "declared_capacity_kw": 6}
    summary = customer_archive_update(make_ctx(), application, "lv_residential", 0.22, {"apparent_kva": 7.06})
    assert summary["contracted_capacity"] == {"value": 6.0, "unit": "kW"}


def test_archive_validates() -> None:
    with pytest.raises(ValueError, match="category"):
        customer_archive_update(make_ctx(), APPLICATION, "residential")
    with pytest.raises(ValueError, match="stage"):
        customer_archive_update(make_ctx(), APPLICATION, "hv_ordinary", stage="")


# ----- risk_inputs ---------------------------------------------------------------------------------------------------
def test_normalise_address_folds_width_spaces_and_punctuation() -> None:
    assert normalise_address("北京市 朝阳区（建国路）８８号") == normalise_address("北京市朝阳区建国路88号")
    assert normalise_address("Ｂ座，１０１室。") == "b座101室"
    assert normalise_address("建国路88号") != normalise_address("建国路89号")


def test_risk_inputs_counts_other_cases_at_the_same_address() -> None:
    archive = MemoryArchive()
    # two earlier cases at the same premises, spelt differently, and one elsewhere
    customer_archive_update(make_ctx("BZ-2025-0007", archive=archive), APPLICATION, "hv_ordinary")
    other_spelling = {**APPLICATION, "address": "北京市朝阳区建国路88号B座"}
    customer_archive_update(make_ctx("BZ-2026-0042", archive=archive), other_spelling, "hv_ordinary")
    elsewhere = {**APPLICATION, "address": "北京市朝阳区建国路89号"}
    customer_archive_update(make_ctx("BZ-2026-0050", archive=archive), elsewhere, "hv_ordinary")
    # the current case is already registered; it must not count itself
    ctx = make_ctx("BZ-2026-0100", archive=archive)
    customer_archive_update(ctx, APPLICATION, "hv_ordinary")

    result = risk_inputs(ctx, APPLICATION, CAPACITY, "hv_ordinary", "BZ-2026-0100")
    assert result == {
        "missing_property_proof": True,
        "repeated_applications": 2,
        "important_customer": False,
        "special_load": True,
        "dual_supply": False,
        "capacity_kva": 374.86,
        "capacity_mismatch": False,
        "category": "hv_ordinary",
        "address_key": "北京市朝阳区建国路88号b座",
    }
    flagged = risk_inputs(ctx, APPLICATION, {**CAPACITY, "capacity_mismatch": True}, "hv_ordinary", "BZ-2026-0100")
    assert flagged["capacity_mismatch"] is True  # what capacity_assessment found, passed on to the risk rules


def test_risk_inputs_property_proof_uploaded_counts() -> None:
    application = {**APPLICATION, "provided_materials": ["identity", "property_proof"]}
    result = risk_inputs(make_ctx(), application, CAPACITY, "hv_ordinary", "BZ-2026-0100")
    assert result["missing_property_proof"] is False
    assert result["repeated_applications"] == 0


def test_risk_inputs_validates() -> None:
    with pytest.raises(ValueError, match="address"):
        risk_inputs(make_ctx(), {**APPLICATION, "address": "  "}, CAPACITY, "hv_ordinary", "BZ-2026-0100")
    with pytest.raises(ValueError, match="apparent_kva"):
        risk_inputs(make_ctx(), APPLICATION, {}, "hv_ordinary", "BZ-2026-0100")


def test_a_reminder_whose_moment_has_passed_is_not_sent() -> None:
    ctx = make_ctx()  # 2026-11-26 10:00 Shanghai
    late = notify(ctx, "plan_expiry_reminder", "customer", unless_after="2026-11-26T09:59:59+08:00")
    assert (late["queued"], late["too_late"]) == (False, True)
    assert isinstance(ctx.outbox, MemoryOutbox) and ctx.outbox.messages == []
    in_time = notify(ctx, "plan_expiry_reminder", "customer", unless_after="2026-12-26T00:00:00+08:00")
    assert in_time["queued"] is True and len(ctx.outbox.messages) == 1
    with pytest.raises(ValueError, match="UTC offset"):
        notify(ctx, "plan_expiry_reminder", "customer", unless_after="2026-12-26T00:00:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        notify(ctx, "plan_expiry_reminder", "customer", unless_after="next week")
