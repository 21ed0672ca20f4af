"""``risk_inputs``: the facts the ``risk_rules`` DMN reads, computed once so the table stays simple."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.common import normalise_address, require_category, require_mapping, require_number, rounded
from handlers.context import HandlerContext


def risk_inputs(
    ctx: HandlerContext,
    application: Mapping[str, Any],
    capacity: Mapping[str, Any],
    category: str,
    case_number: str,
) -> dict[str, Any]:
    """Collect the risk-rule inputs of a case.

    ``repeated_applications`` counts the *other* cases in the customer archive registered at the same normalised
    address (:func:`handlers.common.normalise_address`): repeated applications for one address are a classic sign
    of split applications (拆分报装) or disputes over the premises.

    Args:
        ctx: Handler context; its archive is queried.
        application: The case's ``application`` object.
        capacity: The ``capacity_assessment`` result (``apparent_kva`` is read).
        category: Customer category from the ``customer_category`` DMN.
        case_number: This case, left out of the repeat count.

    Returns:
        ``missing_property_proof`` (bool: neither declared nor uploaded), ``repeated_applications`` (int),
        ``important_customer``, ``special_load``, ``dual_supply`` (bools), ``capacity_kva`` (LV-side apparent
        power), ``capacity_mismatch`` (bool: the declared capacity and the equipment list disagree, from
        ``capacity_assessment``), ``category`` and ``address_key``.

    Raises:
        ValueError: If the address is missing or ``capacity`` lacks a valid ``apparent_kva``.
    """
    app = require_mapping(application, "application")
    require_category(category)
    address = app.get("address")
    if not isinstance(address, str) or not address.strip():
        raise ValueError("application['address'] is required to compute the address key")
    address_key = normalise_address(address)
    if not address_key:
        raise ValueError(f"application['address'] has no letters or digits: {address!r}")
    capacity_kva = require_number(
        require_mapping(capacity, "capacity").get("apparent_kva"), "capacity['apparent_kva']", minimum=0
    )
    provided = app.get("provided_materials") or []
    return {
        "missing_property_proof": not (app.get("has_property_proof") or "property_proof" in provided),
        "repeated_applications": ctx.archive.count_applications(address_key, case_number),
        "important_customer": bool(app.get("important_customer", False)),
        "special_load": bool(app.get("special_load", False)),
        "dual_supply": bool(app.get("dual_supply", False)),
        "capacity_kva": rounded(capacity_kva),
        "capacity_mismatch": bool(capacity.get("capacity_mismatch", False)),
        "category": category,
        "address_key": address_key,
    }
