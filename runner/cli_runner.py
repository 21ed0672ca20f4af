"""``baozhuang db|deploy|incidents|audit|message``: commands of the durable runner."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from . import audit, documents, schema, services
from .case import CaseError
from .environment import command_environment
from .store import ConflictError, DeployError, NotFoundError, deploy


def register(main: click.Group) -> None:
    """Add the durable runner's commands to the ``baozhuang`` group."""
    main.add_command(db)
    main.add_command(deploy_command)
    main.add_command(incidents)
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
    click.echo(f"database at revision {schema.current(env.url)}")


@click.command(name="deploy")
@click.argument("path", default="processes", type=click.Path(path_type=Path))
@click.option("--user", default="cli", show_default=True)
@click.option("--note")
def deploy_command(path: Path, user: str, note: str | None) -> None:
    """Validate PATH and store it as a process version (unchanged files: nothing new)."""
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            version, created = deploy(session, env.runtime, path, user, note)
            summary = f"version {version.id} ({version.version_hash[:12]})"
    except DeployError as err:
        for line in err.problems:
            click.echo(line, err=True)
        sys.exit(1)
    click.echo(f"deployed {summary}" if created else f"unchanged: {summary} is already deployed")


@click.group()
def incidents() -> None:
    """Service tasks that failed after their retries."""


@incidents.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="resolved ones too")
def incidents_list(show_all: bool) -> None:
    env = command_environment()
    with env.sessions.begin() as session:
        rows = services.list_incidents(session, open_only=not show_all)
        for row in rows:
            state = "resolved" if row.resolved_at else "open"
            click.echo(f"{row.id}\tcase {row.case_id}\t{row.element_id}\t{state}\t{row.message.splitlines()[0]}")
        if not rows:
            click.echo("no incidents")


@incidents.command(name="retry")
@click.argument("incident_id", type=int)
def incidents_retry(incident_id: int) -> None:
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            services.retry_incident(session, env.runtime, incident_id)
    except (NotFoundError, ConflictError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"incident {incident_id} retried")


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
