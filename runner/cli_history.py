"""``baozhuang generate-history``: fill an empty database with a scenario's cases, run by the real runner.

For trying ``baozhuang calibrate``, the export, the audit trail or the staff pages on a history of realistic size
before a real one exists (``runner.history``).
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_simulate import ProcessProblems, fail_lines, load_checked
from .environment import command_environment, fail
from .history import HistoryRefused, HistoryRun
from .logging_setup import configure_logging
from .process_folder import ProcessFolderError
from .simulation.scenario import ScenarioError


def register(main: click.Group) -> None:
    """Add ``generate-history`` to the ``baozhuang`` group."""
    main.add_command(generate_history_command)


@click.command(name="generate-history")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
              help="calendar days of arrivals from the scenario's start")
@click.option("--seed", type=int, default=None, help="random seed (default: the scenario's)")
def generate_history_command(scenario: Path, days: float, seed: int | None) -> None:
    """Run SCENARIO's cases through the runner on a virtual clock into an EMPTY database: arrivals for DAYS days
    from the scenario's start, staff ``<lane>.1`` … of each pool working their shifts, customers, messages and
    timers as the scenario says; then every case runs on until it ends. Each step is a real transaction, so the
    event log is what production would write. Refuses a database that holds cases."""
    configure_logging()
    try:
        loaded = load_checked(scenario)
    except ScenarioError as err:
        fail_lines([problem.text for problem in err.problems])
    except (ProcessFolderError, ProcessProblems) as err:
        fail_lines(err.problems)
    env = command_environment()
    run = HistoryRun(env.sessions, env.runtime, loaded, days, loaded.seed if seed is None else seed)
    try:
        result = run.run()
    except HistoryRefused as err:
        fail(str(err))
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(result.statuses.items()))
    click.echo(f"{result.arrived} cases arrived in {days:g} days from {loaded.start.date().isoformat()} "
               f"(version {result.version_id}): {statuses}; {result.transactions} transactions; the clock stopped "
               f"at {result.ended_at.isoformat(timespec='minutes')}")
    for failure in result.failures[:20]:
        click.echo(f"note: {failure}", err=True)
