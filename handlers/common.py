"""Small helpers shared by the handlers: validation, rounding, dates and addresses."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

#: China Standard Time. China has had no daylight saving since 1991, so a fixed +08:00 offset is exact for every
#: date a case can carry and avoids depending on the host's tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

#: Customer categories written by the `customer_category` DMN (docs/process-model.md).
CATEGORIES: tuple[str, ...] = ("lv_residential", "lv_smallmicro", "lv_other", "hv_ordinary", "hv_important")

#: Lane roles (docs/process-model.md, "Roles are lanes").
ROLES: tuple[str, ...] = (
    "customer",
    "account_manager",
    "surveyor",
    "plan_reviewer",
    "inspector",
    "installer",
    "archivist",
    "followup_agent",
    "supervisor",
)


def require_number(value: Any, what: str, *, positive: bool = False, minimum: float | None = None) -> float:
    """Return ``value`` as a finite float or raise ``ValueError`` naming ``what``.

    Args:
        value: The candidate; ``bool`` is refused although it is an ``int`` subclass.
        what: Human-readable name of the value used in the error message.
        positive: Require ``value > 0``.
        minimum: Require ``value >= minimum``.

    Returns:
        The value as a float.

    Raises:
        ValueError: If the value is missing, not a number, not finite or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if positive and number <= 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value!r}")
    return number


def require_fraction(value: Any, what: str) -> float:
    """Return ``value`` if it lies in the half-open interval (0, 1], else raise ``ValueError``."""
    number = require_number(value, what)
    if not 0 < number <= 1:
        raise ValueError(f"{what} must be in (0, 1], got {value!r}")
    return number


def require_category(category: Any) -> str:
    """Return ``category`` if it is one of :data:`CATEGORIES`, else raise ``ValueError``."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown customer category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return str(category)


def require_mapping(value: Any, what: str, *, optional: bool = False) -> Mapping[str, Any]:
    """Return ``value`` as a mapping (``None`` becomes ``{}`` when ``optional``), else raise ``ValueError``."""
    if value is None and optional:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be an object, got {type(value).__name__}")
    return value


def rounded(value: float, digits: int = 2) -> float:
    """Round for presentation, turning ``-0.0`` into ``0.0`` so results compare and serialise cleanly."""
    result = round(value, digits)
    return 0.0 if result == 0 else result


def parse_datetime(value: datetime | date | str, what: str = "timestamp") -> datetime:
    """Parse an ISO-8601 date or datetime into an aware datetime in Asia/Shanghai.

    A date alone means the start of that day; a naive datetime is taken as Shanghai local time (the data contract
    always carries an offset, this is only a safety net).

    Raises:
        ValueError: If ``value`` is neither a date/datetime nor an ISO-8601 string.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{what} is not an ISO-8601 date or datetime: {value!r}") from exc
    else:
        raise ValueError(f"{what} must be an ISO-8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    return parsed.astimezone(SHANGHAI)


def normalise_address(address: str) -> str:
    """Reduce an address to a comparison key.

    NFKC folds full-width letters, digits and punctuation to their half-width forms; then case is folded and every
    whitespace, punctuation, symbol and control character is dropped, so ``"北京市 朝阳区（建国路）８８号"`` and
    ``"北京市朝阳区建国路88号"`` give the same key.
    """
    folded = unicodedata.normalize("NFKC", address).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in {"Z", "P", "S", "C"})
