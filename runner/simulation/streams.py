"""Independent, reproducible random streams for the simulation.

Every random decision draws from a stream derived from ``(seed, replication, purpose, keys…)`` with a stable hash
(BLAKE2b), never from a shared generator. A scenario variant that changes one pool therefore still sees the same
arrivals, case data, durations and answers (common random numbers), and replication ``r`` differs from ``r + 1``
while the same ``(seed, r)`` always gives the same log.
"""

from __future__ import annotations

import _random
import hashlib
import random


def stream_seed(seed: int, replication: int, purpose: str, *keys: object) -> int:
    """A 64-bit seed for one stream; stable across Python versions and processes (no ``hash()``)."""
    text = "\x1f".join([str(seed), str(replication), purpose, *(str(key) for key in keys)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def stream(seed: int, replication: int, purpose: str, *keys: object) -> random.Random:
    """A fresh ``random.Random`` for one purpose, e.g. ``stream(7, 0, "duration", 12, "site_survey", 0)``.

    Built as ``random.Random(n)`` builds it for an int ``n`` (``Random.seed`` hands an int straight to the C
    generator's ``seed`` and clears ``gauss_next``), without the Python-level type checks: one is made per draw."""
    return _seeded(stream_seed(seed, replication, purpose, *keys))


_new_random = random.Random.__new__
_seed_random = _random.Random.seed


def _seeded(seed: int) -> random.Random:
    """``random.Random(seed)`` for an int ``seed``, without the Python-level type checks."""
    generator = _new_random(random.Random)
    _seed_random(generator, seed)
    generator.gauss_next = None  # type: ignore[attr-defined]
    return generator


class Streams:
    """The streams of one replication: ``streams.get("answer", case_index, element_id, visit)``."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication
        self._hashed_prefix = hashlib.blake2b(f"{seed}\x1f{replication}\x1f".encode(), digest_size=8)
        """The hash of ``stream_seed``'s text as far as the purpose, fed once: a copy takes the rest."""

    def get(self, purpose: str, *keys: object) -> random.Random:
        """``stream(seed, replication, purpose, *keys)``: the same text hashed (its first part fed once per
        replication), the same generator."""
        hasher = self._hashed_prefix.copy()
        hasher.update("\x1f".join([purpose, *map(str, keys)]).encode())
        return _seeded(int.from_bytes(hasher.digest(), "big"))
