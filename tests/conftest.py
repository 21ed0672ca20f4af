"""Shared fixtures: the real process folder, parsed once per session, and a copy to break."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.process_folder import ProcessBundle, load_process_folder
from runner.workdays import WorkingCalendar

pytest_plugins = ["tests.db", "tests.browser"]  # the `db` fixture (SQLite and PostgreSQL) and durable-case helpers

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"


@pytest.fixture(scope="session")
def bundle() -> ProcessBundle:
    return load_process_folder(PROCESSES)


@pytest.fixture(scope="session")
def unchecked_bundle(tmp_path_factory: pytest.TempPathFactory) -> ProcessBundle:
    """The process folder with every form's ``x-completion-checks`` taken out: what the flow itself does with an
    answer those checks would refuse early (the model keeps such rules in its gateways too)."""
    folder = tmp_path_factory.mktemp("unchecked") / "processes"
    shutil.copytree(PROCESSES, folder)
    for form in (folder / "forms").glob("*.schema.json"):
        schema = json.loads(form.read_text(encoding="utf-8"))
        if schema.pop("x-completion-checks", None) is not None:
            form.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    return load_process_folder(folder)


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.default()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of processes/ made once per module, that a module's variants are made from (``bundle`` is its
    content, parsed)."""
    target = tmp_path_factory.mktemp("current") / "processes"
    shutil.copytree(PROCESSES, target)
    return target


@pytest.fixture()
def process_copy(tmp_path: Path) -> Path:
    """A writable copy of processes/ for tests that break it."""
    target = tmp_path / "processes"
    shutil.copytree(PROCESSES, target)
    return target
