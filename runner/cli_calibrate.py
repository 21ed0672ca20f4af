"""``baozhuang calibrate``: a baseline simulation scenario estimated from the event history, and how close it comes.

Prints the facts the estimate rests on and the distances of one simulation of the baseline to the history as JSON
on stdout; ``--out`` writes the scenario (YAML, or JSON when the file name ends in ``.json``), its ``process`` and
``samples`` folders relative to the scenario file as ``baozhuang simulate`` expects them. Warnings about the estimate
(figures on few observations, work outside the proposed calendars) go to stderr and into the JSON.

The history is calibrated on the cases of one process version: ``--version N``, by default the version most cases
ran on (the newer one on a tie); when the history spans several versions the command says so. The scenario's
``process`` is that version's folder: ``--processes`` when its files are that version's, else the version's stored
files written beside the scenario (``<out stem>.v<N>.process/``). The check simulation runs ``--replications``
times (3 by default) on the completed cases; each distance is reported with its mean and spread beside reference
figures (cycle time, cases per working day; per category cases and cycle times in working days; per lane the
utilisation while cases arrive; per exclusive gateway the branch rates) of the history and the simulation, and a
short summary explaining them goes to stderr, followed by a ``warning:`` line per gateway or lane the simulation
gets wrong (``check_warnings`` in the JSON).

Bad options (a negative ``--seed``, a ``--samples`` or ``--processes`` folder that is not there, ``--replications``
out of range, an ``--out`` name not ending in .yaml, .yml or .json) are refused before anything is read or
written; a ``--processes`` folder without a .bpmn file is refused as ``baozhuang validate`` says it.

The estimate is never lost: the scenario is written before the check simulation runs (a failing check is reported
and exits 1, the file stays), ``--out``'s folder is created when missing, and a scenario that cannot be written is
printed in the JSON (``baseline_scenario``) instead.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from .clock import parse_iso
from .environment import command_environment, fail
from .models import ProcessVersion
from .process_folder import ProcessFolderError, content_hash, load_process_folder
from .simulation.calibration import (
    CHECK_REPLICATIONS,
    DISTANCE_MEANINGS,
    CalibrationError,
    baseline_from_history,
    check_baseline,
    choose_version,
    version_counts,
)

DEFAULT_PROCESSES = "processes"
SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")
"""The file names ``baozhuang simulate`` reads a scenario from (``--out`` is refused with any other)."""


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
    text = json.dumps(scenario, ensure_ascii=False, indent=2) + "\n" if out.suffix.lower() == ".json" else \
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
@click.option("--seed", default=1, show_default=True, type=click.IntRange(min=0),
              help="seed of the scenario and of the check simulations (0 or more)")
@click.option("--version", "version", type=click.IntRange(min=1), metavar="N",
              help="calibrate on the cases of process version N (default: the version most cases ran on)")
@click.option("--processes", default=DEFAULT_PROCESSES, show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="the process folder the cases run")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path),
              help="sample applications per category (default: the process folder's samples)")
@click.option("--with-branches", is_flag=True,
              help="also write the observed branch rates of the gateways that nothing the simulation generates "
                   "decides as branch_probabilities (gateways decided by task answers follow the answers' weights, "
                   "those that read case data keep their conditions)")
@click.option("--replications", default=CHECK_REPLICATIONS, show_default=True, type=click.IntRange(1, 20),
              help="check simulations of the baseline (1-20): each distance is reported with its mean and spread")
@click.option("--no-simulate", is_flag=True, help="only estimate: no check simulation, no distances")
def calibrate_command(out: Path | None, since: str | None, seed: int, version: int | None, processes: Path,
                      samples: Path | None, with_branches: bool, replications: int, no_simulate: bool) -> None:
    """Estimate a baseline scenario from the event history and measure how close its simulation comes."""
    try:
        moment = parse_iso(since) if since else None
    except ValueError:
        raise click.BadParameter(f"{since!r} is not an ISO date or datetime", param_hint="--since") from None
    if samples is not None and not samples.is_dir():
        raise click.BadParameter(f"{samples.resolve()} does not exist", param_hint="--samples")
    if out is not None and out.suffix.lower() not in SCENARIO_SUFFIXES:
        raise click.BadParameter(f"{out}: a scenario file ends in .yaml, .yml or .json (baozhuang simulate reads "
                                 "no other)", param_hint="--out")
    from .simulation.engine import SimulationError  # the simulator loads only when the command runs
    from .simulation.scenario import ScenarioError

    if not processes.is_dir():
        _fail_folder(processes)
    if not any(processes.glob("*.bpmn")):  # as ``baozhuang validate`` says it, not "process 'baozhuang' not found"
        fail(f"--processes: {processes.resolve()}: no .bpmn file (not a process folder)")
    given = _load_folder(processes)  # the folder named is checked, whichever version the cases ran
    env = command_environment()
    counts = version_counts(env.sessions, moment)
    try:
        chosen = choose_version(counts, version)
    except CalibrationError as err:
        if version is not None and counts:
            raise click.BadParameter(str(err).removeprefix(f"--version {version}: "), param_hint="--version") \
                from None
        click.echo(f"error: {err}" + (f" since {moment.isoformat()}" if moment else ""), err=True)
        sys.exit(1)
    if len(counts) > 1:
        spans = ", ".join(f"version {v} ({n} cases)" for v, n in sorted(counts.items()))
        click.echo(f"the history spans {spans}; calibrating on version {chosen}"
                   + ("" if version is not None else " (the most cases; choose another with --version N)"), err=True)
    with tempfile.TemporaryDirectory(prefix="calibrate-") as scratch:
        folder = _version_folder(env.sessions, chosen, processes, out, Path(scratch))
        samples = samples or folder / "samples"
        bundle = given if folder == processes else _load_folder(folder)
        try:
            scenario, facts = baseline_from_history(env.sessions, since=moment, seed=seed, bundle=bundle,
                                                    with_branches=with_branches, version=chosen)
        except CalibrationError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        scenario.update({"process": _relative(folder, out), "samples": _relative(samples, out)})
        for warning in facts.warnings:
            click.echo(f"warning: {warning}", err=True)
        _report_branches(facts.branch_gateways, with_branches)
        _report_pickups(facts.pickup_delays)
        written = out is not None and _written(scenario, out)
        result: dict[str, Any] = {"scenario": str(out) if written else None, "facts": facts.to_dict()}
        failed = out is not None and not written
        if failed:
            result["baseline_scenario"] = scenario
        if not no_simulate:
            try:
                calibration = check_baseline(env.sessions, scenario, facts, since=moment, process=str(folder),
                                             samples=str(samples), bundle=bundle, version=chosen,
                                             replications=replications,
                                             source=str(out) if written else "<calibrated baseline>")
                result.update(calibration.to_dict())
                _summary(result)
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


def _load_folder(folder: Path) -> Any:
    """The parsed process folder; its problems end the command, one ``error:`` line each."""
    try:
        return load_process_folder(folder)
    except ProcessFolderError as err:
        for line in err.problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)


def _version_folder(sessions: Any, version_id: int, processes: Path, out: Path | None, scratch: Path) -> Path:
    """The folder of the process version the calibrated cases ran: ``processes`` when its files are that version's,
    else the version's stored files written beside the scenario (``<stem>.v<N>.process``; without ``--out`` into
    ``scratch``, for the check simulation only), said on stderr."""
    with sessions() as session:
        version = session.get(ProcessVersion, version_id)
        if version is None:  # a case row names it, so it is there
            fail(f"process version {version_id} is not stored")
        if content_hash(processes) == version.version_hash:
            return processes
        files = dict(version.files)
    target = out.parent / f"{out.stem}.v{version_id}.process" if out is not None else scratch / "process"
    try:
        if target.exists():
            shutil.rmtree(target)
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as err:
        fail(f"cannot write the files of process version {version_id} to {target}: {err.strerror or err}")
    where = f"written to {target} for the scenario" if out is not None else "used for the check simulation"
    click.echo(f"the files of --processes {processes} are not those of version {version_id}, which the calibrated "
               f"cases ran: that version's stored files are {where}", err=True)
    return target


def _figure(value: Any, unit: str = "") -> str:
    """Three significant digits, never in scientific notation (a history of cases done within a second had a mean
    cycle time of ``5.75e-07`` days): from 100 up whole numbers with separators, below 0.001 ``0.000``."""
    if value is None:
        return "n/a"
    number = float(value)
    if abs(number) >= 100:
        text = f"{number:,.0f}"
    elif abs(number) < 0.001:
        text = "0.000" if number else "0"
    else:
        text = f"{number:.3g}"
    return f"{text}{unit}"


def _summary(result: dict[str, Any]) -> None:
    """A short human-readable account of the check on stderr: what was compared, the reference figures side by side
    and each distance's mean ± spread with what it measures, in which unit (the JSON on stdout has it all)."""
    history = result["reference"]["history"]
    left = []
    if history["open_cases_left_out"]:
        left.append(f"{history['open_cases_left_out']} open")
    if history["other_cases_left_out"]:
        left.append(f"{history['other_cases_left_out']} cancelled or stopped")
    left_out = f" ({' and '.join(left)} left out: only completed cases are compared)" if left else ""
    if result.get("note"):
        click.echo(f"check: {result['note']}{left_out}", err=True)
        return
    simulated = result["reference"]["simulated"]
    lines = [
        f"check: {result['replications']} simulation(s) of the baseline against the {history['completed_cases']} "
        f"completed cases of the history{left_out}",
        f"  cycle time (arrival to end, days): history mean {_figure(history['mean_cycle_days'])}, "
        f"P90 {_figure(history['p90_cycle_days'])}; simulated mean {_figure(simulated['mean_cycle_days'])}, "
        f"P90 {_figure(simulated['p90_cycle_days'])}",
        f"  cases per working day: history {_figure(history['cases_per_working_day'])}; "
        f"simulated {_figure(simulated['cases_per_working_day'])}",
        *_comparison_lines(result["reference"]),
        "  distances (0 = identical; mean ± standard deviation over the simulations):",
    ]
    for key, figures in result["distances"].items():
        unit, meaning = DISTANCE_MEANINGS[key]
        shown = unit if unit != "0-1" else ""
        lines.append(f"    {key}: {_figure(figures['mean'])} ± {_figure(figures['sd'])} {shown}".rstrip()
                     + f" — {meaning}" + (f" ({unit})" if unit == "0-1" else ""))
    click.echo("\n".join(lines), err=True)
    for warning in result.get("check_warnings") or []:
        click.echo(f"warning: {warning}", err=True)


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def _comparison_lines(reference: dict[str, Any]) -> list[str]:
    """History | simulated side by side: per category (cases, mean and P90 cycle time in working days), per lane
    (utilisation while cases arrive) and per exclusive gateway (branch rates), for the stderr summary."""
    history, simulated = reference["history"], reference["simulated"]
    lines = ["  per category, history | simulated (cycle time from arrival to end in working days, fractional, "
             "completed cases):"]
    made = simulated.get("categories") or {}
    for category, seen in (history.get("categories") or {}).items():
        sim = made.get(category, {})
        lines.append(f"    {category}: cases {seen['cases']} | {_figure(sim.get('cases'))}, "
                     f"mean {_figure(seen['mean_cycle_working_days'])} | {_figure(sim.get('mean_cycle_working_days'))}"
                     f", P90 {_figure(seen['p90_cycle_working_days'])} | {_figure(sim.get('p90_cycle_working_days'))}")
    for category in sorted(set(made) - set(history.get("categories") or {})):
        lines.append(f"    {category}: not in the history | cases {_figure(made[category].get('cases'))}")
    busy, sim_busy = history.get("utilisation_while_arriving") or {}, simulated.get("utilisation_while_arriving") or {}
    if busy or sim_busy:
        lines.append("  lane utilisation while cases arrive (busy ÷ on-shift time), history | simulated: " + ", ".join(
            f"{lane} {_percent(busy.get(lane))} | {_percent(sim_busy.get(lane))}"
            for lane in sorted(set(busy) | set(sim_busy))))
    branches = reference.get("branches") or {}
    if branches:
        lines.append("  branch rates of the exclusive gateways, history | simulated (share of the visits per target):")
    for gateway, comparison in branches.items():
        flows = ", ".join(f"{flow['target']} {_percent(flow['history_rate'])} | {_percent(flow['simulated_rate'])}"
                          for flow in comparison["flows"].values())
        lines.append(f"    {gateway} ({comparison['history_visits']} | {comparison['simulated_visits']} visits): "
                     f"{flows}" + ("  ← differs beyond sampling noise" if comparison["differs"] else ""))
    return lines


def _fail_folder(processes: Path) -> NoReturn:
    """Refuse a ``--processes`` folder that is not there (click refuses a file), naming the option and the absolute
    path."""
    hint = " (run in the repository, or give the process folder)" if str(processes) == DEFAULT_PROCESSES else ""
    fail(f"--processes: {processes.resolve()} does not exist{hint}")


def _report_pickups(pickups: dict[str, Any]) -> None:
    """The estimated pickup delays (waits in the inbox while somebody of the lane was free), one line."""
    waited = {task: fact for task, fact in pickups.items() if fact["method"].startswith("empirical")}
    if waited:
        click.echo("pickup delays (working hours in the inbox while somebody of the lane was free): " + ", ".join(
            f"{task} mean {fact['mean']:.1f} h ({fact['n']} claimed, {fact['exact']} exact)"
            for task, fact in waited.items()), err=True)


def _report_branches(gateways: dict[str, Any], with_branches: bool) -> None:
    """Which gateways' observed rates were written as branch probabilities and which keep the model's conditions."""
    if not with_branches or not gateways:
        return
    estimated = ", ".join(gateways["estimated"]) or "none"
    click.echo(f"branch probabilities estimated for: {estimated}", err=True)
    answered = gateways.get("left_to_answers") or {}
    if answered:
        click.echo("left to the answers' weights (they reproduce the rates): " + ", ".join(answered), err=True)
    left = gateways["left_to_conditions"]
    if left:
        click.echo("left to the model's conditions: "
                   + "; ".join(f"{gateway} ({why})" for gateway, why in left.items()), err=True)
