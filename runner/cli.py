"""The ``baozhuang`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from handlers import build_registry

from .cli_accounts import register as register_account_commands
from .cli_calibrate import register as register_calibrate_command
from .cli_export import register as register_export_commands
from .cli_history import register as register_history_command
from .cli_migrate import migrate as migrate_command
from .cli_migrate import versions as versions_command
from .cli_runner import json_object_option, process_folder_or_exit
from .cli_runner import register as register_runner_commands
from .cli_simulate import register as register_simulate_command
from .cli_variant import register as register_variant_command
from .cli_worker import register as register_worker_commands
from .decisions import DecisionError, evaluate, load_decisions
from .logging_setup import configure_logging
from .process_folder import ProcessFolderError, load_process_folder
from .start_data import TIME_LIMITS_DMN, known_regimes
from .strict_json import non_finite_path
from .trial import TrialError, TrialOptions, load_answers, run_trial
from .validation import folder_report
from .workdays import DATA_FILE, CalendarDataError, WorkingCalendar, load_year_file

DEFAULT_PROCESSES = "processes"
CATEGORIES = ("lv_residential", "lv_smallmicro", "lv_other", "hv_ordinary", "hv_important")


class Baozhuang(click.Group):
    """The ``baozhuang`` group: refuses arguments that are not valid UTF-8 before any command sees them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_undecodable(args)
        return super().parse_args(ctx, args)


def refuse_undecodable(args: list[str]) -> None:
    """Exit 2 with one ``error:`` line on the first argument that is not valid UTF-8.

    Python decodes such bytes with ``surrogateescape``; the lone surrogates cannot be encoded again, so a command
    would fail deep inside (a database driver, a hash) with a traceback. The argument is shown as the bytes the
    terminal sent, non-ASCII ones as ``\\xNN``."""
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            click.echo(f"error: argument {number} ({shown}) is not valid UTF-8; set the terminal to UTF-8", err=True)
            sys.exit(2)


@click.group(cls=Baozhuang)
def main() -> None:
    """业扩报装 process orchestration: validate, try and run the BPMN process."""
    configure_logging()  # the operator's trail (baozhuang.admin …) on stderr, for every command


@main.command()
@click.argument("path", default=DEFAULT_PROCESSES, type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check a process folder; print one line per problem (file:line: element: message)."""
    process_folder_or_exit(path, "baozhuang validate path/to/processes")
    report = folder_report(path, build_registry())
    for problem in report.problems:
        click.echo(str(problem))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s) in {path}", err=True)
        sys.exit(1)
    said = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
    click.echo(f"{path}: valid{said}")


def parse_delays(values: tuple[str, ...]) -> dict[str, float | list[float]]:
    """``ELEMENT=HOURS`` (the first visit) or ``ELEMENT=HOURS,HOURS,…`` (one figure per visit)."""
    delays: dict[str, float | list[float]] = {}
    for value in values:
        element, sep, hours = value.partition("=")
        try:
            per_visit = [float(part) for part in hours.split(",")]
        except ValueError:
            raise click.BadParameter(f"{value!r}: expected ELEMENT=HOURS[,HOURS...]", param_hint="--delay") from None
        if not sep or not element:
            raise click.BadParameter(f"{value!r}: expected ELEMENT=HOURS[,HOURS...]", param_hint="--delay")
        delays[element] = per_visit if len(per_visit) > 1 else per_visit[0]
    return delays


@main.command(name="try")
@click.option("--category", required=True, type=click.Choice(CATEGORIES))
@click.option("--regime", help="time-limit regime, one the folder's time_limits.dmn has rules for (default: the "
                                "sample's)")
@click.option("--dual-supply", is_flag=True, help="run the category's case as a dual-supply (双电源) case")
@click.option("--answers", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON answers keyed by element id (an object, or a list for successive visits)")
@click.option("--hours-per-task", default=2.0, show_default=True, help="virtual hours each answered task takes")
@click.option("--delay", multiple=True, metavar="ELEMENT=HOURS",
              help="extra virtual hours before answering ELEMENT (HOURS,HOURS,… for one figure per visit)")
@click.option("--first", multiple=True, metavar="ELEMENT",
              help="answer ELEMENT before other ready tasks (e.g. customer_survey: the customer answers the survey "
                   "before the follow-up call)")
@click.option("--unanswered", multiple=True, metavar="ELEMENT",
              help="leave ELEMENT unanswered while anything else can happen (e.g. customer_survey: the customer "
                   "ignores the survey while the agent calls again)")
@click.option("--processes", default=DEFAULT_PROCESSES, type=click.Path(path_type=Path), show_default=True)
def try_case(category: str, regime: str | None, dual_supply: bool, answers: Path | None, hours_per_task: float,
             delay: tuple[str, ...], first: tuple[str, ...], unanswered: tuple[str, ...], processes: Path) -> None:
    """Run one case in memory on a virtual clock and print what it did as JSON."""
    process_folder_or_exit(processes, "--processes path/to/processes")
    try:
        bundle = load_process_folder(processes)
        regimes = known_regimes(bundle)
        if regime is not None and regimes and regime not in regimes:  # a regime an analyst adds is known here
            raise click.BadParameter(f"{regime!r} is no regime of {processes / TIME_LIMITS_DMN}; it knows "
                                     f"{', '.join(sorted(regimes))}", param_hint="'--regime'")
        options = TrialOptions(
            category=category,
            regime=regime,
            dual_supply=dual_supply,
            answers=finite_answers(answers) if answers else {},
            hours_per_task=hours_per_task,
            delays=parse_delays(delay),
            first=first,
            unanswered=unanswered,
        )
        result = run_trial(bundle, options)
    except ProcessFolderError as err:
        for line in err.problems:
            click.echo(line, err=True)
        sys.exit(1)
    except TrialError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    for note in result.unused_answers:
        click.echo(f"note: {note}", err=True)
    sys.exit(0 if result.completed else 1)


def finite_answers(path: Path) -> dict[str, Any]:
    """The answers file, refused (``TrialError``, naming the key) when a number in it is NaN or infinite, as
    ``--payload`` and ``--data`` refuse them (``strict_json.finite_json``)."""
    answers = load_answers(path)
    bad = non_finite_path(answers)
    if bad:
        raise TrialError(f"{path}: {bad}: must be a finite number (NaN and Infinity are not JSON)")
    return answers


@main.group()
def calendar() -> None:
    """The Chinese working-day calendar (official holidays and 调休 make-up days)."""


@calendar.command(name="show")
@click.argument("year", type=int)
def calendar_show(year: int) -> None:
    """Print a year's days off and make-up working days, and whether they are official or estimated."""
    cal = WorkingCalendar.default()
    data = cal.year_data(year)
    if data is None:
        holidays, workdays = cal.estimated_year(year)
        click.echo(f"{year}: no official schedule; rule-based estimate (holidays package + weekends, no 调休)")
        mark = " (estimated)"
    else:
        holidays, workdays = data
        click.echo(f"{year}: official schedule ({cal.source})")
        mark = ""
    click.echo(f"days off{mark}:  " + (" ".join(d.isoformat() for d in sorted(holidays)) or "none"))
    click.echo(f"make-up working days{mark}: " + (" ".join(d.isoformat() for d in sorted(workdays)) or "none"))


@calendar.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-file", type=click.Path(dir_okay=False, path_type=Path), default=DATA_FILE, show_default=True)
def calendar_import(file: Path, data_file: Path) -> None:
    """Add or replace a year from FILE (CSV `date,kind` with kind holiday|workday, or JSON) in the calendar data."""
    try:
        year, holidays, workdays = load_year_file(file)
        updated = WorkingCalendar.from_file(data_file).with_year(year, holidays, workdays)
    except CalendarDataError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except OSError as err:
        click.echo(f"error: cannot read {err.filename or data_file}: {err.strerror or err}", err=True)
        sys.exit(1)
    try:
        save_atomically(updated, data_file)
    except OSError as err:
        click.echo(f"error: cannot write {data_file}: {err.strerror or err}", err=True)
        sys.exit(1)
    click.echo(f"{year}: {len(holidays)} days off, {len(workdays)} make-up working days written to {data_file}")


def save_atomically(updated: WorkingCalendar, data_file: Path) -> None:
    """Write the calendar data under a temporary name and rename it: a failed write leaves the old file whole."""
    temporary = data_file.with_name(f".{data_file.name}.partial")
    try:
        updated.save(temporary)
        os.replace(temporary, data_file)
    finally:
        temporary.unlink(missing_ok=True)


@main.command()
@click.argument("decision_id")
@click.option("--data", "data_json", required=True, help='case data as JSON, e.g. \'{"category": "hv_ordinary"}\'')
@click.option("--processes", default=DEFAULT_PROCESSES, type=click.Path(path_type=Path), show_default=True)
def decide(decision_id: str, data_json: str, processes: Path) -> None:
    """Evaluate one DMN decision on DATA and print its outputs and the matched rule ids."""
    data = json_object_option(data_json, "--data")
    process_folder_or_exit(processes, "--processes path/to/processes")
    try:
        engines = load_decisions(processes)
    except DecisionError as err:  # a decision two files define
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if decision_id not in engines:
        click.echo(f"error: no decision {decision_id!r}; known: {', '.join(sorted(engines))}", err=True)
        sys.exit(1)
    try:
        result = evaluate(engines[decision_id], data)
    except DecisionError as err:
        click.echo(f"error: {decision_id}: {err}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"outputs": result.outputs, "matched_rules": result.matched_rules}, ensure_ascii=False))


register_runner_commands(main)
register_export_commands(main)
main.add_command(migrate_command)
main.add_command(versions_command)
register_worker_commands(main)
register_account_commands(main)
register_calibrate_command(main)
register_simulate_command(main)
register_variant_command(main)
register_history_command(main)

if __name__ == "__main__":  # ``python -m runner.cli …``, as the ``baozhuang`` entry point
    main()
