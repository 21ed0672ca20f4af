"""Key performance indicators of one simulation replication, JSON-ready, and their flat, comparable form.

``compute_kpis`` summarises a :class:`SimulationLog`: cycle time (working days on the Chinese official calendar and
calendar days) per customer category, on-time shares per step and per case, waiting versus processing time per
activity, utilisation, queue length over time and cost per staff pool, the World Bank *Getting Electricity* figures
(procedures, customer visits, days to connect) and escalations (督办).

``flat_kpis`` names every scalar with a stable dotted key (``cycle_time.all.mean_working_days``); :func:`direction`
tells whether a lower or a higher value is better, which the what-if comparison uses for its verdicts.

Conventions: a cycle time counts completed cases only; working days are counted as the statutes do
(:meth:`WorkingCalendar.working_days_between`: days after the arrival day up to the end day). A case is on time when
it ended by its deadline; a case still open when the run stopped counts as late if its deadline had passed, and is
left out otherwise (``undecided``; ``…counted_share``: the share of arrived cases judged). Steps alike: a step still
open at the stop (``SimulationLog.open_steps``) past its deadline is late, for its step's share and for the case's
``every_step`` flag. Without a calendar deadline, a 业扩报装 case is judged under its regime by utility-held working
days against its whole-case limit (:mod:`runner.simulation.case_time`, the production ``case_kpis`` figure). That
sum may keep the limit while single steps broke theirs: ``on_time.every_step`` counts the cases none of whose
time-limited steps was late (the statutory limits apply per step). A step's mean waiting time counts its instances
done and those still open at the stop, one still waiting there up to the stop (a lower bound: ``waiting_open``, the
reports mark it †). Queue length and utilisation are read while cases arrive (start → last arrival), their whole-run
figures, diluted by the tail after the last arrival, kept apart; every pool of the run has a queue (0 when no task
ever reached it).
Cost per case divides the staff cost by the cases that arrived. Two staff costs: the workload cost (工作量成本: busy
hours × hourly rate) and the paid cost (人员成本（在岗）: on-shift hours × staff count × hourly rate while cases
arrive), the one that shows what a smaller or larger pool costs. The time to connect (``time_to_connect``,
``getting_electricity.days_to_connect``) ends at energising like the production ``case_kpis``; ``cycle_time`` is
the whole case duration (全流程时长), up to the end of the follow-up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np

from ..workdays import TZ, WorkingCalendar
from .case_time import CASE_LIMIT, GE_PROCEDURES, GE_VISITS, UTILITY_DAYS
from .model import OpenStep, QueueSample, SimActivity, SimCase, SimulationLog

Direction = Literal["lower", "higher", "neutral"]
ALL = "all"
CUSTOMER_LANE = "customer"
CUSTOMER_FACING_KINDS = ("customer", "message")
"""Activities of the customer lane that are procedures in the Getting Electricity sense (the customer acts or the
utility waits on the customer); ``customer`` tasks are the customer's visits or submissions."""
PERCENTILES = (50, 90, 95)
SECONDS_PER_DAY = 86400.0
SECONDS_PER_HOUR = 3600.0


def _distribution(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values, dtype=float)
    summary = {"mean": float(arr.mean())}
    for p in PERCENTILES:
        summary[f"p{p}"] = float(np.percentile(arr, p))
    return summary


def _cycle_times(cases: list[SimCase], calendar: WorkingCalendar) -> dict[str, Any]:
    arrived = len(cases)
    completed = [c for c in cases if c.end is not None]
    working = [float(calendar.working_days_between(c.arrival, c.end)) for c in completed if c.end is not None]
    calendar_days = [(c.end - c.arrival).total_seconds() / SECONDS_PER_DAY for c in completed if c.end is not None]
    return {
        "arrived": arrived,
        "count": len(completed),
        "completed_share": len(completed) / arrived if arrived else None,
        "working_days": _distribution(working),
        "calendar_days": _distribution(calendar_days),
    }


def _overall_and_per_category(cases: list[SimCase], measure: Callable[[list[SimCase]], dict[str, Any]]
                              ) -> dict[str, Any]:
    """``measure`` of all cases (key ``all``) and of each category's, categories sorted."""
    by_category: dict[str, list[SimCase]] = defaultdict(list)
    for case in cases:
        by_category[case.category].append(case)
    return {ALL: measure(cases), **{category: measure(by_category[category]) for category in sorted(by_category)}}


def cycle_time_kpis(log: SimulationLog, calendar: WorkingCalendar) -> dict[str, Any]:
    """Cycle time overall (key ``all``) and per category, in working and calendar days."""
    return _overall_and_per_category(log.cases, lambda cases: _cycle_times(cases, calendar))


def _connect_times(cases: list[SimCase], calendar: WorkingCalendar) -> dict[str, Any]:
    spans = [(c.arrival, c.energized) for c in cases if c.energized is not None]
    return {
        "count": len(spans),
        "working_days": _distribution([float(calendar.working_days_between(a, e)) for a, e in spans]),
        "calendar_days": _distribution([(e - a).total_seconds() / SECONDS_PER_DAY for a, e in spans]),
    }


def time_to_connect_kpis(log: SimulationLog, calendar: WorkingCalendar) -> dict[str, Any]:
    """Time to connect overall (key ``all``) and per category: application (arrival) → energising, of the cases
    energised, as the production ``case_kpis`` measures it. The steps after energising (KPIs, archiving, the
    follow-up call) count in the whole case duration (``cycle_time``) only. Empty for a model without an
    energising milestone (a converted Prosimos model)."""
    if not any(c.energized is not None for c in log.cases):
        return {}
    return _overall_and_per_category(log.cases, lambda cases: _connect_times(cases, calendar))


def _share(flags: list[bool | None]) -> dict[str, Any]:
    """``count`` judged (on time or late), ``on_time`` and their ``share``; ``undecided``: left out because their
    outcome is not known yet (None: open when the run stopped, within its limit so far)."""
    judged = [flag for flag in flags if flag is not None]
    return {"count": len(judged), "on_time": sum(judged), "share": sum(judged) / len(judged) if judged else None,
            "undecided": len(flags) - len(judged)}


CaseLimit = datetime | tuple[float, float]
"""What a case is judged against (:func:`case_limit`): its calendar deadline, or (utility-held working days so far,
whole-case limit in working days) under its regime."""


def case_limit(case: SimCase, calendar: WorkingCalendar, case_limits: Mapping[str, int] | None) -> CaseLimit | None:
    """The whole-case limit the case is judged against, looked up once: a calendar deadline (:func:`case_deadline`)
    first, else the utility-held working days and the regime's limit the engine recorded; None without either."""
    due = case_deadline(case, calendar, case_limits)
    if due is not None:
        return due
    days, limit = case.attributes.get(UTILITY_DAYS), case.attributes.get(CASE_LIMIT)
    if isinstance(days, int | float) and isinstance(limit, int | float):
        return float(days), float(limit)
    return None


def case_has_limit(case: SimCase, calendar: WorkingCalendar, case_limits: Mapping[str, int] | None) -> bool:
    """Whether the case is judged against a whole-case limit at all (a deadline, or the regime's limit the engine
    recorded with the utility-held days)."""
    return case_limit(case, calendar, case_limits) is not None


def case_deadline(case: SimCase, calendar: WorkingCalendar, case_limits: Mapping[str, int] | None) -> datetime | None:
    """The case's own deadline, else the end of the category's whole-process limit (working days) when given."""
    if case.case_due_at is not None:
        return case.case_due_at
    if case_limits and case.category in case_limits:
        return calendar.deadline(case.arrival, case_limits[case.category])
    return None


def kept_limit(case: SimCase, limit: CaseLimit, ended_at: datetime) -> bool | None:
    """Whether the case kept ``limit`` (:func:`case_limit`); None when it is open and not yet late: an open case
    counts as late once its deadline has passed at the stop, or once its utility days so far exceed the limit."""
    if isinstance(limit, datetime):
        if case.end is not None:
            return case.end <= limit
        return False if limit < ended_at else None
    days, most = limit
    if case.end is not None:
        return days <= most
    return False if days > most else None


def case_on_time(case: SimCase, calendar: WorkingCalendar, case_limits: Mapping[str, int] | None,
                 ended_at: datetime) -> bool | None:
    """Whether the whole case kept its time limit; None when it has none or is open and not yet late.

    A calendar deadline (``case_due_at``, else ``case_limits``) comes first; otherwise the utility-held working days
    and the whole-case limit the engine recorded (``case_time``): an open case counts as late once its utility days
    so far exceed the limit.
    """
    limit = case_limit(case, calendar, case_limits)
    return None if limit is None else kept_limit(case, limit, ended_at)


def step_flags(log: SimulationLog) -> dict[str, list[tuple[str, str, bool | None]]]:
    """Per case, (element id, name, on time) of each step with a deadline: the steps done (not cancelled) by their
    end, and the steps still open when the run stopped (``open_steps``) as the open case is judged — late once
    their deadline has passed (False), else not known yet (None)."""
    flags: dict[str, list[tuple[str, str, bool | None]]] = defaultdict(list)
    for act in log.activities:
        if act.due_at is not None and not act.cancelled:
            flags[act.case_id].append((act.element_id, act.activity, act.end_time <= act.due_at))
    for step in log.open_steps:
        if step.due_at is not None:
            flags[step.case_id].append((step.element_id, step.activity, False if step.due_at < log.ended_at
                                        else None))
    return flags


def every_step_on_time(case: SimCase, step_flags: Sequence[bool | None]) -> bool | None:
    """Whether none of the case's time-limited steps was late (``step_flags``: one per step with a deadline, done or
    still open at the stop, None for an open one whose deadline has not passed); None when it cannot tell yet or
    has no such step.

    Statutory limits apply per step, so a case whose summed utility days keep the whole-case limit may still have
    breached steps: this flag shows them. A completed case is judged on its steps; an open one counts as not on time
    once a step was late — done late, or still open past its deadline — and is left out before that (like
    :func:`case_on_time`).
    """
    if not step_flags:
        return None
    if any(flag is False for flag in step_flags):
        return False
    return True if case.completed else None


def every_step_on_time_kpis(log: SimulationLog) -> dict[str, Any]:
    """Share of cases with every time-limited step on time (:func:`every_step_on_time`), overall (``all``) and per
    category; ``undecided``: the open cases left out (no step late so far). A case without any time-limited step
    is neither judged nor undecided."""
    flags_by_case = step_flags(log)

    def measure(cases: list[SimCase]) -> dict[str, Any]:
        flags = []
        for case in cases:
            steps = [flag for _eid, _name, flag in flags_by_case.get(case.case_id, [])]
            if steps:
                flags.append(every_step_on_time(case, steps))
        return _share(flags)

    return _overall_and_per_category(log.cases, measure)


def on_time_kpis(log: SimulationLog, calendar: WorkingCalendar,
                 case_limits: Mapping[str, int] | None = None) -> dict[str, Any]:
    """On-time shares per step (activities with a deadline), per whole case (the case within its whole-case limit)
    and of cases with every step on time (``every_step``, overall and per category).

    All three treat what was still open at the stop alike: known late (a step open past its deadline, a case past
    its limit) counts as late; not known yet is left out and counted in ``undecided``."""
    steps: dict[str, list[bool | None]] = defaultdict(list)
    names: dict[str, str] = {}
    for case_steps in step_flags(log).values():
        for eid, name, flag in case_steps:
            steps[eid].append(flag)
            names.setdefault(eid, name)
    limits = ((case, case_limit(case, calendar, case_limits)) for case in log.cases)  # one look-up per case
    case_flags = [kept_limit(case, limit, log.ended_at) for case, limit in limits if limit is not None]
    return {
        "steps": {eid: {"activity": names[eid], **_share(flags)} for eid, flags in sorted(steps.items())},
        "case": _share(case_flags),
        "every_step": every_step_on_time_kpis(log),
    }


def open_waiting_seconds(step: OpenStep, ended_at: datetime) -> tuple[float, bool]:
    """A step still open at the stop: (its waiting seconds, whether it was still waiting then). Started: its wait is
    known (enabled → started). A customer's step: none (the customer acts from the moment it is ready, as the engine
    records a done one: started when enabled). Still in its pool's queue (or its pickup delay): waited up to the stop
    at least — a censored wait, a lower bound."""
    if step.start_time is not None:
        return (step.start_time - step.enable_time).total_seconds(), False
    if step.kind == "customer":
        return 0.0, False
    return max(0.0, (ended_at - step.enable_time).total_seconds()), True


def activity_kpis(activities: Iterable[SimActivity], open_steps: Iterable[OpenStep] = (),
                  ended_at: datetime | None = None) -> dict[str, Any]:
    """Per activity (element id): completed count, cancelled count, mean waiting (enabled → started) and processing
    (started → ended) hours.

    Processing counts the completed instances. Waiting counts them and the instances still open when the run
    stopped (``open_steps``, with the stop ``ended_at``): a started one with its wait, one still waiting up to the
    stop (:func:`open_waiting_seconds`) — without those, a step whose queue never moved (a bottleneck whose work
    never started) showed no wait at all. ``waiting_count``: the instances the mean waiting time counts;
    ``waiting_open``: those of them still waiting at the stop, whose wait is a lower bound (the reports mark such
    a mean †: at least this)."""
    grouped: dict[str, list[SimActivity]] = defaultdict(list)
    cancelled: dict[str, int] = defaultdict(int)
    first: dict[str, SimActivity | OpenStep] = {}
    waits: dict[str, list[float]] = defaultdict(list)
    still_waiting: dict[str, int] = defaultdict(int)
    for act in activities:
        first.setdefault(act.element_id, act)
        if act.cancelled:
            cancelled[act.element_id] += 1
        else:
            grouped[act.element_id].append(act)
            waits[act.element_id].append(act.waiting_seconds)
    if ended_at is not None:
        for step in open_steps:
            first.setdefault(step.element_id, step)
            seconds, censored = open_waiting_seconds(step, ended_at)
            waits[step.element_id].append(seconds)
            still_waiting[step.element_id] += censored
    result = {}
    for eid in sorted(first):
        acts, waited = grouped[eid], waits[eid]
        n = len(acts)
        result[eid] = {
            "activity": first[eid].activity,
            "kind": first[eid].kind,
            "lane": first[eid].lane,
            "count": n,
            "cancelled": cancelled[eid],
            "mean_waiting_hours": sum(waited) / len(waited) / SECONDS_PER_HOUR if waited else None,
            "mean_processing_hours": sum(a.processing_seconds for a in acts) / n / SECONDS_PER_HOUR if n else None,
            "waiting_count": len(waited),
            "waiting_open": still_waiting[eid],
        }
    return result


def _local_day(moment: datetime) -> date:
    return moment.astimezone(TZ).date()


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ)


def daily_queue_series(samples: list[QueueSample], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One pool's queue per Shanghai day from ``start`` to ``end``: the maximum and the time-weighted mean length.

    The length is 0 before the first sample and holds from each sample to the next (the last one until ``end``);
    a length that held for no time at all (two samples at one moment) does not count.
    """
    in_range = [(s.at, s.length) for s in samples if start <= s.at <= end]
    # stable: samples taken at one moment keep their order (the last one is the length from then on)
    points = [(start, 0), *sorted(in_range, key=lambda point: point[0]), (end, 0)]
    area: dict[date, float] = defaultdict(float)
    peak: dict[date, int] = defaultdict(int)
    for (lo, length), (hi, _next) in zip(points, points[1:], strict=False):
        cursor = lo
        while cursor < hi:
            boundary = min(_day_start(_local_day(cursor) + timedelta(days=1)), hi)
            day = _local_day(cursor)
            area[day] += length * (boundary - cursor).total_seconds()
            peak[day] = max(peak[day], length)
            cursor = boundary
    series = []
    day, last = _local_day(start), _local_day(end)
    while day <= last:
        lo, hi = max(_day_start(day), start), min(_day_start(day + timedelta(days=1)), end)
        span = (hi - lo).total_seconds()
        if span > 0:
            series.append({"day": day.isoformat(), "max": peak[day], "mean": area[day] / span})
        day += timedelta(days=1)
    return series


def queue_kpis(log: SimulationLog) -> dict[str, list[dict[str, Any]]]:
    """Daily queue series per pool: every pool of the run (``log.pools``), and any other pool with samples."""
    return {pool: daily_queue_series(samples, log.started_at, log.ended_at)
            for pool, samples in _samples_by_pool(log).items()}


def _samples_by_pool(log: SimulationLog) -> dict[str, list[QueueSample]]:
    """The queue samples of each pool of the run, sorted by pool. A pool no task ever reached has no sample: its
    queue was empty all along, a genuine 0 (its series and means are 0). Leaving it out dropped its queue rows from
    a run of its own, while the same run within a comparison listed them (the other side's pools)."""
    by_pool: dict[str, list[QueueSample]] = {pool.pool: [] for pool in log.pools}
    for sample in log.queues:
        by_pool.setdefault(sample.pool, []).append(sample)
    return dict(sorted(by_pool.items()))


def last_arrival(log: SimulationLog) -> datetime | None:
    """When the last case arrived: the end of the period "while cases arrive" (``utilisation_while_arriving``)."""
    return max((case.arrival for case in log.cases), default=None)


def mean_queue_length(samples: list[QueueSample], start: datetime, end: datetime) -> float | None:
    """The time-weighted mean queue length from ``start`` to ``end`` (calendar time: a task waits overnight too);
    the length is 0 before the first sample and holds until the next one. None for an empty period."""
    span = (end - start).total_seconds()
    if span <= 0:
        return None
    points = [(s.at, s.length) for s in sorted(samples, key=lambda s: s.at) if s.at <= end]  # stable at one moment
    area, length, cursor = 0.0, 0, start
    for moment, new_length in points:
        if moment > cursor:
            area += length * (moment - cursor).total_seconds()
            cursor = moment
        length = new_length
    area += length * (end - cursor).total_seconds()
    return area / span


def queue_while_arriving_kpis(log: SimulationLog) -> dict[str, float]:
    """Per pool, the time-weighted mean queue length from the start to the last arrival: the queue staff face while
    cases still come in. Over the whole run (to the last completion, ``queue.<pool>.mean_length_whole_run``) the
    months of customer-side tail with empty queues dilute it, the more so the longer a scenario's tail."""
    until = last_arrival(log)
    if until is None:
        return {}
    result = {}
    for pool, samples in _samples_by_pool(log).items():
        mean = mean_queue_length(samples, log.started_at, until)
        if mean is not None:
            result[pool] = mean
    return result


def pool_kpis(log: SimulationLog) -> dict[str, Any]:
    """Hours and utilisation per pool over the run (start → last case completed, or the stop at ``max_days``), and,
    when the engine measured it, ``utilisation_while_arriving``: start → last arrival, the load while cases still come
    in (a case count on a long process otherwise adds months of customer-side tail with little staff work)."""
    arriving = log.stats.get("utilisation_while_arriving") or {}
    result: dict[str, Any] = {}
    for p in sorted(log.pools, key=lambda p: p.pool):
        result[p.pool] = {
            "size": p.size,
            "available_hours": p.available_seconds / SECONDS_PER_HOUR,
            "busy_hours": p.busy_seconds / SECONDS_PER_HOUR,
            "utilisation": p.utilisation,
        }
        if p.pool in arriving:
            result[p.pool]["utilisation_while_arriving"] = arriving[p.pool]
    return result


def getting_electricity_kpis(log: SimulationLog, calendar: WorkingCalendar) -> dict[str, Any]:
    """Per completed case, averaged: procedures and customer visits; per energised case (completed or not): calendar
    and working days from application to energising (``case_kpis``' time to connect, not the whole case, which goes
    on with archiving and the follow-up call).

    Procedures and visits are the process's own figures when every completed case has them (``compute_kpis``: the
    route DMN's ``ge_steps`` per category, the visits ``case_kpis`` counts), the same numbers a production case
    shows (``source`` ``"process"``); for a model without them (a converted Prosimos model) they are counted from
    the log: customer-lane activities of the kinds in ``CUSTOMER_FACING_KINDS``, and its ``customer`` tasks as visits
    (``source`` ``"customer_lane"``)."""
    completed = {c.case_id: c for c in log.cases if c.end is not None}
    n = len(completed)
    if not n:
        return {"cases": 0}
    if all(GE_PROCEDURES in c.attributes and GE_VISITS in c.attributes for c in completed.values()):
        procedures = {case_id: c.attributes[GE_PROCEDURES] for case_id, c in completed.items()}
        visits = {case_id: c.attributes[GE_VISITS] for case_id, c in completed.items()}
        source = "process"
    else:
        procedures, visits, source = dict.fromkeys(completed, 0), dict.fromkeys(completed, 0), "customer_lane"
        for act in log.activities:
            if act.case_id not in completed or act.lane != CUSTOMER_LANE or act.cancelled:
                continue
            if act.kind in CUSTOMER_FACING_KINDS:
                procedures[act.case_id] += 1
            if act.kind == "customer":
                visits[act.case_id] += 1
    result: dict[str, Any] = {
        "cases": n,
        "procedures": sum(procedures.values()) / n,
        "customer_visits": sum(visits.values()) / n,
        "source": source,
    }
    spans = [(c.arrival, c.energized) for c in log.cases if c.energized is not None]
    if spans:
        result["connected_cases"] = len(spans)
        result["days_to_connect"] = sum((e - a).total_seconds() for a, e in spans) / len(spans) / SECONDS_PER_DAY
        result["working_days_to_connect"] = sum(calendar.working_days_between(a, e) for a, e in spans) / len(spans)
    return result


def paid_cost_kpis(log: SimulationLog) -> dict[str, Any]:
    """The paid staff cost (人员成本（在岗）): per pool, its members' on-shift hours × size × hourly cost from the start
    to the last arrival (the period of ``utilisation_while_arriving``), in total and per arrived case. Unlike the
    workload cost (busy hours × rate) it falls when a pool is cut; empty when the engine did not measure it."""
    pools = {p.pool: round(p.paid_seconds_while_arriving / SECONDS_PER_HOUR * p.hourly_cost, 2)
             for p in sorted(log.pools, key=lambda p: p.pool) if p.paid_seconds_while_arriving is not None}
    if not pools:
        return {}
    total = sum(pools.values())
    arrived = len(log.cases)
    return {"pools": pools, "total": total, "per_case": total / arrived if arrived else None}


def calendar_kpis(log: SimulationLog, calendar: WorkingCalendar) -> dict[str, Any]:
    """Whether the run's working days rest on estimated holidays (a year without official data: the ``holidays``
    package's estimate, without 调休): ``estimated``, and ``estimated_after``, the last day of official data (which
    of the run's own days are estimated: ``report.calendar_spans``, from the KPIs' ``period``)."""
    if not calendar.is_estimated_between(log.started_at, log.ended_at):
        return {"estimated": False, "estimated_after": None}
    known = calendar.known_years()
    return {"estimated": True, "estimated_after": date(max(known), 12, 31).isoformat() if known else None}


def compute_kpis(log: SimulationLog, calendar: WorkingCalendar | None = None,
                 case_limits: Mapping[str, int] | None = None) -> dict[str, Any]:
    """All KPIs of one replication as a JSON-ready dict.

    ``period`` holds the run's start and end and what ended it (``stopped_by``, the engine's ``max_days``,
    ``last_case_completed`` or ``no_more_events``; None for a log made without the engine): cases still open at a
    ``max_days`` stop have no cycle time (``report.open_at_stop`` warns about them).

    Args:
        log: The replication's result.
        calendar: The working-day calendar (default: the official one).
        case_limits: Whole-process limits in working days per category, used for cases without ``case_due_at``.
    """
    cal = calendar or WorkingCalendar.default()
    total_cost = sum(log.costs.values())
    arrived = len(log.cases)
    escalations = sum(c.escalations for c in log.cases)
    return {
        "scenario": log.scenario_name,
        "seed": log.seed,
        "period": {"start": log.started_at.isoformat(), "end": log.ended_at.isoformat(),
                   "stopped_by": log.stats.get("stopped_by")},
        "calendar": calendar_kpis(log, cal),
        "cycle_time": cycle_time_kpis(log, cal),
        "time_to_connect": time_to_connect_kpis(log, cal),
        "on_time": on_time_kpis(log, cal, case_limits),
        "activities": activity_kpis(log.activities, log.open_steps, log.ended_at),
        "pools": pool_kpis(log),
        "queues": queue_kpis(log),
        "queues_while_arriving": queue_while_arriving_kpis(log),
        "cost": {
            "pools": dict(sorted(log.costs.items())),
            "total": total_cost,
            "per_case": total_cost / arrived if arrived else None,
            "paid": paid_cost_kpis(log),
        },
        "getting_electricity": getting_electricity_kpis(log, cal),
        "escalations": {
            "total": escalations,
            "per_case": escalations / arrived if arrived else None,
            "cases_share": sum(c.escalations > 0 for c in log.cases) / arrived if arrived else None,
        },
    }


def _put(flat: dict[str, float], key: str, value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float) and math.isfinite(value):
        flat[key] = float(value)


def _counted(share: Mapping[str, Any], arrived: Any) -> float | None:
    """The share of the arrived cases an on-time share judged (``COUNTED_SHARE``); None when it judged none (no
    figure to qualify) or nothing arrived."""
    if share.get("share") is None or not arrived:
        return None
    return float(share["count"]) / float(arrived)


def flat_kpis(kpis: Mapping[str, Any]) -> dict[str, float]:
    """Every scalar KPI under a stable dotted key; KPIs without a value (no completed case …) are left out."""
    flat: dict[str, float] = {}
    for category, ct in kpis["cycle_time"].items():
        _put(flat, f"cycle_time.{category}.completed_share", ct["completed_share"])
        for unit in ("working_days", "calendar_days"):
            for stat, value in ct[unit].items():
                _put(flat, f"cycle_time.{category}.{stat}_{unit}", value)
    for category, ttc in kpis.get("time_to_connect", {}).items():
        arrived = kpis["cycle_time"].get(category, {}).get("arrived")
        _put(flat, f"time_to_connect.{category}.connected_share", ttc["count"] / arrived if arrived else None)
        for unit in ("working_days", "calendar_days"):
            for stat, value in ttc[unit].items():
                _put(flat, f"time_to_connect.{category}.{stat}_{unit}", value)
    arrived = {category: ct.get("arrived") for category, ct in kpis["cycle_time"].items()}
    _put(flat, "on_time.case.share", kpis["on_time"]["case"]["share"])
    _put(flat, f"on_time.case{COUNTED_SHARE}", _counted(kpis["on_time"]["case"], arrived.get(ALL)))
    for category, share in kpis["on_time"].get("every_step", {}).items():
        _put(flat, f"{EVERY_STEP_ON_TIME}{category}.share", share["share"])
        _put(flat, f"{EVERY_STEP_ON_TIME}{category}{COUNTED_SHARE}", _counted(share, arrived.get(category)))
    for eid, step in kpis["on_time"]["steps"].items():
        _put(flat, f"on_time.step.{eid}.share", step["share"])
    for eid, act in kpis["activities"].items():
        _put(flat, f"waiting.{eid}.mean_hours", act["mean_waiting_hours"])
        _put(flat, f"processing.{eid}.mean_hours", act["mean_processing_hours"])
    for pool, usage in kpis["pools"].items():
        _put(flat, f"utilisation.{pool}", usage["utilisation"])
        _put(flat, f"utilisation_while_arriving.{pool}", usage.get("utilisation_while_arriving"))
    for pool, series in kpis["queues"].items():
        _put(flat, f"queue.{pool}.max_length", max((d["max"] for d in series), default=None))
        if series:
            _put(flat, f"queue.{pool}{QUEUE_WHOLE_RUN}", sum(d["mean"] for d in series) / len(series))
    for pool, mean in kpis.get("queues_while_arriving", {}).items():
        _put(flat, f"queue.{pool}{QUEUE_WHILE_ARRIVING}", mean)
    for pool, cost in kpis["cost"]["pools"].items():
        _put(flat, f"cost.pool.{pool}", cost)
    _put(flat, "cost.total", kpis["cost"]["total"])
    _put(flat, "cost.per_case", kpis["cost"]["per_case"])
    paid = kpis["cost"].get("paid") or {}
    for pool, cost in paid.get("pools", {}).items():
        _put(flat, f"cost.paid.pool.{pool}", cost)
    _put(flat, "cost.paid.total", paid.get("total"))
    _put(flat, "cost.paid.per_case", paid.get("per_case"))
    for name, value in kpis["getting_electricity"].items():
        if name not in ("cases", "connected_cases", "source"):
            _put(flat, f"getting_electricity.{name}", value)
    for name, value in kpis["escalations"].items():
        _put(flat, f"escalations.{name}", value)
    return flat


COUNTED_SHARE = ".counted_share"
"""Flat key suffix (``on_time.case``, ``on_time.every_step.<category>``) of the share of the arrived cases an on-time
share judged: the others were open at the stop with no deadline passed yet (outcome unknown), or had no limit. Like
``cycle_time.<category>.completed_share`` for a duration, it tells how much the figure leaves out; neither better
nor worse when it changes (``direction``: neutral)."""
EVERY_STEP_ON_TIME = "on_time.every_step."
"""Flat key prefix of the share of cases with every time-limited step on time, ``on_time.every_step.<category>.share``
(``all`` overall); ``on_time.case.share`` is the share of cases within their whole-case limit."""
QUEUE_WHILE_ARRIVING = ".mean_length_while_arriving"
"""Flat key suffix (``queue.<pool>``…) of the time-weighted mean queue from the start to the last arrival: the queue
length the verdicts, tables and summary show."""
QUEUE_WHOLE_RUN = ".mean_length_whole_run"
"""Flat key suffix of the mean of the daily mean queue from the start to the end of the run (the last completion, or
the stop): diluted by the tail after the last arrival, differently per scenario; kept for reference."""


def queue_load_keys(keys: Iterable[str]) -> dict[str, str]:
    """Per pool, the flat key of its mean queue length while cases arrive (pools that have one), sorted by pool."""
    return {key.removeprefix("queue.").removesuffix(QUEUE_WHILE_ARRIVING): key
            for key in sorted(keys) if key.startswith("queue.") and key.endswith(QUEUE_WHILE_ARRIVING)}


QUEUE_SHOWN = 0.05
"""Queue charts (the web report's and the CLI report's) end with the last day on which some pool's daily mean queue
reached this: a long customer-side tail with a stray waiting task now and then squeezed the weeks that matter
into the chart's left edge."""


def queued_pools(queues: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """The pools of one side's daily queue series (``kpis["queues"]``) that ever queued, sorted: the lines a queue
    chart draws for that side, alone or beside another side (a pool that queued on the other side only gets no flat
    line at 0 here: the same side listed more queue lines within a comparison than in a run of its own)."""
    return sorted(pool for pool, points in queues.items() if any(point["mean"] > 0 for point in points))


def queue_chart_span(series: Iterable[Mapping[str, Sequence[Mapping[str, Any]]]]) -> tuple[list[str], str]:
    """The pools a queue chart has (those that ever queued on some side, sorted: one colour each; each side draws
    its own :func:`queued_pools`) and its last day (``QUEUE_SHOWN``; "" when nothing queued), over every side's
    daily queue series (``kpis["queues"]``: pool → [{"day", "mean"}])."""
    sides = list(series)
    pools = sorted({pool for queues in sides for pool in queued_pools(queues)})
    last = max((point["day"] for queues in sides for pool in pools for point in queues.get(pool, [])
                if point["mean"] >= QUEUE_SHOWN), default="")
    return pools, last


WHOLE_RUN_UTILISATION = "utilisation."
"""Flat key prefix of a pool's utilisation over the whole run (start → last case completed, or the stop). It
depends on how long the run goes on: a longer tail of customer-side steps lowers it with the same staff work."""
UTILISATION_WHILE_ARRIVING = "utilisation_while_arriving."
"""Flat key prefix of a pool's utilisation from the start to the last arrival: the load staff feel, and the one
figure the verdicts, tables and charts call 利用率 / utilisation (see :func:`pool_load_keys`)."""


def pool_load_keys(keys: Iterable[str]) -> dict[str, str]:
    """Per pool, the flat key of its utilisation as users read it: while cases arrive, else over the whole run.

    The whole-run figure is only the fallback (a run without arrivals, a result stored before the engine measured
    the load while arriving): comparing it between scenarios whose runs end at different times would call pools
    with the very same work "changed".
    """
    loads: dict[str, str] = {}
    for key in sorted(keys):
        if key.startswith(UTILISATION_WHILE_ARRIVING):
            loads[key.removeprefix(UTILISATION_WHILE_ARRIVING)] = key
    for key in sorted(keys):
        if key.startswith(WHOLE_RUN_UTILISATION):
            loads.setdefault(key.removeprefix(WHOLE_RUN_UTILISATION), key)
    return dict(sorted(loads.items()))


def unmeasured_load_keys(kpis_list: Iterable[Mapping[str, Any]]) -> set[str]:
    """The flat utilisation keys (while cases arrive, else over the whole run) of the pools that had no on-shift
    time in that period in some replication: their utilisation is n/a (busy ÷ 0), not 0 %, so ``flat_kpis`` has
    no figure for them. Added to the keys given to :func:`pool_load_keys`, they keep the whole-run figure from
    standing in for the load while cases arrive."""
    keys: set[str] = set()
    for kpis in kpis_list:
        for pool, usage in (kpis.get("pools") or {}).items():
            if "utilisation_while_arriving" in usage:
                if usage["utilisation_while_arriving"] is None:
                    keys.add(UTILISATION_WHILE_ARRIVING + pool)
            elif usage.get("utilisation", 0.0) is None:
                keys.add(WHOLE_RUN_UTILISATION + pool)
    return keys


HIGHER_IS_BETTER_PREFIXES = ("on_time.",)
HIGHER_IS_BETTER_SUFFIXES = (".completed_share", ".connected_share")
NEUTRAL_PREFIXES = (WHOLE_RUN_UTILISATION, UTILISATION_WHILE_ARRIVING)


def direction(key: str) -> Direction:
    """Whether a lower or a higher value of the flat KPI ``key`` is better (``neutral``: neither, e.g. utilisation)."""
    if key.endswith(COUNTED_SHARE):
        return "neutral"
    if key.startswith(HIGHER_IS_BETTER_PREFIXES) or key.endswith(HIGHER_IS_BETTER_SUFFIXES):
        return "higher"
    if key.startswith(NEUTRAL_PREFIXES):
        return "neutral"
    return "lower"
