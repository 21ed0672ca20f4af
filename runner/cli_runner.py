"""``baozhuang db|deploy|incidents|outbox|audit|message``: commands of the durable runner."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from . import audit, documents, outbox_admin, schema, services
from .case import CaseError
from .clock import shown_time, to_iso
from .environment import command_environment
from .store import ConflictError, DeployError, NotFoundError, backfill_summaries, deploy


def register(main: click.Group) -> None:
    """Add the durable runner's commands to the ``baozhuang`` group."""
    main.add_command(db)
    main.add_command(deploy_command)
    main.add_command(incidents)
    main.add_command(outbox)
    main.add_command(audit_group)
    main.add_command(message)
    main.add_command(uploads)


def json_object_option(text: str, option: str) -> dict[str, Any]:
    """A command-line option holding a JSON object; anything else ends the command with a clear error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        click.echo(f"error: {option} is not JSON: {err.msg} (column {err.colno})", err=True)
        sys.exit(1)
    if not isinstance(value, dict):
        click.echo(f"error: {option} must be a JSON object", err=True)
        sys.exit(1)
    return value


@click.group()
def db() -> None:
    """The database schema."""


@db.command()
def upgrade() -> None:
    """Create or migrate the database (SQLite by default, PostgreSQL when DATABASE_URL says so)."""
    env = command_environment()
    schema.upgrade(env.url)
    env.revision = schema.current(env.url)  # what the sessions' schema check reads from now on
    click.echo(f"database at revision {env.revision}")
    repaired = backfill_summaries(env.sessions, env.runtime)
    if repaired:
        click.echo(f"case summaries recomputed from their states: {repaired}")


@click.command(name="deploy")
@click.argument("path", default="processes", type=click.Path(path_type=Path))
@click.option("--user", default="cli", show_default=True)
@click.option("--note")
def deploy_command(path: Path, user: str, note: str | None) -> None:
    """Validate PATH and store it as a process version (unchanged files: nothing new)."""
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            deployment = deploy(session, env.runtime, path, user, note)
            said = deployment.message()
    except DeployError as err:
        for line in err.problems:
            click.echo(line, err=True)
        sys.exit(1)
    click.echo(said)


@click.group()
def incidents() -> None:
    """Service tasks that failed after their retries."""


@incidents.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="resolved ones too")
def incidents_list(show_all: bool) -> None:
    """Id, case number, element, state and the first line of the message, one incident a line."""
    env = command_environment()
    with env.sessions.begin() as session:
        rows = services.incidents_with_cases(session, open_only=not show_all)
        for row in rows:
            incident = row.incident
            state = "resolved" if incident.resolved_at else "open"
            click.echo(f"{incident.id}\tcase {row.case_number}\t{incident.element_id}\t{state}\t"
                       f"{_first_line(incident.message)}")
        if not rows:
            click.echo("no incidents")


@incidents.command(name="retry")
@click.argument("incident_id", type=int)
def incidents_retry(incident_id: int) -> None:
    """Run the failed task again now; exit 1 if it (or a task after it) failed again."""
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            outcome = services.retry_incident(session, env.runtime, incident_id)
    except (NotFoundError, ConflictError, CaseError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if outcome.ok:
        click.echo(f"incident {incident_id} retried: {outcome.element_id} of case {outcome.case_number} ran through")
        return
    for failure in outcome.failures:
        click.echo(f"error: incident {incident_id} retried, but {failure.element_id} of case {outcome.case_number} "
                   f"failed again: {_first_line(failure.message).rstrip('.')}; {_what_next(failure)}", err=True)
    sys.exit(1)


@click.group()
def outbox() -> None:
    """Notifications the worker gave up on after its attempts (status failed)."""


@outbox.command(name="list")
@click.option("--case", "case_number", metavar="N", help="only this case's")
def outbox_list(case_number: str | None) -> None:
    """Id, case number, channel, template, attempts (and when the last one ran, Shanghai time) and the last error of
    each failed message, oldest first."""
    env = command_environment()
    with env.sessions.begin() as session:
        rows = outbox_admin.failed_messages(session, case_number)
        for row in rows:
            click.echo(f"{row.id}	case {row.case_number or '-'}	{row.channel}	{row.template}	"
                       f"{row.attempts} attempts, last {shown_time(row.last_attempt_at)}	"
                       f"{_first_line(row.last_error or '')}")
        if not rows:
            click.echo("no failed messages")


@outbox.command(name="retry")
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="every failed message")
@click.option("--user", default="cli", show_default=True, help="who sends them again (logged, as on the web page)")
def outbox_retry(message_ids: tuple[int, ...], all_failed: bool, user: str) -> None:
    """Send failed messages again (the worker delivers them at its next pass, same idempotency keys)."""
    if bool(message_ids) == all_failed:
        click.echo("error: give message ids or --all-failed", err=True)
        sys.exit(2)
    env = command_environment()
    with env.sessions.begin() as session:
        count = services.send_failed_messages_again(session, env.runtime, user, message_ids)
    click.echo(f"{count} message(s) to be sent again")
    if message_ids and count < len(set(message_ids)):
        click.echo("error: some ids are not failed messages (see baozhuang outbox list)", err=True)
        sys.exit(1)


def _first_line(message: str) -> str:
    return (message.splitlines() or [""])[0].strip()


def _what_next(failure: services.RetryFailure) -> str:
    """What happens to a task that failed again: the worker's next retry, or the new incident."""
    if failure.retry_at is not None:
        return f"the worker retries it at {to_iso(failure.retry_at)}"
    if failure.incident_id is not None:
        return f"new incident {failure.incident_id}"
    return "see `baozhuang incidents list`"


@click.group(name="audit")
def audit_group() -> None:
    """The hash-chained event log."""


@audit_group.command()
def verify() -> None:
    """Recompute the event chain; exit 1 if any row was edited or deleted."""
    env = command_environment()
    with env.sessions.begin() as session:
        result = audit.verify(session)
    for problem in result.problems:
        click.echo(problem)
    click.echo(f"{result.checked} events checked: {'intact' if result.ok else 'TAMPERED'}")
    sys.exit(0 if result.ok else 1)


@click.command()
@click.argument("case_number")
@click.argument("name")
@click.option("--payload", default="{}", help="JSON object")
def message(case_number: str, name: str, payload: str) -> None:
    """Deliver message NAME (e.g. payment_confirmed, meter_online) to case CASE_NUMBER."""
    body = json_object_option(payload, "--payload")
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            services.send_message(session, env.runtime, case_number, name, body)
    except (NotFoundError, CaseError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"delivered {name} to {case_number}")


@click.group()
def uploads() -> None:
    """Uploaded files (材料, photos) under <instance>/uploads."""


@uploads.command(name="prune")
@click.option("--older-than-hours", type=click.FloatRange(min=1), default=24.0, show_default=True,
              help="delete uploads never attached to a case that are older than this")
@click.option("--dry-run", is_flag=True, help="only say what would go")
def uploads_prune(older_than_hours: float, dry_run: bool) -> None:
    """Delete uploads never attached to a case (abandoned applications); the worker does this once an hour."""
    env = command_environment()
    result = documents.prune_unattached(env.sessions, env.instance, env.runtime.clock.now(),
                                        timedelta(hours=older_than_hours), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {result.documents} unattached upload(s), {result.files} file(s), {result.bytes} bytes")
