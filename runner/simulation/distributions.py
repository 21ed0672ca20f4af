"""Probability distributions a scenario names for durations, delays and inter-arrival times.

A scenario writes a distribution either as a plain number (a fixed value) or as an object with ``distribution``
and its parameters; every kind also takes optional ``min`` / ``max`` bounds that clip the sampled value::

    4                                               # fixed 4
    {distribution: exponential, mean: 2}
    {distribution: normal, mean: 4, sd: 1}          # clipped at min (default 0): durations are never negative
    {distribution: lognormal, mean: 4, sd: 2}       # mean and sd of the value itself, not of its logarithm
    {distribution: gamma, mean: 3, sd: 2}           # or shape + scale
    {distribution: uniform, low: 1, high: 3}
    {distribution: triangular, low: 1, mode: 2, high: 5}
    {distribution: empirical, samples: [1.5, 2, 2, 3.25]}   # one of the observed values, equally likely

Units are the caller's (hours for staff work, calendar days for customer-side delays).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required parameters, optional parameters besides min/max)
    "fixed": (("value",), ()),
    "exponential": (("mean",), ()),
    "normal": (("mean", "sd"), ()),
    "lognormal": (("mean", "sd"), ()),
    "gamma": ((), ("mean", "sd", "shape", "scale")),
    "uniform": (("low", "high"), ()),
    "triangular": (("low", "mode", "high"), ()),
    "empirical": (("samples",), ()),
}
BOUNDS = ("min", "max")


class DistributionError(ValueError):
    """A distribution the scenario cannot use; ``path`` names the offending key below the distribution."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Distribution:
    """A validated distribution: its kind and numeric parameters (``samples`` for empirical)."""

    kind: str
    params: dict[str, float] = field(default_factory=dict)
    samples: tuple[float, ...] = ()
    low_bound: float | None = None
    high_bound: float | None = None

    def sample(self, rng: random.Random) -> float:
        """One value from ``rng``, clipped to the bounds (``min`` defaults to 0 except for fixed values)."""
        value = self._raw(rng)
        if self.low_bound is not None:
            value = max(value, self.low_bound)
        if self.high_bound is not None:
            value = min(value, self.high_bound)
        return value

    def _raw(self, rng: random.Random) -> float:
        p = self.params
        if self.kind == "fixed":
            return p["value"]
        if self.kind == "exponential":
            return rng.expovariate(1.0 / p["mean"]) if p["mean"] > 0 else 0.0
        if self.kind == "normal":
            return rng.gauss(p["mean"], p["sd"])
        if self.kind == "lognormal":
            mean, sd = p["mean"], p["sd"]
            sigma2 = math.log(1.0 + (sd / mean) ** 2)
            return rng.lognormvariate(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2))
        if self.kind == "gamma":
            return rng.gammavariate(p["shape"], p["scale"])
        if self.kind == "uniform":
            return rng.uniform(p["low"], p["high"])
        if self.kind == "triangular":
            return rng.triangular(p["low"], p["high"], p["mode"])
        return self.samples[rng.randrange(len(self.samples))]

    @property
    def mean(self) -> float:
        """The mean before clipping (used for documentation and sanity checks)."""
        p = self.params
        if self.kind == "fixed":
            return p["value"]
        if self.kind in ("exponential", "normal", "lognormal"):
            return p["mean"]
        if self.kind == "gamma":
            return p["shape"] * p["scale"]
        if self.kind == "uniform":
            return (p["low"] + p["high"]) / 2.0
        if self.kind == "triangular":
            return (p["low"] + p["mode"] + p["high"]) / 3.0
        return sum(self.samples) / len(self.samples)

    def to_dict(self) -> float | dict[str, Any]:
        """The scenario form: a plain number for an unbounded fixed value, else an object."""
        if self.kind == "fixed" and self.low_bound is None and self.high_bound is None:
            return self.params["value"]
        data: dict[str, Any] = {"distribution": self.kind}
        if self.kind == "empirical":
            data["samples"] = list(self.samples)
        else:
            data.update(self.params)
        if self.low_bound is not None and not (self.kind != "fixed" and self.low_bound == 0.0):
            data["min"] = self.low_bound
        if self.high_bound is not None:
            data["max"] = self.high_bound
        return data


def fixed(value: float) -> Distribution:
    return Distribution("fixed", {"value": float(value)})


def _number(value: Any, path: tuple[str | int, ...]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DistributionError(f"must be a number, got {value!r}", path)
    return float(value)


def parse_distribution(spec: Any) -> Distribution:
    """Validate a scenario's distribution (number or object); raise ``DistributionError`` naming the key."""
    if not isinstance(spec, dict):
        value = _number(spec, ())
        if value < 0:
            raise DistributionError(f"a fixed value must be >= 0, got {value}")
        return fixed(value)
    kind = spec.get("distribution")
    if kind not in KINDS:
        raise DistributionError(f"unknown distribution {kind!r}; one of {', '.join(KINDS)}", ("distribution",))
    required, optional = KINDS[kind]
    allowed = {"distribution", *required, *optional, *BOUNDS}
    for key in spec:
        if key not in allowed:
            raise DistributionError(f"unknown parameter {key!r} for {kind}; allowed: {', '.join(sorted(allowed))}",
                                    (key,))
    for key in required:
        if key not in spec:
            raise DistributionError(f"{kind} needs {key!r}", (key,))
    low = _number(spec["min"], ("min",)) if "min" in spec else (None if kind == "fixed" else 0.0)
    high = _number(spec["max"], ("max",)) if "max" in spec else None
    if low is not None and high is not None and high < low:
        raise DistributionError(f"max {high} is below min {low}", ("max",))
    if kind == "empirical":
        samples = spec["samples"]
        if not isinstance(samples, list) or not samples:
            raise DistributionError("samples must be a non-empty list of numbers", ("samples",))
        values = tuple(_number(v, ("samples", i)) for i, v in enumerate(samples))
        return Distribution(kind, {}, values, low, high)
    params = {key: _number(spec[key], (key,)) for key in (*required, *optional) if key in spec}
    _check_params(kind, params)
    return Distribution(kind, params, (), low, high)


def _check_params(kind: str, p: dict[str, float]) -> None:
    def positive(key: str, strict: bool = True) -> None:
        if p[key] < 0 or (strict and p[key] == 0):
            raise DistributionError(f"{key} must be {'> 0' if strict else '>= 0'}, got {p[key]}", (key,))

    if kind == "fixed":
        positive("value", strict=False)
    elif kind == "exponential":
        positive("mean", strict=False)
    elif kind == "normal":
        positive("sd", strict=False)
    elif kind == "lognormal":
        positive("mean")
        positive("sd", strict=False)
    elif kind == "gamma":
        if {"mean", "sd"} <= p.keys() and not {"shape", "scale"} & p.keys():
            positive("mean")
            positive("sd")
            p["shape"] = (p["mean"] / p["sd"]) ** 2
            p["scale"] = p["sd"] ** 2 / p["mean"]
            del p["mean"], p["sd"]
        elif {"shape", "scale"} <= p.keys() and not {"mean", "sd"} & p.keys():
            positive("shape")
            positive("scale")
        else:
            raise DistributionError("gamma needs either mean + sd or shape + scale", ("shape",))
    elif kind == "uniform":
        if p["high"] < p["low"]:
            raise DistributionError(f"high {p['high']} is below low {p['low']}", ("high",))
    elif kind == "triangular" and not p["low"] <= p["mode"] <= p["high"]:
        raise DistributionError("triangular needs low <= mode <= high", ("mode",))
