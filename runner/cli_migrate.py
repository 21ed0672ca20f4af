"""``baozhuang migrate``: move running cases to another deployed version of the process."""

from __future__ import annotations

import sys

import click

from .environment import command_environment
from .migration import MigrationError, counts, migrate_cases
from .store import NotFoundError


@click.command()
@click.option("--to", "to_ref", required=True, metavar="VERSION", help="target version: id or hash prefix")
@click.option("--from", "from_ref", metavar="VERSION", help="only cases of this version (default: all others)")
@click.option("--case", "case_numbers", multiple=True, metavar="N", help="only this case (repeatable)")
@click.option("--dry-run", is_flag=True, help="report what would happen, change nothing")
@click.option("--user", default="cli", show_default=True, help="who is recorded on the migrated events")
def migrate(to_ref: str, from_ref: str | None, case_numbers: tuple[str, ...], dry_run: bool, user: str) -> None:
    """Move running cases to version VERSION where that is safe; print one line per case, then the counts.

    A case is refused (and left as it is) when a step it has done or is doing was changed or removed in the
    target version. Exit 1 if any case failed; refusals are not failures.
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
    click.echo(f"{prefix}migrated {total['migrated']}, refused {total['refused']}, failed {total['failed']}")
    sys.exit(1 if total["failed"] else 0)
