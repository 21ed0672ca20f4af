"""Random answers near a form's sample, for tests that compare two ways of deciding validity: the values a schema
names (``schema_values``) and copies of an answer with values swapped, keys dropped or added and arrays changed
(``mutated``)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any


def schema_values(schema: Any) -> list[Any]:
    """Every ``const``, ``enum`` and ``examples`` value in a schema (not ``default``s): values a mutation tries."""
    found: list[Any] = []
    if isinstance(schema, dict):
        for key, item in schema.items():
            if key == "const":
                found.append(item)
            elif key in ("enum", "examples") and isinstance(item, list):
                found.extend(item)
            elif key != "default":
                found.extend(schema_values(item))
    elif isinstance(schema, list):
        for item in schema:
            found.extend(schema_values(item))
    return found


def mutated(instance: Any, pool: list[Any], rng: random.Random,
            added_keys: Sequence[str] = ("unknown_field", "typename", "x")) -> Any:
    """A copy with values replaced from the pool, keys dropped or one of ``added_keys`` added, arrays cut, grown,
    reshuffled or given duplicates."""
    if isinstance(instance, dict):
        out = {}
        for key, item in instance.items():
            roll = rng.random()
            if roll < 0.05:
                continue
            out[key] = rng.choice(pool) if roll < 0.2 else mutated(item, pool, rng, added_keys)
        if rng.random() < 0.05:
            out[rng.choice(list(added_keys))] = rng.choice(pool)
        return out
    if isinstance(instance, list):
        items = [mutated(item, pool, rng, added_keys) for item in instance]
        roll = rng.random()
        if roll < 0.15 and items:
            items.append(rng.choice(items))  # a duplicate
        elif roll < 0.3:
            items = [rng.choice(pool) for _ in range(rng.randint(0, 4))]
        elif roll < 0.4:
            rng.shuffle(items)
            items = items[:rng.randint(0, len(items))]
        return items
    return rng.choice(pool) if rng.random() < 0.3 else instance
