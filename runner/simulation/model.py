"""What a simulation run produces: the contract between the engine, the KPIs, the what-if comparison, the event-log
writers, the CLI and the web page. Plain data, JSON-friendly, no SpiffWorkflow types.

Times are aware datetimes (Asia/Shanghai) on the simulation's virtual clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ACTIVITY_KINDS = ("user", "customer", "service", "script", "message", "timer", "decision", "task")
"""``user``: a staff task done by a pool's resource; ``customer``: a task of the customer lane (customer-side
delay, no staff); ``service``/``script``/``decision``: engine work (zero duration unless the scenario says
otherwise); ``message``: waiting for a customer or external message; ``timer``: a timer that fired; ``task``:
a plain BPMN ``task`` (Prosimos models), handled like ``user``."""


@dataclass
class SimActivity:
    """One activity instance: a task from becoming ready (enabled) through start to completion."""

    case_id: str
    element_id: str
    activity: str  # the BPMN element name (Chinese in baozhuang)
    kind: str  # one of ACTIVITY_KINDS
    lane: str | None  # the role (``lane_<role>`` without the prefix) or None
    resource: str | None  # e.g. ``surveyor#2``; None for engine work and customer-side steps
    enable_time: datetime
    start_time: datetime
    end_time: datetime
    due_at: datetime | None = None  # the step's deadline (its SLA timer) when it has one
    cancelled: bool = False  # a timer or another branch ended the step before it was completed

    @property
    def waiting_seconds(self) -> float:
        return (self.start_time - self.enable_time).total_seconds()

    @property
    def processing_seconds(self) -> float:
        return (self.end_time - self.start_time).total_seconds()

    @property
    def on_time(self) -> bool | None:
        return None if self.due_at is None else self.end_time <= self.due_at


@dataclass
class OpenStep:
    """A step still open when the clock stopped (queued, being worked on, or waiting for the customer): not an
    activity of the log, which holds ended steps only, but the KPIs judge its deadline: one already past at the stop
    is known to be late (``kpis.on_time_kpis``)."""

    case_id: str
    element_id: str
    activity: str
    kind: str
    lane: str | None
    enable_time: datetime
    start_time: datetime | None  # None while it waits in a queue or for the customer
    due_at: datetime | None = None


@dataclass
class SimCase:
    """One simulated case: its arrival, its end (None when the horizon cut it off) and its attributes."""

    case_id: str
    category: str
    arrival: datetime
    end: datetime | None
    attributes: dict[str, Any] = field(default_factory=dict)  # capacity_kva, supply_voltage_kv, dual_supply, …
    visited: list[str] = field(default_factory=list)  # element ids in completion order, as ``Case.visited``
    case_due_at: datetime | None = None  # whole-case deadline under the regime, when it has one
    escalations: int = 0  # SLA breaches (督办) raised
    energized: datetime | None = None
    """When the case was energised (送电: the process's ``timeline["energized"]``, the end of ``case_kpis``' time to
    connect); None before that or for a model without that milestone (a converted Prosimos model)."""

    @property
    def completed(self) -> bool:
        return self.end is not None


@dataclass
class PoolUsage:
    """A staff pool over the run: its size, the seconds its members were on shift and the seconds they worked."""

    pool: str  # the lane role, e.g. ``surveyor``
    size: int
    available_seconds: float
    busy_seconds: float
    hourly_cost: float = 0.0  # CNY per on-shift or busy hour of one member
    paid_seconds_while_arriving: float | None = None
    """On-shift seconds of all members from the start to the last arrival (the utilisation period): the paid time."""

    @property
    def utilisation(self) -> float:
        return self.busy_seconds / self.available_seconds if self.available_seconds else 0.0


@dataclass
class QueueSample:
    """The number of tasks waiting for a pool at one moment (sampled on every change)."""

    at: datetime
    pool: str
    length: int


@dataclass
class SimulationLog:
    """Everything one replication produced."""

    scenario_name: str
    seed: int
    started_at: datetime  # the simulation's start date
    ended_at: datetime  # the virtual clock when the run stopped
    cases: list[SimCase] = field(default_factory=list)
    activities: list[SimActivity] = field(default_factory=list)
    pools: list[PoolUsage] = field(default_factory=list)
    queues: list[QueueSample] = field(default_factory=list)
    costs: dict[str, float] = field(default_factory=dict)  # per pool: busy hours × hourly cost
    stats: dict[str, Any] = field(default_factory=dict)  # engine figures: activity instances, wall seconds …
    open_steps: list[OpenStep] = field(default_factory=list)
    """The steps of the cases still open when the run stopped (at ``max_days``, or with nothing left to happen)."""
