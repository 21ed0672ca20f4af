"""Whole-case time under the regime: the utility-held working days of a simulated case and the limit they are held to.

The statutes and company commitments (DOMAIN §2) set limits per step in working days, counting only the utility's
time ("除用户原因外"). The production process already measures that time for every case: its service task
``compute_kpis`` runs the handler ``case_kpis`` (``handlers/kpis.py``), whose ``utility_held_working_days`` are the
working days from application to energising minus the customer-held periods. The simulation reuses exactly that
figure — read from the finished case's ``kpis`` data, or, for a case still open when the run stops, computed by the
same handler up to that moment — rather than defining utility time a second time.

The whole-case limit is the sum of the step limits that the case's own ``limits`` (the ``time_limits`` DMN, decided
under the case's ``regime``) give for the steps on its ``route`` (the ``process_route`` DMN) whose time
``case_kpis`` counts as the utility's: acceptance, the supply-plan reply (when the route has a survey), the
completion check (when it has one), the separate contract (when it has one) and energising. Design review and
interim checks are left out because ``case_kpis`` counts their time as customer-held (they lie inside the
customer's design and construction periods), so adding their limits would loosen the test by time never measured.

A case is on time when ``utility_working_days <= case_limit_working_days`` (both kept in ``SimCase.attributes``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.kpis import case_kpis
from runner.workdays import WorkingCalendar

UTILITY_DAYS = "utility_working_days"
"""Case attribute: working days the utility held the case (``case_kpis``' ``utility_held_working_days``)."""
CASE_LIMIT = "case_limit_working_days"
"""Case attribute: the whole-case limit in working days under the case's regime (see the module docstring)."""
LIMITED_STEPS: tuple[tuple[str, str | None], ...] = (
    ("acceptance", None),
    ("plan_reply", "survey"),
    ("completion_check", "completion_check"),
    ("contract", "contract_step"),
    ("energize", None),
)
"""(key of ``limits``, key of ``route`` that must be true, or None for every route)."""


def whole_case_limit(limits: Any, route: Any) -> int | None:
    """The sum of the step limits on the case's route that count as utility time; None when the data lacks them."""
    if not isinstance(limits, Mapping) or not isinstance(route, Mapping):
        return None
    total = 0
    for step, route_flag in LIMITED_STEPS:
        if route_flag is not None and not route.get(route_flag):
            continue
        value = limits.get(step)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        total += int(value)
    return total


def utility_working_days(data: Mapping[str, Any], case_number: str, now: Callable[[], datetime],
                         calendar: WorkingCalendar) -> float | None:
    """The case's utility-held working days: from its ``kpis`` when ``compute_kpis`` ran, else by ``case_kpis`` up to
    ``now()`` (a case still in progress). None when the case has no timeline or category (not a 业扩报装 case)."""
    kpis = data.get("kpis")
    held = kpis.get("utility_held_working_days") if isinstance(kpis, Mapping) else None
    if isinstance(held, int | float) and not isinstance(held, bool):  # working time, fractions of a day (kpis.py)
        return float(held)
    timeline, category = data.get("timeline"), data.get("category")
    if not isinstance(timeline, Mapping) or not isinstance(category, str) or "applied" not in timeline:
        return None
    context = HandlerContext(case_number=case_number, now=now, calendar=calendar, outbox=MemoryOutbox(),
                             archive=MemoryArchive(), simulation=True)
    try:
        measured = case_kpis(context, timeline, category, ge_steps=1, fees_total=0)
    except ValueError:
        return None
    return float(measured["utility_held_working_days"])


GE_PROCEDURES = "ge_procedures"
"""Case attribute: the Getting-Electricity procedures of the case as the process counts them (``kpis["steps"]``, the
``process_route`` DMN's ``ge_steps`` for its category), when ``compute_kpis`` ran."""
GE_VISITS = "ge_customer_visits"
"""Case attribute: the customer's visits to the utility as the process counts them (``kpis["customer_visits"]``)."""


def case_time_attributes(data: Mapping[str, Any], case_number: str, now: Callable[[], datetime],
                         calendar: WorkingCalendar) -> dict[str, float]:
    """``{UTILITY_DAYS: …, CASE_LIMIT: …}`` for a case's data (``{}`` when either cannot be known), plus
    ``GE_PROCEDURES`` and ``GE_VISITS`` from the case's ``kpis`` when the process computed them."""
    found: dict[str, float] = {**getting_electricity_counts(data)}
    limit = whole_case_limit(data.get("limits"), data.get("route"))
    if limit is None:
        return found
    days = utility_working_days(data, case_number, now, calendar)
    if days is None:
        return found
    return {**found, UTILITY_DAYS: days, CASE_LIMIT: limit}


def getting_electricity_counts(data: Mapping[str, Any]) -> dict[str, int]:
    """``GE_PROCEDURES`` and ``GE_VISITS`` from the case's ``kpis`` (``case_kpis``' ``steps`` and
    ``customer_visits``), each only when it is there as a whole number."""
    kpis = data.get("kpis")
    if not isinstance(kpis, Mapping):
        return {}
    found = {}
    for attribute, key in ((GE_PROCEDURES, "steps"), (GE_VISITS, "customer_visits")):
        value = kpis.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            found[attribute] = value
    return found
