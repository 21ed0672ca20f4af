"""缴费确认 with an amount (decision 85): a partial payment is recorded and the case keeps waiting for the rest; an
overpayment, a payment against another fee total or an unusable amount is recorded and flagged to the account
manager; a confirmation without an amount settles the bill (the billing interface's "已缴清"), on both
databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from handlers import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.payments import payment_reconciliation
from runner import services
from runner.clock import SHANGHAI
from runner.models import OutboxMessage
from runner.store import load_case
from runner.workdays import WorkingCalendar
from tests.db import CaseDriver, Db, start

DUE = 200 * 630  # the dual-supply sample: 200 元/kVA on the plan's 630 kVA
DUAL_PLAN = {"draft_plan": {"supply_points": 2}}
"""The plan grants the two sources applied for: the fee follows the plan (decision 103)."""


def _waiting_for_payment(db: Db) -> str:
    number = start(db, "hv_ordinary", dual_supply=True)
    driver = CaseDriver(db, number, DUAL_PLAN)
    for _ in range(300):
        if _waiting(db, number):
            break
        assert driver.step(), "the case never waited for a message"
    assert _waiting(db, number) == ["payment_confirmed"]
    return number


def _waiting(db: Db, number: str) -> list[str]:
    with db.reading() as session:
        return list(load_case(session, db.runtime, number).case.waiting_messages())


def _data(db: Db, number: str) -> dict[str, Any]:
    with db.reading() as session:
        return dict(load_case(session, db.runtime, number).case.data)


def _pay(db: Db, number: str, payload: dict[str, Any]) -> None:
    with db.transaction() as session:
        services.send_message(session, db.runtime, number, "payment_confirmed", payload, "billing")


def _flag_messages(db: Db, number: str) -> list[OutboxMessage]:
    with db.reading() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.case_number == number,
                                                                OutboxMessage.template == "payment_discrepancy")))


def test_a_partial_payment_is_recorded_and_the_case_waits_for_the_rest(db: Db) -> None:
    number = _waiting_for_payment(db)
    _pay(db, number, {"amount": 50000, "receipt_number": "R-001"})
    assert _waiting(db, number) == ["payment_confirmed"]  # not on to 装表接电
    payments = _data(db, number)["payments"]
    assert (payments["due"], payments["paid"], payments["outstanding"]) == (DUE, 50000, DUE - 50000)
    assert payments["settled"] is False and payments["flags"] == []
    assert payments["records"][0]["payload"]["receipt_number"] == "R-001"
    _pay(db, number, {"amount": DUE - 50000})
    assert _waiting(db, number) == []
    payments = _data(db, number)["payments"]
    assert payments["settled"] is True and payments["outstanding"] == 0 and len(payments["records"]) == 2
    assert _flag_messages(db, number) == []


def test_an_overpayment_goes_on_recorded_and_flagged_to_the_account_manager(db: Db) -> None:
    number = _waiting_for_payment(db)
    _pay(db, number, {"amount": 200 * 1600, "bill_total": 200 * 1600})  # paid the bill of the applied 1,600 kVA
    assert _waiting(db, number) == []  # the fees are covered
    payments = _data(db, number)["payments"]
    assert payments["settled"] is True and payments["overpaid"] == 200 * 1600 - DUE
    assert payments["flags"] == ["bill_total_mismatch", "overpaid"]
    [message] = _flag_messages(db, number)
    assert message.to_role == "account_manager"
    params = message.payload["params"]
    assert params["flags"] == ["bill_total_mismatch", "overpaid"] and params["due"] == DUE
    assert params["paid"] == params["bill_total"] == 200 * 1600


def test_an_unusable_amount_counts_nothing_and_is_flagged(db: Db) -> None:
    number = _waiting_for_payment(db)
    _pay(db, number, {"amount": -5})
    assert _waiting(db, number) == ["payment_confirmed"]
    payments = _data(db, number)["payments"]
    assert payments["paid"] == 0 and payments["flags"] == ["invalid_amount"]
    assert len(_flag_messages(db, number)) == 1
    _pay(db, number, {"confirmed_at": "2026-11-27T10:00:00+08:00"})  # billing's 已缴清 without an amount
    assert _waiting(db, number) == []
    last = _data(db, number)["payments"]["records"][-1]
    assert (last["amount"], last["amount_stated"]) == (DUE, False)


def context(outbox: MemoryOutbox) -> HandlerContext:
    return HandlerContext("BZ-PAY", lambda: datetime(2026, 11, 27, 10, tzinfo=SHANGHAI), WorkingCalendar.default(),
                          outbox, MemoryArchive())


def test_the_ledger_adds_payments_up_and_flags_a_payment_for_another_total() -> None:
    outbox = MemoryOutbox()
    first = payment_reconciliation(context(outbox), 1000, {"amount": 400})
    assert (first["paid"], first["outstanding"], first["settled"]) == (400, 600, False)
    second = payment_reconciliation(context(outbox), 1000, {"amount": 600, "bill_total": 1200}, first)
    assert (second["paid"], second["outstanding"], second["overpaid"], second["settled"]) == (1000, 0, 0, True)
    assert second["flags"] == ["bill_total_mismatch"] and second["records"][1]["flags"] == ["bill_total_mismatch"]
    assert second["notified"]["queued"] is True and len(outbox.messages) == 1
    assert payment_reconciliation(context(outbox), 1000, {"amount": True})["flags"] == ["invalid_amount"]
