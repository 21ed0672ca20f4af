"""Service-task handlers: plain functions ``fn(ctx, **params) -> dict`` registered by operator id.

Nothing here knows Flask or SpiffWorkflow; the runner builds a :class:`HandlerContext` and calls
``build_registry().call(operator, ctx, params)``.
"""

from __future__ import annotations

from handlers.archive import customer_archive_update
from handlers.capacity import capacity_assessment
from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.fees import fee_calculation
from handlers.kpis import case_kpis
from handlers.materials import materials_checklist
from handlers.notify import notify
from handlers.payments import payment_reconciliation
from handlers.registry import (
    Handler,
    HandlerParameterError,
    HandlerRegistry,
    HandlerResultError,
    UnknownOperatorError,
)
from handlers.risk import risk_inputs

#: Operator id → handler, in the order a case reaches them (docs/process-model.md, "Service tasks").
HANDLERS: tuple[tuple[str, Handler], ...] = (
    ("capacity_assessment", capacity_assessment),
    ("materials_checklist", materials_checklist),
    ("fee_calculation", fee_calculation),
    ("risk_inputs", risk_inputs),
    ("notify", notify),
    ("payment_reconciliation", payment_reconciliation),
    ("customer_archive_update", customer_archive_update),
    ("case_kpis", case_kpis),
)


def build_registry() -> HandlerRegistry:
    """Return a new registry holding every handler of the process model."""
    registry = HandlerRegistry()
    for name, fn in HANDLERS:
        registry.register(name)(fn)
    return registry


__all__ = [
    "HANDLERS",
    "Handler",
    "HandlerContext",
    "HandlerParameterError",
    "HandlerRegistry",
    "HandlerResultError",
    "MemoryArchive",
    "MemoryOutbox",
    "UnknownOperatorError",
    "build_registry",
]
