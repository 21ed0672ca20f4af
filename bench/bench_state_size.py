"""How many bytes a case row stores, and what they are made of.

Each sample category is run once by the ``baozhuang try`` driver (form-default answers, virtual clock). At every
boundary where the case waits for the outside world (after the start and after every task, message or timer
firing) the state is packed with ``runner.state.pack_state`` — exactly what ``cases.state`` holds — and, for
comparison, the whole workflow with its spec is dumped with ``runner.serialization.dump_workflow``.

Printed: min/median/max bytes per category and overall (active cases: the boundaries before completion) against the
5 KB target, for the format stored now (format 4: finished subprocesses dropped with a summary of their steps, raw
16-byte id table, tick-delta times, subprocess roots as deltas of their callers, Zstandard with the released preset
dictionary as raw content), for format 3 (the same JSON with zlib) of the same workflows, and, from second and third
runs of the same script stored as before, for format 2 (hex id table, finished subprocesses kept without their data,
dictionary 1) and format 1 (plain zlib JSON); format 4 once more with a dictionary trained without the category's own
runs (the released one was trained on these very samples, so that figure is the honest one for other data); what a
format-1 state consists of (tasks by state, JSON bytes by part); time per save and restore of each format,
interleaved; and a replay check that format 4 (and a case whose rows were written in format 3, 2 or 1) restores
around every interaction and runs to the same end.

    .venv/bin/python bench/bench_state_size.py [--categories lv_residential,hv_important]
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import zstandard
from _common import PROCESSES, SAMPLE_CATEGORIES, Script, machine_note, median, record_script
from SpiffWorkflow.util.task import TaskState

from handlers import build_registry
from handlers.context import MemoryArchive, MemoryOutbox
from runner import state as state_module
from runner.case import Case, CaseEvent, CaseServices
from runner.clock import VirtualClock, parse_iso
from runner.process_folder import ProcessBundle, load_process_folder
from runner.state import (
    STATE_CODEC,
    STATE_FORMAT,
    ZSTD_PARAMETERS,
    pack_format_2_state,
    pack_format_3_state,
    pack_legacy_state,
    pack_state,
    unpack_state,
)
from runner.state_dictionary import CURRENT_DICTIONARY, MAX_BYTES, dictionary, dictionary_from, training_payloads
from runner.workdays import WorkingCalendar

TARGET_BYTES = 5 * 1024
FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
PREDICTED = TaskState.MAYBE | TaskState.LIKELY
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DI_MARKERS = ("BPMNShape", "BPMNEdge", "Bounds", "waypoint")
ID_FIELDS = ("id", "parent", "root", "last_task", "parent_task_id")


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def z(raw: bytes, level: int = 6, zdict: bytes | None = None) -> int:
    compressor = zlib.compressobj(level, zdict=zdict) if zdict else zlib.compressobj(level)
    return len(compressor.compress(raw) + compressor.flush())


def timed(function: Callable[..., Any], *args: Any) -> float:
    began = time.perf_counter()
    function(*args)
    return time.perf_counter() - began


def restore(bundle: ProcessBundle, blob: bytes) -> Any:
    return unpack_state(blob, bundle.spec, bundle.subprocess_specs, None)


def workflows(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The top workflow dict and its subprocess dicts."""
    top = state["workflow"]
    yield top
    yield from top.get("subprocesses", {}).values()


# -- what a state is made of ----------------------------------------------------------------------------------------


def composition(state: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """(tasks by state name, JSON bytes by part) of an unpacked state dict."""
    states: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    for number, workflow in enumerate(workflows(state)):
        subprocess = number > 0
        done = subprocess and workflow.get("completed")
        where = "completed subprocesses: " if done else ""
        parts[f"{where}workflow-level data"] += len(dumps(workflow.get("data", {})))
        for key, task in workflow["tasks"].items():
            states[TaskState.get_name(task["state"])] += 1
            kind = "predicted (MAYBE/LIKELY) tasks" if task["state"] & PREDICTED else "tree skeleton (ids, links, …)"
            skeleton = {k: v for k, v in task.items() if k not in ("data", "delta", "internal_data")}
            parts[f"{where}{kind}"] += len(dumps(skeleton)) + len(key) + 3
            parts[f"{where}task data in full (tree roots)"] += len(dumps(task["data"]))
            parts[f"{where}task data deltas"] += len(dumps(task["delta"]))
            parts[f"{where}internal data (timers, joins)"] += len(dumps(task["internal_data"]))
    return states, parts


# -- replay check: a format restores every case and runs it to the same end -------------------------------------


def replay(bundle: ProcessBundle, script: Script, save: Callable[[Any], bytes],
           load: Callable[[bytes], bytes]) -> tuple[list[str], dict[str, Any]]:
    """Run the script with a save (``save``) and a restore (``load`` gives ``pack_state`` bytes, then
    ``Case(state=...)``) around every interaction, as the durable runner does."""
    start_data = copy.deepcopy(script.start_data)
    clock = VirtualClock(parse_iso(start_data["applied_at"]))
    history: list[CaseEvent] = []

    def last_user(element: str) -> str | None:
        users = [e.user for e in history if e.element_id == element and e.lifecycle == "completed"]
        return users[-1] if users else None

    services = CaseServices(clock=clock, calendar=WorkingCalendar.default(), registry=build_registry(),
                            outbox=MemoryOutbox(), archive=MemoryArchive(), history_lookup=last_user)
    case = Case(bundle, services, start_data["case_number"])
    case.start(start_data)
    history.extend(case.new_events())
    blob = save(case.workflow)
    for step in script.steps:
        clock.advance_to(step.at)
        case = Case(bundle, services, start_data["case_number"], state=load(blob))
        if step.kind == "timers":
            case.fire_due_timers()
        elif step.kind == "message":
            case.deliver_message(step.element, copy.deepcopy(step.data))
        else:
            task = next(t for t in case.ready_tasks() if t.element_id == step.element)
            case.complete_task(task.id, copy.deepcopy(step.data), step.user)
        history.extend(case.new_events())
        blob = save(case.workflow)
    if not case.completed:
        raise RuntimeError(f"{script.category}: the replay did not complete")
    return [e.element_id for e in history if e.lifecycle == "completed"], case.data


# -- recording ------------------------------------------------------------------------------------------------------


def record_all(bundle: ProcessBundle, category: str) -> tuple[Script, list[bytes], list[bytes]]:
    """The sample's script with format-3 states at every boundary (``Script.boundaries``), and the format-2 and
    format-1 states of second and third runs of the same script, each stored as that format did (format 2 keeps
    finished subprocesses without their data; format 1 keeps them whole)."""
    script = record_script(bundle, category, keep_states=True)
    runs = []
    current = state_module.pack_state
    for packer in (pack_format_2_state, pack_legacy_state):
        state_module.pack_state = packer  # record_script imports it when called
        try:
            runs.append(record_script(bundle, category, keep_states=True))
        finally:
            state_module.pack_state = current
    for run in runs:
        if run.visited != script.visited or len(run.boundaries) != len(script.boundaries):
            raise RuntimeError(f"{category}: the runs took different paths")
    return script, runs[0].boundaries, runs[1].boundaries


def packed_with(workflow: Any, zdict: bytes) -> int:
    """Bytes of format 4 with another preset dictionary (same header, payload, id table, parameters and checksum)."""
    payload, ids = STATE_CODEC.dumps(workflow)
    raw = zstandard.ZstdCompressionDict(zdict, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    frame = zstandard.ZstdCompressor(dict_data=raw, compression_params=ZSTD_PARAMETERS).compress(payload)
    return 2 + len(frame) + 16 * len(ids)


# -- report ---------------------------------------------------------------------------------------------------------


def stats_line(label: str, values: list[int], target: int | None = TARGET_BYTES) -> str:
    mark = ""
    if target is not None:
        over = sum(v > target for v in values)
        mark = "  meets" if not over else f"  MISSES ({over}/{len(values)} over)"
    return (f"  {label:<44} min {min(values):>6,}  median {int(median(values)):>6,}  max {max(values):>6,}{mark}")


def report_sizes(bundle: ProcessBundle, scripts: dict[str, Script], format_2: dict[str, list[bytes]],
                 legacy: dict[str, list[bytes]], held_out: dict[str, bytes]) -> None:
    print(f"\nstored state per active case (no spec), bytes; target ≤ {TARGET_BYTES:,}:")
    now = f"format {STATE_FORMAT} (stored now)"
    totals: dict[str, list[int]] = {now: [], f"format {STATE_FORMAT}, dictionary w/o the category": [],
                                    "format 3 (zlib, stored until now)": [], "format 2 (stored before)": [],
                                    "format 1 (stored before that)": []}
    for category, script in scripts.items():
        active = script.boundaries[:-1]  # the last boundary is the completed case
        sizes = {
            now: [len(blob) for blob in active],
            f"format {STATE_FORMAT}, dictionary w/o the category": [
                packed_with(restore(bundle, blob), held_out[category]) for blob in active],
            "format 3 (zlib, stored until now)": [len(pack_format_3_state(restore(bundle, blob))) for blob in active],
            "format 2 (stored before)": [len(blob) for blob in format_2[category][:-1]],
            "format 1 (stored before that)": [len(blob) for blob in legacy[category][:-1]],
        }
        print(f"  {category} (n={len(active)}):")
        for label, values in sizes.items():
            totals[label] += values
            print("  " + stats_line(label, values))
    print(f"  overall (n={len(totals[now])}):")
    for label, values in totals.items():
        print("  " + stats_line(label, values))
    print(f"  completed cases (last boundary), format {STATE_FORMAT}: "
          + ", ".join(f"{c} {len(s.boundaries[-1]):,}" for c, s in scripts.items()))

    print("\nfor comparison, dump_workflow (state + spec), bytes, median (max) — JSON / zlib-6:")
    for category, script in scripts.items():
        dumps_ = [text.encode() for text in script.full_dumps[:-1]]
        print(f"  {category:<20} {int(median([len(d) for d in dumps_])):>8,} ({max(len(d) for d in dumps_):,})"
              f"  /  {int(median([z(d) for d in dumps_])):>7,}")


def report_composition(legacy: dict[str, list[bytes]]) -> None:
    print("\nwhat the largest active format-1 state of each category is made of (JSON bytes before compression):")
    for category, blobs in legacy.items():
        index = max(range(len(blobs) - 1), key=lambda i: len(blobs[i]))
        state = json.loads(zlib.decompress(blobs[index]))
        states, parts = composition(state)
        total = len(dumps(state))
        subs = list(state["workflow"]["subprocesses"].values())
        print(f"  {category}: {len(blobs[index]):,} B stored, {total:,} B JSON, "
              f"{sum(states.values())} tasks ({', '.join(f'{k} {v}' for k, v in states.most_common())}), "
              f"{len(subs)} subprocesses ({sum(bool(s.get('completed')) for s in subs)} completed)")
        for part, size in parts.most_common():
            if size > 100:
                print(f"      {part:<52} {size:>7,} B  {size / total * 100:5.1f} %")


def report_timings(bundle: ProcessBundle, scripts: dict[str, Script], format_2: dict[str, list[bytes]],
                   legacy: dict[str, list[bytes]], rounds: int = 3) -> None:
    """Save and restore of each format at every active boundary, interleaved (format 4, 3, 2, 1 in turn),
    ``rounds`` times; a save packs the workflow that format's own restore gave (so format 2, 3 and 4 saves see what
    their formats keep of finished subprocesses, and format 1 the whole of them)."""
    packers = {STATE_FORMAT: pack_state, 3: pack_format_3_state, 2: pack_format_2_state, 1: pack_legacy_state}
    timings: dict[str, list[float]] = {f"{kind}{number}": [] for number in packers for kind in ("pack", "unpack")}
    for _ in range(rounds):
        for category, script in scripts.items():
            format_3 = [pack_format_3_state(restore(bundle, blob)) for blob in script.boundaries[:-1]]
            blobs = zip(script.boundaries[:-1], format_3, format_2[category][:-1], legacy[category][:-1], strict=True)
            for by_format in blobs:
                for number, blob in zip(packers, by_format, strict=True):
                    timings[f"unpack{number}"].append(timed(restore, bundle, blob))
                    workflow = restore(bundle, blob)
                    timings[f"pack{number}"].append(timed(packers[number], workflow))
    figures = [f"format {number} {median(timings[f'pack{number}']) * 1000:.2f} / "
               f"{median(timings[f'unpack{number}']) * 1000:.2f} ms" for number in packers]
    count = len(timings[f"pack{STATE_FORMAT}"])
    print(f"\ntime per save / restore, median of {count:,} each, interleaved: " + "; ".join(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default=",".join(SAMPLE_CATEGORIES))
    args = parser.parse_args()
    categories = [c for c in args.categories.split(",") if c]

    print(f"state size — {machine_note()}; format {STATE_FORMAT}, dictionary {CURRENT_DICTIONARY} "
          f"({len(dictionary(CURRENT_DICTIONARY)):,} B)")
    bundle = load_process_folder(PROCESSES)
    recorded = {category: record_all(bundle, category) for category in categories}
    scripts = {category: script for category, (script, _format_2, _legacy) in recorded.items()}
    format_2 = {category: blobs for category, (_script, blobs, _legacy) in recorded.items()}
    legacy = {category: blobs for category, (_script, _format_2, blobs) in recorded.items()}
    # Dictionaries trained like the released one, each without the category it is measured on.
    runs = {category: (category.removesuffix("_dual"), category.endswith("_dual")) for category in SAMPLE_CATEGORIES}
    payloads = {category: training_payloads(PROCESSES, (run,)) for category, run in runs.items()}
    held_out = {category: dictionary_from([p for other, ps in payloads.items() if other != category for p in ps])
                for category in categories}
    assert all(len(d) <= MAX_BYTES for d in held_out.values())

    report_sizes(bundle, scripts, format_2, legacy, held_out)
    report_composition(legacy)
    report_timings(bundle, scripts, format_2, legacy)

    print("\nreplay check (save + restore around every interaction, same answers and clock):")
    for category, script in scripts.items():
        visited_now, data_now = replay(bundle, script, pack_state, lambda blob: blob)
        visited_3, data_3 = replay(bundle, script, pack_format_3_state, lambda blob: blob)
        # Cases whose rows were written in an older format: every load reads it (each save writes it again).
        visited_2, data_2 = replay(bundle, script, pack_format_2_state, lambda blob: blob)
        visited_1, data_1 = replay(bundle, script, pack_legacy_state, lambda blob: blob)
        same = (visited_now == visited_3 == visited_2 == visited_1 == script.visited
                and data_now == data_3 == data_2 == data_1)
        print(f"  {category:<20} format {STATE_FORMAT}, and format 3, 2 and 1 rows read back: "
              f"{'same path, same final case data' if same else 'DIFFERS'}")


if __name__ == "__main__":
    main()
