"""Preset dictionaries for compressing case states (zlib ``zdict``): a case state is small (a few KB), so most of
what zlib would learn from it — key names, task spec names, the data fields of this process — comes from the
dictionary instead, trained on the encoded states of the sample cases.

Each dictionary is numbered and committed as ``runner/data/state_dictionary_<n>.json`` (base64 + SHA-256). A stored
state names the number of the dictionary it was compressed with, so a dictionary must never change once it has
been released: to retrain, add the next number and make it ``CURRENT_DICTIONARY``; keep the old files so that old
states still load. Regenerate with ``python -m runner.state_dictionary [--number N]``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
CURRENT_DICTIONARY = 4
MAX_BYTES = 32 * 1024  # zlib's window: a longer dictionary is cut to its last 32 KB anyway
SAMPLE_CATEGORIES = (("lv_residential", False), ("lv_smallmicro", False), ("lv_other", False),
                     ("hv_ordinary", False), ("hv_important", False), ("hv_ordinary", True))


def dictionary_path(number: int) -> Path:
    return DATA / f"state_dictionary_{number}.json"


@cache
def dictionary(number: int) -> bytes:
    """The preset dictionary ``number`` (checked against its recorded SHA-256)."""
    path = dictionary_path(number)
    if not path.exists():
        raise ValueError(f"case state compressed with dictionary {number}, which this release does not have ({path})")
    record = json.loads(path.read_text(encoding="utf-8"))
    content = base64.b64decode(record["zlib_dictionary_base64"])
    if hashlib.sha256(content).hexdigest() != record["sha256"]:
        raise ValueError(f"{path}: the dictionary does not match its SHA-256")
    return content


def training_payloads(processes: Path, categories: tuple[tuple[str, bool], ...] = SAMPLE_CATEGORIES
                      ) -> list[bytes]:
    """The encoded states (the JSON part, without the id table: random ids teach nothing) of the sample cases of
    ``categories`` (category, dual supply) before each task, from the second half of each run (where states are
    largest)."""
    from .process_folder import load_process_folder
    from .state import STATE_CODEC
    from .state_codec import drop_finished_subprocesses, strip_finished_subprocesses
    from .trial import TrialDriver, TrialOptions

    bundle = load_process_folder(processes)
    payloads: list[bytes] = []
    for category, dual in categories:
        driver = TrialDriver(bundle, TrialOptions(category=category, dual_supply=dual))
        states: list[bytes] = []
        original = driver.answer

        def answer(task: Any, _original: Any = original, _driver: TrialDriver = driver,
                   _states: list[bytes] = states) -> None:
            workflow = _driver.case.workflow
            drop_finished_subprocesses(workflow)  # as pack_state does
            strip_finished_subprocesses(workflow)
            _states.append(STATE_CODEC.dumps(workflow)[0])  # the compressed part: the id table is stored raw
            _original(task)

        driver.answer = answer  # type: ignore[method-assign]
        driver.run()
        payloads += states[len(states) // 2:]
    return payloads


def dictionary_from(payloads: list[bytes]) -> bytes:
    """The last 32 KB of the payloads in run order: the states nearest the end of the last runs, the most typical
    content, where zlib reaches it most cheaply. (Measured against one state per run, or the final states only:
    this gave the smallest median and maximum, see bench/README.md.)"""
    return b"".join(payloads)[-MAX_BYTES:]


def train(processes: Path) -> bytes:
    """A dictionary from the states of every sample case."""
    return dictionary_from(training_payloads(processes))


def main() -> None:
    parser = argparse.ArgumentParser(description="Train a preset dictionary for case states from the samples.")
    parser.add_argument("--number", type=int, default=CURRENT_DICTIONARY)
    parser.add_argument("--processes", type=Path, default=Path("processes"))
    parser.add_argument("--force", action="store_true", help="overwrite an existing (released!) dictionary")
    args = parser.parse_args()
    path = dictionary_path(args.number)
    if path.exists() and not args.force:
        parser.error(f"{path} exists; states compressed with it would no longer load. Use the next number.")
    content = train(args.processes)
    record = {"number": args.number, "trained_on": f"{args.processes.as_posix()} samples",
              "sha256": hashlib.sha256(content).hexdigest(),
              "zlib_dictionary_base64": base64.b64encode(content).decode()}
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"{path}: {len(content):,} bytes")


if __name__ == "__main__":
    main()
