"""``capacity_assessment``: load calculation by the demand-factor method (需要系数法, DOMAIN §3).

Per equipment row ``i``::

    Pe_i = count_i · unit_kw_i          installed power
    P_i  = Kd_i · Pe_i                  demand power
    Q_i  = P_i · tan(arccos(cosφ_i))    reactive power

Totals on the low-voltage side, with the simultaneity factor K∑ applied to the sums::

    P = K∑ · ΣP_i,   Q = K∑ · ΣQ_i,   S = √(P² + Q²)

Applied capacity (报装容量, ``installed_kw``): the customer applies for ``declared_capacity_kw``; its equipment list
may name less (equipment still to be bought) or more (a declared figure typed too low). The supply is planned for
the larger of the two, so ``installed_kw`` = max(declared, ΣPe) — the figure the ``supply_voltage`` and
``customer_category`` tables compare with the low-voltage and 三零 limit (160 kW). When the declared capacity is
the larger, the part the list does not name is taken to be equipment of the listed mix: P and Q are scaled by
declared / ΣPe (``load_scale``). ``capacity_mismatch`` is true when the larger figure is more than
``mismatch_ratio`` times the smaller one: a case for the surveyor to check (the start form refuses more than 10 ×,
decision 63).

The transformer is chosen on that load: the smallest standard rating ``≥ S / target_load_ratio``. Its losses
(ΔP ≈ 0.015·S, ΔQ ≈ 0.06·S) are added to give the load seen from the supply point (``hv_*`` keys), which is what the
utility's network must carry. For a low-voltage customer, who connects to the public network, the transformer
figures are only the size of the load; no customer transformer is built.

Above 2500 kVA no single standard unit suffices: the load is split over ``n = ⌈required / 2500⌉`` equal units of
the smallest standard rating ``≥ required / n``; ``transformer_units`` lists them and ``transformer_kva`` is their
sum. Such loads normally get 35 kV supply, which the ``supply_voltage`` DMN decides, not this handler.

Load current at the supply point, once the supply voltage ``U`` is known (``supply_voltage_kv``; the DMN decides it
after this handler, so the model must pass it in a second call)::

    U < 0.3 kV (220 V single phase)   I = S / U
    U < 1 kV   (380 V three phase)    I = S / (√3 · U)
    U ≥ 1 kV   (10 kV and above)      I = S_hv / (√3 · U)   (S_hv with the transformer losses)

Without ``supply_voltage_kv`` the current is not stated (``current_a`` is None): a single formula for every supply
gave a 220 V customer a third of its real current.

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
SINGLE_PHASE_BELOW_KV = 0.3
"""A supply voltage below this is single phase (220 V, the phase voltage); 380 V and above are three phase."""
LV_BELOW_KV = 1.0
"""A supply voltage below this is low voltage: the current is the customer's load current without transformer."""
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


def supply_current_a(apparent_kva: float, hv_apparent_kva: float, supply_voltage_kv: float) -> tuple[float, int]:
    """Return the load current (A) at the supply point and the number of phases (module docstring)."""
    kv = require_number(supply_voltage_kv, "supply_voltage_kv", positive=True)
    if kv < SINGLE_PHASE_BELOW_KV:
        return apparent_kva / kv, 1
    if kv < LV_BELOW_KV:
        return apparent_kva / (math.sqrt(3) * kv), 3
    return hv_apparent_kva / (math.sqrt(3) * kv), 3


def _declared(value: Any, equipment_given: bool) -> float | None:
    """The declared kW; None when it is absent (0 or None) and an equipment list says what the load is."""
    if equipment_given and (value is None or (value == 0 and not isinstance(value, bool))):
        return None
    what = "declared_capacity_kw" if equipment_given else "declared_capacity_kw (no equipment list)"
    return require_number(value, what, positive=True)


def capacity_assessment(
    ctx: HandlerContext,
    equipment: Sequence[Mapping[str, Any]] | None,
    declared_capacity_kw: float | None,
    customer_type: str,
    simultaneity_factor: float = 0.9,
    target_load_ratio: float = 0.8,
    mismatch_ratio: float = 2.0,
    supply_voltage_kv: float | None = None,
) -> dict[str, Any]:
    """Assess the customer's load and suggest a transformer rating.

    Args:
        ctx: Handler context (unused; part of the handler signature).
        equipment: Rows ``{name, count, unit_kw, demand_factor, power_factor}``; empty or ``None`` means
            "declared capacity only".
        declared_capacity_kw: The customer's declared (applied-for) kW; may be 0 or None with an equipment list.
        customer_type: ``residential`` or ``non_residential`` (echoed, validated).
        simultaneity_factor: K∑ in (0, 1], applied to the summed P and Q of an equipment list.
        target_load_ratio: Planned transformer loading in (0, 1]; the rating is chosen ``≥ S / ratio``.
        mismatch_ratio: ``capacity_mismatch`` is set when declared and equipment kW differ by more than this
            factor (≥ 1).
        supply_voltage_kv: The supply voltage once decided; gives ``current_a`` (None without it).

    Returns:
        ``installed_kw`` (the applied capacity, see the module docstring), ``equipment_kw`` (ΣPe of the list, None
        without one), ``declared_kw`` (None when not given), ``applied_basis`` (``declared`` | ``equipment``: which
        of the two ``installed_kw`` is), ``capacity_mismatch``, ``load_scale``; ``demand_kw``, ``reactive_kvar``,
        ``apparent_kva``, ``power_factor`` (LV side, after K∑ and the scale); ``current_a``, ``current_phases``
        and ``current_voltage_kv`` (None unless the voltage was given); ``loss_kw``, ``loss_kvar``, ``hv_demand_kw``,
        ``hv_reactive_kvar``, ``hv_apparent_kva`` (with transformer losses); ``transformer_kva``,
        ``transformer_units``, ``load_ratio`` (``apparent_kva / transformer_kva``); ``method`` =
        ``"demand_factor"``, ``basis`` (``equipment`` | ``declared``: what the load was computed from),
        ``customer_type``, ``simultaneity_factor`` (as applied), ``target_load_ratio`` and ``rows`` (per row:
        ``name``, ``count``, ``unit_kw``, ``demand_factor``, ``power_factor``, ``installed_kw``, ``demand_kw``,
        ``reactive_kvar``, as listed, unscaled).

    Raises:
        ValueError: On a bad row (named in the message), a missing declared capacity or a factor out of range.
    """
    if customer_type not in CUSTOMER_TYPES:
        raise ValueError(f"customer_type must be one of {', '.join(CUSTOMER_TYPES)}, got {customer_type!r}")
    ratio = require_fraction(target_load_ratio, "target_load_ratio")
    mismatch = require_number(mismatch_ratio, "mismatch_ratio", minimum=1)
    declared = _declared(declared_capacity_kw, bool(equipment))
    if equipment:
        if isinstance(equipment, str | bytes) or not isinstance(equipment, Sequence):
            raise ValueError(f"equipment must be a list of rows, got {type(equipment).__name__}")
        rows = [_assess_row(i, raw) for i, raw in enumerate(equipment)]
        k_sum = require_fraction(simultaneity_factor, "simultaneity_factor")
        basis = "equipment"
        equipment_kw: float | None = sum(r["installed_kw"] for r in rows)
    else:
        assert declared is not None  # _declared raises without an equipment list
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
        equipment_kw = None

    listed = sum(r["installed_kw"] for r in rows)
    installed = max(listed, declared or 0.0)
    scale = installed / listed
    applied_basis = "equipment" if equipment_kw is not None and equipment_kw >= installed else "declared"
    mismatched = (
        declared is not None
        and equipment_kw is not None
        and max(declared, equipment_kw) > mismatch * min(declared, equipment_kw)
    )
    p = scale * k_sum * sum(r["demand_kw"] for r in rows)
    q = scale * k_sum * sum(r["reactive_kvar"] for r in rows)
    s = math.hypot(p, q)
    loss_p, loss_q = LOSS_P_FACTOR * s, LOSS_Q_FACTOR * s
    hv_p, hv_q = p + loss_p, q + loss_q
    hv_s = math.hypot(hv_p, hv_q)
    units = choose_transformers(s / ratio)
    transformer_kva = sum(units)
    current: float | None = None
    phases: int | None = None
    voltage: float | None = None
    if supply_voltage_kv is not None:
        voltage = require_number(supply_voltage_kv, "supply_voltage_kv", positive=True)
        current, phases = supply_current_a(s, hv_s, voltage)

    return {
        "method": "demand_factor",
        "basis": basis,
        "customer_type": customer_type,
        "simultaneity_factor": k_sum,
        "target_load_ratio": ratio,
        "installed_kw": rounded(installed),
        "equipment_kw": None if equipment_kw is None else rounded(equipment_kw),
        "declared_kw": None if declared is None else rounded(declared),
        "applied_basis": applied_basis,
        "capacity_mismatch": mismatched,
        "load_scale": rounded(scale, 3),
        "demand_kw": rounded(p),
        "reactive_kvar": rounded(q),
        "apparent_kva": rounded(s),
        "power_factor": rounded(p / s, 3),
        "current_voltage_kv": voltage,
        "current_a": None if current is None else rounded(current, 1),
        "current_phases": phases,
        "loss_kw": rounded(loss_p),
        "loss_kvar": rounded(loss_q),
        "hv_demand_kw": rounded(hv_p),
        "hv_reactive_kvar": rounded(hv_q),
        "hv_apparent_kva": rounded(hv_s),
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
