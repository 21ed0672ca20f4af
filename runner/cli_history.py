"""``baozhuang generate-history``: fill an empty database with a scenario's cases, run by the real runner.

For trying ``baozhuang calibrate``, the export, the audit trail or the staff pages on a history of realistic size
before a real one exists (``runner.history``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, time
from pathlib import Path

import click

from .cli_simulate import check_runs, load_checked, scenario_problems
from .clock import SHANGHAI
from .environment import command_environment, fail
from .history import HistoryRefused, HistoryRun, stop_days
from .logging_setup import configure_logging
from .simulation.batch import prepare
from .store import DeployError


def register(main: click.Group) -> None:
    """Add ``generate-history`` to the ``baozhuang`` group."""
    main.add_command(generate_history_command)


MAX_DAYS = 3650.0


def _days(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or not 0 < value <= MAX_DAYS:
        raise click.BadParameter(f"a number of days above 0 and at most {MAX_DAYS:g}")
    return value


@click.command(name="generate-history")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--days", type=float, default=20.0, show_default=True, callback=_days,
              help="calendar days of arrivals from the start")
@click.option("--start", "start_day", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="the first day (default: the scenario's start)")
@click.option("--seed", type=int, default=None, help="random seed (default: the scenario's); the same seed, the "
                                                     "same history")
def generate_history_command(scenario: Path, days: float, start_day: datetime | None, seed: int | None) -> None:
    """Run SCENARIO's cases through the runner on a virtual clock into an EMPTY database: arrivals for DAYS days
    from the start, staff ``<lane>.1`` … of each pool working their shifts, customers, messages and timers as the
    scenario says; then every case runs on until it ends (at most until the scenario's max_days). Each step is a
    real transaction, so the event log is what production would write. Refuses a database that holds cases, and a
    scenario ``simulate`` would refuse."""
    configure_logging()
    with scenario_problems():
        loaded = load_checked(scenario)
        if start_day is not None:
            loaded = replace(loaded, start=datetime.combine(start_day.date(), time(0, 0), tzinfo=SHANGHAI))
        check_runs(loaded)  # what simulate checks against the process: pools for every lane, answers the forms take
        loaded = prepare(loaded)  # a variant's overlay folder over its base
    if loaded.branch_probabilities:
        fail(f"{scenario}: branch_probabilities replace gateway conditions in a simulation only; the runner decides "
             "by the process's own conditions: remove them to generate a history")
    env = command_environment()
    run = HistoryRun(env.sessions, env.runtime, loaded, days, loaded.seed if seed is None else seed)
    try:
        result = run.run()
    except (HistoryRefused, DeployError) as err:
        fail(str(err))
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(result.statuses.items()))
    click.echo(f"{result.arrived} cases arrived in {days:g} days from {loaded.start.date().isoformat()} "
               f"(version {result.version_id}): {statuses}; {result.transactions} transactions; the clock stopped "
               f"at {result.ended_at.isoformat(timespec='minutes')}")
    running = result.statuses.get("running", 0)
    if running:
        click.echo(f"note: {running} case(s) still running when the clock stopped "
                   f"({stop_days(loaded, days):g} days after the start: the scenario's max_days, else the arrival "
                   "window plus a year)", err=True)
    if result.ended_at > datetime.now(UTC):
        click.echo(f"note: the history runs past today (to {result.ended_at.date().isoformat()}); give --start "
                   "for one that has ended", err=True)
    for failure in result.failures[:20]:
        click.echo(f"note: {failure}", err=True)
