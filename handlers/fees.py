"""``fee_calculation``: the itemised connection fees of a case (DOMAIN §5).

- 临时接电费 (temporary connection fee) is never charged: abolished from 2017-12-01. It is listed under
  ``waived`` so the customer sees why.
- 高可靠性供电费 (high-reliability supply fee) = ``rates["high_reliability_per_kva"]`` × contracted kVA, for dual
  (multi-circuit) supply only. The per-kVA rate is provincial and comes from the ``fee_rates`` DMN; the model
  should pass the contracted capacity (for HV customers the transformer rating, ``capacity["transformer_kva"]``)
  as ``apparent_kva``.
- ``zero_investment`` (三零, LV ≤160 kW small/micro) means the utility builds up to the property boundary at its
  own cost: no works are charged to the customer. It is echoed from the rates; it does not waive a
  high-reliability fee, which the DMN controls through the rate (a rate of 0 charges nothing).

The model computes the fees twice (decision 84): at acceptance on the application (``costed_on``
``"application"``: an estimate staff see: dual supply as applied, the rate for the voltage decided then), and
again when the supply plan is approved, on the plan (``costed_on`` ``"plan"``): dual supply when the plan grants
two or more sources (``draft_plan["supply_points"]``), the rate the same ``fee_rates`` table gives for the plan's
voltage (按方案确定收费标准, decision 103), the plan's transformer rating. That is the figure the plan answer sheet
shows the customer, who signs it, and the one billed.
A plan revised after the customer refused to sign it is costed again; the figure the customer was shown before
(``previous`` costed on ``"plan"``) is kept under ``earlier`` when the new one differs, so staff can explain the
change.

Amounts are computed in ``Decimal`` and rounded half-up to the fen (0.01 CNY).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from handlers.common import require_category, require_mapping, require_number
from handlers.context import HandlerContext

FEN = Decimal("0.01")
COSTED_ON = ("application", "plan")
"""What the contracted capacity of a fee calculation comes from: the application or the approved supply plan."""
WAIVED_TEMPORARY_CONNECTION = {
    "code": "temporary_connection",
    "name": "临时接电费",
    "reason": "自2017年12月1日起取消",
}


def _money(value: Decimal) -> float:
    return float(value.quantize(FEN, rounding=ROUND_HALF_UP))


def fee_calculation(
    ctx: HandlerContext,
    category: str,
    dual_supply: bool,
    apparent_kva: float | None,
    rates: Mapping[str, Any] | None,
    costed_on: str = "application",
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the fees the customer pays before energising.

    Args:
        ctx: Handler context: its clock dates a replaced figure.
        category: Customer category from the ``customer_category`` DMN.
        dual_supply: Whether the customer gets dual (multi-circuit) supply: as applied at acceptance, as the
            approved plan grants it (two or more sources) when ``costed_on`` is ``"plan"``.
        apparent_kva: Contracted capacity in kVA; needed only for dual supply.
        rates: The ``fee_rates`` DMN result: ``high_reliability_per_kva`` (CNY/kVA, needed for dual supply),
            ``zero_investment`` (bool). ``None`` (no rule matched) is treated as no rates.
        costed_on: What the capacity comes from: ``"application"`` (acceptance) or ``"plan"`` (the approved plan).
        previous: The fees the case held before (None at acceptance): its ``earlier`` list is carried over, and
            it is added to it when it was shown to the customer (costed on ``"plan"``) and its items differ.

    Returns:
        ``items`` (list of ``{code, name, amount, basis}``; ``basis`` explains the amount), ``total``,
        ``currency`` = ``"CNY"``, ``zero_investment``, ``waived`` (list of ``{code, name, reason}``),
        ``costed_on``, and ``earlier`` (list of ``{total, items, costed_on, replaced_at}``) when figures were replaced.

    Raises:
        ValueError: For an unknown category or ``costed_on``, or dual supply without a rate or a positive kVA.
    """
    require_category(category)
    if costed_on not in COSTED_ON:
        raise ValueError(f"costed_on must be one of {', '.join(COSTED_ON)}, got {costed_on!r}")
    earlier_fees = require_mapping(previous, "previous", optional=True)
    rate_table = require_mapping(rates, "rates", optional=True)
    items: list[dict[str, Any]] = []
    if dual_supply:
        if rate_table.get("high_reliability_per_kva") is None:
            raise ValueError("dual supply needs rates['high_reliability_per_kva'] (CNY/kVA) from the fee_rates DMN")
        rate = require_number(rate_table["high_reliability_per_kva"], "rates['high_reliability_per_kva']", minimum=0)
        kva = require_number(apparent_kva, "apparent_kva (contracted kVA)", positive=True)
        amount = Decimal(str(rate)) * Decimal(str(kva))
        items.append(
            {
                "code": "high_reliability",
                "name": "高可靠性供电费",
                "amount": _money(amount),
                "basis": f"{rate:g} 元/kVA × {kva:g} kVA",
            }
        )
    total = sum((Decimal(str(item["amount"])) for item in items), Decimal(0))
    result: dict[str, Any] = {
        "items": items,
        "total": _money(total),
        "currency": "CNY",
        "zero_investment": bool(rate_table.get("zero_investment", False)),
        "waived": [dict(WAIVED_TEMPORARY_CONNECTION)],
        "costed_on": costed_on,
    }
    earlier = _earlier_figures(ctx, earlier_fees, items)
    if earlier:
        result["earlier"] = earlier
    return result


def _earlier_figures(ctx: HandlerContext, previous: Mapping[str, Any], items: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    """The figures shown to the customer before: ``previous``'s own list, plus ``previous`` itself when the
    customer saw it (on the plan answer sheet: costed on ``"plan"``) and the new items differ from it."""
    earlier = [dict(entry) for entry in previous.get("earlier") or [] if isinstance(entry, Mapping)]
    if previous.get("costed_on") == "plan" and list(previous.get("items") or []) != items:
        earlier.append({"total": previous.get("total"), "items": list(previous.get("items") or []),
                        "costed_on": "plan", "replaced_at": ctx.now().isoformat()})
    return earlier
