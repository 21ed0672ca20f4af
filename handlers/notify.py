"""``notify``: put one notification into the outbox; a separate worker delivers it. Nothing is sent here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from handlers.common import ROLES, require_mapping
from handlers.context import HandlerContext


def idempotency_key(case_number: str, template: str, to_role: str, channel: str, params: Mapping[str, Any]) -> str:
    """Derive the outbox key of a notification.

    The key is ``<case_number>:<template>:<16 hex digits>``; the digits are a SHA-256 of the canonical JSON (sorted
    keys, no whitespace) of ``{to_role, channel, params}``. Retrying the same service task yields the same key, so
    the outbox stores the message once; the same template sent to another role or with other parameters (e.g. a
    second deadline) is a different message. ``created_at`` is deliberately not part of the key.

    Raises:
        ValueError: If ``params`` is not JSON-serialisable.
    """
    try:
        canonical = json.dumps(
            {"to_role": to_role, "channel": channel, "params": params},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"notification params must be JSON: {exc}") from exc
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    return f"{case_number}:{template}:{digest}"


def notify(
    ctx: HandlerContext,
    template: str,
    to_role: str,
    channel: str = "sms",
    params: Mapping[str, Any] | None = None,
    unless_after: str | None = None,
) -> dict[str, Any]:
    """Queue a notification for a role of the case.

    In simulation (``ctx.simulation``) nothing is written. A reminder of a moment (``unless_after``, ISO 8601, e.g.
    the plan's expiry) is not queued once that moment has passed: a worker catching up after an outage fires the
    reminder timer and the expiry timer in one pass, and "your plan expires in 30 days" must not reach the customer
    after it expired.

    Args:
        ctx: Handler context; its outbox receives the message.
        template: Message template id (the delivery worker renders it).
        to_role: Recipient role, one of the lane roles.
        channel: Delivery channel, e.g. ``sms``.
        params: Template parameters (JSON).
        unless_after: Do not queue it at or after this moment (ISO 8601 with offset); None: always.

    Returns:
        ``queued`` (True when the message is in the outbox), ``simulated`` and ``idempotency_key``; ``too_late``
        (True) when ``unless_after`` had passed.

    Raises:
        ValueError: For an empty template or channel, an unknown role or non-JSON params.
    """
    if not isinstance(template, str) or not template:
        raise ValueError("template must be a non-empty string")
    if not isinstance(channel, str) or not channel:
        raise ValueError("channel must be a non-empty string")
    if to_role not in ROLES:
        raise ValueError(f"to_role must be one of {', '.join(ROLES)}, got {to_role!r}")
    payload = dict(require_mapping(params, "params", optional=True))
    key = idempotency_key(ctx.case_number, template, to_role, channel, payload)
    if unless_after is not None and ctx.now() >= _moment(unless_after):
        return {"queued": False, "simulated": ctx.simulation, "idempotency_key": key, "too_late": True}
    if ctx.simulation:
        return {"queued": False, "simulated": True, "idempotency_key": key}
    ctx.outbox.put(
        {
            "idempotency_key": key,
            "case_number": ctx.case_number,
            "template": template,
            "to_role": to_role,
            "channel": channel,
            "params": payload,
            "created_at": ctx.now().isoformat(),
        }
    )
    return {"queued": True, "simulated": False, "idempotency_key": key}


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"unless_after must be an ISO 8601 time, got {text!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"unless_after must carry its UTC offset, got {text!r}")
    return moment
