"""``case_kpis``: the Getting-Electricity indicators of one case (DOMAIN §6).

Timeline keys read (ISO datetimes written by the model; a missing key means the step did not happen):
``applied``, ``accepted``, ``plan_answered``, ``plan_signed``, ``design_submitted``, ``completion_reported``,
``contract_sent``, ``contract_signed``, ``energized``; optionally ``design_reviewed`` if the model records it, and
for a plan or contract the customer refused (暂不签署 / 暂不签订, docs/decisions.md 58) ``plan_refused`` /
``contract_refused`` with the moment the refused one had been handed over, ``plan_refused_answered`` /
``contract_refused_sent``. Each key holds its latest occurrence (``plan_answered`` is the answer the customer signed).

Customer-held periods (the clock "pauses for customer-caused delay", DOMAIN §2):

============================  =================================================  ===========================
period                        from → to                                          customer is
============================  =================================================  ===========================
``plan_signing``              ``plan_answered`` → ``plan_signed``                considering the plan
``design``                    ``plan_signed`` → ``design_submitted``             having the works designed
``construction``              first of ``design_reviewed`` / ``design_submitted``  building (and interim checks)
                              / ``plan_signed`` → ``completion_reported``
``contract_signing``          ``contract_sent`` → ``contract_signed``            signing the contract
``plan_refused``              ``plan_refused_answered`` → ``plan_refused``       considering a plan refused
``contract_refused``          ``contract_refused_sent`` → ``contract_refused``   considering a contract refused
============================  =================================================  ===========================

A refused round is the customer's time like the round they signed: without it, the days a customer took to turn a
plan or contract down would count as the utility's. DOMAIN §2 pauses the clock for *every* customer-caused delay, so
every refused round is deducted, not only the latest: ``plan_refused_rounds`` / ``contract_refused_rounds`` (lists
of ``[handed over, refused]`` ISO pairs, one per refusal, appended by the model's signing postScripts) give each
round; the latest pair (``plan_refused_answered`` → ``plan_refused``) is added when the list lacks it, so a
timeline written before the lists existed still has its latest round deducted (its earlier rounds are unknown and
count as the utility's). Without the ``…_refused_answered`` / ``…_refused_sent`` key (and no list) the refusal
alone says nothing of when the round began and nothing is deducted.

Without a ``design_reviewed`` milestone the utility's design review cannot be separated from the customer's
construction, so it counts as customer-held: an approximation in the utility's favour by at most the design-review
limit, far smaller than the opposite error of charging months of construction to the utility. Only closed periods
(both milestones present) are deducted: for a case still in progress (no ``energized``; measured up to
``ctx.now()``) a customer period under way is not yet deducted.

How the figures count (DOMAIN §2: time limits in working days, the clock pausing for customer-caused delay):

- ``working_days`` (whole number): working days after the day of application up to and including the day of
  energising (or ``ctx.now()``), as a statutory limit counts them — the day of application is not counted.
- ``customer_held_working_days``: the customer's share of that time as *working time*: every hour of a working day
  counts 1/24 of a working day, hours on days off count nothing (the calendar has no office hours, so a working
  day is its 24 hours). Periods are clipped to the counted window (from midnight after the day of application to
  the end) and merged before they are measured, so a two-hour signing counts 0.08, not the whole day it ends on
  (whole days did: one overnight signing swallowed the utility's only day).
- ``utility_held_working_days`` = ``working_days`` − ``customer_held_working_days`` (never below 0); both rounded
  to 0.01, so the two add up to ``working_days``.
- ``customer_held_periods[].working_days``: each period's working time inside the counted window, before merging
  (overlapping periods are counted once in the total).
- ``working_days_estimated``: True when a day of the counted window lies in a year without official holiday data
  (the calendar's rule-based fallback, ``runner.workdays.WorkingCalendar.is_estimated_between``, as a deadline's
  ``due_estimated``): every working-day figure above (and ``whole_case``'s) may then be off by the official
  schedule's 调休 days and is an estimate (decision 87). A calendar that cannot tell gives False.
- ``whole_case`` (decision 87): the whole-process target a category has (the ``time_limits`` DMN's
  ``whole_case`` column: 15 working days for low-voltage small/micro enterprises, DOMAIN §2), when the model
  passes it: ``limit_days``, ``working_days_used`` (the utility-held working days: the clock pauses for the
  customer's delays), ``met`` (True / False; None while the case is in progress and the limit not yet passed) and
  ``estimated``. None for a case without such a target.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from handlers.common import SHANGHAI, parse_datetime, require_category, require_number, rounded
from handlers.context import HandlerContext

#: Timeline keys this handler reads; other keys of the timeline are ignored.
TIMELINE_KEYS = (
    "applied",
    "accepted",
    "plan_answered",
    "plan_signed",
    "design_submitted",
    "design_reviewed",
    "completion_reported",
    "contract_sent",
    "contract_signed",
    "plan_refused_answered",
    "plan_refused",
    "contract_refused_sent",
    "contract_refused",
    "energized",
)
#: Every refused round of each kind: timeline key of the list → period name (module docstring).
ROUND_LISTS = {"plan_refused_rounds": "plan_refused", "contract_refused_rounds": "contract_refused"}
#: Hand-overs at which a customer typically visits the counter (used only when ``customer_visits`` is not given).
VISIT_MILESTONES = ("plan_signed", "design_submitted", "completion_reported", "contract_signed")
#: Categories served online with the contract signed at acceptance (三零: 零上门): no visits.
ZERO_VISIT_CATEGORIES = ("lv_residential", "lv_smallmicro")


def _refused_rounds(timeline: Mapping[str, Any]) -> list[tuple[str, datetime, datetime]]:
    """Every refused round the timeline lists (``ROUND_LISTS``), as ``(name, start, end)``.

    Raises:
        ValueError: If a list is not a list of ``[start, end]`` ISO pairs.
    """
    rounds: list[tuple[str, datetime, datetime]] = []
    for key, name in ROUND_LISTS.items():
        value = timeline.get(key)
        if value is None:
            continue
        if not isinstance(value, list | tuple):
            raise ValueError(f"timeline[{key!r}] must be a list of [start, end] pairs, got {type(value).__name__}")
        for index, pair in enumerate(value):
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError(f"timeline[{key!r}][{index}] must be a [start, end] pair, got {pair!r}")
            start = parse_datetime(pair[0], f"timeline[{key!r}][{index}][0]")
            end = parse_datetime(pair[1], f"timeline[{key!r}][{index}][1]")
            if end > start:
                rounds.append((name, start, end))
    return rounds


def _customer_periods(times: Mapping[str, datetime],
                      rounds: list[tuple[str, datetime, datetime]]) -> list[tuple[str, datetime, datetime]]:
    """Return the customer-held periods present in the timeline, as ``(name, start, end)``: the latest refused
    round of each kind from its keys unless ``rounds`` (every refused round) already holds it, then ``rounds``."""
    construction_start = next(
        (key for key in ("design_reviewed", "design_submitted", "plan_signed") if key in times), None
    )
    pairs = [
        ("plan_signing", "plan_answered", "plan_signed"),
        ("design", "plan_signed", "design_submitted"),
        ("construction", construction_start, "completion_reported"),
        ("contract_signing", "contract_sent", "contract_signed"),
        ("plan_refused", "plan_refused_answered", "plan_refused"),
        ("contract_refused", "contract_refused_sent", "contract_refused"),
    ]
    periods = [
        (name, times[start], times[end])
        for name, start, end in pairs
        if start is not None and start in times and end in times and times[end] > times[start]
    ]
    periods = [period for period in periods if period not in rounds]
    return periods + sorted(rounds, key=lambda period: (period[0] != "plan_refused", period[1]))


def _merge(
    periods: list[tuple[str, datetime, datetime]], lower: datetime, upper: datetime
) -> list[tuple[datetime, datetime]]:
    """Clip periods to [lower, upper] and merge overlapping ones."""
    clipped = sorted((max(start, lower), min(end, upper)) for _, start, end in periods)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in clipped:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


DAY = timedelta(days=1)


def _day_start(moment: datetime) -> datetime:
    """Midnight (Asia/Shanghai) that begins the day of ``moment``."""
    return moment.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)


def _working_time(ctx: HandlerContext, start: datetime, end: datetime) -> float:
    """Working time from ``start`` to ``end`` in working days: each hour of a working day counts 1/24."""
    if end <= start:
        return 0.0
    first, last = _day_start(start), _day_start(end)

    def working(day: datetime) -> int:
        return ctx.calendar.working_days_between(day - DAY, day)  # 1 when ``day`` is a working day

    if first == last:
        return (end - start) / DAY * working(first)
    head = (first + DAY - start) / DAY * working(first)
    tail = (end - last) / DAY * working(last)
    return head + ctx.calendar.working_days_between(first, last - DAY) + tail


def case_kpis(
    ctx: HandlerContext,
    timeline: Mapping[str, Any],
    category: str,
    ge_steps: int,
    fees_total: float,
    customer_visits: int | None = None,
    income_per_capita: float | None = None,
    whole_case_limit: float | None = None,
) -> dict[str, Any]:
    """Compute the per-case Getting-Electricity KPIs.

    Args:
        ctx: Handler context; its calendar counts working days, its clock ends an unfinished case.
        timeline: Milestones, see the module docstring. ``applied`` is required; ``plan_refused_rounds`` /
            ``contract_refused_rounds`` list every refused round.
        category: Customer category from the ``customer_category`` DMN.
        ge_steps: Number of procedures (the route DMN's ``ge_steps``).
        fees_total: Total fees paid by the customer (``fees["total"]``), CNY.
        customer_visits: Visits to the utility, when recorded; otherwise derived (see ``customer_visits_source``):
            0 for online categories (``lv_residential``, ``lv_smallmicro``), else one per hand-over milestone in
            ``VISIT_MILESTONES`` present in the timeline.
        income_per_capita: Income per capita (CNY) to express the cost as a percentage, as Doing Business does.
        whole_case_limit: The category's whole-process target in working days (``limits["whole_case"]``), or None.

    Returns:
        ``category``, ``steps``, ``customer_visits``, ``customer_visits_source`` (``given`` | ``derived``),
        ``applied``, ``energized`` (ISO, ``None`` if not yet), ``in_progress`` (measured up to ``ctx.now()``),
        ``calendar_days`` (difference of Shanghai dates), ``working_days`` (whole days),
        ``customer_held_working_days`` and ``utility_held_working_days`` (working time, 0.01 of a working day),
        ``customer_held_periods`` (list of {``period``, ``start``, ``end``, ``working_days``} before merging; see the
        module docstring for how each counts), ``cost_cny`` and ``cost_pct_income_per_capita`` (or ``None``),
        ``working_days_estimated`` and ``whole_case`` (module docstring).

    Raises:
        ValueError: If ``applied`` is missing, a timestamp is not ISO-8601, a list of refused rounds is malformed,
            energising precedes application, or a number is out of range.
    """
    require_category(category)
    if isinstance(ge_steps, bool) or not isinstance(ge_steps, int) or ge_steps < 1:
        raise ValueError(f"ge_steps must be a positive integer, got {ge_steps!r}")
    cost = require_number(fees_total, "fees_total", minimum=0)
    if "applied" not in timeline or timeline["applied"] is None:
        raise ValueError("timeline['applied'] is required")
    times = {
        key: parse_datetime(timeline[key], f"timeline[{key!r}]")
        for key in TIMELINE_KEYS
        if timeline.get(key) is not None
    }
    applied = times["applied"]
    in_progress = "energized" not in times
    end = ctx.now().astimezone(applied.tzinfo) if in_progress else times["energized"]
    if end < applied:
        raise ValueError(f"timeline ends ({end.isoformat()}) before it starts ({applied.isoformat()})")

    working_days = ctx.calendar.working_days_between(applied, end)
    periods = _customer_periods(times, _refused_rounds(timeline))
    counted_from = _day_start(applied) + DAY  # the day of application is not counted (module docstring)
    customer_time = sum(_working_time(ctx, start, stop) for start, stop in _merge(periods, counted_from, end))

    if customer_visits is None:
        visits = 0 if category in ZERO_VISIT_CATEGORIES else sum(1 for key in VISIT_MILESTONES if key in times)
        visits_source = "derived"
    else:
        if isinstance(customer_visits, bool) or not isinstance(customer_visits, int) or customer_visits < 0:
            raise ValueError(f"customer_visits must be a non-negative integer, got {customer_visits!r}")
        visits, visits_source = customer_visits, "given"

    cost_pct = None
    if income_per_capita is not None:
        income = require_number(income_per_capita, "income_per_capita", positive=True)
        cost_pct = rounded(cost / income * 100, 2)

    estimated = _calendar_estimated(ctx, applied, end)
    utility_time = rounded(max(0.0, working_days - customer_time))
    return {
        "category": category,
        "steps": ge_steps,
        "customer_visits": visits,
        "customer_visits_source": visits_source,
        "applied": applied.isoformat(),
        "energized": None if in_progress else end.isoformat(),
        "in_progress": in_progress,
        "calendar_days": (end.date() - applied.date()).days,
        "working_days": working_days,
        "customer_held_working_days": rounded(customer_time),
        "utility_held_working_days": utility_time,
        "customer_held_periods": [
            {
                "period": name,
                "start": start.isoformat(),
                "end": stop.isoformat(),
                "working_days": rounded(_working_time(ctx, max(start, counted_from), min(stop, end))),
            }
            for name, start, stop in periods
        ],
        "cost_cny": rounded(cost),
        "cost_pct_income_per_capita": cost_pct,
        "working_days_estimated": estimated,
        "whole_case": _whole_case(whole_case_limit, utility_time, in_progress, estimated),
    }


def _calendar_estimated(ctx: HandlerContext, start: datetime, end: datetime) -> bool:
    """Whether the calendar answered any day from ``start`` to ``end`` by its rule-based fallback (a year without
    official data); False for a calendar that cannot tell."""
    check = getattr(ctx.calendar, "is_estimated_between", None)
    return bool(check(start, end)) if callable(check) else False


def _whole_case(limit: float | None, used: float, in_progress: bool, estimated: bool) -> dict[str, Any] | None:
    """The whole-process target's figures (module docstring), None without a target.

    Raises:
        ValueError: If the limit is not a positive whole number.
    """
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 1 or limit != int(limit):
        raise ValueError(f"whole_case_limit must be a positive whole number of working days, got {limit!r}")
    met = None if in_progress and used <= limit else used <= limit
    return {"limit_days": int(limit), "working_days_used": used, "met": met, "estimated": estimated}
