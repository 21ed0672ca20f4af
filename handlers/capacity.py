"""``capacity_assessment``: load calculation by the demand-factor method (需要系数法, DOMAIN §3).

Per equipment row ``i``::

    Pe_i = count_i · unit_kw_i          installed power
    P_i  = Kd_i · Pe_i                  demand power
    Q_i  = P_i · tan(arccos(cosφ_i))    reactive power

Totals on the low-voltage (0.4 kV) side, with the simultaneity factor K∑ applied to the sums::

    P = K∑ · ΣP_i,   Q = K∑ · ΣQ_i,   S = √(P² + Q²),   I = S / (√3 · 0.4 kV)

The transformer is chosen on that LV-side load: the smallest standard rating ``≥ S / target_load_ratio``. Its
losses (ΔP ≈ 0.015·S, ΔQ ≈ 0.06·S) are added to give the load seen from the supply point (``hv_*`` keys), which is
what the utility's network must carry.

Above 2500 kVA no single standard unit suffices: the load is split over ``n = ⌈required / 2500⌉`` equal units of
the smallest standard rating ``≥ required / n``; ``transformer_units`` lists them and ``transformer_kva`` is their
sum. Such loads normally get 35 kV supply, which the ``supply_voltage`` DMN decides, not this handler.

A customer without an equipment list (typical for residential customers, who only declare kW) is assessed as one
row of ``declared_capacity_kw`` with Kd = 1 and cosφ = 0.85; K∑ is not applied to that single declared figure,
because a simultaneity factor expresses diversity *between* equipment groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from handlers.common import require_fraction, require_mapping, require_number, rounded
from handlers.context import HandlerContext

#: Standard distribution transformer ratings, kVA (R10 series, DOMAIN §3).
# fmt: off
STANDARD_RATINGS_KVA: tuple[int, ...] = (
    30, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500,
)
# fmt: on
LV_KV = 0.4
LOSS_P_FACTOR = 0.015
LOSS_Q_FACTOR = 0.06
DECLARED_POWER_FACTOR = 0.85
CUSTOMER_TYPES = ("residential", "non_residential")


def choose_transformers(required_kva: float) -> list[int]:
    """Return the transformer units (kVA each) that cover ``required_kva``.

    One unit of the smallest standard rating that is large enough; above the largest rating, ``n`` equal units as
    explained in the module docstring.
    """
    largest = STANDARD_RATINGS_KVA[-1]
    units = max(1, math.ceil(required_kva / largest - 1e-9))
    per_unit = required_kva / units
    rating = next(r for r in STANDARD_RATINGS_KVA if r >= per_unit - 1e-9)
    return [rating] * units


def _row_label(index: int, row: Mapping[str, Any]) -> str:
    name = row.get("name")
    return f"equipment row {index + 1}" + (f" ({name!r})" if name else "")


def _assess_row(index: int, raw: Any) -> dict[str, Any]:
    """Validate one equipment row and compute its P and Q (unrounded)."""
    row = require_mapping(raw, f"equipment row {index + 1}")
    label = _row_label(index, row)
    count = row.get("count")
    if isinstance(count, bool) or not isinstance(count, int | float) or count <= 0 or count != int(count):
        raise ValueError(f"{label}: count must be a positive whole number, got {count!r}")
    unit_kw = require_number(row.get("unit_kw"), f"{label}: unit_kw", positive=True)
    demand_factor = require_fraction(row.get("demand_factor"), f"{label}: demand_factor (Kd)")
    power_factor = require_fraction(row.get("power_factor"), f"{label}: power_factor (cosφ)")
    installed = int(count) * unit_kw
    demand = demand_factor * installed
    return {
        "name": str(row.get("name") or f"row {index + 1}"),
        "count": int(count),
        "unit_kw": unit_kw,
        "demand_factor": demand_factor,
        "power_factor": power_factor,
        "installed_kw": installed,
        "demand_kw": demand,
        "reactive_kvar": demand * math.tan(math.acos(power_factor)),
    }


def capacity_assessment(
    ctx: HandlerContext,
    equipment: Sequence[Mapping[str, Any]] | None,
    declared_capacity_kw: float | None,
    customer_type: str,
    simultaneity_factor: float = 0.9,
    target_load_ratio: float = 0.8,
) -> dict[str, Any]:
    """Assess the customer's load and suggest a transformer rating.

    Args:
        ctx: Handler context (unused; part of the handler signature).
        equipment: Rows ``{name, count, unit_kw, demand_factor, power_factor}``; empty or ``None`` means
            "declared capacity only".
        declared_capacity_kw: The customer's declared kW, used when ``equipment`` is empty.
        customer_type: ``residential`` or ``non_residential`` (echoed, validated).
        simultaneity_factor: K∑ in (0, 1], applied to the summed P and Q of an equipment list.
        target_load_ratio: Planned transformer loading in (0, 1]; the rating is chosen ``≥ S / ratio``.

    Returns:
        ``installed_kw``, ``demand_kw``, ``reactive_kvar``, ``apparent_kva``, ``power_factor``, ``current_a``
        (LV side, after K∑); ``loss_kw``, ``loss_kvar``, ``hv_demand_kw``, ``hv_reactive_kvar``,
        ``hv_apparent_kva`` (with transformer losses); ``transformer_kva``, ``transformer_units``, ``load_ratio``
        (``apparent_kva / transformer_kva``); ``method`` = ``"demand_factor"``, ``basis`` (``equipment`` |
        ``declared``), ``customer_type``, ``simultaneity_factor`` (as applied), ``target_load_ratio`` and ``rows``
        (per row: ``name``, ``count``, ``unit_kw``, ``demand_factor``, ``power_factor``, ``installed_kw``,
        ``demand_kw``, ``reactive_kvar``).

    Raises:
        ValueError: On a bad row (named in the message), a missing declared capacity or a factor out of range.
    """
    if customer_type not in CUSTOMER_TYPES:
        raise ValueError(f"customer_type must be one of {', '.join(CUSTOMER_TYPES)}, got {customer_type!r}")
    ratio = require_fraction(target_load_ratio, "target_load_ratio")
    if equipment:
        if isinstance(equipment, str | bytes) or not isinstance(equipment, Sequence):
            raise ValueError(f"equipment must be a list of rows, got {type(equipment).__name__}")
        rows = [_assess_row(i, raw) for i, raw in enumerate(equipment)]
        k_sum = require_fraction(simultaneity_factor, "simultaneity_factor")
        basis = "equipment"
    else:
        declared = require_number(declared_capacity_kw, "declared_capacity_kw (no equipment list)", positive=True)
        rows = [
            _assess_row(
                0,
                {
                    "name": "declared",
                    "count": 1,
                    "unit_kw": declared,
                    "demand_factor": 1,
                    "power_factor": DECLARED_POWER_FACTOR,
                },
            )
        ]
        k_sum = 1.0
        basis = "declared"

    installed = sum(r["installed_kw"] for r in rows)
    p = k_sum * sum(r["demand_kw"] for r in rows)
    q = k_sum * sum(r["reactive_kvar"] for r in rows)
    s = math.hypot(p, q)
    loss_p, loss_q = LOSS_P_FACTOR * s, LOSS_Q_FACTOR * s
    hv_p, hv_q = p + loss_p, q + loss_q
    units = choose_transformers(s / ratio)
    transformer_kva = sum(units)

    return {
        "method": "demand_factor",
        "basis": basis,
        "customer_type": customer_type,
        "simultaneity_factor": k_sum,
        "target_load_ratio": ratio,
        "installed_kw": rounded(installed),
        "demand_kw": rounded(p),
        "reactive_kvar": rounded(q),
        "apparent_kva": rounded(s),
        "power_factor": rounded(p / s, 3),
        "current_a": rounded(s / (math.sqrt(3) * LV_KV), 1),
        "loss_kw": rounded(loss_p),
        "loss_kvar": rounded(loss_q),
        "hv_demand_kw": rounded(hv_p),
        "hv_reactive_kvar": rounded(hv_q),
        "hv_apparent_kva": rounded(math.hypot(hv_p, hv_q)),
        "transformer_kva": transformer_kva,
        "transformer_units": units,
        "load_ratio": rounded(s / transformer_kva, 3),
        "rows": [
            {
                "name": r["name"],
                "count": r["count"],
                "unit_kw": rounded(r["unit_kw"], 3),
                "demand_factor": r["demand_factor"],
                "power_factor": r["power_factor"],
                "installed_kw": rounded(r["installed_kw"]),
                "demand_kw": rounded(r["demand_kw"]),
                "reactive_kvar": rounded(r["reactive_kvar"]),
            }
            for r in rows
        ],
    }
