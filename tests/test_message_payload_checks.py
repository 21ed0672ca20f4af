"""A message's payload is checked in the service layer whoever sends it (CLI, API, a Python caller): a NaN or an
infinite number is refused before anything is stored, on both databases; a request id reused with another payload
says that the payload differs."""

from __future__ import annotations

import math

import pytest

from runner import services
from runner.forms import FormValidationError
from runner.store import ConflictError, load_case
from tests.db import CaseDriver, Db, events, start


def _waiting_message(db: Db, number: str) -> str:
    driver = CaseDriver(db, number)
    for _ in range(200):
        with db.reading() as session:
            waiting = load_case(session, db.runtime, number).case.waiting_messages()
        if waiting:
            return waiting[0]
        assert driver.step(), "the case never waited for a message"
    raise AssertionError("the case never waited for a message")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_payload_with_a_non_finite_number_is_refused_and_nothing_is_stored(db: Db, number: float) -> None:
    case = start(db, "lv_residential")
    name = _waiting_message(db, case)
    before = len(events(db, case))
    with pytest.raises(FormValidationError) as refused, db.transaction() as session:
        services.send_message(session, db.runtime, case, name, {"readings": [1.5, {"kwh": number}]}, "billing")
    assert refused.value.errors == [("payload.readings[1].kwh",
                                     "must be a finite number (NaN and Infinity are not JSON)")]
    assert len(events(db, case)) == before
    with db.transaction() as session:  # the case still takes a proper message
        assert not services.send_message(session, db.runtime, case, name, {"kwh": 1.5}, "billing").repeated
    assert len(events(db, case)) > before


def test_a_request_id_reused_with_another_payload_says_so(db: Db) -> None:
    case = start(db, "lv_residential")
    name = _waiting_message(db, case)
    with db.transaction() as session:
        services.send_message(session, db.runtime, case, name, {"amount": 120}, "billing", request_id="pay-0001")
    with pytest.raises(ConflictError) as refused, db.transaction() as session:
        services.send_message(session, db.runtime, case, name, {"amount": 130}, "billing", request_id="pay-0001")
    assert str(refused.value) == (
        f'request id pay-0001 was used for {name} to case {case} with another payload ({{"amount": 120}} then, '
        '{"amount": 130} now): choose a new request id for a new message')
    with db.transaction() as session:  # the same delivery again is a repeat, not a conflict
        assert services.send_message(session, db.runtime, case, name, {"amount": 120}, "billing",
                                     request_id="pay-0001").repeated
