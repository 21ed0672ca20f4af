"""``baozhuang db|deploy|incidents|outbox|audit|message``: commands of the durable runner."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import click
from sqlalchemy import Column, String, select
from sqlalchemy.orm import Session

from . import audit, documents, outbox_admin, schema, services
from .case import CaseError
from .clock import shown_time, to_iso
from .environment import command_environment
from .forms import FormValidationError
from .migration_reasons import step_label
from .models import Case as CaseRow
from .models import Event, ProcessVersion, VersionActivation
from .process_folder import ProcessFolderError
from .roles import ROLE_NAMES
from .store import ConflictError, DeployError, NotFoundError, Runtime, backfill_summaries, deploy
from .strict_json import finite_json
from .version_warnings import unrunnable_table_warnings, versions_with_open_cases

TIMES_HEADER = "times: Asia/Shanghai"
"""The first line of a listing with times in it: every time the command line shows is Shanghai time
(``clock.shown_time``)."""


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
    """A command-line option holding a JSON object; anything else ends the command with a clear error.

    ``NaN``, ``Infinity`` and numbers beyond a float's range (``1e400``) are refused as the REST API refuses them
    (``webui.api.payloads``): Python's ``json`` reads them, but PostgreSQL refuses them in a statement (a
    traceback) and SQLite stores them, to be served later as invalid JSON."""
    try:
        value = finite_json(text)
    except json.JSONDecodeError as err:
        click.echo(f"error: {option} is not JSON: {err.msg} (column {err.colno})", err=True)
        sys.exit(1)
    except ValueError as err:  # a non-finite number, an integer of thousands of digits
        click.echo(f"error: {option} is not JSON: {err}", err=True)
        sys.exit(1)
    except RecursionError:
        click.echo(f"error: {option} is not JSON: nested too deeply", err=True)
        sys.exit(1)
    if not isinstance(value, dict):
        click.echo(f"error: {option} must be a JSON object", err=True)
        sys.exit(1)
    return value


class OptionRefused(click.UsageError):
    """An argument the command refuses before it does anything: one ``error:`` line, exit 2 (no usage text)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def column_length(*columns: Any) -> int:
    """The fewest characters any of the ``String(n)`` columns holds (a value stored in all of them must fit each)."""
    return min(int(cast(String, cast(Column[str], column).type).length or 0) for column in columns)


def at_most(limit: int) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback refusing an option value longer than ``limit`` characters (``OptionRefused``): the length of
    the column the value is stored in. PostgreSQL would refuse a longer one deep inside the command (a traceback
    quoting the statement), SQLite would store it; both are refused here, before the command touches anything."""

    def check(_context: click.Context, parameter: click.Parameter, value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            name = parameter.opts[0] if parameter.opts else str(parameter.name)
            raise OptionRefused(f"{name} is longer than {limit} characters ({len(value)} given)")
        return value

    return check


USER_LENGTH = column_length(Event.user, ProcessVersion.deployed_by, VersionActivation.activated_by)
"""The longest ``--user`` of a command: it is stored as the user of events and versions (or, for ``outbox retry``,
logged as the web page logs a signed-in user, whose name is no longer)."""
NOTE_LENGTH = column_length(ProcessVersion.note, VersionActivation.note)


def process_folder_or_exit(path: Path, example: str) -> None:
    """End the command with one ``error:`` line (exit 1) when ``path`` is no folder, saying what to give instead
    (``example``, e.g. ``baozhuang deploy path/to/processes``); a relative path is shown with the folder it was
    looked for in."""
    if path.is_dir():
        return
    where = f" in {Path.cwd()}" if not path.is_absolute() else ""
    problem = "is a file, not a folder" if path.exists() else "no such folder"
    click.echo(f"error: {path}: {problem}{where} (give the process folder, e.g. {example})", err=True)
    sys.exit(1)


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
@click.option("--user", default="cli", show_default=True, callback=at_most(USER_LENGTH),
              help=f"who deploys (recorded; at most {USER_LENGTH} characters)")
@click.option("--note", callback=at_most(NOTE_LENGTH),
              help=f"why, e.g. 回滚到E (recorded; at most {NOTE_LENGTH} characters)")
def deploy_command(path: Path, user: str, note: str | None) -> None:
    """Validate PATH and store it as a process version (unchanged files: nothing new)."""
    process_folder_or_exit(path, "baozhuang deploy path/to/processes")
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            deployment = deploy(session, env.runtime, path, user, note)
            said, warnings, current = deployment.message(), deployment.warnings(), deployment.version.id
    except DeployError as err:
        for line in err.problems:
            click.echo(line, err=True)
        click.echo(f"{len(err.problems)} problem(s) in {path}: nothing deployed, the current version is unchanged",
                   err=True)
        sys.exit(1)
    click.echo(said)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    with env.sessions() as session:  # after the commit: a warning never undoes the deployment
        for warning in unrunnable_table_warnings(session, versions_with_open_cases(session, other_than=current)):
            click.echo(warning, err=True)


@click.group()
def incidents() -> None:
    """Service tasks that failed after their retries."""


@incidents.command(name="list")
@click.option("--all", "show_all", is_flag=True, help="resolved ones too")
def incidents_list(show_all: bool) -> None:
    """Id, case number, step (``确定办理时限 (decide_time_limits)``), state, when it was raised (Shanghai time) and
    the first line of the message, one incident a line (tab-separated, under a header)."""
    env = command_environment()
    with env.sessions.begin() as session:
        rows = services.incidents_with_cases(session, open_only=not show_all)
        if not rows:
            click.echo("no incidents")
            return
        steps = _step_labels(session, env.runtime, {row.incident.case_id for row in rows})
        click.echo(TIMES_HEADER)
        click.echo("id\tcase\tstep\tstate\traised\tmessage")
        for row in rows:
            incident = row.incident
            state = "resolved" if incident.resolved_at else "open"
            step = steps.get(incident.case_id, {}).get(incident.element_id, incident.element_id)
            click.echo(f"{incident.id}\tcase {row.case_number}\t{step}\t{state}\t{shown_time(incident.created_at)}\t"
                       f"{_first_line(incident.message)}")


def _step_labels(session: Session, runtime: Runtime, case_ids: set[int]) -> dict[int, dict[str, str]]:
    """Case id → (element id → ``name (id)``, ``migration_reasons.step_label``) of the version the case runs, each
    version parsed once and its labels shared by its cases. A version that cannot be read (its cached files
    unwritable, say) is left out: its steps are shown by id alone."""
    versions = dict(session.execute(select(CaseRow.id, CaseRow.version_id).where(CaseRow.id.in_(case_ids))).tuples()
                    .all())
    labels: dict[int, dict[str, str]] = {}
    for version_id in set(versions.values()):
        version = session.get(ProcessVersion, version_id)
        try:
            bundle = runtime.bundle(version) if version is not None else None
        except (OSError, ProcessFolderError, RuntimeError):
            bundle = None
        if bundle is None:
            continue
        specs = [bundle.spec, *bundle.subprocess_specs.values()]
        labels[version_id] = {}
        for process in specs:
            for spec in process.task_specs.values():
                bpmn_id = getattr(spec, "bpmn_id", None)
                if bpmn_id:
                    labels[version_id].setdefault(bpmn_id, step_label(spec))
    return {case_id: labels[version_id] for case_id, version_id in versions.items() if version_id in labels}


@incidents.command(name="retry")
@click.argument("incident_id", type=int)
@click.option("--user", default="cli", show_default=True, callback=at_most(USER_LENGTH),
              help="who retries it (logged in the case's history)")
def incidents_retry(incident_id: int, user: str) -> None:
    """Run the failed task again now; exit 1 if it (or a task after it) failed again."""
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            outcome = services.retry_incident(session, env.runtime, incident_id, user)
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
@click.option("--case", "case_number", metavar="N", help="only this case's (exit 1 if there is no such case)")
def outbox_list(case_number: str | None) -> None:
    """Each failed message, oldest first, tab-separated under a header: id, case number, recipient (the role's name
    and id, e.g. ``客户 (customer)``), channel, template, when it was written, attempts, when the last one ran
    (times in Shanghai time) and the last error; then how many."""
    env = command_environment()
    with env.sessions.begin() as session:
        if case_number is not None:
            try:
                services.get_case(session, case_number)
            except NotFoundError as err:
                click.echo(f"error: {err}", err=True)
                sys.exit(1)
        rows = outbox_admin.failed_messages(session, case_number)
        if not rows:
            click.echo("no failed messages")
            return
        click.echo(TIMES_HEADER)
        click.echo("id\tcase\trecipient\tchannel\ttemplate\tcreated\tattempts\tlast attempt\tlast error")
        for row in rows:
            click.echo(f"{row.id}\t{row.case_number or '-'}\t{_recipient(row.to_role)}\t{row.channel}\t"
                       f"{row.template}\t{shown_time(row.created_at)}\t{row.attempts}\t"
                       f"{shown_time(row.last_attempt_at)}\t{_first_line(row.last_error or '')}")
        click.echo(f"{len(rows)} failed message(s)")


def _recipient(role: str | None) -> str:
    """``客户 (customer)``; the id alone for a role without a name; ``-`` for none."""
    if not role:
        return "-"
    name = ROLE_NAMES.get(role)
    return f"{name} ({role})" if name else role


@outbox.command(name="retry")
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="every failed message")
@click.option("--user", default="cli", show_default=True, callback=at_most(USER_LENGTH),
              help="who sends them again (logged, as on the web page)")
def outbox_retry(message_ids: tuple[int, ...], all_failed: bool, user: str) -> None:
    """Send failed messages again (the worker delivers them at its next pass, same idempotency keys).

    Of the given ids, the failed messages are sent again and the others are named on one ``error:`` line with what
    they are (no such message, pending, delivered); exit 1 then."""
    if message_ids and all_failed:
        click.echo("error: give message ids or --all-failed, not both", err=True)
        sys.exit(2)
    if not message_ids and not all_failed:
        click.echo("error: give message ids or --all-failed", err=True)
        sys.exit(2)
    env = command_environment()
    ids = sorted(set(message_ids))
    with env.sessions.begin() as session:
        statuses = outbox_admin.statuses(session, ids, lock=True)
        failed = [message_id for message_id in ids if statuses.get(message_id) == outbox_admin.FAILED]
        count = services.send_failed_messages_again(session, env.runtime, user, failed) if failed or all_failed \
            else 0
    if all_failed:
        click.echo(f"{count} message(s) to be sent again")
        return
    if failed:
        click.echo(f"{count} message(s) to be sent again: {', '.join(map(str, failed))}")
    not_sent = [f"{message_id} ({_not_failed(statuses.get(message_id))})" for message_id in ids
                if message_id not in failed]
    if not_sent:
        click.echo(f"error: not sent again: {', '.join(not_sent)}; see baozhuang outbox list", err=True)
        sys.exit(1)


def _not_failed(status: str | None) -> str:
    """Why a message is not sent again: it does not exist, or its status."""
    if status is None:
        return "no such message"
    return "delivered already" if status == "delivered" else f"{status}: the worker is still trying it"


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
    """Recompute the event chain; exit 1 if any row was edited or deleted. Each problem names the event by id, case,
    step and time (Shanghai time), as the row now stands."""
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
@click.option("--user", default="cli", show_default=True, callback=at_most(USER_LENGTH),
              help=f"who sends it (recorded with the delivery; at most {USER_LENGTH} characters)")
@click.option("--request-id", default=None, help="optional: the same id again reports the first delivery instead "
              "of an error (8-80 characters A-Za-z0-9_-)")
def message(case_number: str, name: str, payload: str, user: str, request_id: str | None) -> None:
    """Deliver message NAME (e.g. payment_confirmed, meter_online) to case CASE_NUMBER."""
    body = json_object_option(payload, "--payload")
    if request_id is not None and not services.REQUEST_ID.match(request_id):
        raise OptionRefused(f"--request-id must match {services.REQUEST_ID.pattern}")
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            delivery = services.send_message(session, env.runtime, case_number, name, body, user,
                                             request_id=request_id)
    except (NotFoundError, CaseError, ConflictError, FormValidationError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"{name} was delivered to {case_number} already (request id {request_id})" if delivery.repeated
               else f"delivered {name} to {case_number}")


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
