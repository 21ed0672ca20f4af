"""``customer_archive_update``: keep the customer electricity archive (用户用电档案) record of a case current."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.common import normalise_address, require_category, require_mapping, require_number, rounded
from handlers.context import HandlerContext

#: Application fields copied into the archive record.
APPLICATION_FIELDS = (
    "customer_name",
    "customer_type",
    "enterprise_size",
    "industry",
    "id_type",
    "id_number",
    "phone",
    "address",
    "dual_supply",
    "important_customer",
    "special_load",
)
#: Fields the returned summary leaves out: the summary lands in case data and task views; the archive keeps them.
PRIVATE_FIELDS = ("id_number", "phone")


def _contracted_capacity(
    category: str, application: Mapping[str, Any], capacity: Mapping[str, Any]
) -> dict[str, Any] | None:
    """High-voltage customers contract their transformer capacity (kVA); low-voltage ones a kW figure.

    For LV the assessed demand is used when known, otherwise the declared kW.
    """
    if category.startswith("hv_"):
        if capacity.get("transformer_kva") is None:
            return None
        return {
            "value": require_number(capacity["transformer_kva"], "capacity['transformer_kva']", positive=True),
            "unit": "kVA",
        }
    value = application.get("declared_capacity_kw")
    if value is None:
        return None
    return {"value": rounded(require_number(value, "application['declared_capacity_kw']", positive=True)), "unit": "kW"}


def customer_archive_update(
    ctx: HandlerContext,
    application: Mapping[str, Any],
    category: str,
    supply_voltage_kv: float | None = None,
    capacity: Mapping[str, Any] | None = None,
    stage: str = "registered",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Create or update the archive record of ``ctx.case_number`` and append ``stage`` to its history.

    Values not given (``supply_voltage_kv``, ``capacity``) keep what the record already holds. ``extra`` is merged
    into the record's ``extra`` object. Calling twice with the same ``stage`` in a row appends it once, so a
    retried service task does not duplicate history. Neither the inputs nor the stored record are mutated: a new
    record is built and upserted.

    Args:
        ctx: Handler context; its archive is read and written, its clock stamps the stage.
        application: The case's ``application`` object.
        category: Customer category from the ``customer_category`` DMN.
        supply_voltage_kv: Supply voltage from the ``supply_voltage`` DMN.
        capacity: The ``capacity_assessment`` result.
        stage: Stage reached, e.g. ``registered``, ``archived``.
        extra: Additional JSON facts to keep (e.g. meter number, contract number).

    Returns:
        The record without ``id_number`` and ``phone``: ``case_number``, ``customer_name``, ``customer_type``,
        ``enterprise_size``, ``industry``, ``id_type``, ``address``, ``address_key``, ``dual_supply``,
        ``important_customer``, ``special_load``, ``category``, ``supply_voltage_kv``, ``contracted_capacity``
        ({``value``, ``unit``} or None), ``demand_kw``, ``apparent_kva``, ``stage``, ``stage_history`` (list of
        {``stage``, ``at``}), ``created_at``, ``updated_at``, ``extra``.

    Raises:
        ValueError: For an unknown category, an empty stage, or a malformed capacity or application.
    """
    app = require_mapping(application, "application")
    require_category(category)
    if not isinstance(stage, str) or not stage:
        raise ValueError("stage must be a non-empty string")
    cap = require_mapping(capacity, "capacity", optional=True)
    previous = ctx.archive.get(ctx.case_number) or {}
    now = ctx.now().isoformat()

    history = list(previous.get("stage_history", []))
    if not history or history[-1].get("stage") != stage:
        history = [*history, {"stage": stage, "at": now}]

    record: dict[str, Any] = {**previous}
    record.update({field: app.get(field, previous.get(field)) for field in APPLICATION_FIELDS})
    address = record.get("address")
    record.update(
        {
            "case_number": ctx.case_number,
            "address_key": normalise_address(address) if isinstance(address, str) else None,
            "category": category,
            "stage": stage,
            "stage_history": history,
            "created_at": previous.get("created_at", now),
            "updated_at": now,
            "extra": {**previous.get("extra", {}), **require_mapping(extra, "extra", optional=True)},
        }
    )
    if supply_voltage_kv is not None:
        record["supply_voltage_kv"] = require_number(supply_voltage_kv, "supply_voltage_kv", positive=True)
    record.setdefault("supply_voltage_kv", None)
    if cap:
        record["contracted_capacity"] = _contracted_capacity(category, app, cap)
        record["demand_kw"] = cap.get("demand_kw")
        record["apparent_kva"] = cap.get("apparent_kva")
    for field in ("contracted_capacity", "demand_kw", "apparent_kva"):
        record.setdefault(field, None)

    ctx.archive.upsert(ctx.case_number, record)
    return {key: value for key, value in record.items() if key not in PRIVATE_FIELDS}


#: The 归档资料清单 items (``archive_documents`` form) every case has.
CHECKLIST_ALWAYS = ("application_form", "identity_docs", "property_docs", "contract", "installation_sheet")
#: Items a step of the route produces: route flag (``process_route`` DMN) → the items.
CHECKLIST_BY_ROUTE = (
    ("survey", ("survey_record", "supply_plan")),
    ("design_review", ("design_review",)),
    ("interim_check", ("inspection_records",)),
    ("completion_check", ("inspection_records",)),
)
#: The form's order of the items.
CHECKLIST_ORDER = (
    "application_form", "identity_docs", "property_docs", "survey_record", "supply_plan", "design_review",
    "inspection_records", "contract", "installation_sheet", "fee_receipts",
)


def archive_checklist(route: Mapping[str, Any], fees: Mapping[str, Any] | None = None) -> list[str]:
    """The 归档资料清单 of a case on ``route``: what every case files (application, identity and property proof —
    or the customer's commitment —, the contract, whether signed at acceptance or in its own step, and the
    installation sheet), the records of the steps the route has (survey and supply plan, design review, interim
    and completion inspections), and the fee receipts when the case charged fees (``fees["total"]`` > 0). A
    low-voltage residential case files no survey record or design review opinion: its route has neither step."""
    items = set(CHECKLIST_ALWAYS)
    for flag, produced in CHECKLIST_BY_ROUTE:
        if route.get(flag):
            items.update(produced)
    total = (fees or {}).get("total")
    if isinstance(total, int | float) and total > 0:
        items.add("fee_receipts")
    return [item for item in CHECKLIST_ORDER if item in items]
