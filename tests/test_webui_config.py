"""The instance's secret key: one key however many processes start on a new instance at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from webui.config import SECRET_KEY_FILE, instance_secret_key


def _key_after(barrier: object, instance: str, out: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    out.put(instance_secret_key(Path(instance)))  # type: ignore[attr-defined]


def test_processes_starting_together_on_a_new_instance_agree_on_one_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        instance = tmp_path / f"instance-{round_}"
        barrier, out = context.Barrier(4), context.Queue()
        workers = [context.Process(target=_key_after, args=(barrier, str(instance), out)) for _ in range(4)]
        for worker in workers:
            worker.start()
        keys = [out.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert len(set(keys)) == 1 and len(keys[0]) == 64, keys
        assert [path.name for path in instance.iterdir()] == [SECRET_KEY_FILE]  # no candidate left behind
        assert (instance / SECRET_KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_an_empty_key_file_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text("")
    with pytest.raises(RuntimeError, match="secret_key is empty"):
        instance_secret_key(tmp_path)
