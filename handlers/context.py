"""What a handler may use besides its parameters: the case number, the clock, the calendar and two stores.

The runner builds a :class:`HandlerContext` per service task. The protocols keep handlers independent of the real
implementations (database-backed outbox and archive, the Chinese working-day calendar); the in-memory
:class:`MemoryOutbox` and :class:`MemoryArchive` serve tests, ``baozhuang try`` runs and simulations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class WorkingDays(Protocol):
    """The Chinese official working-day calendar (holidays and 调休 make-up days), Asia/Shanghai."""

    def working_days_between(self, start: datetime | str, end: datetime | str) -> int:
        """Return the whole working days from ``start`` to ``end``; the fractional part of a day is ignored."""
        ...

    def deadline(self, start: datetime | str, days: int) -> datetime:
        """Return the end (23:59:59 +08:00) of the ``days``-th working day after the day of ``start``."""
        ...


class Outbox(Protocol):
    """Where notifications are written; a separate worker delivers them. Handlers never send inline."""

    def put(self, message: dict[str, Any]) -> None:
        """Store ``message``; a message whose ``idempotency_key`` was already stored is ignored."""
        ...


class CustomerArchive(Protocol):
    """The customer electricity archive (用户用电档案), one record per case."""

    def upsert(self, case_number: str, record: dict[str, Any]) -> None:
        """Create or replace the record of ``case_number``."""
        ...

    def get(self, case_number: str) -> dict[str, Any] | None:
        """Return the record of ``case_number`` or ``None``."""
        ...

    def count_applications(self, address_key: str, exclude_case: str | None) -> int:
        """Count records whose ``address_key`` equals ``address_key``, leaving out ``exclude_case``."""
        ...


@dataclass
class HandlerContext:
    """Everything a handler receives besides its parameters.

    Attributes:
        case_number: The case the service task belongs to.
        now: The case clock (virtual in ``try`` and simulation); returns an aware datetime in Asia/Shanghai.
        calendar: The working-day calendar.
        outbox: The notification outbox.
        archive: The customer electricity archive.
        simulation: True in simulation runs: handlers must leave no side effects that reach people.
    """

    case_number: str
    now: Callable[[], datetime]
    calendar: WorkingDays
    outbox: Outbox
    archive: CustomerArchive
    simulation: bool = False


class MemoryOutbox:
    """An in-memory, idempotent :class:`Outbox`.

    Attributes:
        messages: The stored messages, in order of arrival (deep copies of what was put).
    """

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._keys: set[str] = set()

    def put(self, message: dict[str, Any]) -> None:
        """Store a copy of ``message`` unless its idempotency key was seen before.

        Raises:
            ValueError: If the message has no non-empty string ``idempotency_key``; without one the outbox could
                not guarantee that a retried service task does not notify twice.
        """
        key = message.get("idempotency_key")
        if not isinstance(key, str) or not key:
            raise ValueError("outbox message needs a non-empty string 'idempotency_key'")
        if key in self._keys:
            return
        self._keys.add(key)
        self.messages.append(copy.deepcopy(message))


class MemoryArchive:
    """An in-memory :class:`CustomerArchive`; records are copied in and out so callers cannot alias them."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}

    def upsert(self, case_number: str, record: dict[str, Any]) -> None:
        """Create or replace the record of ``case_number`` with a deep copy of ``record``."""
        self._records[case_number] = copy.deepcopy(record)

    def get(self, case_number: str) -> dict[str, Any] | None:
        """Return a deep copy of the record of ``case_number`` or ``None``."""
        record = self._records.get(case_number)
        return copy.deepcopy(record) if record is not None else None

    def count_applications(self, address_key: str, exclude_case: str | None = None) -> int:
        """Count records with the given ``address_key``, leaving out ``exclude_case``."""
        return sum(
            1
            for case_number, record in self._records.items()
            if case_number != exclude_case and record.get("address_key") == address_key
        )

    def __len__(self) -> int:
        return len(self._records)
