"""Generated applications: a category's sample application, varied by the scenario's case-data generator.

The sample comes from the scenario's samples folder (``<sample>.json``, or ``<sample>_dual.json`` for a dual-supply
case when that file exists — deployed versions carry no samples). Then, from the case's own random stream:

- ``capacity_kva``: the installed apparent power Σ count·unit_kW / cosφ is scaled to the sampled kVA (every
  equipment row's ``unit_kw`` and ``declared_capacity_kw`` by the same factor);
- ``dual_supply``: the share of dual-supply applications;
- ``missing_property_proof``: the share of applications without property proof (一证受理: the proof follows later);
- ``risk_flags``: per boolean field (``important_customer``, ``special_load``, …) the share where it is true.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.clock import to_iso

from .scenario import CaseDataSpec

DECLARED_POWER_FACTOR = 0.85


class SampleError(ValueError):
    """A sample application that is missing or unreadable."""


@dataclass
class GeneratedCase:
    """The start data of a case and the attributes the simulation log keeps about it."""

    start_data: dict[str, Any]
    attributes: dict[str, Any]


class SampleLibrary:
    """Sample applications read once from a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, dict[str, Any] | None] = {}

    def get(self, name: str) -> dict[str, Any] | None:
        if name not in self._cache:
            path = self.folder / f"{name}.json"
            try:
                self._cache[name] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
            except json.JSONDecodeError as err:
                raise SampleError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from err
        return self._cache[name]

    def sample(self, name: str, dual: bool) -> dict[str, Any]:
        found = (self.get(f"{name}_dual") if dual else None) or self.get(name)
        if found is None:
            known = sorted(p.stem for p in self.folder.glob("*.json"))
            raise SampleError(f"{self.folder}: no sample application {name}.json; known: {', '.join(known)}")
        return copy.deepcopy(found)


def installed_kva(application: dict[str, Any]) -> float:
    """Σ count·unit_kW / cosφ over the equipment, or the declared kW / 0.85 without an equipment list."""
    rows = application.get("equipment") or []
    if rows:
        return float(sum(row["count"] * row["unit_kw"] / (row.get("power_factor") or 1.0) for row in rows))
    return float(application.get("declared_capacity_kw") or 0.0) / DECLARED_POWER_FACTOR


def scale_capacity(application: dict[str, Any], target_kva: float) -> None:
    """Scale the equipment and declared capacity so that ``installed_kva`` ≈ ``target_kva``."""
    current = installed_kva(application)
    if current <= 0:
        application["declared_capacity_kw"] = round(max(target_kva * DECLARED_POWER_FACTOR, 0.1), 1)
        return
    factor = max(target_kva, 0.01) / current
    application["equipment"] = [
        {**row, "unit_kw": max(round(row["unit_kw"] * factor, 3), 0.001)} for row in application.get("equipment") or []
    ]
    declared = application.get("declared_capacity_kw")
    if isinstance(declared, int | float):
        application["declared_capacity_kw"] = max(round(declared * factor, 1), 0.1)


def generate_case(spec: CaseDataSpec, samples: SampleLibrary, category: str, index: int, arrival: datetime,
                  regime: str, rng: random.Random) -> GeneratedCase:
    """The start data of case ``index`` arriving at ``arrival``; ``rng`` is that case's own stream."""
    dual_draw, capacity_rng, proof_draw = rng.random(), random.Random(rng.getrandbits(64)), rng.random()
    flag_draws = {flag: rng.random() for flag in sorted(spec.risk_flags)}
    base = samples.get(spec.sample)
    dual = (dual_draw < spec.dual_supply) if spec.dual_supply is not None else \
        bool(base and base.get("application", {}).get("dual_supply"))
    data = samples.sample(spec.sample, dual)
    application = dict(data["application"])
    application["dual_supply"] = dual
    if spec.capacity_kva is not None:
        scale_capacity(application, spec.capacity_kva.sample(capacity_rng))
    missing_proof = proof_draw < spec.missing_property_proof
    if missing_proof:
        application["has_property_proof"] = False
        application["provided_materials"] = [m for m in application.get("provided_materials", [])
                                             if m != "property_proof"]
    for flag, probability in spec.risk_flags.items():
        application[flag] = flag_draws[flag] < probability
    start_data = {
        **{k: v for k, v in data.items() if k not in ("application", "case_number", "applied_at", "regime")},
        "case_number": f"SIM-{index + 1:06d}",
        "applied_at": to_iso(arrival),
        "regime": regime,
        "application": application,
    }
    return GeneratedCase(start_data, case_attributes(data, application, regime, spec))


def case_attributes(sample: dict[str, Any], application: dict[str, Any], regime: str,
                    spec: CaseDataSpec) -> dict[str, Any]:
    """The attributes the event log keeps about a case: only those its sample application really has. A converted
    Prosimos model's empty application has none of them, and a ``capacity_kva`` of 0 or a ``regime`` there would
    describe a 业扩报装 case that does not exist."""
    given = sample.get("application") or {}
    attributes: dict[str, Any] = {}
    if "equipment" in given or "declared_capacity_kw" in given:
        attributes["capacity_kva"] = round(installed_kva(application), 1)
    if "dual_supply" in given or spec.dual_supply is not None:
        attributes["dual_supply"] = application["dual_supply"]
    if "has_property_proof" in given or spec.missing_property_proof:
        attributes["missing_property_proof"] = not application.get("has_property_proof", True)
    if "regime" in sample:
        attributes["regime"] = regime
    attributes.update({flag: application.get(flag) for flag in spec.risk_flags})
    return attributes
