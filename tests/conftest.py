"""Shared fixtures: the real process folder, parsed once per session, and a copy to break."""

from __future__ import annotations

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
def calendar() -> WorkingCalendar:
    return WorkingCalendar.default()


@pytest.fixture()
def process_copy(tmp_path: Path) -> Path:
    """A writable copy of processes/ for tests that break it."""
    target = tmp_path / "processes"
    shutil.copytree(PROCESSES, target)
    return target
