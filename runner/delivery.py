"""Outbox delivery channels: a registry of channel → deliverer, and the built-in deliverers.

A deliverer is a plain callable ``deliverer(delivery) -> None`` that raises :class:`DeliveryError` (or anything
else) when the message did not get through; the worker then retries it with backoff. Every delivery carries the
message's idempotency key: the worker delivers at least once (a crash between delivering and recording it repeats
the delivery with the same key), so a receiver that deduplicates on the key sees each message effectively once.

Built-in channels (``registry_from_env``):

- ``log``: one JSON line per message appended to ``<instance>/outbox.log``;
- ``webhook``: an HTTP POST of the message as JSON to ``BAOZHUANG_WEBHOOK_URL`` with the header ``Idempotency-Key``
  (timeout ``BAOZHUANG_WEBHOOK_TIMEOUT`` seconds, default 10); any 2xx answer counts as delivered;
- ``sms`` and ``email``: to the webhook when ``BAOZHUANG_WEBHOOK_URL`` is set (an SMS/e-mail gateway behind it),
  else to the log.

The two settings are checked when the registry is built (``webhook_settings``): a URL that is not http(s) or a
timeout that is not a positive number raises ``SettingError`` naming the variable, so ``baozhuang worker`` refuses
to start instead of failing every notification until it is marked failed.
"""

from __future__ import annotations

import json
import math
import os
import random
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from .clock import Clock, SystemClock, to_iso
from .environment import SettingError

WEBHOOK_URL_VARIABLE = "BAOZHUANG_WEBHOOK_URL"
WEBHOOK_TIMEOUT_VARIABLE = "BAOZHUANG_WEBHOOK_TIMEOUT"
DEFAULT_WEBHOOK_TIMEOUT = 10.0
MAX_WEBHOOK_TIMEOUT = 3600.0
"""The longest webhook timeout accepted (an hour; far longer ones overflow the socket's timer)."""
LOG_FILE_NAME = "outbox.log"


class DeliveryError(Exception):
    """The message did not get through; the worker retries it later."""


@dataclass(frozen=True)
class Delivery:
    """One attempt at delivering an outbox message.

    Attributes:
        outbox_id: The outbox row.
        idempotency_key: Sent along with every attempt; the receiver deduplicates on it.
        channel: The channel the message asks for (``sms``, ``email``, ``log``, ``webhook`` …).
        case_number: The case the message is about, if any.
        to_role: The recipient role.
        template: The message template id.
        payload: The message as the handler wrote it.
        attempt: 1 for the first attempt, 2 for the first retry, …
    """

    outbox_id: int
    idempotency_key: str
    channel: str
    case_number: str | None
    to_role: str | None
    template: str
    payload: dict[str, Any]
    attempt: int

    def body(self) -> dict[str, Any]:
        """The JSON document a receiver gets."""
        return asdict(self)


Deliverer = Callable[[Delivery], None]


class DelivererRegistry:
    """Maps channel names to deliverers."""

    def __init__(self) -> None:
        self._deliverers: dict[str, Deliverer] = {}

    def register(self, channel: str, deliverer: Deliverer) -> None:
        """Deliver messages of ``channel`` with ``deliverer`` (replacing any earlier one)."""
        if not channel:
            raise ValueError("channel must not be empty")
        self._deliverers[channel] = deliverer

    def channels(self) -> list[str]:
        """The registered channels, sorted."""
        return sorted(self._deliverers)

    def deliver(self, delivery: Delivery) -> None:
        """Hand the delivery to its channel's deliverer.

        Raises:
            DeliveryError: If no deliverer serves the channel, or the deliverer failed.
        """
        deliverer = self._deliverers.get(delivery.channel)
        if deliverer is None:
            raise DeliveryError(f"no deliverer for channel {delivery.channel!r} (known: {', '.join(self.channels())})")
        deliverer(delivery)


class LogDeliverer:
    """Appends each message as one JSON line to a file (a single ``write``, so concurrent workers do not interleave
    lines)."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self.clock = clock or SystemClock()

    def __call__(self, delivery: Delivery) -> None:
        line = json.dumps({"logged_at": to_iso(self.clock.now()), **delivery.body()}, ensure_ascii=False)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as log:
                log.write(line + "\n")
        except OSError as err:
            raise DeliveryError(f"cannot write {self.path}: {err}") from err


class WebhookDeliverer:
    """POSTs each message as JSON to a URL with the ``Idempotency-Key`` header; any 2xx answer is a delivery."""

    def __init__(self, url: str, timeout: float = DEFAULT_WEBHOOK_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout

    def __call__(self, delivery: Delivery) -> None:
        request = urllib.request.Request(
            self.url, data=json.dumps(delivery.body(), ensure_ascii=False).encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": delivery.idempotency_key},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as err:
            raise DeliveryError(f"webhook answered HTTP {err.code}") from err
        except (urllib.error.URLError, OSError) as err:  # refused, unreachable, timed out
            raise DeliveryError(f"webhook unreachable: {getattr(err, 'reason', err)}") from err
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook answered HTTP {status}")


class MissingWebhook:
    """The ``webhook`` channel when no URL is configured: every attempt fails with a clear reason."""

    def __call__(self, delivery: Delivery) -> None:
        raise DeliveryError(f"{WEBHOOK_URL_VARIABLE} is not set")


def webhook_settings(environ: Mapping[str, str] | None = None) -> tuple[str | None, float]:
    """``BAOZHUANG_WEBHOOK_URL`` (None when unset or empty) and ``BAOZHUANG_WEBHOOK_TIMEOUT`` (default 10 s), checked.

    Raises:
        SettingError: The URL is not an ``http://`` or ``https://`` URL with a host, or the timeout is not a number
            of seconds above 0 and at most ``MAX_WEBHOOK_TIMEOUT``; the message names the variable and its value.
    """
    environ = os.environ if environ is None else environ
    url = environ.get(WEBHOOK_URL_VARIABLE) or None
    if url is not None and not _is_web_url(url):
        raise SettingError(f"{WEBHOOK_URL_VARIABLE} must be an http:// or https:// URL with a host name, got {url!r}")
    text = environ.get(WEBHOOK_TIMEOUT_VARIABLE) or ""
    if not text:
        return url, DEFAULT_WEBHOOK_TIMEOUT
    try:
        timeout = float(text)
    except ValueError:
        timeout = math.nan
    if not 0 < timeout <= MAX_WEBHOOK_TIMEOUT:  # NaN, infinities and non-numbers fail here too
        raise SettingError(f"{WEBHOOK_TIMEOUT_VARIABLE} must be a positive number of seconds (at most "
                           f"{MAX_WEBHOOK_TIMEOUT:g}), got {text!r}")
    return url, timeout


def lease_warning(url: str | None, timeout: float, lease_seconds: float) -> str | None:
    """Why a worker with this webhook timeout and lease may send one message twice, or None when it may not.

    A delivery renews its message's lease once, before it starts; urllib's timeout applies to the connection and
    again to the answer, so a slow webhook can hold a delivery for about twice the timeout. When that reaches the
    lease, another worker may take the message over while the first one is still waiting, and send it again (with
    the same idempotency key)."""
    if url is None or 2 * timeout < lease_seconds:
        return None
    return (f"{WEBHOOK_TIMEOUT_VARIABLE} ({timeout:g} s) is not below half of --lease-seconds ({lease_seconds:g} s): "
            "a webhook that answers slowly can hold a delivery past its lease, and another worker may then send the "
            "message again (same idempotency key); raise --lease-seconds or lower the timeout")


def _is_web_url(url: str) -> bool:
    """Whether urllib can POST to ``url``: http(s), a host name, a numeric port if any, no surrounding blanks."""
    if url != url.strip():
        return False
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises ValueError on a port that is not a number in range)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def registry_from_env(instance: Path, environ: Mapping[str, str] | None = None) -> DelivererRegistry:
    """The built-in channels, configured from the environment (see the module docstring).

    Raises:
        SettingError: A webhook setting is not valid (``webhook_settings``).
    """
    url, timeout = webhook_settings(environ)
    registry = DelivererRegistry()
    log = LogDeliverer(instance / LOG_FILE_NAME)
    registry.register("log", log)
    if url:
        webhook: Deliverer = WebhookDeliverer(url, timeout)
        registry.register("webhook", webhook)
        registry.register("sms", webhook)
        registry.register("email", webhook)
    else:
        registry.register("webhook", MissingWebhook())
        registry.register("sms", log)
        registry.register("email", log)
    return registry


def retry_delay(attempts: int, base_seconds: float = 30.0, cap_seconds: float = 3600.0,
                rng: random.Random | None = None) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: exponential backoff with "equal jitter".

    The ceiling doubles per attempt (30 s, 60 s, 120 s … up to an hour); the delay is drawn between half the ceiling
    and the ceiling, so workers that failed together do not retry together.
    """
    ceiling = min(cap_seconds, base_seconds * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))
