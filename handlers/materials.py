"""``materials_checklist``: compare the materials a case needs (DMN ``required_materials``) with what was given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.context import HandlerContext

#: Material codes (DOMAIN §4) and the labels shown to staff and customers.
MATERIAL_LABELS: dict[str, str] = {
    "identity": "身份证明",
    "property_proof": "用电地址产权证明",
    "business_licence": "营业执照",
    "application_letter": "用电申请书",
    "load_list": "用电设备（负荷）清单",
    "site_plan": "用电地址总平面图",
    "project_approval": "项目批复（核准、备案）文件",
    "power_of_attorney": "授权委托书",
    "government_approval": "政府主管部门批复文件",
    "design_qualification": "设计、施工单位资质证明",
    "completion_documents": "竣工验收资料",
}


def _codes(value: Any, what: str) -> list[str]:
    """Normalise a list of codes, keeping the first occurrence of each.

    Accepts ``None`` (nothing), a list of strings, or the shape a COLLECT decision table produces when its output
    is named ``<variable>.<column>``: an object with a single list value (``{"code": ["identity", ...]}``).
    """
    if value is None:
        return []
    if isinstance(value, Mapping):
        if not value:
            return []
        if len(value) != 1:
            raise ValueError(
                f"{what}: expected a list of material codes or one COLLECT column, got keys "
                f"{', '.join(map(str, value))}"
            )
        value = next(iter(value.values()))
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{what} must be a list of material codes, got {type(value).__name__}")
    codes: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{what}: material codes are non-empty strings, got {item!r}")
        if item not in codes:
            codes.append(item)
    return codes


def materials_checklist(
    ctx: HandlerContext,
    required: Sequence[str] | Mapping[str, Sequence[str]] | None,
    provided: Sequence[str] | None,
    has_property_proof: bool,
) -> dict[str, Any]:
    """Check the application materials.

    The property proof counts as present when the customer declared it (``has_property_proof``, e.g. shown at the
    counter) or uploaded it (``property_proof`` in ``provided``).

    Args:
        ctx: Handler context (unused).
        required: Material codes the case needs (DMN COLLECT result; ``None`` when no rule matched).
        provided: Material codes the customer supplied.
        has_property_proof: The application's ``has_property_proof`` flag.

    Returns:
        ``required``, ``provided`` (recognised codes, property proof included when declared), ``missing`` (in
        ``required`` order), ``complete``, ``property_proof_missing``, ``one_certificate_possible`` (identity
        present and property proof required but missing: 一证受理 with a signed commitment),
        ``missing_except_property_proof`` (what 一证受理 still lacks), ``unrecognised`` (provided codes not in
        the table, ignored) and ``labels`` ({code: 中文名} for every code above).

    Raises:
        ValueError: If ``required`` holds a code that is not in :data:`MATERIAL_LABELS` (a model error), or an
            argument has the wrong shape.
    """
    required_codes = _codes(required, "required")
    unknown = [code for code in required_codes if code not in MATERIAL_LABELS]
    if unknown:
        raise ValueError(
            f"required: unknown material code(s) {', '.join(unknown)}; known: {', '.join(MATERIAL_LABELS)}"
        )
    given = _codes(provided, "provided")
    unrecognised = [code for code in given if code not in MATERIAL_LABELS]
    present = [code for code in given if code in MATERIAL_LABELS]
    if has_property_proof and "property_proof" not in present:
        present.append("property_proof")

    missing = [code for code in required_codes if code not in present]
    property_proof_missing = "property_proof" in missing
    shown = dict.fromkeys([*required_codes, *present])
    return {
        "required": required_codes,
        "provided": present,
        "missing": missing,
        "complete": not missing,
        "property_proof_missing": property_proof_missing,
        "one_certificate_possible": property_proof_missing and "identity" in present,
        "missing_except_property_proof": [code for code in missing if code != "property_proof"],
        "unrecognised": unrecognised,
        "labels": {code: MATERIAL_LABELS[code] for code in shown},
    }
