"""``payment_reconciliation``: the case's payment ledger (缴费台账), one ``payment_confirmed`` message at a time.

Billing sends ``payment_confirmed`` when money for the case's fees arrives. Its payload may state:

- ``amount``: what was paid this time (CNY). Without it, the message confirms the bill as paid in full (billing's
  "已缴清" confirmation, as the simulator, ``baozhuang try`` and older billing interfaces send it): the amount is
  the outstanding balance.
- ``bill_total``: the fee total billing collected against. A figure other than the case's ``fees["total"]`` (a bill
  issued on an earlier figure, e.g. before the approved plan changed the transformer rating) is flagged.
- anything else (``receipt_number``, ``paid_at``, …) is kept with the record.

The ledger (case key ``payments``) holds ``due``, ``paid``, ``outstanding``, ``overpaid``, ``settled``, every
``records`` entry and the open ``flags``. A partial payment leaves ``outstanding`` > 0: the model waits for the
rest. An overpayment, a payment against another total or an amount that is no amount (negative, text) is
recorded, flagged and notified to the account manager (template ``payment_discrepancy``), as a billing clerk
expects: the money is never lost, and a person decides on the refund or the re-issued bill. Flags do not stop the
case once the fees are covered; an unusable amount counts as nothing paid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from handlers.common import require_mapping, require_number
from handlers.context import HandlerContext
from handlers.notify import notify

FEN = Decimal("0.01")
FLAG_OVERPAID = "overpaid"
FLAG_OTHER_TOTAL = "bill_total_mismatch"
FLAG_INVALID_AMOUNT = "invalid_amount"
FLAG_NAMES = {
    FLAG_OVERPAID: "多缴费用，需退费或冲抵",
    FLAG_OTHER_TOTAL: "缴费所依据的应收金额与本案费用不一致",
    FLAG_INVALID_AMOUNT: "缴费金额无效，未计入已缴",
}
"""Flag code → what the account manager reads."""


def _money(value: Decimal) -> float:
    return float(value.quantize(FEN, rounding=ROUND_HALF_UP))


def _amount(value: Any) -> Decimal | None:
    """A finite non-negative number as Decimal; None for anything else (a bool is no amount)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return Decimal(str(value))


def payment_reconciliation(
    ctx: HandlerContext,
    fees_total: float,
    payment: Mapping[str, Any] | None,
    ledger: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Add one payment message to the ledger.

    Args:
        ctx: Handler context: the clock, and the outbox for the account manager's notification.
        fees_total: The fees the customer owes (``fees["total"]``, CNY).
        payment: The ``payment_confirmed`` payload (see the module docstring).
        ledger: The ledger so far (``payments``); None before the first payment.

    Returns:
        ``due``, ``paid``, ``outstanding``, ``overpaid``, ``settled`` (nothing outstanding), ``records`` (each
        ``{amount, amount_stated, received_at, payload, flags}``), ``flags`` (codes of every record's flags) and
        ``notified`` (the last notification's result, when this payment raised a flag).

    Raises:
        ValueError: If ``fees_total`` is not a non-negative number.
    """
    due = Decimal(str(require_number(fees_total, "fees_total", minimum=0)))
    payload = dict(require_mapping(payment, "payment", optional=True))
    before = require_mapping(ledger, "ledger", optional=True)
    records = [dict(record) for record in before.get("records") or [] if isinstance(record, Mapping)]
    paid_before = sum((Decimal(str(record.get("amount", 0))) for record in records), Decimal(0))
    outstanding_before = max(due - paid_before, Decimal(0))
    flags: list[str] = []
    if "amount" in payload:
        amount = _amount(payload["amount"])
        if amount is None:
            flags.append(FLAG_INVALID_AMOUNT)
            amount = Decimal(0)
    else:
        amount = outstanding_before
    bill_total = payload.get("bill_total")
    if bill_total is not None and (_amount(bill_total) is None or _amount(bill_total) != due):
        flags.append(FLAG_OTHER_TOTAL)
    paid = paid_before + amount
    if paid > due and amount > 0:
        flags.append(FLAG_OVERPAID)
    records.append({"amount": _money(amount), "amount_stated": "amount" in payload,
                    "received_at": ctx.now().isoformat(), "payload": payload, "flags": flags})
    result: dict[str, Any] = {
        "due": _money(due),
        "paid": _money(paid),
        "outstanding": _money(max(due - paid, Decimal(0))),
        "overpaid": _money(max(paid - due, Decimal(0))),
        "settled": paid >= due,
        "records": records,
        "flags": sorted({flag for record in records for flag in record["flags"]}),
    }
    if flags:
        result["notified"] = notify(ctx, "payment_discrepancy", "account_manager", "sms", {
            "case_number": ctx.case_number, "due": result["due"], "paid": result["paid"],
            "amount": _money(amount), "bill_total": bill_total if isinstance(bill_total, (int, float)) else None,
            "flags": flags, "issues": "；".join(FLAG_NAMES[flag] for flag in flags), "payment": len(records)})
    return result
