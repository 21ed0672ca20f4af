"""Calibration: a baseline scenario estimated from the system's own event history, and how close it comes.

``baseline_from_history`` reads the ``cases`` and ``events`` tables (activity instances rebuilt by
``runner.export``, the same pairing the process-mining export uses) and estimates:

- arrivals per category: cases per working day over the observed span, and the hours of the day they come in
  (half-hour arrival windows weighted by the observed counts);
- staff per lane: the distinct people who completed the lane's tasks, and their working hours: from the early
  extreme of the times of day of their claims and completions to the late one (the earliest / latest within an
  hour of the 1st / 99th percentile: a stray far off is not the shift's edge), rounded outward to the half hour,
  split into shifts at its breaks (``shift_breaks``: half an hour or more without any work on any day, where the
  work around would have shown some); a lane whose own estimate has no break and lies within the hours estimated
  from all lanes' work gets the latter (its work may bunch in
  the morning, when tasks released overnight are claimed, and not show the shift's end); working days ``cn``
  unless more than 5 % of that work happened on official days off (with fewer than ``MIN_SHIFT_ACTIONS`` of them:
  the default office hours); lanes never seen at work get one person on the default office hours;
- durations per staff task, in working hours on the lane's shifts: from the claim (认领) to the completion when the
  task was claimed (its ``started`` event), else from the moment it became ready (so queueing counts as work when
  staff never claim — see ``CalibrationFacts.duration_basis``). A few candidate distributions are fitted by maximum
  likelihood (scipy.stats) and the one with the lowest AIC is taken (its Kolmogorov-Smirnov statistic is reported);
  with fewer than ``MIN_FIT_SAMPLES`` observations the observed values themselves (empirical), and one repeated
  value is a fixed duration;
- customer-side delays (customer-lane tasks and message waits) in calendar days, fitted the same way; a step
  some of whose instances were cancelled before the customer acted (a race lost to a call) is right-censored and
  estimated with Kaplan-Meier (``customer_delay_distributions``);
- pickup delays per staff task, in working hours on the lane's shifts: for a claimed task, the on-shift time
  between the moment it became ready and its claim during which somebody of the lane was free (not between a
  claim and its completion) — the wait in the inbox that busy staff and shift ends do not explain (Simod calls
  such waits extraneous delays). Kept as the observed values (empirical, at most ``MAX_EMPIRICAL_SAMPLES``
  quantiles), zeros included: most tasks are taken at once, a few wait long, which no one fitted family describes;
- branch rates per flow of each exclusive gateway, from the elements completed right after the gateway (reported,
  and written into the scenario only on request, and only for gateways whose conditions read names that nothing
  the simulation generates sets). A gateway decided by user-task answers alone is left to the answers, whose
  weights already reproduce its rates (a fitted probability drawn independently of them would send a ``need_more``
  answer down the accept path); one that reads case data (``route``, ``risk``, ``fees`` …) is left to its
  conditions, since a pooled rate would send cases down paths their data cannot take (a low-voltage case into the
  plan stage);
- answers per user task: the observed combinations of each form's decision fields (booleans, enumerations),
  weighted by frequency, so that simulated gateways decide as often as the real ones did;
- the share of dual-supply cases per category.

Figures resting on fewer than ``FEW_OBSERVATIONS`` observations, recorded work outside the proposed calendars and
durations that measured no time at all (left to the scenario defaults) are listed in ``CalibrationFacts.warnings``.

The history is calibrated on the cases of one process version (``read_history(version=…)``; ``version_counts``
tells which versions the history spans), so that the scenario's durations and answers name that version's tasks.

``check_baseline`` then simulates that baseline a few times (``CHECK_REPLICATIONS``) and measures each
replication's distance to the history with the ``log-distance-measures`` package: cycle-time distribution,
case-arrival and absolute-event distributions, and the control-flow log distance (CFLD), on the staff and customer
steps of the completed cases of both logs (open cases are partial traces: they are left out and counted). Each
distance is reported with its mean and spread over the replications, beside reference figures (mean and P90 cycle
time, cases per working day; per category cases and cycle times in working days; per lane the utilisation while
cases arrive) of the history and of the simulation, and each exclusive gateway's branch rates on both sides
(``compare_branches``): a gateway whose simulated rates differ beyond sampling noise, and a lane far off, are named
in ``Calibration.warnings``.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..case import CUSTOMER_ROLE
from ..export import ActivityInstance, Kind, Selection, iter_case_logs
from ..models import Case as CaseRow
from ..models import Event
from ..workdays import WorkingCalendar, to_shanghai
from .model import SimulationLog
from .scenario import DEFAULT_SHIFTS
from .staff import ShiftCalendar, ShiftSpec, parse_shift

MIN_FIT_SAMPLES = 20
"""Below this many observations a duration is the observed values themselves (empirical)."""
MAX_EMPIRICAL_SAMPLES = 200
SHIFT_QUANTILES = (0.01, 0.99)
"""Percentiles of a lane's times of day at work that anchor its shift's robust early and late extremes."""
SHIFT_REACH = 3600
"""How far (seconds) before the early anchor / after the late one a lane's earliest / latest moment may lie and
still count: beyond it a moment is a stray (named in the warnings), not the shift's edge."""
CHECK_REPLICATIONS = 3
"""Check simulations of a calibrated baseline (the distances vary with the seed: their spread is reported)."""
MIN_SHIFT_ACTIONS = 20
"""Below this many claims and completions a lane works the default office hours (``scenario.DEFAULT_SHIFTS``)."""
HALF_HOUR = 1800
MIN_BREAK = HALF_HOUR
"""A stretch of the day without any work this long or longer (after rounding inward to the half hour) is a break."""
BREAK_EVIDENCE = 8
"""How many moments at work as long a stretch on each side of a quiet one must hold for the quiet one to be a break
rather than chance: at that local rate of work a stretch that long stays empty by chance with a probability of
about e^-8 (3 in 10,000)."""
ARRIVAL_WINDOW = HALF_HOUR
"""Width of the arrival windows (seconds): the history's arrivals counted per half hour of the day."""
DAY_OFF_WORK_SHARE = 0.05
CANDIDATES = ("exponential", "gamma", "lognormal", "normal")
FEW_OBSERVATIONS = MIN_FIT_SAMPLES
"""A figure resting on fewer observations than this is named in the warnings."""
UNKNOWN_CATEGORY = "unknown"
"""The category of a history case that never got one (it failed or was cancelled before the decision)."""
MAX_CFLD_TRACES = 300
STAFF_KINDS = ("user", "customer", "task", "message")


class CalibrationError(ValueError):
    """The history cannot give a baseline (e.g. no cases in the selection)."""


# -- fitting -------------------------------------------------------------------------------------------------------


@dataclass
class Fit:
    """A fitted distribution in scenario form, with how it was chosen."""

    distribution: float | dict[str, Any]
    method: str  # "fixed", "empirical" or "mle:<kind>"
    n: int
    mean: float
    aic: dict[str, float] = field(default_factory=dict)  # candidate -> AIC (mle only)
    ks_statistic: float | None = None
    ks_pvalue: float | None = None


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _scipy_candidate(kind: str, data: Any) -> tuple[Any, tuple[float, ...], dict[str, Any]] | None:
    """(frozen scipy distribution, fitted parameters, scenario form) of one candidate, or None if it cannot fit."""
    from scipy import stats  # type: ignore[import-untyped]

    positive = bool(np.all(data > 0))
    if kind == "exponential":
        _loc, scale = stats.expon.fit(data, floc=0)
        return stats.expon(0, scale), (scale,), {"distribution": "exponential", "mean": _round(scale)}
    if kind == "normal":
        mu, sigma = stats.norm.fit(data)
        if sigma <= 0:
            return None
        return stats.norm(mu, sigma), (mu, sigma), {"distribution": "normal", "mean": _round(mu),
                                                    "sd": _round(sigma)}
    if not positive:
        return None
    if kind == "gamma":
        shape, _loc, scale = stats.gamma.fit(data, floc=0)
        return stats.gamma(shape, 0, scale), (shape, scale), {"distribution": "gamma", "shape": _round(shape),
                                                              "scale": _round(scale)}
    sigma, _loc, scale = stats.lognorm.fit(data, floc=0)
    if sigma <= 0:
        return None
    mean = scale * math.exp(sigma ** 2 / 2)
    sd = mean * math.sqrt(math.exp(sigma ** 2) - 1)
    return stats.lognorm(sigma, 0, scale), (sigma, scale), {"distribution": "lognormal", "mean": _round(mean),
                                                            "sd": _round(sd)}


def fit_distribution(samples: Sequence[float], *, min_samples: int = MIN_FIT_SAMPLES) -> Fit:
    """The distribution of non-negative observations, in scenario form (see the module docstring)."""
    values = [float(v) for v in samples if math.isfinite(v) and v >= 0]
    if not values:
        raise CalibrationError("no observations to fit")
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if float(data.max() - data.min()) <= 1e-9 * max(1.0, abs(mean)):
        return Fit(_round(mean), "fixed", len(values), mean)
    if len(values) < min_samples:
        step = max(1, math.ceil(len(values) / MAX_EMPIRICAL_SAMPLES))
        kept = sorted(values)[::step]
        return Fit({"distribution": "empirical", "samples": [_round(v) for v in kept]}, "empirical", len(values),
                   mean)
    from scipy import stats  # a second to import: only when something is fitted

    fitted: dict[str, tuple[Any, tuple[float, ...], dict[str, Any]]] = {}
    aic: dict[str, float] = {}
    for kind in CANDIDATES:
        try:
            candidate = _scipy_candidate(kind, data)
        except (ValueError, RuntimeError, FloatingPointError):
            continue
        if candidate is None:
            continue
        loglik = float(np.sum(candidate[0].logpdf(data)))
        if math.isfinite(loglik):
            fitted[kind] = candidate
            aic[kind] = _round(2 * len(candidate[1]) - 2 * loglik)
    if not fitted:
        kept = sorted(values)[:: max(1, math.ceil(len(values) / MAX_EMPIRICAL_SAMPLES))]
        return Fit({"distribution": "empirical", "samples": [_round(v) for v in kept]}, "empirical", len(values),
                   mean)
    best = min(aic, key=lambda kind: aic[kind])
    frozen, _params, form = fitted[best]
    ks = stats.kstest(data, frozen.cdf)
    return Fit(form, f"mle:{best}", len(values), mean, aic, _round(float(ks.statistic)), _round(float(ks.pvalue)))


# -- reading the history -------------------------------------------------------------------------------------------


@dataclass
class HistoryCase:
    """One case of the history: its arrival and end, attributes, activity instances and completed elements."""

    case_number: str
    category: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    dual_supply: bool | None
    instances: list[ActivityInstance]
    completed_elements: list[str] = field(default_factory=list)
    answers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (element, form data) per completion
    version: int | None = None  # the process version (``process_versions.id``) the case runs


def version_counts(sessions: sessionmaker[Session], since: datetime | None = None) -> dict[int, int]:
    """Process version id -> how many cases created at or after ``since`` (all by default) run it."""
    query = select(CaseRow.version_id, func.count()).group_by(CaseRow.version_id)
    if since is not None:
        query = query.where(CaseRow.created_at >= since)
    with sessions() as session:
        return {int(version): int(count) for version, count in session.execute(query).all()}


def choose_version(counts: dict[int, int], requested: int | None = None) -> int:
    """The version to calibrate on: ``requested``, else the one most cases ran on (the newer one on a tie)."""
    if not counts:
        raise CalibrationError("no cases in the history")
    if requested is not None:
        if requested not in counts:
            spans = ", ".join(f"{version} ({count} cases)" for version, count in sorted(counts.items()))
            raise CalibrationError(f"--version {requested}: no case of the history runs version {requested}; "
                                   f"the history spans version(s) {spans}")
        return requested
    return max(counts, key=lambda version: (counts[version], version))


def read_history(sessions: sessionmaker[Session], since: datetime | None = None,
                 version: int | None = None) -> list[HistoryCase]:
    """The cases created at or after ``since`` (all by default) that run process version ``version`` (any by
    default), with what ``runner.export`` makes of their events."""
    logs = {log.case_number: log for log in iter_case_logs(sessions, Selection(since=since))}
    if not logs:
        return []
    cases: dict[str, HistoryCase] = {}
    with sessions.begin() as session:
        numbers = list(logs)
        for start in range(0, len(numbers), 500):
            chunk = numbers[start:start + 500]
            query = select(CaseRow.id, CaseRow.case_number, CaseRow.created_at, CaseRow.completed_at,
                           CaseRow.version_id).where(CaseRow.case_number.in_(chunk))
            if version is not None:
                query = query.where(CaseRow.version_id == version)
            for row in session.execute(query):
                log = logs[row.case_number]
                cases[row.case_number] = HistoryCase(
                    row.case_number, log.category or UNKNOWN_CATEGORY, log.status, to_shanghai(row.created_at),
                    to_shanghai(row.completed_at) if row.completed_at else None, log.dual_supply, log.instances,
                    version=row.version_id)
            for event in session.execute(
                select(Event.case_number, Event.element_id, Event.data)
                .where(Event.case_number.in_(chunk), Event.lifecycle == "completed").order_by(Event.id)
            ):
                case = cases.get(event.case_number or "")
                if case is not None:
                    case.completed_elements.append(event.element_id)
                    if isinstance(event.data, dict) and event.data:
                        case.answers.append((event.element_id, event.data))
    return [cases[number] for number in logs if number in cases]


# -- estimating ----------------------------------------------------------------------------------------------------


@dataclass
class CalibrationFacts:
    """What the history says, JSON-ready through ``to_dict``."""

    cases: int
    completed: int
    first_arrival: str
    last_arrival: str
    working_days: int
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    lanes: dict[str, dict[str, Any]] = field(default_factory=dict)
    durations: dict[str, dict[str, Any]] = field(default_factory=dict)
    customer_delays: dict[str, dict[str, Any]] = field(default_factory=dict)
    pickup_delays: dict[str, dict[str, Any]] = field(default_factory=dict)
    branches: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    duration_basis: dict[str, int] = field(default_factory=dict)  # "claim" / "ready" -> observations
    branch_gateways: dict[str, Any] = field(default_factory=dict)  # "estimated" / "left_to_answers" / "…_conditions"
    version: int | None = None  # the process version calibrated on
    versions: dict[str, int] = field(default_factory=dict)  # every version of the history -> its cases
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def claim_time(instance: ActivityInstance) -> datetime | None:
    """When staff claimed (认领) the task: its ``started`` event before the completion, if there is one (the
    runner logs ``started`` at the claim, and again at the completion of an unclaimed task)."""
    started, completed = instance.started, instance.completed
    if started is None or completed is None or started.at >= completed.at:
        return None
    return to_shanghai(started.at)


def _time_of_day(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def shift_breaks(seconds: Sequence[float]) -> list[tuple[int, int]]:
    """The breaks inside a lane's day: (begin, end) seconds after midnight of each stretch between two consecutive
    times of day at work (pooled over all days, so a stretch every day of the history shares) that, rounded inward
    to the half hour, still lasts ``MIN_BREAK`` or more, and that chance does not explain: as long a stretch on
    each side of it holds ``BREAK_EVIDENCE`` moments or more (a quiet half hour late in a thinly worked afternoon, or
    among the few actions of a little-used lane, is not a break)."""
    ordered = sorted(seconds)
    breaks: list[tuple[int, int]] = []
    for before, after in zip(ordered, ordered[1:], strict=False):
        gap = after - before
        if gap < MIN_BREAK:
            continue
        begin = math.ceil(before / HALF_HOUR) * HALF_HOUR
        end = int(after // HALF_HOUR) * HALF_HOUR
        if end - begin < MIN_BREAK:
            continue
        left = bisect_right(ordered, before) - bisect_left(ordered, before - gap)
        right = bisect_right(ordered, after + gap) - bisect_left(ordered, after)
        if min(left, right) >= BREAK_EVIDENCE:
            breaks.append((begin, end))
    return breaks


def estimate_shift(moments: Sequence[datetime], calendar: WorkingCalendar) -> ShiftSpec:
    """Working days and the shifts of a lane from the times of day staff acted (claims and completions): the day
    runs from the early to the late extreme, the earliest / latest moment within ``SHIFT_REACH`` of the
    ``SHIFT_QUANTILES`` percentiles, so that a stray moment far off does not stretch it, rounded outward to the half
    hour; it is split into several shifts at its breaks (``shift_breaks``: no work at all for ``MIN_BREAK`` or more,
    on any day, where the work around would have shown some), rounded inward to the half hour. The scenario's
    default office hours when there are fewer than ``MIN_SHIFT_ACTIONS`` moments.

    The extremes, not the bulk: claims pile up at the shift's start (tasks released overnight are all claimed
    then) and completions spread over the day, so inner percentiles cut the shift short (and durations measured on
    it come out low). The breaks: a lunch break counted as shift time counts as work in every duration and pickup
    delay that spans it (and gives the staff a longer day than they have)."""
    if len(moments) < MIN_SHIFT_ACTIONS:
        return DEFAULT_SHIFTS
    seconds = np.asarray([_time_of_day(m) for m in moments], dtype=float)
    anchor_low, anchor_high = (float(np.quantile(seconds, q)) for q in SHIFT_QUANTILES)
    low = float(seconds[seconds >= anchor_low - SHIFT_REACH].min())
    high = float(seconds[seconds <= anchor_high + SHIFT_REACH].max())
    begin = int(low // HALF_HOUR) * HALF_HOUR
    end = min(24 * 3600, max(begin + HALF_HOUR, math.ceil(high / HALF_HOUR) * HALF_HOUR))
    off_days = sum(1 for m in moments if not calendar.is_working_day(m.date()))
    days = "all" if off_days > DAY_OFF_WORK_SHARE * len(moments) else "cn"
    windows: list[str] = []
    opening = begin
    for pause, resume in shift_breaks([float(s) for s in seconds if low <= s <= high]):
        if opening < pause and resume < end:
            windows.append(f"{_hhmm(opening)}-{_hhmm(pause)}")
            opening = resume
    windows.append(f"{_hhmm(opening)}-{_hhmm(end)}")
    return ShiftSpec(days, tuple(windows))


def _span(spec: ShiftSpec) -> tuple[int, int]:
    """From the start of a calendar's first shift to the end of its last (seconds after midnight)."""
    intervals = sorted(parse_shift(text) for text in spec.shifts)
    return intervals[0][0], intervals[-1][1]


def within_office_hours(own: ShiftSpec, office: ShiftSpec) -> ShiftSpec:
    """A lane's shift: the office hours estimated from all lanes when its own day lies within theirs and its own
    estimate found no break (its work bunched early or late in the day, say when tasks released overnight are all
    claimed in the morning, so its own moments show neither the shift's other edge nor the lunch break), else its
    own (it works outside them, or its moments, spread over both sides of its break, show its day themselves)."""
    # (an office estimate equal to the default office hours is an estimate: it pools every lane's moments, so it
    # rests on more of them than any lane's own)
    if own == DEFAULT_SHIFTS or own.working_days != office.working_days or len(own.shifts) > 1:
        return own
    begin, end = _span(own)
    office_begin, office_end = _span(office)
    return office if office_begin <= begin and end <= office_end else own


def arrival_windows(arrivals: Sequence[datetime]) -> list[dict[str, Any]]:
    """One window per half hour of the day in which cases arrived, weighted by how many did: the simulated
    applications come in when the real ones did (not before the office opens, nor during its lunch break)."""
    counts = Counter(_time_of_day(moment) // ARRIVAL_WINDOW for moment in arrivals)
    return [{"hours": f"{_hhmm(slot * ARRIVAL_WINDOW)}-{_hhmm(min(24 * 3600, (slot + 1) * ARRIVAL_WINDOW))}",
             "weight": count} for slot, count in sorted(counts.items())]


def _working_days_in(first: date, last: date, calendar: WorkingCalendar) -> int:
    days, day = 0, first
    while day <= last:
        days += calendar.is_working_day(day)
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Gateway:
    """An exclusive gateway's outgoing flows as (flow id, target element id), its default flow, and the names its
    conditions read (None when a condition cannot be parsed)."""

    flows: tuple[tuple[str, str], ...]
    default: str | None = None
    reads: frozenset[str] | None = frozenset()


def branch_rates(cases: Iterable[HistoryCase], gateways: dict[str, Gateway]) -> dict[str, Any]:
    """Per gateway flow: how often the gateway's next completed target was the flow's target."""
    taken = gateway_counts((case.completed_elements for case in cases), gateways)
    rates: dict[str, Any] = {}
    for gateway, counter in taken.items():
        total = sum(counter.values())
        for flow, _target in gateways[gateway].flows:
            rates[flow] = {"gateway": gateway, "taken": counter[flow], "visits": total,
                           "rate": _round(counter[flow] / total) if total else None,
                           "default": flow == gateways[gateway].default}
    return rates


def condition_names(expression: str) -> frozenset[str] | None:
    """The variables a Python condition reads (builtins left out); None when it does not parse."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return None
    return frozenset(node.id for node in ast.walk(tree)
                     if isinstance(node, ast.Name) and not hasattr(builtins, node.id))


def exclusive_gateways(bundle: Any) -> dict[str, Gateway]:
    """The exclusive gateways with two or more outgoing flows in a bundle's BPMN files."""
    from lxml import etree

    from ..process_folder import NS

    found: dict[str, Gateway] = {}
    for path in sorted(bundle.root.glob("*.bpmn")):
        tree = etree.parse(str(path))
        flows = [(f.get("id", ""), f.get("sourceRef", ""), f.get("targetRef", ""),
                  f.findtext("bpmn:conditionExpression", None, NS))
                 for f in tree.iterfind(".//bpmn:sequenceFlow", NS)]
        for gateway in tree.iterfind(".//bpmn:exclusiveGateway", NS):
            gid = gateway.get("id", "")
            leaving = [(fid, target, condition) for fid, source, target, condition in flows if source == gid]
            if len(leaving) < 2:
                continue
            reads: frozenset[str] | None = frozenset()
            for _fid, _target, condition in leaving:
                names = condition_names(condition) if condition and condition.strip() else frozenset()
                reads = None if reads is None or names is None else reads | names
            found[gid] = Gateway(tuple((fid, target) for fid, target, _condition in leaving),
                                 gateway.get("default"), reads)
    return found


def user_tasks(bundle: Any) -> set[str]:
    """The ids of the user and manual tasks of a bundle's BPMN files: the names their answers are stored under."""
    from lxml import etree

    from ..process_folder import NS

    found: set[str] = set()
    for path in sorted(bundle.root.glob("*.bpmn")):
        tree = etree.parse(str(path))
        for kind in ("userTask", "manualTask"):
            found.update(task.get("id", "") for task in tree.iterfind(f".//bpmn:{kind}", NS))
    return found


ANSWERS_DECIDE = "decided by the answers of user tasks ({}): the answers' weights reproduce its rates"


def generated_names(bundle: Any) -> frozenset[str]:
    """The names the process itself mentions outside its gateway conditions (scripts, result variables, decision
    tables, forms, sample applications): the case data a simulation of it generates."""
    from lxml import etree

    from ..process_folder import NS

    texts: list[str] = []
    for path in sorted(bundle.root.rglob("*")):
        if not path.is_file() or path.suffix not in (".bpmn", ".dmn", ".json"):
            continue
        if path.suffix == ".bpmn":
            tree = etree.parse(str(path))
            for condition in tree.iterfind(".//bpmn:conditionExpression", NS):
                condition.getparent().remove(condition)
            texts.append(etree.tostring(tree, encoding="unicode"))
        else:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(texts)))


def why_left_to_conditions(gateway: Gateway, visits: int, answer_tasks: set[str],
                           generated: frozenset[str] | set[str] | None = None) -> str | None:
    """Why a gateway's branch rates must not replace its conditions, or None when they may.

    A gateway decided by user-task answers alone is left to the answers: their weights already reproduce its rates,
    and a probability drawn independently of them would route a ``need_more`` answer down the accept path (whose
    data the case then lacks). A gateway that reads case data the simulation generates (the route of the category,
    the risk, the fees; ``generated``, all non-answer names when None) keeps its conditions: a pooled rate would
    send a low-voltage case into the high-voltage plan stage. Only a gateway reading data that nothing the
    simulation generates sets may be drawn at its observed rates."""
    if not visits:
        return "never passed in the history"
    if gateway.reads is None:
        return "a condition could not be read"
    if not gateway.reads:
        return "no conditions"
    data = gateway.reads - answer_tasks
    decided = sorted(data if generated is None else data & set(generated))
    if decided:
        return "decided by case data: " + ", ".join(decided)
    if not data:
        return ANSWERS_DECIDE.format(", ".join(sorted(gateway.reads)))
    return None


def baseline_from_history(sessions: sessionmaker[Session], *, since: datetime | None = None,
                          name: str = "calibrated", seed: int = 1, bundle: Any = None,
                          with_branches: bool = False, calendar: WorkingCalendar | None = None,
                          version: int | None = None) -> tuple[dict[str, Any], CalibrationFacts]:
    """A scenario (as a dict for ``scenario_from_dict``) estimated from the history, and the facts behind it.

    ``version`` calibrates on the cases of that process version only (all cases when None; ``bundle`` should then
    be that version's); ``bundle`` (a ``ProcessBundle``) is needed for the answers and branch rates;
    ``with_branches`` writes those rates into the scenario's ``branch_probabilities`` (they then replace the
    gateways' own conditions)."""
    calendar = calendar or WorkingCalendar.default()
    history = read_history(sessions, since, version)
    if not history:
        raise CalibrationError("no cases in the history" + (f" since {since.isoformat()}" if since else "")
                               + (f" on process version {version}" if version is not None else ""))
    arrivals = sorted(case.created_at for case in history)
    first, last = arrivals[0], arrivals[-1]
    working_days = max(1, _working_days_in(first.date(), last.date(), calendar))
    facts = CalibrationFacts(len(history), sum(c.status == "completed" for c in history), first.isoformat(),
                             last.isoformat(), working_days, version=version,
                             versions={str(v): n for v, n in sorted(version_counts(sessions, since).items())})
    # arrivals and case data per category
    scenario_arrivals: dict[str, Any] = {}
    case_data: dict[str, Any] = {}
    undecided: list[str] = []
    for category, members in sorted(_group(history, lambda c: c.category).items()):
        if category == UNKNOWN_CATEGORY:  # failed or cancelled before the category decision: nothing to generate
            undecided = [case.case_number for case in members]
            continue
        rate = len(members) / working_days
        scenario_arrivals[category] = {"per_working_day": _round(rate)}
        duals = [c.dual_supply for c in members if c.dual_supply is not None]
        share = _round(sum(duals) / len(duals)) if duals else None
        case_data[category] = {"sample": category, **({"dual_supply": share} if share is not None else {})}
        facts.categories[category] = {"cases": len(members), "per_working_day": _round(rate),
                                      "dual_supply_share": share}
    # staff per lane and their hours
    acts: dict[str, list[datetime]] = defaultdict(list)
    people: dict[str, set[str]] = defaultdict(set)
    for case in history:
        for instance in case.instances:
            if instance.kind is not Kind.HUMAN or not instance.role or instance.role == CUSTOMER_ROLE:
                continue
            if instance.completed is not None:
                acts[instance.role].append(to_shanghai(instance.completed.at))
            claimed = claim_time(instance)
            if claimed is not None:
                acts[instance.role].append(claimed)
            if instance.resource:
                people[instance.role].add(instance.resource)
    calendars: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    shifts: dict[str, ShiftCalendar] = {}
    office = estimate_shift([moment for moments in acts.values() for moment in moments], calendar)
    for role in sorted(acts):
        spec = within_office_hours(estimate_shift(acts[role], calendar), office)
        calendars[f"{role}_hours"] = spec.to_dict()
        shifts[role] = ShiftCalendar(spec, calendar)
        pools[role] = {"count": max(1, len(people[role])), "calendar": f"{role}_hours"}
        facts.lanes[role] = {"staff": sorted(people[role]), "count": max(1, len(people[role])),
                             "working_days": spec.working_days, "shifts": list(spec.shifts),
                             "actions": len(acts[role])}
    lane_roles = set(bundle.roles.values()) if bundle is not None else set()
    for role in sorted(lane_roles - set(pools) - {CUSTOMER_ROLE}):
        pools[role] = {"count": 1}  # never seen at work in the history: one person on the default office hours
        facts.lanes[role] = {"staff": [], "count": 1, "observed": False}
    # durations and pickup delays (working hours), customer delays (calendar days)
    work: dict[str, list[float]] = defaultdict(list)
    delays: dict[str, list[float]] = defaultdict(list)
    censored: dict[str, list[float]] = defaultdict(list)  # customer-side steps cancelled before the customer acted
    pickups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    basis: Counter[str] = Counter()
    occupancy = {role: LaneOccupancy(intervals, len(people[role]))
                 for role, intervals in _busy_by_lane(history).items()}
    for case in history:
        for instance in case.instances:
            if instance.completed is None and instance.aborted is not None and instance.enabled is not None \
                    and _customer_side(instance):  # a race lost (or the case cancelled): a wait at least that long
                censored[instance.element_id].append(
                    (instance.aborted.at - instance.enabled.at).total_seconds() / 86400)
                continue
            if instance.completed is None or instance.aborted is not None:
                continue
            end = to_shanghai(instance.completed.at)
            if _customer_side(instance):
                if instance.enabled is not None:
                    delays[instance.element_id].append(
                        (end - to_shanghai(instance.enabled.at)).total_seconds() / 86400)
                continue
            if instance.kind is not Kind.HUMAN or instance.role not in shifts:
                continue
            claimed = claim_time(instance)
            begin = claimed or (to_shanghai(instance.enabled.at) if instance.enabled else None)
            if begin is None or begin > end:
                continue
            basis["claim" if claimed else "ready"] += 1
            work[instance.element_id].append(shifts[instance.role].on_shift_seconds(begin, end) / 3600)
            if claimed is not None and instance.enabled is not None and instance.role in occupancy:
                pickups[instance.element_id].append(occupancy[instance.role].pickup_hours(
                    to_shanghai(instance.enabled.at), claimed, shifts[instance.role]))
    durations = _fit_measured(work, facts.durations)
    customer_delays = customer_delay_distributions(delays, censored, facts.customer_delays)
    pickup_delays = pickup_delay_distributions(pickups, facts.pickup_delays)
    facts.duration_basis = dict(basis)
    scenario: dict[str, Any] = {
        "name": name,
        "description": f"baseline calibrated from {len(history)} cases ({first.date()} – {last.date()})",
        "seed": seed,
        "start": datetime.combine(first.date(), datetime.min.time(), first.tzinfo).isoformat(),
        "cases": len(history),  # arrivals go on at the estimated rates until as many cases as in the history
        "arrival_calendar": {"working_days": "cn", "windows": arrival_windows(arrivals)},
        "arrivals": scenario_arrivals,
        "case_data": case_data,
        "calendars": calendars,
        "pools": pools,
        "durations": durations,
        "customer_delays": customer_delays,
        **({"pickup_delays": pickup_delays} if pickup_delays else {}),
    }
    estimated: set[str] = set()
    if bundle is not None:
        answers = estimate_answers(history, bundle, facts)
        if answers:
            scenario["answers"] = answers
        gateways = exclusive_gateways(bundle)
        facts.branches = branch_rates(history, gateways)
        estimated = classify_gateways(facts.branches, gateways, user_tasks(bundle), facts, generated_names(bundle))
        if with_branches:
            scenario["branch_probabilities"] = _branch_probabilities(facts.branches, estimated)
    facts.warnings = calibration_warnings(facts, arrivals, acts, shifts, calendar,
                                          estimated if with_branches else set())
    if len(facts.versions) > 1:
        spans = ", ".join(f"{v} ({n} cases)" for v, n in facts.versions.items())
        facts.warnings.append(f"the history spans process versions {spans}: "
                              + (f"calibrated on the {len(history)} cases of version {version} only"
                                 if version is not None else "calibrated on all of them, whatever version they ran"))
    if undecided:
        facts.warnings.append(f"{len(undecided)} case(s) without a category (stopped before the category decision) "
                              f"are left out of the arrival rates: {', '.join(undecided[:5])}"
                              + (" …" if len(undecided) > 5 else ""))
    return scenario, facts


def _customer_side(instance: ActivityInstance) -> bool:
    """A step the customer (or the outside world) takes: a customer-lane task or a message wait."""
    return instance.kind is Kind.WAIT or (instance.kind is Kind.HUMAN and instance.role == CUSTOMER_ROLE)


def kaplan_meier(answered: Sequence[float], censored: Sequence[float]) -> tuple[list[tuple[float, float]], float]:
    """The Kaplan-Meier estimate of a wait's distribution from the waits observed to their end (``answered``) and
    those cut short (``censored``: the wait lasted at least that long): (time, probability mass) of each observed
    end, and the survival left after the last (the mass the history cannot place: waits longer than every one it
    saw end). A censored wait equal to an observed end still counts as at risk at that time."""
    times = sorted({*answered, *censored})
    ends, cuts = Counter(answered), Counter(censored)
    at_risk = len(answered) + len(censored)
    survival = 1.0
    masses: list[tuple[float, float]] = []
    for time in times:
        if ends[time]:
            after = survival * (1 - ends[time] / at_risk)
            masses.append((time, survival - after))
            survival = after
        at_risk -= ends[time] + cuts[time]
    return masses, max(0.0, survival)


def censored_samples(answered: Sequence[float], censored: Sequence[float],
                     limit: int = MAX_EMPIRICAL_SAMPLES) -> tuple[list[float], float, float, float]:
    """Evenly spaced quantiles (each group's middle) of the Kaplan-Meier distribution of a censored wait, at most
    ``limit`` of them, the mass beyond the last observed end placed at the longest censored wait (a lower bound:
    those waits lasted at least that long, the history cannot tell how much longer). Returns the samples, their
    mean (a lower bound when some mass was placed so), that mass and where it was placed."""
    masses, beyond = kaplan_meier(answered, censored)
    tail = max([*answered, *censored])
    count = min(limit, len(answered) + len(censored))
    samples: list[float] = []
    cumulative, index = 0.0, 0
    for k in range(count):
        level = (k + 0.5) / count
        while index < len(masses) and cumulative + masses[index][1] < level - 1e-12:
            cumulative += masses[index][1]
            index += 1
        samples.append(_round(masses[index][0] if index < len(masses) else tail))
    mean = sum(time * mass for time, mass in masses) + beyond * tail
    return samples, mean, beyond, tail


def customer_delay_distributions(answered: dict[str, list[float]], censored: dict[str, list[float]],
                                 facts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Element -> customer-side delay (days). Steps never cut short are fitted (``_fit_measured``); those of which
    some were cancelled before the customer acted (a race lost to a staff call or a timer, the case cancelled) are
    right-censored: estimated with Kaplan-Meier as empirical samples (``censored_samples``) — fitting the answers
    alone would describe only the fast ones."""
    plain = {element: values for element, values in answered.items() if not censored.get(element)}
    delays = _fit_measured(plain, facts)
    for element in sorted(set(censored) - set(plain)):
        done, cut = answered.get(element, []), censored[element]
        fact: dict[str, Any] = {"n": len(done) + len(cut), "answered": len(done), "censored": len(cut)}
        if not any(value > 0 for value in done):
            facts[element] = {**fact, "mean": None, "method": "scenario default", "distribution": None,
                              "note": "no answer measured any time (every wait was cut short or took none): the "
                                      "scenario default applies"}
            continue
        samples, mean, beyond, tail = censored_samples(done, cut)
        distribution = {"distribution": "empirical", "samples": samples}
        delays[element] = distribution
        facts[element] = {**fact, "mean": _round(mean), "method": "kaplan-meier (right-censored)",
                          "beyond_last_answer": _round(beyond), "placed_at": _round(tail),
                          "distribution": distribution}
    return dict(sorted(delays.items()))


def _fit_measured(observations: dict[str, list[float]], facts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Element -> fitted distribution, for the elements whose observations measured some time. When every
    observation is zero (work recorded off shift, or done in the same instant) nothing was measured: the element
    is left out, so the scenario's default (``defaults.task_hours`` / ``customer_days``) applies, and its facts say
    so instead of passing 0.0 off as a measurement."""
    fitted: dict[str, Any] = {}
    for element, values in sorted(observations.items()):
        if not any(value > 0 for value in values):
            facts[element] = {"n": len(values), "mean": 0.0, "method": "scenario default", "distribution": None,
                              "note": "every observation was 0: no time measured, the scenario default applies"}
            continue
        fit = fit_distribution(values)
        fitted[element] = fit.distribution
        facts[element] = _fit_facts(fit)
    return fitted


def _busy_by_lane(history: Iterable[HistoryCase]) -> dict[str, dict[str, list[tuple[datetime, datetime]]]]:
    """Per lane, per person: from each claim to its completion (the time they were busy with a task)."""
    busy: dict[str, dict[str, list[tuple[datetime, datetime]]]] = defaultdict(lambda: defaultdict(list))
    for case in history:
        for instance in case.instances:
            if instance.kind is not Kind.HUMAN or not instance.role or not instance.resource:
                continue
            claimed = claim_time(instance)
            if claimed is not None and instance.completed is not None:
                busy[instance.role][instance.resource].append((claimed, to_shanghai(instance.completed.at)))
    return busy


class LaneOccupancy:
    """When the people of one lane were busy (claim to completion), to tell a task's wait for busy staff from its
    wait while somebody was free (``free_hours``)."""

    def __init__(self, intervals: dict[str, list[tuple[datetime, datetime]]], members: int) -> None:
        self.members = max(members, len(intervals))
        merged: list[tuple[datetime, datetime]] = []
        for spans in intervals.values():  # one person's overlapping claims count once
            current: list[datetime] | None = None
            for begin, end in sorted(spans):
                if current is not None and begin <= current[1]:
                    current[1] = max(current[1], end)
                    continue
                if current is not None:
                    merged.append((current[0], current[1]))
                current = [begin, end]
            if current is not None:
                merged.append((current[0], current[1]))
        merged.sort()
        self.spans = merged
        self.starts = [begin for begin, _end in merged]
        self.longest = max((end - begin for begin, end in merged), default=timedelta(0))

    def pickup_hours(self, ready: datetime, claimed: datetime, shift: ShiftCalendar) -> tuple[float, bool]:
        """A claimed task's pickup delay in on-shift hours, and whether it is exact.

        As the simulator has it, a task first waits its pickup delay, then in the queue while all the lane's
        people are busy. When somebody was free just before the claim, nobody was queued for: the whole wait from
        ``ready`` is the delay (busy moments inside it too — the task was not waiting for staff then), exact. When
        everybody was busy up to the claim, the delay ran out somewhere before it: the on-shift hours up to the
        start of that last all-busy stretch are a lower bound (not exact). A task with no delay that became ready
        while all were busy is of the second kind, so leaving those out drops tasks with and without a delay
        alike: as often as all the lane's people are busy."""
        if claimed <= ready:
            return 0.0, True
        first = bisect_left(self.starts, ready - self.longest)
        overlapping = [(max(b, ready), min(e, claimed))
                       for b, e in self.spans[first:bisect_left(self.starts, claimed)] if e > ready]
        whole = shift.on_shift_seconds(ready, claimed) / 3600
        if len(overlapping) < self.members:  # somebody was free all along
            return whole, True
        # whoever became free at the claim itself took the task then: busy until that moment
        changes = sorted([(b, 1) for b, _e in overlapping] + [(e, -1) for _b, e in overlapping if e < claimed])
        queued_from: datetime | None = None  # when the last all-busy stretch began
        busy = 0
        for at, step in changes:
            before = busy
            busy += step
            if before < self.members <= busy:
                queued_from = at
        if busy >= self.members and queued_from is not None:
            return shift.on_shift_seconds(ready, queued_from) / 3600, False
        return whole, True


def empirical_samples(values: Sequence[float], limit: int = MAX_EMPIRICAL_SAMPLES) -> list[float]:
    """The values sorted, or ``limit`` of them at evenly spaced quantiles (each group's middle value) when there
    are more: the shape, the long tail included, in a scenario that stays readable."""
    ordered = sorted(values)
    if len(ordered) <= limit:
        return [_round(value) for value in ordered]
    return [_round(ordered[int((index + 0.5) * len(ordered) / limit)]) for index in range(limit)]


def pickup_delay_distributions(observations: dict[str, list[tuple[float, bool]]], facts: dict[str, dict[str, Any]]
                      ) -> dict[str, Any]:
    """Element -> the observed pickup delays as an empirical distribution: the exact ones (``pickup_hours``), or the
    lower bounds when none is exact. Elements whose tasks were all taken at once are left out (no delay)."""
    delays: dict[str, Any] = {}
    for element, measured in sorted(observations.items()):
        exact = [hours for hours, is_exact in measured if is_exact]
        values = exact or [hours for hours, _is_exact in measured]
        waited = [value for value in values if value > 0]
        facts[element] = {"n": len(measured), "exact": len(exact), "mean": _round(sum(values) / len(values)),
                          "zero_share": _round(1 - len(waited) / len(values)),
                          "method": ("none (taken at once every time)" if not waited else
                                     "empirical" if exact else "empirical (lower bounds: staff always busy)")}
        if waited:
            delays[element] = {"distribution": "empirical", "samples": empirical_samples(values)}
    return delays


def _few(counts: dict[str, int]) -> str | None:
    """``name n, …`` of the counts below ``FEW_OBSERVATIONS``, or None when there are none."""
    few = [f"{name} {count}" for name, count in sorted(counts.items()) if count < FEW_OBSERVATIONS]
    return ", ".join(few) if few else None


def _is_on_shift(shift: ShiftCalendar, moment: datetime) -> bool:
    """On shift, a completion at the very end of a shift included."""
    return shift.is_on_shift(moment) or shift.is_on_shift(moment - timedelta(seconds=1))


def calibration_warnings(facts: CalibrationFacts, arrivals: Sequence[datetime], acts: dict[str, list[datetime]],
                         shifts: dict[str, ShiftCalendar], calendar: WorkingCalendar,
                         branch_gateways: set[str]) -> list[str]:
    """What the reader of an estimate should know before trusting it: the figures that rest on fewer than
    ``FEW_OBSERVATIONS`` observations (which, and how many), the recorded work that falls outside the calendars
    proposed for it, and the durations that measured no time and were left to the scenario defaults."""
    warnings: list[str] = []
    few = f"rest on fewer than {FEW_OBSERVATIONS} observations"
    checks = (
        ("arrival rates per category", {c: fact["cases"] for c, fact in facts.categories.items()}, "cases"),
        ("arrival windows", {"arrivals": len(arrivals)}, ""),
        ("durations (working hours)", {e: f["n"] for e, f in facts.durations.items() if f["distribution"] is not None},
         "observations"),
        ("customer delays (days)",
         {e: f["n"] for e, f in facts.customer_delays.items() if f["distribution"] is not None}, "observations"),
        ("answers", {e: f["observed"] for e, f in facts.answers.items()}, "completions"),
        ("branch rates", {g: n for g, n in facts.branch_gateways.get("estimated", {}).items()
                          if g in branch_gateways}, "gateway visits"),
    )
    for figure, counts, unit in checks:
        listed = _few(counts)
        if listed:
            warnings.append(f"{figure} {few}{f' ({unit})' if unit else ''}: {listed}")
    default_hours = {role: len(moments) for role, moments in acts.items() if len(moments) < MIN_SHIFT_ACTIONS}
    if default_hours:
        warnings.append(f"working hours {few} (claims and completions), the default office hours are proposed: "
                        + ", ".join(f"{role} {n}" for role, n in sorted(default_hours.items())))
    outside = {role: sum(not _is_on_shift(shifts[role], moment) for moment in moments)
               for role, moments in sorted(acts.items()) if role in shifts}
    if any(outside.values()):
        warnings.append("recorded work outside the proposed calendars (claims and completions off shift): "
                        + ", ".join(f"{role} {n} of {len(acts[role])}" for role, n in outside.items() if n))
    off_days = sum(not calendar.is_working_day(moment.date()) for moment in arrivals)
    if off_days:
        warnings.append(f"{off_days} of {len(arrivals)} arrivals fell on days off, outside the proposed "
                        "arrival calendar (working days cn)")
    for figure, key, found in (("durations", "defaults.task_hours", facts.durations),
                               ("customer delays", "defaults.customer_days", facts.customer_delays)):
        unmeasured = sorted(e for e, f in found.items() if f["distribution"] is None)
        if unmeasured:
            warnings.append(f"{figure} that measured no time (no observation above 0: each was 0, or cut short "
                            "before any answer) are left to the scenario "
                            f"default {key}: " + ", ".join(unmeasured))
    censored = {e: f for e, f in sorted(facts.customer_delays.items()) if f.get("censored")}
    if censored:
        warnings.append(
            "customer delays cut short (the step cancelled before the customer acted: a race lost, the case "
            "cancelled) are right-censored, estimated with Kaplan-Meier; the share beyond the last answer is "
            "placed at the longest cut-short wait, a lower bound: " + ", ".join(
                f"{e} {f['censored']} of {f['n']} censored"
                + (f", {f['beyond_last_answer']:.0%} beyond the last answer placed at {f['placed_at']:.2f} d"
                   if f.get("beyond_last_answer") else "") for e, f in censored.items()))
    return warnings


def task_forms(bundle: Any) -> dict[str, str]:
    """Element id -> form file of every task of the bundle's BPMN files that has one."""
    from lxml import etree

    from ..process_folder import NS

    found: dict[str, str] = {}
    for path in sorted(bundle.root.glob("*.bpmn")):
        for prop in etree.parse(str(path)).iterfind(
                ".//spiffworkflow:property[@name='formJsonSchemaFilename']", NS):
            task = prop.getparent().getparent().getparent()
            if etree.QName(task).localname in ("userTask", "manualTask") and prop.get("value"):
                found[task.get("id", "")] = prop.get("value", "")
    return found


def _is_choice(spec: Any) -> bool:
    if not isinstance(spec, dict):
        return False
    options = spec.get("oneOf") or spec.get("anyOf")
    return spec.get("type") == "boolean" or "enum" in spec or (
        isinstance(options, list) and bool(options) and all(isinstance(o, dict) and "const" in o for o in options))


def decision_fields(schema: dict[str, Any]) -> list[str]:
    """The top-level fields of a form that choose among a few values: booleans and enumerations (``enum``, or
    ``oneOf`` / ``anyOf`` of ``const`` options)."""
    properties = schema.get("properties") or {}
    return sorted(name for name, spec in properties.items() if _is_choice(spec))


REQUIRED_MESSAGE = re.compile(r"'([^']+)' is a required property")


def _complete_answer(schema: dict[str, Any], defaults: dict[str, Any], data: dict[str, Any],
                     example: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` (decision fields), plus the fields the form then requires taken from an observed answer; None when
    the form still refuses it over its defaults."""
    from ..forms import FormValidationError, validate_form_data
    from ..sample_answers import sample_fields_ruled_out

    answer = dict(data)
    for _attempt in range(2):
        try:  # the sample fields the answer rules out are left out, as the simulator leaves them out
            ruled_out = set(sample_fields_ruled_out(schema, answer, defaults))
            validate_form_data(schema, {**{k: v for k, v in defaults.items() if k not in ruled_out}, **answer})
            return answer
        except FormValidationError as err:
            wanted = {match for _path, message in err.errors for match in REQUIRED_MESSAGE.findall(message)}
            wanted |= {path.split(".")[0].split("[")[0] for path, _message in err.errors if path}
            extra = {name: example[name] for name in wanted if name in example and name not in answer}
            if not extra:
                return None
            answer.update(extra)
    return None


def estimate_answers(history: Iterable[HistoryCase], bundle: Any, facts: CalibrationFacts) -> dict[str, Any]:
    """Weighted answers per user task: the observed combinations of the form's decision fields (booleans and
    enumerations), each weighted by how often it was given. The other fields keep the form's defaults, except those
    the form then requires (e.g. the missing materials of a ``need_more`` decision), which are taken from one
    observed answer; a combination that the form still refuses is left out (and counted in the facts)."""
    from ..forms import default_instance

    forms = task_forms(bundle)
    observed: dict[str, Counter[tuple[tuple[str, Any], ...]]] = defaultdict(Counter)
    examples: dict[tuple[str, tuple[tuple[str, Any], ...]], dict[str, Any]] = {}
    for case in history:
        for element, data in case.answers:
            schema = bundle.forms.get(forms.get(element, ""))
            if schema is None:
                continue
            fields = decision_fields(schema)
            if fields:
                combination = tuple((name, data[name]) for name in fields if name in data)
                observed[element][combination] += 1
                examples.setdefault((element, combination), data)
    answers: dict[str, Any] = {}
    for element, combinations in sorted(observed.items()):
        schema = bundle.forms[forms[element]]
        defaults = default_instance(schema)
        alternatives, refused = [], 0
        for combination, count in combinations.most_common():
            answer = _complete_answer(schema, defaults if isinstance(defaults, dict) else {}, dict(combination),
                                      examples[(element, combination)])
            if answer is None:
                refused += count
                continue
            alternatives.append({"weight": count, "data": answer})
        if alternatives:
            answers[element] = alternatives
        facts.answers[element] = {"observed": sum(combinations.values()), "alternatives": len(alternatives),
                                  "refused_over_defaults": refused}
    return answers


def classify_gateways(branches: dict[str, Any], gateways: dict[str, Gateway], answer_tasks: set[str],
                      facts: CalibrationFacts, generated: frozenset[str] | set[str] | None = None) -> set[str]:
    """The gateways whose observed rates may become branch probabilities; the facts say, per gateway, which were
    estimated, which are left to the answers (``left_to_answers``) and why the others are left to the model's
    conditions (each flow's fact gets ``estimated``)."""
    visits = {fact["gateway"]: fact["visits"] for fact in branches.values()}
    estimated: dict[str, int] = {}
    to_answers: dict[str, str] = {}
    left: dict[str, str] = {}
    for gid, gateway in sorted(gateways.items()):
        reason = why_left_to_conditions(gateway, visits.get(gid, 0), answer_tasks, generated)
        if reason is None:
            estimated[gid] = visits[gid]
        elif reason.startswith(ANSWERS_DECIDE.split("(")[0]):
            to_answers[gid] = reason
        else:
            left[gid] = reason
    for fact in branches.values():
        fact["estimated"] = fact["gateway"] in estimated
    facts.branch_gateways = {"estimated": estimated, "left_to_answers": to_answers, "left_to_conditions": left}
    return set(estimated)


def _branch_probabilities(branches: dict[str, Any], gateways: set[str]) -> dict[str, float]:
    """The observed rates of the non-default flows of the given gateways: they add up to 1, or to at most 1 when
    the gateway's default flow takes the rest (as ``branch_probabilities`` wants them)."""
    probabilities: dict[str, float] = {}
    for flow, fact in branches.items():
        if fact["gateway"] in gateways and fact["visits"] and not fact["default"]:
            probabilities[flow] = fact["taken"] / fact["visits"]
    return probabilities


def _fit_facts(fit: Fit) -> dict[str, Any]:
    return {"n": fit.n, "mean": _round(fit.mean), "method": fit.method, "distribution": fit.distribution,
            "aic": fit.aic or None, "ks_statistic": fit.ks_statistic, "ks_pvalue": fit.ks_pvalue}


def _group(cases: Iterable[HistoryCase], key: Any) -> dict[str, list[HistoryCase]]:
    groups: dict[str, list[HistoryCase]] = defaultdict(list)
    for case in cases:
        groups[key(case)].append(case)
    return groups


# -- comparing -----------------------------------------------------------------------------------------------------

COLUMNS = ("case_id", "activity", "start_time", "end_time", "resource")


def history_rows(history: Iterable[HistoryCase]) -> list[tuple[str, str, datetime, datetime, str]]:
    """Completed staff and customer steps of the history's completed cases as (case, activity, start, end,
    resource) rows (an open case's steps are a partial trace: the simulated cases compared with are complete)."""
    rows = []
    for case in history:
        if case.status != "completed":
            continue
        for instance in case.instances:
            if instance.completed is None or instance.aborted is not None:
                continue
            if instance.kind not in (Kind.HUMAN, Kind.WAIT):
                continue
            end = to_shanghai(instance.completed.at)
            claimed = claim_time(instance)
            start = claimed or (to_shanghai(instance.enabled.at) if instance.enabled else end)
            rows.append((case.case_number, instance.activity, start, end, instance.resource or ""))
    return rows


def simulated_rows(log: SimulationLog) -> list[tuple[str, str, datetime, datetime, str]]:
    """The same rows from a simulation log (staff, customer and message steps of the cases that ended; cancelled
    steps left out, as the history's aborted ones are)."""
    ended = {case.case_id for case in log.cases if case.end is not None}
    return [(a.case_id, a.activity, a.start_time, a.end_time, a.resource or "")
            for a in log.activities if a.kind in STAFF_KINDS and a.case_id in ended and not a.cancelled]


def _frame(rows: Sequence[tuple[str, str, datetime, datetime, str]]) -> Any:
    import pandas as pd  # type: ignore[import-untyped]

    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def log_distances(original: Sequence[tuple[str, str, datetime, datetime, str]],
                  simulated: Sequence[tuple[str, str, datetime, datetime, str]]) -> dict[str, float | None]:
    """Distances between two logs of (case, activity, start, end, resource) rows (0 = identical):

    - ``cycle_time_emd_days``: Wasserstein distance of the case cycle times, in 1-day bins;
    - ``case_arrival_emd_hours``, ``absolute_event_emd_hours``: of the case arrivals / all start and end times,
      in hourly bins from the earliest one;
    - ``circadian_event_emd_hours``: of the times of day per weekday;
    - ``control_flow_log_distance``: mean normalised Damerau-Levenshtein distance of optimally paired traces (on at
      most ``MAX_CFLD_TRACES`` cases of each log, taken evenly)."""
    from log_distance_measures.absolute_event_distribution import (  # type: ignore[import-untyped]
        absolute_event_distribution_distance,
    )
    from log_distance_measures.case_arrival_distribution import (  # type: ignore[import-untyped]
        case_arrival_distribution_distance,
    )
    from log_distance_measures.circadian_event_distribution import (  # type: ignore[import-untyped]
        circadian_event_distribution_distance,
    )
    from log_distance_measures.config import EventLogIDs  # type: ignore[import-untyped]
    from log_distance_measures.control_flow_log_distance import (  # type: ignore[import-untyped]
        control_flow_log_distance,
    )
    from log_distance_measures.cycle_time_distribution import (  # type: ignore[import-untyped]
        cycle_time_distribution_distance,
    )

    if not original or not simulated:
        return {key: None for key in ("cycle_time_emd_days", "case_arrival_emd_hours", "absolute_event_emd_hours",
                                      "circadian_event_emd_hours", "control_flow_log_distance")}
    ids = EventLogIDs(case="case_id", activity="activity", start_time="start_time", end_time="end_time",
                      resource="resource")
    a, b = _frame(original), _frame(simulated)
    return {
        "cycle_time_emd_days": _round(float(cycle_time_distribution_distance(a, ids, b, ids, timedelta(days=1)))),
        "case_arrival_emd_hours": _round(float(case_arrival_distribution_distance(a, ids, b, ids))),
        "absolute_event_emd_hours": _round(float(absolute_event_distribution_distance(a, ids, b, ids))),
        "circadian_event_emd_hours": _round(float(circadian_event_distribution_distance(a, ids, b, ids))),
        "control_flow_log_distance": _round(float(control_flow_log_distance(
            _thin(a, MAX_CFLD_TRACES), ids, _thin(b, MAX_CFLD_TRACES), ids, parallel=False))),
    }


def _thin(frame: Any, traces: int) -> Any:
    cases = list(dict.fromkeys(frame["case_id"]))
    if len(cases) <= traces:
        return frame
    keep = {cases[round(i * (len(cases) - 1) / (traces - 1))] for i in range(traces)}
    return frame[frame["case_id"].isin(keep)]


DISTANCE_KEYS = ("cycle_time_emd_days", "case_arrival_emd_hours", "absolute_event_emd_hours",
                 "circadian_event_emd_hours", "control_flow_log_distance")
DISTANCE_MEANINGS = {
    "cycle_time_emd_days": ("days", "how far apart the distributions of case cycle times (first step to last) are: "
                                    "the average number of days a case's cycle time must move to match (set it "
                                    "against the mean cycle time above)"),
    "case_arrival_emd_hours": ("hours", "how far apart the case arrival times are, on the calendar: the average "
                                        "number of hours an arrival must move to match (a few hours is close)"),
    "absolute_event_emd_hours": ("hours", "how far apart all step start and end times are, on the calendar: the "
                                          "average number of hours a step must move to match; it adds the arrival "
                                          "and cycle-time gaps up (24 ≈ steps a day early or late on average)"),
    "circadian_event_emd_hours": ("hours", "how far apart the times of day of the steps are, per weekday: the average "
                                           "number of hours a step's time of day must move (under 1: the working "
                                           "hours match)"),
    "control_flow_log_distance": ("0-1", "how different the sequences of steps of paired cases are "
                                         "(0 = the same paths, 1 = nothing in common)"),
}
"""Distance key -> (unit, what it measures), for the human-readable summary."""


def _cycle_figures(cycles_days: Sequence[float]) -> dict[str, float | None]:
    if not cycles_days:
        return {"mean_cycle_days": None, "p90_cycle_days": None}
    data = np.asarray(cycles_days, dtype=float)
    return {"mean_cycle_days": _round(float(data.mean())), "p90_cycle_days": _round(float(np.quantile(data, 0.9)))}


def _per_working_day(arrivals: Sequence[datetime], calendar: WorkingCalendar) -> float | None:
    if not arrivals:
        return None
    first, last = min(arrivals), max(arrivals)
    return _round(len(arrivals) / max(1, _working_days_in(first.date(), last.date(), calendar)))


def history_reference(history: Sequence[HistoryCase], calendar: WorkingCalendar) -> dict[str, Any]:
    """Reference figures of the history: cases compared (completed) and left out, mean and P90 cycle time (arrival
    to completion, calendar days) of the completed cases, and arrivals per working day."""
    completed = [case for case in history if case.status == "completed" and case.completed_at is not None]
    return {"cases": len(history), "completed_cases": len(completed),
            "open_cases_left_out": sum(case.status in ("running", "suspended") for case in history),
            "other_cases_left_out": sum(case.status not in ("running", "suspended", "completed") for case in history),
            **_cycle_figures([(case.completed_at - case.created_at).total_seconds() / 86400
                              for case in completed if case.completed_at is not None]),
            "cases_per_working_day": _per_working_day([case.created_at for case in history], calendar),
            "categories": _category_figures([(case.category, case.created_at,
                                              case.completed_at if case.status == "completed" else None)
                                             for case in history], calendar)}


def simulated_reference(log: SimulationLog, calendar: WorkingCalendar) -> dict[str, Any]:
    """The same figures of one simulation log, with its lanes' ``utilisation_while_arriving``."""
    ended = [case for case in log.cases if case.end is not None]
    return {"cases": len(log.cases), "completed_cases": len(ended),
            **_cycle_figures([(case.end - case.arrival).total_seconds() / 86400 for case in ended
                              if case.end is not None]),
            "cases_per_working_day": _per_working_day([to_shanghai(case.arrival) for case in log.cases], calendar),
            "categories": _category_figures([(case.category, case.arrival, case.end) for case in log.cases],
                                            calendar),
            "utilisation_while_arriving": dict(log.stats.get("utilisation_while_arriving") or {})}


def _mean_of(replications: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Figures averaged over the replications, key by key (nested dicts too; a key some lack averages the rest)."""
    keys = list(dict.fromkeys(key for figures in replications for key in figures))
    result: dict[str, Any] = {}
    for key in keys:
        values = [figures.get(key) for figures in replications]
        if any(isinstance(value, dict) for value in values):
            result[key] = _mean_of([value for value in values if isinstance(value, dict)])
        else:
            result[key] = summarize(values)["mean"]
    return result


def summarize(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, standard deviation, minimum and maximum of the replications' figures (None when none has one)."""
    known = [float(v) for v in values if v is not None]
    if not known:
        return {"mean": None, "sd": None, "min": None, "max": None, "replications": list(values)}
    data = np.asarray(known)
    return {"mean": _round(float(data.mean())), "sd": _round(float(data.std(ddof=1)) if len(known) > 1 else 0.0),
            "min": _round(float(data.min())), "max": _round(float(data.max())), "replications": list(values)}


MIN_BRANCH_VISITS = 10
"""A gateway's branch rates are compared (history vs simulated) only when both sides passed it this often."""
BRANCH_GAP = 0.1
"""A flow's simulated rate this far (absolute) from the history's, and beyond sampling noise (``BRANCH_Z``), is a
``check_warnings`` entry."""
BRANCH_Z = 3.0
"""Two-proportion z statistic beyond which a branch-rate gap is not sampling noise (two-sided p ≈ 0.003)."""
UTILISATION_GAP = 0.1
UTILISATION_RATIO = 1.5
"""A lane whose simulated utilisation while cases arrive is ``UTILISATION_GAP`` (absolute) and this factor away from
the history's is a ``check_warnings`` entry."""


def _working_days_elapsed(begin: datetime, end: datetime, calendar: WorkingCalendar) -> float:
    """The time from ``begin`` to ``end`` that fell on working days, in days (Shanghai days off do not count)."""
    begin, end = to_shanghai(begin), to_shanghai(end)
    total = 0.0
    day = begin.date()
    while day <= end.date():
        if calendar.is_working_day(day):
            midnight = datetime.combine(day, datetime.min.time(), begin.tzinfo)
            lo, hi = max(begin, midnight), min(end, midnight + timedelta(days=1))
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total / 86400


def _category_figures(cases: Iterable[tuple[str, datetime, datetime | None]],
                      calendar: WorkingCalendar) -> dict[str, dict[str, Any]]:
    """Per category of (category, arrival, end or None) cases: cases, completed, mean and P90 cycle time (arrival to
    end) in working days of the completed ones."""
    counts: Counter[str] = Counter()
    cycles: dict[str, list[float]] = defaultdict(list)
    for category, arrival, end in cases:
        counts[category] += 1
        if end is not None:
            cycles[category].append(_working_days_elapsed(arrival, end, calendar))
    result = {}
    for category in sorted(counts):
        figures = _cycle_figures(cycles[category])
        result[category] = {"cases": counts[category], "completed": len(cycles[category]),
                            "mean_cycle_working_days": figures["mean_cycle_days"],
                            "p90_cycle_working_days": figures["p90_cycle_days"]}
    return result


def gateway_counts(paths: Iterable[Sequence[str]], gateways: dict[str, Gateway]) -> dict[str, Counter[str]]:
    """Per gateway, per flow: how often the gateway's next completed target in a path (element ids in completion
    order: a history case's ``completed_elements``, a simulated case's ``visited``) was the flow's target."""
    taken: dict[str, Counter[str]] = {gateway: Counter() for gateway in gateways}
    for elements in paths:
        for index, element in enumerate(elements):
            if element not in gateways:
                continue
            targets = {target: flow for flow, target in gateways[element].flows}
            following = next((e for e in elements[index + 1:] if e in targets), None)
            if following is not None:
                taken[element][targets[following]] += 1
    return taken


def _two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """The two-proportion z statistic of x1/n1 against x2/n2 (0 when both are 0 % or 100 %)."""
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return (x1 / n1 - x2 / n2) / spread if spread else 0.0


def compare_branches(history: dict[str, Counter[str]], simulated: dict[str, Counter[str]],
                     gateways: dict[str, Gateway]) -> dict[str, dict[str, Any]]:
    """Per gateway passed on either side: its visits and, per flow, the target, the history's and the simulation's
    count and rate, the gap (simulated − history) and the two-proportion z statistic; ``differs`` when both sides
    passed it ``MIN_BRANCH_VISITS`` times and a flow's gap exceeds ``BRANCH_GAP`` beyond sampling noise
    (|z| ≥ ``BRANCH_Z``)."""
    result: dict[str, dict[str, Any]] = {}
    for gid, gateway in sorted(gateways.items()):
        seen, made = sum(history[gid].values()), sum(simulated[gid].values())
        if not seen and not made:
            continue
        flows: dict[str, Any] = {}
        differs = False
        for flow, target in gateway.flows:
            x1, x2 = history[gid][flow], simulated[gid][flow]
            entry: dict[str, Any] = {"target": target, "default": flow == gateway.default,
                                     "history_taken": x1, "history_rate": _round(x1 / seen) if seen else None,
                                     "simulated_taken": x2, "simulated_rate": _round(x2 / made) if made else None,
                                     "gap": None, "z": None}
            if seen and made:
                entry["gap"] = _round(x2 / made - x1 / seen)
                entry["z"] = _round(_two_proportion_z(x2, made, x1, seen))
                if (min(seen, made) >= MIN_BRANCH_VISITS and abs(x2 / made - x1 / seen) > BRANCH_GAP
                        and abs(entry["z"]) >= BRANCH_Z):
                    differs = True
            flows[flow] = entry
        result[gid] = {"history_visits": seen, "simulated_visits": made, "differs": differs,
                       "reads": sorted(gateway.reads) if gateway.reads is not None else None, "flows": flows}
    return result


def branch_warning(gid: str, comparison: dict[str, Any]) -> str:
    """What a gateway's branch-rate gap is and what to do about it, for ``check_warnings``."""
    flows = comparison["flows"]
    worst = max((flow for flow in flows if flows[flow]["gap"] is not None), key=lambda f: abs(flows[f]["gap"]))
    fact = flows[worst]
    override = ", ".join(f"{flow}: {round(entry['history_rate'], 2)}" for flow, entry in flows.items()
                         if not entry["default"] and entry["history_rate"] is not None)
    reads = comparison["reads"]
    data = f" make the scenario's case_data (sample applications) produce the data its conditions read " \
           f"({', '.join(reads)}) as the history's cases had it, or" if reads else ""
    return (f"gateway {gid}: the history sent {fact['history_taken']} of {comparison['history_visits']} cases "
            f"({fact['history_rate']:.0%}) to {fact['target']} (flow {worst}), the simulation "
            f"{fact['simulated_taken']} of {comparison['simulated_visits']} ({fact['simulated_rate']:.0%}) — beyond "
            f"sampling noise (z = {fact['z']:.1f}), so the work behind it is off too:{data} override the gateway in "
            f"the scenario with its observed rates: branch_probabilities: {{{override}}} (docs/simulation.md, "
            "Branch probabilities; they replace the gateway's conditions for every case)")


def utilisation_warnings(history: dict[str, float | None], simulated: dict[str, Any]) -> list[str]:
    """A ``check_warnings`` entry per lane whose simulated utilisation while cases arrive is ``UTILISATION_GAP``
    and a factor ``UTILISATION_RATIO`` away from the history's."""
    warnings = []
    for lane, observed in sorted(history.items()):
        made = simulated.get(lane)
        if observed is None or made is None:
            continue
        low, high = sorted((observed, made))
        if high - low >= UTILISATION_GAP and (not low or high / low >= UTILISATION_RATIO):
            warnings.append(f"lane {lane}: busy {observed:.0%} of its on-shift time while cases arrived in the "
                            f"history, {made:.0%} in the simulation: its work is off — check the branch rates of "
                            f"the gateways leading to its tasks (above), its durations and pickup delays, and "
                            f"pools.{lane}.count")
    return warnings


def history_utilisation(history: Sequence[HistoryCase], scenario: dict[str, Any],
                        calendar: WorkingCalendar) -> dict[str, float | None]:
    """Per lane of the scenario's pools: the share of its people's on-shift time (the scenario's calendar for the
    lane, ``count`` people) they were busy (claim to completion, a person's overlapping claims once) from the
    midnight before the first arrival to the last arrival — the simulation's ``utilisation_while_arriving``. None
    for a lane whose tasks were never claimed (its busy time is not recorded)."""
    if not history:
        return {}
    arrivals = [case.created_at for case in history]
    first, last = min(arrivals), max(arrivals)
    begin = datetime.combine(first.date(), datetime.min.time(), first.tzinfo)
    busy = _busy_by_lane(history)
    calendars = scenario.get("calendars") or {}
    result: dict[str, float | None] = {}
    for role, pool in sorted((scenario.get("pools") or {}).items()):
        spec = calendars.get(pool.get("calendar", ""))
        shift = ShiftCalendar(ShiftSpec.from_dict(spec) if spec else DEFAULT_SHIFTS, calendar)
        if role not in busy:
            result[role] = None
            continue
        worked = 0.0
        for person, spans in busy[role].items():
            for start, end in LaneOccupancy({person: spans}, 1).spans:  # merged: overlapping claims once
                if start < last:
                    worked += shift.on_shift_seconds(max(start, begin), min(end, last))
        available = shift.on_shift_seconds(begin, last) * max(1, int(pool.get("count", 1)))
        result[role] = _round(worked / available) if available else None
    return result


@dataclass
class Calibration:
    """A calibrated baseline: the scenario dict, the facts, and the distances of its simulations to the history
    (per distance: mean, spread and each replication's figure, its unit and what it measures; all None with
    ``note`` saying why when they cannot be computed) beside the reference figures of both (per category, per lane
    utilisation while cases arrive, and the branch rates of each exclusive gateway side by side in
    ``reference["branches"]``); ``warnings`` name the gateways and lanes whose simulation is off."""

    scenario: dict[str, Any]
    facts: CalibrationFacts
    distances: dict[str, dict[str, Any]]
    simulated_cases: int
    replications: int = 1
    reference: dict[str, Any] = field(default_factory=dict)  # "history" / "simulated" / "branches" -> figures
    note: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"facts": self.facts.to_dict(), "distances": self.distances, "simulated_cases": self.simulated_cases,
                "replications": self.replications, "reference": self.reference,
                "check_warnings": self.warnings, **({"note": self.note} if self.note else {})}


def calibrate(sessions: sessionmaker[Session], *, since: datetime | None = None, seed: int = 1,
              with_branches: bool = False, process: str | None = None, samples: str | None = None,
              bundle: Any = None, version: int | None = None,
              replications: int = CHECK_REPLICATIONS) -> Calibration:
    """Estimate the baseline, simulate it ``replications`` times and measure how close it comes to the history.

    ``process`` / ``samples`` are the scenario's folders (default: the scenario defaults, relative to the working
    directory); ``bundle`` the parsed process (loaded from ``process`` when None); ``version`` the process version
    whose cases are calibrated on (all cases when None)."""
    from ..process_folder import load_process_folder
    from .scenario import DEFAULT_PROCESS

    bundle = bundle or load_process_folder(process or DEFAULT_PROCESS)
    scenario, facts = baseline_from_history(sessions, since=since, seed=seed, bundle=bundle,
                                            with_branches=with_branches, version=version)
    return check_baseline(sessions, scenario, facts, since=since, process=process, samples=samples, bundle=bundle,
                          version=version, replications=replications)


def check_baseline(sessions: sessionmaker[Session], scenario: dict[str, Any], facts: CalibrationFacts, *,
                   since: datetime | None = None, process: str | None = None, samples: str | None = None,
                   bundle: Any = None, version: int | None = None, replications: int = CHECK_REPLICATIONS,
                   source: str = "<calibrated>", calendar: WorkingCalendar | None = None) -> Calibration:
    """Simulate an estimated baseline ``replications`` times and measure its distance to the history it came from
    (the completed cases of ``version``, or of all versions when None).

    Separate from the estimate so that a caller can keep (write) the estimate first: a failing check simulation
    (``ScenarioError``, ``SimulationError``) must not lose it; ``source`` names the scenario in their messages (the
    written file). ``process`` / ``samples`` replace the scenario's folders for this run only. Without a completed
    case in the history nothing is simulated: the distances are None and ``note`` says why."""
    from .engine import simulate
    from .scenario import scenario_from_dict

    calendar = calendar or WorkingCalendar.default()
    checked = dict(scenario)
    if process:
        checked["process"] = process
    if samples:
        checked["samples"] = samples
    parsed = scenario_from_dict(checked, source=source)
    history = read_history(sessions, since, version)
    reference: dict[str, Any] = {"history": history_reference(history, calendar)}
    original = history_rows(history)
    if not original:
        none = summarize([])
        return Calibration(checked, facts, {key: dict(none) for key in DISTANCE_KEYS}, 0, 0, reference,
                           f"no completed case in the history ({len(history)} open or stopped): the distances "
                           "cannot be computed")
    gateways = exclusive_gateways(bundle) if bundle is not None else {}
    reference["history"]["utilisation_while_arriving"] = history_utilisation(history, checked, calendar)
    runs: list[dict[str, float | None]] = []
    simulated: list[dict[str, Any]] = []
    taken: dict[str, Counter[str]] = {gateway: Counter() for gateway in gateways}
    for replication in range(max(1, replications)):
        log = simulate(parsed, bundle, replication=replication)
        runs.append(log_distances(original, simulated_rows(log)))
        simulated.append(simulated_reference(log, calendar))
        for gateway, counts in gateway_counts((case.visited for case in log.cases), gateways).items():
            taken[gateway].update(counts)
    distances = {key: {**summarize([run[key] for run in runs]), "unit": DISTANCE_MEANINGS[key][0],
                       "measures": DISTANCE_MEANINGS[key][1]} for key in DISTANCE_KEYS}
    reference["simulated"] = _mean_of(simulated)
    reference["simulated"]["replications"] = len(simulated)
    reference["branches"] = compare_branches(
        gateway_counts((case.completed_elements for case in history), gateways), taken, gateways)
    warnings = [branch_warning(gid, comparison) for gid, comparison in reference["branches"].items()
                if comparison["differs"]]
    warnings += utilisation_warnings(reference["history"]["utilisation_while_arriving"],
                                     reference["simulated"]["utilisation_while_arriving"])
    return Calibration(checked, facts, distances, sum(figures["cases"] for figures in simulated) // len(simulated),
                       len(simulated), reference, warnings=warnings)
