"""``baozhuang calibrate``: a baseline simulation scenario estimated from the event history, and how close it comes.

Prints the facts the estimate rests on and the distances of one simulation of the baseline to the history as JSON
on stdout; ``--out`` writes the scenario (YAML, or JSON when the file name ends in ``.json``), its ``process`` and
``samples`` folders relative to the scenario file as ``baozhuang simulate`` expects them. Warnings about the estimate
(figures on few observations, work outside the proposed calendars) go to stderr and into the JSON.

The estimate is never lost: the scenario is written before the check simulation runs (a failing check is reported
and exits 1, the file stays), ``--out``'s folder is created when missing, and a scenario that cannot be written is
printed in the JSON (``baseline_scenario``) instead.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from .clock import parse_iso
from .environment import command_environment, fail
from .process_folder import ProcessFolderError, load_process_folder
from .simulation.calibration import CalibrationError, baseline_from_history, check_baseline

DEFAULT_PROCESSES = "processes"


def register(main: click.Group) -> None:
    """Add ``calibrate`` to the ``baozhuang`` group."""
    main.add_command(calibrate_command)


def _relative(folder: Path, out: Path | None) -> str:
    """The folder as the scenario should name it: relative to the scenario file's folder (or the working one)."""
    base = out.resolve().parent if out is not None else Path.cwd()
    return os.path.relpath(folder.resolve(), base)


def write_scenario(scenario: dict[str, Any], out: Path) -> None:
    """Write the scenario atomically, as JSON or YAML by the file's extension, creating its folder if needed (as
    ``simulate --out`` does)."""
    text = json.dumps(scenario, ensure_ascii=False, indent=2) + "\n" if out.suffix == ".json" else \
        yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False)
    if out.parent.exists() and not out.parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(out.parent))
    out.parent.mkdir(parents=True, exist_ok=True)
    with click.open_file(str(out), "w", encoding="utf-8", atomic=True) as handle:
        handle.write(text)


def _written(scenario: dict[str, Any], out: Path) -> bool:
    """Whether the scenario could be written to ``out``; if not, says why on stderr (no traceback)."""
    try:
        write_scenario(scenario, out)
    except OSError as err:
        reason = err.strerror or str(err)
        if err.filename and str(err.filename) != str(out):
            reason += f" ({err.filename})"
        click.echo(f"error: cannot write the baseline scenario to {out}: {reason}; "
                   "it is printed as baseline_scenario on stdout instead", err=True)
        return False
    click.echo(f"baseline scenario written to {out}", err=True)
    return True


@click.command(name="calibrate")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write the baseline scenario here")
@click.option("--since", metavar="DATE", help="only cases created at or after DATE (ISO date or datetime, +08:00)")
@click.option("--seed", default=1, show_default=True, help="seed of the scenario and of the check simulation")
@click.option("--processes", default=DEFAULT_PROCESSES, show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="the process folder the cases run")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path),
              help="sample applications per category (default: PROCESSES/samples)")
@click.option("--with-branches", is_flag=True,
              help="also write the observed branch rates of the gateways decided by task answers alone as "
                   "branch_probabilities (they replace those conditions; gateways that read case data keep theirs)")
@click.option("--no-simulate", is_flag=True, help="only estimate: no check simulation, no distances")
def calibrate_command(out: Path | None, since: str | None, seed: int, processes: Path, samples: Path | None,
                      with_branches: bool, no_simulate: bool) -> None:
    """Estimate a baseline scenario from the event history and measure how close its simulation comes."""
    try:
        moment = parse_iso(since) if since else None
    except ValueError:
        raise click.BadParameter(f"{since!r} is not an ISO date or datetime", param_hint="--since") from None
    from .simulation.engine import SimulationError  # the simulator loads only when the command runs
    from .simulation.scenario import ScenarioError

    if not processes.is_dir():
        _fail_folder(processes)
    samples = samples or processes / "samples"
    env = command_environment()
    try:
        bundle = load_process_folder(processes)
        scenario, facts = baseline_from_history(env.sessions, since=moment, seed=seed, bundle=bundle,
                                                with_branches=with_branches)
    except ProcessFolderError as err:
        for line in err.problems:
            click.echo(line, err=True)
        sys.exit(1)
    except CalibrationError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    scenario.update({"process": _relative(processes, out), "samples": _relative(samples, out)})
    for warning in facts.warnings:
        click.echo(f"warning: {warning}", err=True)
    _report_branches(facts.branch_gateways, with_branches)
    written = out is not None and _written(scenario, out)
    result: dict[str, Any] = {"scenario": str(out) if written else None, "facts": facts.to_dict()}
    failed = out is not None and not written
    if failed:
        result["baseline_scenario"] = scenario
    if not no_simulate:
        try:
            calibration = check_baseline(env.sessions, scenario, facts, since=moment, process=str(processes),
                                         samples=str(samples), bundle=bundle)
            result.update(calibration.to_dict())
        except (ScenarioError, SimulationError) as err:
            kept = f"; the estimate is kept in {out}" if written else ""
            click.echo(f"error: the check simulation of the calibrated baseline failed{kept}: {err}", err=True)
            result["check_simulation"] = {"failed": str(err)}
            if not written:
                result["baseline_scenario"] = scenario  # no file to keep it in: print it
            failed = True
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    if failed:
        sys.exit(1)


def _fail_folder(processes: Path) -> NoReturn:
    """Refuse a ``--processes`` folder that is not there (click refuses a file), naming the option and the absolute
    path."""
    hint = " (run in the repository, or give the process folder)" if str(processes) == DEFAULT_PROCESSES else ""
    fail(f"--processes: {processes.resolve()} does not exist{hint}")


def _report_branches(gateways: dict[str, Any], with_branches: bool) -> None:
    """Which gateways' observed rates were written as branch probabilities and which keep the model's conditions."""
    if not with_branches or not gateways:
        return
    estimated = ", ".join(gateways["estimated"]) or "none"
    click.echo(f"branch probabilities estimated for: {estimated}", err=True)
    left = gateways["left_to_conditions"]
    if left:
        click.echo("left to the model's conditions: "
                   + "; ".join(f"{gateway} ({why})" for gateway, why in left.items()), err=True)
