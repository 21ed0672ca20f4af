"""Tests for handlers.registry, handlers.build_registry and the in-memory context stores."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from handlers import HandlerContext, MemoryArchive, MemoryOutbox, build_registry
from handlers.common import SHANGHAI
from handlers.registry import HandlerParameterError, HandlerRegistry, HandlerResultError, UnknownOperatorError

OPERATORS = [
    "capacity_assessment",
    "case_kpis",
    "customer_archive_update",
    "fee_calculation",
    "materials_checklist",
    "notify",
    "payment_reconciliation",
    "risk_inputs",
]


class WeekdayCalendar:
    """Monday–Friday only; enough for a smoke run through the registry."""

    def working_days_between(self, start: datetime | str, end: datetime | str) -> int:
        first = (datetime.fromisoformat(start) if isinstance(start, str) else start).date()
        last = (datetime.fromisoformat(end) if isinstance(end, str) else end).date()
        return sum(1 for n in range(1, (last - first).days + 1) if (first.toordinal() + n) % 7 not in (0, 6))

    def deadline(self, start: datetime | str, days: int) -> datetime:
        raise NotImplementedError


def make_ctx(simulation: bool = False) -> HandlerContext:
    return HandlerContext(
        case_number="BZ-2026-0300",
        now=lambda: datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI),
        calendar=WeekdayCalendar(),
        outbox=MemoryOutbox(),
        archive=MemoryArchive(),
        simulation=simulation,
    )


def test_build_registry_has_exactly_the_model_operators() -> None:
    assert build_registry().names() == OPERATORS


def test_registries_are_independent() -> None:
    first, second = build_registry(), build_registry()

    @first.register("extra")
    def extra(ctx: HandlerContext) -> dict[str, Any]:
        return {}

    assert "extra" in first and "extra" not in second
    assert second.names() == OPERATORS


def test_unknown_operator_names_itself() -> None:
    registry = build_registry()
    with pytest.raises(UnknownOperatorError) as excinfo:
        registry.get("capacity_assesment")
    assert excinfo.value.name == "capacity_assesment"
    assert "capacity_assesment" in str(excinfo.value)
    with pytest.raises(UnknownOperatorError):
        registry.call("send_sms", make_ctx(), {})


def test_parameter_errors_name_the_parameters() -> None:
    registry = build_registry()
    with pytest.raises(HandlerParameterError) as excinfo:
        registry.call("notify", make_ctx(), {"template": "plan_ready", "role": "customer"})
    assert excinfo.value.missing == ["to_role"]
    assert excinfo.value.unknown == ["role"]
    assert "to_role" in str(excinfo.value) and "role" in str(excinfo.value)
    with pytest.raises(HandlerParameterError, match="ctx"):
        registry.call("notify", make_ctx(), {"template": "t", "to_role": "customer", "ctx": None})


def test_defaults_may_be_omitted() -> None:
    result = build_registry().call("notify", make_ctx(), {"template": "plan_ready", "to_role": "customer"})
    assert result["queued"] is True


def test_register_rejects_duplicates_and_bad_signatures() -> None:
    registry = HandlerRegistry()

    @registry.register("ok")
    def ok(ctx: HandlerContext, value: int = 1) -> dict[str, Any]:
        return {"value": value}

    assert registry.get("ok") is ok
    with pytest.raises(ValueError, match="already registered"):
        registry.register("ok")(ok)
    with pytest.raises(TypeError, match="context"):
        registry.register("no_ctx")(lambda: {})
    with pytest.raises(TypeError, match="keyword"):

        @registry.register("varargs")
        def varargs(ctx: HandlerContext, *rows: Any) -> dict[str, Any]:
            return {}


def test_results_must_be_json() -> None:
    registry = HandlerRegistry()

    @registry.register("leaky")
    def leaky(ctx: HandlerContext, value: Any) -> Any:
        return value

    ctx = make_ctx()
    assert registry.call("leaky", ctx, {"value": {"a": [1, 2.5, None, True, "x"]}}) == {"a": [1, 2.5, None, True, "x"]}
    for bad, where in [
        ({"at": datetime(2026, 1, 1)}, "result.at"),
        ({"n": float("nan")}, "result.n"),
        ({"rows": [(1, 2)]}, "result.rows[0]"),
        ({1: "x"}, "non-string key"),
        ([1], "returned list"),
    ]:
        with pytest.raises(HandlerResultError, match=where.replace("[", r"\[").replace("]", r"\]")):
            registry.call("leaky", ctx, {"value": bad})


def test_every_handler_through_the_registry_returns_json() -> None:
    registry, ctx = build_registry(), make_ctx()
    application = {
        "customer_name": "张三",
        "customer_type": "residential",
        "address": "上海市浦东新区世纪大道1号",
        "declared_capacity_kw": 6,
        "equipment": [],
        "has_property_proof": True,
        "provided_materials": ["identity"],
    }
    capacity = registry.call(
        "capacity_assessment",
        ctx,
        {
            "equipment": application["equipment"],
            "declared_capacity_kw": 6,
            "customer_type": "residential",
        },
    )
    results = [
        capacity,
        registry.call(
            "materials_checklist",
            ctx,
            {
                "required": ["identity", "property_proof"],
                "provided": ["identity"],
                "has_property_proof": True,
            },
        ),
        registry.call(
            "fee_calculation",
            ctx,
            {
                "category": "lv_residential",
                "dual_supply": False,
                "apparent_kva": capacity["apparent_kva"],
                "rates": {"zero_investment": True},
            },
        ),
        registry.call(
            "customer_archive_update",
            ctx,
            {
                "application": application,
                "category": "lv_residential",
                "supply_voltage_kv": 0.22,
                "capacity": capacity,
            },
        ),
        registry.call(
            "risk_inputs",
            ctx,
            {
                "application": application,
                "capacity": capacity,
                "category": "lv_residential",
                "case_number": ctx.case_number,
            },
        ),
        registry.call("notify", ctx, {"template": "energized", "to_role": "customer", "params": {"kw": 6}}),
        registry.call(
            "case_kpis",
            ctx,
            {
                "timeline": {"applied": "2026-11-23T09:00:00+08:00", "energized": "2026-11-25T17:00:00+08:00"},
                "category": "lv_residential",
                "ge_steps": 2,
                "fees_total": 0,
            },
        ),
    ]
    for result in results:
        assert json.loads(json.dumps(result)) == result
    assert results[-1]["working_days"] == 2  # Tue 24 and Wed 25 Nov


# ----- in-memory stores ----------------------------------------------------------------------------------------------
def test_memory_outbox_requires_and_honours_the_key() -> None:
    outbox = MemoryOutbox()
    with pytest.raises(ValueError, match="idempotency_key"):
        outbox.put({"template": "x"})
    message: dict[str, Any] = {"idempotency_key": "k1", "params": {"n": 1}}
    outbox.put(message)
    message["params"]["n"] = 2  # later changes by the caller do not leak into the outbox
    outbox.put({"idempotency_key": "k1", "params": {"n": 3}})
    assert outbox.messages == [{"idempotency_key": "k1", "params": {"n": 1}}]


def test_memory_archive_copies_in_and_out() -> None:
    archive = MemoryArchive()
    record: dict[str, Any] = {"address_key": "a", "stage_history": [{"stage": "registered"}]}
    archive.upsert("C1", record)
    record["stage_history"].append({"stage": "tampered"})
    fetched = archive.get("C1")
    assert fetched == {"address_key": "a", "stage_history": [{"stage": "registered"}]}
    fetched["address_key"] = "b"
    assert archive.count_applications("a", None) == 1
    archive.upsert("C2", {"address_key": "a"})
    assert archive.count_applications("a", "C1") == 1
    assert archive.count_applications("a", None) == 2
    assert archive.get("nope") is None
