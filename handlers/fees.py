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

Amounts are computed in ``Decimal`` and rounded half-up to the fen (0.01 CNY).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from handlers.common import require_category, require_mapping, require_number
from handlers.context import HandlerContext

FEN = Decimal("0.01")
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
) -> dict[str, Any]:
    """Compute the fees the customer pays before energising.

    Args:
        ctx: Handler context (unused).
        category: Customer category from the ``customer_category`` DMN.
        dual_supply: Whether the customer gets dual (multi-circuit) supply.
        apparent_kva: Contracted capacity in kVA; needed only for dual supply.
        rates: The ``fee_rates`` DMN result: ``high_reliability_per_kva`` (CNY/kVA, needed for dual supply),
            ``zero_investment`` (bool). ``None`` (no rule matched) is treated as no rates.

    Returns:
        ``items`` (list of ``{code, name, amount, basis}``; ``basis`` explains the amount), ``total``,
        ``currency`` = ``"CNY"``, ``zero_investment`` and ``waived`` (list of ``{code, name, reason}``).

    Raises:
        ValueError: For an unknown category, or dual supply without a rate or a positive kVA.
    """
    require_category(category)
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
    return {
        "items": items,
        "total": _money(total),
        "currency": "CNY",
        "zero_investment": bool(rate_table.get("zero_investment", False)),
        "waived": [dict(WAIVED_TEMPORARY_CONNECTION)],
    }
