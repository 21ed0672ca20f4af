"""``baozhuang simulate``: run a scenario (and a what-if variant) on the executable process and report the KPIs.

Prints the mean KPIs of the replications (and the comparison, with ``--compare``) as JSON on stdout with the cases
that arrived per replication, checks both scenarios against their process (errors, e.g. a lane without a pool, come
before any progress), shows a progress bar on stderr (and warnings there when the scenario's arrival window ended
before the requested case count or no case arrived, when the clock stopped at ``max_days`` with cases still open,
when a pool had no on-shift time while cases arrived (its utilisation is ``null``), and which of the run's days
are estimated when a run that counts on the official working days went outside the official holiday data); a
scenario whose arrival window holds no arrival day at all (a holiday week) is refused before it runs) and, with
``--out DIR``, writes kpis.json, comparison.json, the event logs of replication 0 (CSV and XES; cancelled steps in
cancelled_steps.csv) and report.html (runner/simulation/report.py). A Prosimos/Simod model (``--bpmn`` with
``--prosimos-json``) can stand in for the scenario file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from .environment import fail
from .process_folder import ProcessFolderError
from .simulation.arrivals import expected_arrivals
from .simulation.batch import BASE, VARIANT, BatchResult, mean_flat, prepare, run_batch
from .simulation.engine import SimulationError, simulate
from .simulation.kpis import pool_load_keys, unmeasured_load_keys
from .simulation.report import (
    arrived,
    estimated_days,
    estimated_note,
    off_shift_pools,
    open_at_stop,
    shortfalls,
    side_kpis,
    write_report,
)
from .simulation.scenario import Scenario, ScenarioError, check_process_folder, load_scenario, scenario_from_dict
from .simulation.variants import VariantError, check_process

PROGRESS_STEPS = 1000


def register(main: click.Group) -> None:
    """Add ``simulate`` to the ``baozhuang`` group."""
    main.add_command(simulate_command)


def load_base(scenario: Path | None, bpmn: Path | None, prosimos_json: Path | None, seed: int | None,
              cases: int | None, start: date | None = None) -> Scenario:
    """The base scenario: a scenario file, or a Prosimos model converted by ``runner.simulation.prosimos``.

    A Prosimos model starts on ``start`` (``--start``), else on a QBP model's ``startDateTime``, else on the fixed
    ``DEFAULT_START`` (never today: a seed must give the same files on any day); it runs ``--cases`` cases, else a
    QBP model's ``processInstances``, else ``DEFAULT_CASES``. The start used (and where it came from) is printed on
    stderr, then one ``warning: FILE: …`` line per approximation the conversion made (``ProsimosConversion.gaps``).
    """
    if bpmn is None and prosimos_json is None:
        if scenario is None:
            raise click.UsageError("give a SCENARIO file, or --bpmn with --prosimos-json")
        if start is not None:
            raise click.UsageError("--start is for --bpmn/--prosimos-json models; a scenario file has its own start")
        return load_checked(scenario)
    if scenario is not None:
        raise click.UsageError("give either a SCENARIO file or --bpmn/--prosimos-json, not both")
    if bpmn is None:
        raise click.UsageError("--prosimos-json needs --bpmn (the model's BPMN file)")
    try:
        from .simulation.prosimos import ProsimosError, load_prosimos_model
    except ImportError:  # the interop module is optional in a trimmed installation
        fail("Prosimos models are not supported by this installation (runner/simulation/prosimos.py missing)")
    try:
        conversion, _bundle = load_prosimos_model(bpmn, prosimos_json, start=start, cases=cases,
                                                  seed=seed if seed is not None else 1)
    except ProsimosError as err:
        fail(str(err))
    source = prosimos_json or bpmn
    when = conversion.scenario["start"][:10]
    click.echo(f"start: {when}" + {
        "argument": "",
        "model": f" (the startDateTime of {bpmn}; choose another with --start)",
        "default": " (the default; choose another with --start)"}[conversion.start_from], err=True)
    if conversion.cases_from == "model":
        click.echo(f"cases: {conversion.scenario['cases']} (the processInstances of {bpmn}; choose another with "
                   "--cases)", err=True)
    for gap in conversion.gaps:
        click.echo(f"warning: {source}: {gap}", err=True)
    return scenario_from_dict(conversion.scenario, source=str(source))


def load_checked(path: Path) -> Scenario:
    """A scenario file whose process folder exists, holds the main process (else the file and line of its
    ``process``) and passes ``baozhuang validate``'s checks (else ``ProcessProblems``), before any case runs."""
    scenario = load_scenario(path)
    check_process_folder(scenario)
    problems = check_process(scenario.process_dir)
    if problems:
        raise ProcessProblems(problems)
    return scenario


class ProcessProblems(Exception):
    """The scenario's process folder fails ``baozhuang validate``'s checks: one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def fail_lines(lines: list[str]) -> NoReturn:
    """End the command with one ``error:`` line per problem on stderr, exit 1."""
    for line in lines[:-1]:
        click.echo(f"error: {line}", err=True)
    fail(lines[-1] if lines else "failed")


def check_runs(scenario: Scenario) -> None:
    """Let the engine check ``scenario`` against its process (a lane without a pool, an unknown task, a branch
    probability of no flow …) by running no case, so its errors come before the progress bar starts.

    Raises:
        ScenarioError, SimulationError, VariantError: As ``run_batch`` would, on the first replication.
    """
    simulate(prepare(scenario), cases=0)


def no_arrivals(scenario: Scenario) -> str | None:
    """Why no application can arrive in ``scenario``'s arrival window (``horizon_days``: holidays, weekends, by
    its real arrival calendar), else None."""
    if expected_arrivals(scenario) > 0 or scenario.horizon_days is None:
        return None
    last = (scenario.start + timedelta(days=scenario.horizon_days) - timedelta(microseconds=1)).date()
    return (f"{scenario.source}: horizon_days: no application can arrive from {scenario.start.date()} to {last}: "
            "the arrival window holds no arrival day of the arrival calendar (holidays, weekends), so the run would "
            "only produce an empty report; move start or lengthen horizon_days")


def requested_cases(scenarios: dict[str, Scenario], cases: int | None) -> dict[str, int | None]:
    """Per side, the case count asked for: ``--cases``, else the scenario's own ``cases``."""
    return {side: cases if cases is not None else scenario.cases for side, scenario in scenarios.items()}


CPU_SECONDS_PER_CASE = 0.015
"""About what one case of ``today.yaml`` takes (``run_request.MAX_CASES``); enough for an order of magnitude."""


def workload_warning(scenarios: dict[str, Scenario], requested: dict[str, int | None], replications: int,
                     jobs: int) -> str | None:
    """A run bigger than the web page allows (``run_request.MAX_SIMULATED_CASES`` cases over every replication of
    every scenario): how many cases and roughly how long, said before the progress bar, so that a mistyped
    ``--cases 5000000`` is not found out hours later. None for a run within it."""
    from .simulation.run_request import MAX_SIMULATED_CASES

    total = 0.0
    for side, scenario in scenarios.items():
        window = expected_arrivals(scenario)
        asked = requested.get(side)
        total += (min(float(asked), window) if asked is not None else window) * replications
    if total <= MAX_SIMULATED_CASES or total == float("inf"):
        return None
    hours = total * CPU_SECONDS_PER_CASE / min(jobs, replications * len(scenarios)) / 3600
    length = f"{hours:,.1f} hours" if hours >= 1 else f"{hours * 60:,.0f} minutes"
    return (f"this run simulates about {total:,.0f} cases ({replications} replication(s) × {len(scenarios)} "
            f"scenario(s)), more than the web page allows ({MAX_SIMULATED_CASES:,}): at about "
            f"{CPU_SECONDS_PER_CASE * 1000:.0f} ms of CPU per case, roughly {length} with --jobs {jobs} "
            "(Ctrl-C stops it)")


def summary(result: BatchResult, requested: dict[str, int | None] | None = None) -> dict[str, Any]:
    """What goes to stdout: per scenario the cases asked for and those that arrived in each replication (the
    arrival window may end first), the mean flat KPIs, and the comparison."""
    requested = requested or {}
    data: dict[str, Any] = {"seed": result.seed, "replications": result.replications}
    names = {BASE: result.base_name, VARIANT: result.variant_name}
    for side, kpis in side_kpis(result).items():
        means: dict[str, float | None] = dict(mean_flat(result.flat(side)))
        for key in pool_load_keys({*means, *unmeasured_load_keys(kpis)}).values():
            means.setdefault(key, None)  # no on-shift time while cases arrive: n/a, not 0 %
        data[side] = {"scenario": names[side], "cases_requested": requested.get(side),
                      "cases_arrived": arrived(kpis), "kpis": dict(sorted(means.items()))}
    if result.comparison is not None:
        data["comparison"] = result.comparison.to_dict()
    return data


@click.command(name="simulate")
@click.argument("scenario", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--cases", type=click.IntRange(min=1), help="simulate this many cases (overrides the scenario)")
@click.option("--replications", type=click.IntRange(min=1), default=1, show_default=True,
              help="independent replications r = 0…N−1, each drawing from random streams keyed by (seed, r); "
                   "comparisons need at least 2")
@click.option("--compare", "compare_with", type=click.Path(dir_okay=False, path_type=Path), metavar="SCENARIO2",
              help="a what-if scenario to compare with, replication by replication (common random numbers)")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="worker processes")
@click.option("--seed", type=int, help="random seed (default: the scenario's)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="folder for the report files")
@click.option("--bpmn", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a Prosimos/Simod BPMN model instead of SCENARIO")
@click.option("--prosimos-json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the Prosimos simulation parameters of --bpmn")
@click.option("--start", "start_day", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="the first day of a --bpmn/--prosimos-json model's run (default: a fixed day, printed on stderr)")
def simulate_command(scenario: Path | None, cases: int | None, replications: int, compare_with: Path | None,
                     jobs: int, seed: int | None, out: Path | None, bpmn: Path | None,
                     prosimos_json: Path | None, start_day: datetime | None) -> None:
    """Simulate SCENARIO (YAML/JSON) and print its KPIs as JSON; with --compare, the what-if comparison too."""
    try:
        with scenario_problems():
            result, requested = _simulate(scenario, cases, replications, compare_with, jobs, seed, out, bpmn,
                                          prosimos_json, start_day)
    except OSError as err:
        fail(f"{err.filename or ''}: {err.strerror or err}")
    click.echo(json.dumps(summary(result, requested), ensure_ascii=False, indent=2))


@contextmanager
def scenario_problems() -> Iterator[None]:
    """End the command with one ``error:`` line per problem of a scenario, of its process folder or of its
    variant (exit 1), as ``simulate`` and ``generate-history`` report them."""
    try:
        yield
    except ScenarioError as err:
        fail_lines([problem.text for problem in err.problems])
    except (SimulationError, VariantError) as err:
        fail_lines(str(err).splitlines())
    except (ProcessFolderError, ProcessProblems) as err:
        fail_lines(err.problems)


def _simulate(scenario: Path | None, cases: int | None, replications: int, compare_with: Path | None, jobs: int,
              seed: int | None, out: Path | None, bpmn: Path | None, prosimos_json: Path | None,
              start_day: datetime | None) -> tuple[BatchResult, dict[str, int | None]]:
    """The run of ``simulate``: checks, progress bar, warnings, the report files; the result and the cases asked
    for."""
    base = load_base(scenario, bpmn, prosimos_json, seed, cases, start_day.date() if start_day else None)
    variant = load_checked(compare_with) if compare_with is not None else None
    scenarios = {BASE: base, **({VARIANT: variant} if variant is not None else {})}
    for checked in scenarios.values():
        check_runs(checked)
    requested = requested_cases(scenarios, cases)
    for side, checked in scenarios.items():
        empty = no_arrivals(checked)
        if empty is not None and requested[side] is None:
            fail(empty)  # refused, as the web form refuses it
        if empty is not None:  # a case count was asked for: run, and say so loudly (and after, how many arrived)
            click.echo(f"warning: {empty}", err=True)
    big = workload_warning(scenarios, requested, replications, jobs)
    if big is not None:
        click.echo(f"warning: {big}", err=True)
    with click.progressbar(length=PROGRESS_STEPS, label="simulating", file=sys.stderr) as bar:
        def progress(fraction: float) -> None:
            target = int(min(max(fraction, 0.0), 1.0) * PROGRESS_STEPS)
            if target > bar.pos:
                bar.update(target - bar.pos)

        result = run_batch(base, variant, replications=replications, seed=seed, cases=cases, jobs=jobs,
                           progress=progress)
    for shortfall in shortfalls(result, requested):
        click.echo(f"warning: {shortfall.message()}", err=True)
    for cut in open_at_stop(result):
        click.echo(f"warning: {cut.message()}", err=True)
    for pool in off_shift_pools(result):
        click.echo(f"warning: {pool.message()}", err=True)
    spans = estimated_days(result, scenarios)
    if spans:
        click.echo(f"warning: {estimated_note(spans)}", err=True)
    if out is not None:
        write_report(result, out, result.names, requested, scenarios)
    return result, requested
