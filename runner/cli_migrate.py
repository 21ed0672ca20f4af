"""``baozhuang migrate``: move running cases to another deployed version of the process; ``baozhuang versions``:
the deployed versions to choose from."""

from __future__ import annotations

import sys

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .cli_runner import TIMES_HEADER, USER_LENGTH, at_most
from .clock import shown_time
from .environment import command_environment
from .migration import NOT_FOUND, MigrationError, counts, migrate_cases
from .models import Case, ProcessVersion, VersionActivation
from .store import NotFoundError, current_version_id
from .version_warnings import unrunnable_table_warnings

REFUSED_HINT = "refused cases carry on, unchanged, on the version they run"
"""Said after the counts when a case was refused: a refusal is not an error to repair before the cases go on."""


@click.command()
@click.option("--history", is_flag=True, help="list every activation instead, newest first: deployments (current "
              "from …) and rollbacks (current again from …)")
def versions(history: bool) -> None:
    """List the deployed process versions: id, hash, when and by whom, running cases; * marks the one new cases
    start on (with who made it current again when that was a rollback). Give the id (or 6+ characters of the hash)
    to ``migrate --to/--from``. ``--history``: who made which version current, when, why. Times are Shanghai time,
    as the first line says. A warning on stderr names each decision table of a deployed version that the engine
    cannot run as DMN 1.3 defines its hit policy (version, file, decision)."""
    env = command_environment()
    with env.sessions() as session:
        if history:
            _print_activations(session)
            return
        current = current_version_id(session)
        running = dict(session.execute(
            select(Case.version_id, func.count()).where(Case.status.in_(("running", "suspended")))
            .group_by(Case.version_id)).tuples().all())
        rows = session.execute(select(ProcessVersion.id, ProcessVersion.version_hash, ProcessVersion.deployed_at,
                                      ProcessVersion.deployed_by, ProcessVersion.note)
                               .order_by(ProcessVersion.id)).tuples().all()
        rollback = _current_rollback(session)
        warnings = unrunnable_table_warnings(session)
    if not rows:
        click.echo("no version deployed yet: baozhuang deploy processes/")
        return
    click.echo(TIMES_HEADER)
    for version_id, version_hash, deployed_at, deployed_by, note in rows:
        mark = "*" if version_id == current else " "
        line = (f"{mark} {version_id:>4}  {version_hash[:12]}  {shown_time(deployed_at)}  {deployed_by:<12}  "
                f"{running.get(version_id, 0):>6} open cases" + (f"  {note}" if note else ""))
        if rollback is not None and version_id == rollback.version_id:
            line += f"  [current again since {_activation_text(rollback)}]"
        click.echo(line)
    for warning in warnings:
        click.echo(warning, err=True)


def _current_rollback(session: Session) -> VersionActivation | None:
    """The newest activation when it made an older version current again (a rollback), else None.

    Read from the activation records, not from times: a deployment of new files always gets a higher version id
    than every version current or replaced before it, so the newest activation is a rollback when its version is
    no newer than one an earlier activation made current or replaced (the rule of migration 0008's downgrade check).
    """
    latest = session.scalar(select(VersionActivation).order_by(VersionActivation.id.desc()).limit(1))
    if latest is None:
        return None
    activated, replaced = session.execute(
        select(func.max(VersionActivation.version_id), func.max(VersionActivation.previous_version_id))
        .where(VersionActivation.id < latest.id)).one()
    highest_before = max(activated or 0, replaced or 0, latest.previous_version_id or 0)
    return latest if latest.version_id <= highest_before else None


def _activation_text(activation: VersionActivation) -> str:
    was = f", was {activation.previous_version_id}" if activation.previous_version_id is not None else ""
    note = f": {activation.note}" if activation.note else ""
    return f"{shown_time(activation.activated_at)} by {activation.activated_by}{was}{note}"


def _print_activations(session: Session) -> None:
    """Every activation, newest first: ``current from …`` for a deployment, ``current again from …`` for a
    rollback (as plain ``versions`` marks the current version ``current again since …``)."""
    activations = list(session.scalars(select(VersionActivation).order_by(VersionActivation.id)))
    if not activations:
        click.echo("no activation recorded yet: baozhuang deploy processes/")
        return
    rollbacks = _rollbacks(activations)
    click.echo(TIMES_HEADER)
    for activation in reversed(activations):
        again = " again" if activation.id in rollbacks else ""
        click.echo(f"{activation.version_id:>4}  current{again} from {_activation_text(activation)}")


def _rollbacks(activations: list[VersionActivation]) -> set[int]:
    """Ids of the activations (given oldest first) that made an older version current again: by the rule of
    ``_current_rollback``, applied to each activation and those before it."""
    found: set[int] = set()
    highest = 0  # the highest version made current or replaced so far
    for activation in activations:
        if activation.version_id <= max(highest, activation.previous_version_id or 0):
            found.add(activation.id)
        highest = max(highest, activation.version_id, activation.previous_version_id or 0)
    return found


@click.command()
@click.option("--to", "to_ref", required=True, metavar="VERSION", help="target version: id or hash prefix")
@click.option("--from", "from_ref", metavar="VERSION", help="only cases of this version (default: all others)")
@click.option("--case", "case_numbers", multiple=True, metavar="N", help="only this case (repeatable)")
@click.option("--dry-run", is_flag=True, help="report what would happen, change nothing")
@click.option("--user", default="cli", show_default=True, callback=at_most(USER_LENGTH),
              help=f"who is recorded on the migrated events (at most {USER_LENGTH} characters)")
def migrate(to_ref: str, from_ref: str | None, case_numbers: tuple[str, ...], dry_run: bool, user: str) -> None:
    """Move running cases to version VERSION where that is safe; print one line per case, then the counts.

    A case is refused (and left as it is) when a step it has done or is doing was changed or removed in the
    target version. The refusal names each such step by its name, id and state, and says what changed in the
    modeler's terms (form file, script, condition, DMN decision, timer, lane, flows); several steps are separated
    by " | ". A changed decision table counts for a case whose decision it already made only where it would now
    give that case another result; so does a service or decision step inserted before the case's position, only
    where run on the case's data it would change a value the case holds (the refusal names the step and values).
    A moved case's drafts of open tasks whose form changed are fitted to the new form; its line names the values
    taken out (the draft's author sees them on the form). A --case number that names no case is reported "not
    found". Exit 1 if any case failed or was not found; refusals are not failures (refused cases carry on,
    unchanged, on their version).
    """
    numbers = [number for value in case_numbers for number in value.split(",")]
    env = command_environment()
    try:
        outcomes = migrate_cases(env.sessions, env.runtime, to_ref, from_ref, numbers, user, dry_run)
    except (NotFoundError, MigrationError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    for outcome in outcomes:
        click.echo(outcome.line(dry_run))
    total = counts(outcomes)
    prefix = "dry run, nothing changed: would have " if dry_run else ""
    not_found = f", not found {total[NOT_FOUND]}" if total[NOT_FOUND] else ""
    click.echo(f"{prefix}migrated {total['migrated']}, refused {total['refused']}{not_found}, "
               f"failed {total['failed']}")
    if total["refused"]:
        click.echo(REFUSED_HINT)
    sys.exit(1 if total["failed"] or total[NOT_FOUND] else 0)
