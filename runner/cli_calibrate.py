"""``baozhuang calibrate``: a baseline simulation scenario estimated from the event history, and how close it comes.

Prints the facts the estimate rests on and the distances of one simulation of the baseline to the history as JSON
on stdout; ``--out`` writes the scenario (YAML, or JSON when the file name ends in ``.json``), its ``process`` and
``samples`` folders relative to the scenario file as ``baozhuang simulate`` expects them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from .clock import parse_iso
from .environment import command_environment
from .process_folder import ProcessFolderError, load_process_folder
from .simulation.calibration import CalibrationError, baseline_from_history, calibrate

DEFAULT_PROCESSES = "processes"


def register(main: click.Group) -> None:
    """Add ``calibrate`` to the ``baozhuang`` group."""
    main.add_command(calibrate_command)


def _relative(folder: Path, out: Path | None) -> str:
    """The folder as the scenario should name it: relative to the scenario file's folder (or the working one)."""
    base = out.resolve().parent if out is not None else Path.cwd()
    return os.path.relpath(folder.resolve(), base)


def write_scenario(scenario: dict[str, Any], out: Path) -> None:
    """Write the scenario atomically, as JSON or YAML by the file's extension."""
    text = json.dumps(scenario, ensure_ascii=False, indent=2) + "\n" if out.suffix == ".json" else \
        yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False)
    with click.open_file(str(out), "w", encoding="utf-8", atomic=True) as handle:
        handle.write(text)


@click.command(name="calibrate")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write the baseline scenario here")
@click.option("--since", metavar="DATE", help="only cases created at or after DATE (ISO date or datetime, +08:00)")
@click.option("--seed", default=1, show_default=True, help="seed of the scenario and of the check simulation")
@click.option("--processes", default=DEFAULT_PROCESSES, show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="the process folder the cases run")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path),
              help="sample applications per category (default: PROCESSES/samples)")
@click.option("--with-branches", is_flag=True,
              help="also write the observed branch rates as branch_probabilities (they replace the conditions)")
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

    samples = samples or processes / "samples"
    env = command_environment()
    try:
        bundle = load_process_folder(processes)
        folders = {"process": _relative(processes, out), "samples": _relative(samples, out)}
        if no_simulate:
            scenario, facts = baseline_from_history(env.sessions, since=moment, seed=seed, bundle=bundle,
                                                    with_branches=with_branches)
            scenario.update(folders)
            result: dict[str, Any] = {"facts": facts.to_dict()}
        else:
            calibration = calibrate(env.sessions, since=moment, seed=seed, with_branches=with_branches,
                                    process=str(processes), samples=str(samples), bundle=bundle)
            scenario = {**calibration.scenario, **folders}
            result = calibration.to_dict()
    except ProcessFolderError as err:
        for line in err.problems:
            click.echo(line, err=True)
        sys.exit(1)
    except (CalibrationError, ScenarioError, SimulationError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if out is not None:
        write_scenario(scenario, out)
        click.echo(f"baseline scenario written to {out}", err=True)
    click.echo(json.dumps({"scenario": str(out) if out else None, **result}, ensure_ascii=False, indent=2))
