"""``baozhuang variant rebuild FOLDER [--check]``: bring a what-if variant overlay up to today's main model, or
check that it is (``runner.simulation.variant_rebuild``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .environment import fail
from .simulation.variant_rebuild import RebuiltFile, VariantRebuildError, rebuild_overlay
from .simulation.variants import overlay_base, shown_name


def register(main: click.Group) -> None:
    """Add ``variant`` to the ``baozhuang`` group."""
    main.add_command(variant)


@click.group()
def variant() -> None:
    """What-if process variants: overlays under processes/variants/<name>/ laid over processes/."""


@variant.command(name="rebuild")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--keep", multiple=True, metavar="SUBPROCESS_ID",
              help="a subprocess the variant changes (repeatable; default: the subprocesses holding elements the "
                   "main model does not have)")
@click.option("--check", is_flag=True,
              help="write nothing; exit 1 naming the differing elements when the variant has drifted from the main "
                   "model outside its own subprocesses")
def rebuild_command(folder: Path, keep: tuple[str, ...], check: bool) -> None:
    """Rebuild each BPMN file of the variant overlay FOLDER from the main model of its process folder: today's file
    line for line, with the variant's own subprocesses (their elements, diagram shapes and lane entries) kept.

    Run it after every change of the main model (e.g. ``baozhuang variant rebuild
    processes/variants/parallel_plan_review``); ``--check`` in CI or before a what-if run."""
    if not folder.is_dir():
        fail(f"{folder}: no such folder (give a variant overlay, e.g. processes/variants/parallel_plan_review)")
    base = overlay_base(folder)
    if base is None:
        fail(f"{folder}: not a variant overlay (a folder inside the variants/ folder of a process folder that holds "
             "baozhuang.bpmn)")
    try:
        results = rebuild_overlay(folder, base, keep)
    except (VariantRebuildError, OSError) as err:
        fail(str(err))
    if check:
        _report_check(results, folder)
        return
    for result in results:
        _write(result)


def _kept(result: RebuiltFile) -> str:
    return ", ".join(result.kept)


SHOWN = 20
"""Differing elements named on the line; the count says how many more there are."""


def _listed(elements: list[str]) -> str:
    more = f" and {len(elements) - SHOWN} more" if len(elements) > SHOWN else ""
    return f"{len(elements)} element(s): {', '.join(elements[:SHOWN])}{more}"


def _report_check(results: list[RebuiltFile], folder: Path) -> None:
    drifted = [result for result in results if result.drifted]
    for result in results:
        if not result.drifted:
            click.echo(f"{shown_name(result.path)}: up to date with {shown_name(result.main)} (its own: "
                       f"{_kept(result)})")
    for result in drifted:
        click.echo(f"error: {shown_name(result.path)} has drifted from {shown_name(result.main)} outside "
                   f"{_kept(result)}: {_listed(result.drifted)}; rebuild it: baozhuang variant rebuild "
                   f"{shown_name(folder)}", err=True)
    if drifted:
        sys.exit(1)


def _write(result: RebuiltFile) -> None:
    """Write the rebuilt text under a temporary name and rename it: a failed write leaves the old file whole."""
    if not result.drifted:
        click.echo(f"{shown_name(result.path)}: unchanged, up to date with {shown_name(result.main)}")
        return
    temporary = result.path.with_name(f".{result.path.name}.partial")
    try:
        temporary.write_bytes(result.rebuilt)
        os.replace(temporary, result.path)
    except OSError as err:
        fail(f"cannot write {result.path}: {err.strerror or err}")
    finally:
        temporary.unlink(missing_ok=True)
    click.echo(f"rebuilt {shown_name(result.path)} from {shown_name(result.main)} (kept: {_kept(result)}; "
               f"{len(result.drifted)} element(s) brought up to date)")
