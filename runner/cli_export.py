"""``baozhuang export-log``: the event log as CSV activity instances or an XES log, for mining and simulation."""

from __future__ import annotations

import errno
import io
import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from .clock import parse_iso
from .environment import Environment, command_environment
from .export import ExportError, Selection, iter_case_logs, write_csv, write_xes


def register(main: click.Group) -> None:
    """Add ``export-log`` to the ``baozhuang`` group."""
    main.add_command(export_log)


@click.command(name="export-log")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "xes"]))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="file to write (default: stdout); missing folders on its path are created, as simulate --out "
                   "and calibrate --out do")
@click.option("--case", "case_numbers", multiple=True, metavar="NUMBER", help="only this case (repeatable)")
@click.option("--since", metavar="DATE", help="only cases created at or after DATE (ISO date or datetime, +08:00)")
def export_log(fmt: str, out: Path | None, case_numbers: tuple[str, ...], since: str | None) -> None:
    """Export the event log: one CSV row per completed activity instance, or one XES trace per case, each with the
    process version the case runs (``process_version``: id and hash prefix). ``--out``'s missing folders are
    created."""
    try:
        moment = parse_iso(since) if since else None
    except ValueError:
        raise click.BadParameter(f"{since!r} is not an ISO date or datetime", param_hint="--since") from None
    env = command_environment()
    try:
        cases, items = export(env, fmt, out, Selection(tuple(dict.fromkeys(case_numbers)), moment))
    except ExportError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except BrokenPipeError:
        if out is not None:  # not stdout: a real failure to write the file
            click.echo(f"error: cannot write {out}: broken pipe", err=True)
            sys.exit(1)
        reader_gone()
    except OSError as err:  # a folder that cannot be made, a file that cannot be written: nothing is left behind
        click.echo(f"error: cannot write {out if out is not None else 'to stdout'}: {err.strerror or err}", err=True)
        sys.exit(1)
    finally:
        env.engine.dispose()  # close pooled connections rather than leave them to the garbage collector
    if out is not None:
        click.echo(f"{cases} cases, {items} {'rows' if fmt == 'csv' else 'events'} written to {out}", err=True)


def export(env: Environment, fmt: str, out: Path | None, selection: Selection) -> tuple[int, int]:
    """Write the log to ``out`` (stdout when None), making its missing folders; return (cases, rows or events)."""
    logs = iter_case_logs(env.sessions, selection)  # checks the selection before anything is written
    if out is not None:
        make_folder(out.parent)
    # atomic: a file is written under a temporary name and renamed when complete, so nobody reads half a log
    with click.open_file(str(out) if out else "-", "wb", atomic=out is not None) as binary:
        if fmt == "xes":
            return write_xes(logs, binary)
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=True)
        try:
            return write_csv(logs, text)
        finally:
            text.detach()  # leave the underlying stream to its owner (also when writing failed)


def reader_gone() -> NoReturn:
    """Stop quietly, exit 0, when the reader of stdout went away (``export-log … | head -3``), as Unix tools do.

    What stdout still buffers could not be written either: stdout is pointed at the null device first, so that
    Python's own flush at exit has nowhere to fail (it would print "Exception ignored … BrokenPipeError")."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # no real descriptor behind stdout (a test's captured output): nothing to flush
        pass
    sys.exit(0)


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents (as ``simulate --out`` does), saying so when a file stands in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, f"{folder} is a file, not a folder") from None
