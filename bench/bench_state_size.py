"""How many bytes a case row stores, and what they are made of.

Each sample category is run once by the ``baozhuang try`` driver (form-default answers, virtual clock). At every
boundary where the case waits for the outside world (after the start and after every task, message or timer
firing) the state is packed with ``runner.state.pack_state`` — exactly what ``cases.state`` holds — and, for
comparison, the whole workflow with its spec is dumped with ``runner.serialization.dump_workflow``.

Printed: min/median/max bytes per category and overall (active cases: the boundaries before completion) against the
5 KB target; what the state consists of (tasks by state, JSON bytes by part, the BPMN diagram's share); the
compressed size after each candidate change; and a replay check that the proposed format restores every case and
runs it to the same end.

    .venv/bin/python bench/bench_state_size.py [--categories lv_residential,hv_important]
"""

from __future__ import annotations

import argparse
import copy
import json
import lzma
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from _common import PROCESSES, SAMPLE_CATEGORIES, Script, machine_note, median, record_script
from SpiffWorkflow.util.task import TaskState

from handlers import build_registry
from handlers.context import MemoryArchive, MemoryOutbox
from runner.case import Case, CaseEvent, CaseServices
from runner.clock import VirtualClock, parse_iso
from runner.process_folder import ProcessBundle, load_process_folder
from runner.state import STATE_FORMAT, STATE_SERIALIZER, pack_state, unpack_state
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


# -- candidate changes, applied to the state dict -------------------------------------------------------------------


def without_predicted(state: dict[str, Any]) -> dict[str, Any]:
    """Drop MAYBE/LIKELY tasks (and their descendants): what predictions cost (size only)."""
    state = copy.deepcopy(state)
    for workflow in workflows(state):
        tasks = workflow["tasks"]
        dropped = {key for key, task in tasks.items() if task["state"] & PREDICTED}
        more = dropped
        while more:
            more = {key for key, task in tasks.items() if task["parent"] in more and key not in dropped}
            dropped |= more
        for key in dropped:
            del tasks[key]
        for task in tasks.values():
            task["children"] = [child for child in task["children"] if child not in dropped]
    return state


def without_finished_data(state: dict[str, Any]) -> dict[str, Any]:
    """Every finished task's data and delta removed: an upper bound for pruning data (size only, not restorable)."""
    state = copy.deepcopy(state)
    for workflow in workflows(state):
        for task in workflow["tasks"].values():
            if task["state"] & FINISHED:
                task["data"], task["delta"] = {}, {}
    return state


def without_completed_subprocesses(state: dict[str, Any]) -> dict[str, Any]:
    """Drop subprocess workflows that have completed, if the task that called them has finished too.

    Their result lives on in the caller's data and their history in the event log; SpiffWorkflow looks a
    subprocess up with ``subprocesses.get`` and treats a missing one as absent.
    """
    state = copy.deepcopy(state)
    top = state["workflow"]
    for key, sub in list(top["subprocesses"].items()):
        caller = top["tasks"].get(key)
        if sub.get("completed") and (caller is None or caller["state"] & FINISHED):
            del top["subprocesses"][key]
    return state


def ids_without_entropy(raw: bytes) -> bytes:
    """Every task id replaced by a short counter: what 36-character random UUIDs cost after compression."""
    numbers: dict[str, str] = {}

    def short(match: re.Match[str]) -> str:
        return numbers.setdefault(match.group(0), format(len(numbers), "x"))

    return UUID_RE.sub(short, raw.decode()).encode()


def encode_ids(state: dict[str, Any]) -> dict[str, Any]:
    """Lossless: every task id is written once, in an id table; the tree refers to ids by index (not keyed by id,
    no repeated parent/children strings)."""
    table: dict[str, int] = {}

    def ref(value: str | None) -> int | None:
        return None if value is None else table.setdefault(value, len(table))

    def workflow(dct: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in dct.items() if k not in ("tasks", "subprocesses", *ID_FIELDS)}
        out.update({name: ref(dct[name]) for name in ID_FIELDS if name in dct})
        out["tasks"] = [
            {**{k: v for k, v in task.items() if k not in ("id", "parent", "children")},
             "id": ref(key), "parent": ref(task["parent"]), "children": [ref(c) for c in task["children"]]}
            for key, task in dct["tasks"].items()
        ]
        if "subprocesses" in dct:
            out["subprocesses"] = [[ref(key), workflow(sub)] for key, sub in dct["subprocesses"].items()]
        return out

    encoded = workflow(state["workflow"])
    return {"format": state["format"], "ids": "".join(key.replace("-", "") for key in table), "workflow": encoded}


def decode_ids(packed: dict[str, Any]) -> dict[str, Any]:
    text = packed["ids"]
    ids = [f"{text[i:i + 8]}-{text[i + 8:i + 12]}-{text[i + 12:i + 16]}-{text[i + 16:i + 20]}-{text[i + 20:i + 32]}"
           for i in range(0, len(text), 32)]

    def get(index: int | None) -> str | None:
        return None if index is None else ids[index]

    def workflow(dct: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in dct.items() if k not in ("tasks", "subprocesses", *ID_FIELDS)}
        out.update({name: get(dct[name]) for name in ID_FIELDS if name in dct})
        out["tasks"] = {}
        for task in dct["tasks"]:
            key = get(task["id"])
            out["tasks"][key] = {**{k: v for k, v in task.items() if k not in ("id", "parent", "children")},
                                 "id": key, "parent": get(task["parent"]),
                                 "children": [get(c) for c in task["children"]]}
        if "subprocesses" in dct:
            out["subprocesses"] = {get(key): workflow(sub) for key, sub in dct["subprocesses"]}
        return out

    return {"format": packed["format"], "workflow": workflow(packed["workflow"])}


class ProposedFormat:
    """Completed subprocesses dropped + id table + zlib with a per-version preset dictionary."""

    def __init__(self, dictionary: bytes | None = None) -> None:
        self.dictionary = dictionary

    @staticmethod
    def payload(workflow: Any) -> bytes:
        state = {"format": STATE_FORMAT, "workflow": STATE_SERIALIZER.to_dict(workflow)}
        return dumps(encode_ids(without_completed_subprocesses(state)))

    def encode(self, workflow: Any) -> bytes:
        compressor = zlib.compressobj(6, zdict=self.dictionary) if self.dictionary else zlib.compressobj(6)
        return compressor.compress(self.payload(workflow)) + compressor.flush()

    def decode(self, blob: bytes, bundle: ProcessBundle) -> Any:
        decompressor = zlib.decompressobj(zdict=self.dictionary) if self.dictionary else zlib.decompressobj()
        state = decode_ids(json.loads(decompressor.decompress(blob) + decompressor.flush()))
        return STATE_SERIALIZER.from_dict(state["workflow"], spec=bundle.spec, subprocess_specs=bundle.subprocess_specs)

    @classmethod
    def train(cls, bundle: ProcessBundle, scripts: list[Script]) -> bytes:
        """A 32 KB preset dictionary: the new encoding of sample runs' states (the most typical part last)."""
        samples = [cls.payload(restore(bundle, blob))
                   for script in scripts for blob in script.boundaries[len(script.boundaries) // 2: -1]]
        return b"".join(samples)[-32768:]


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


# -- report ---------------------------------------------------------------------------------------------------------


def stats_line(label: str, values: list[int], target: int | None = TARGET_BYTES) -> str:
    mark = ""
    if target is not None:
        over = sum(v > target for v in values)
        mark = "  meets" if not over else f"  MISSES ({over}/{len(values)} over)"
    return (f"  {label:<38} min {min(values):>6,}  median {int(median(values)):>6,}  max {max(values):>6,}{mark}")


def report_sizes(scripts: dict[str, Script]) -> None:
    print(f"\nstored state per active case (pack_state: zlib-6 JSON, no spec), bytes; target ≤ {TARGET_BYTES:,}:")
    everything: list[int] = []
    for category, script in scripts.items():
        sizes = [len(blob) for blob in script.boundaries[:-1]]  # the last boundary is the completed case
        everything += sizes
        print(stats_line(f"{category} (n={len(sizes)})", sizes))
    print(stats_line(f"overall (n={len(everything)})", everything))
    print("  completed cases (last boundary): "
          + ", ".join(f"{c} {len(s.boundaries[-1]):,}" for c, s in scripts.items()))

    print("\nfor comparison, dump_workflow (state + spec), bytes, median (max) — JSON / zlib-6:")
    for category, script in scripts.items():
        dumps_ = [text.encode() for text in script.full_dumps[:-1]]
        print(f"  {category:<20} {int(median([len(d) for d in dumps_])):>8,} ({max(len(d) for d in dumps_):,})"
              f"  /  {int(median([z(d) for d in dumps_])):>7,}")
    last = json.loads(next(iter(scripts.values())).full_dumps[-1])
    spec = len(dumps(last["spec"])) + len(dumps(last["subprocess_specs"]))
    tables = sum(len(dumps(ts.get("decision_table", ""))) for ts in last["spec"]["task_specs"].values())
    di = sum(next(iter(scripts.values())).full_dumps[-1].count(marker) for marker in DI_MARKERS)
    print(f"  of which the spec: {spec:,} B JSON (DMN decision tables {tables:,} B); BPMN diagram (DI) elements in "
          f"the dump: {di} — the parser drops the DI, so it costs nothing in either format")


def report_composition(scripts: dict[str, Script]) -> None:
    print("\nwhat the largest active state of each category is made of (JSON bytes before compression):")
    for category, script in scripts.items():
        index = max(range(len(script.boundaries) - 1), key=lambda i: len(script.boundaries[i]))
        state = json.loads(zlib.decompress(script.boundaries[index]))
        states, parts = composition(state)
        total = len(dumps(state))
        subs = list(state["workflow"]["subprocesses"].values())
        print(f"  {category}: {len(script.boundaries[index]):,} B stored, {total:,} B JSON, "
              f"{sum(states.values())} tasks ({', '.join(f'{k} {v}' for k, v in states.most_common())}), "
              f"{len(subs)} subprocesses ({sum(bool(s.get('completed')) for s in subs)} completed)")
        for part, size in parts.most_common():
            if size > 100:
                print(f"      {part:<52} {size:>7,} B  {size / total * 100:5.1f} %")


def report_candidates(bundle: ProcessBundle, scripts: dict[str, Script], training: dict[str, Script]
                      ) -> dict[str, ProposedFormat]:
    print("\ncompressed bytes per active case after each candidate change (all active boundaries; dictionaries "
          "trained on the other categories' runs):")
    variants: dict[str, list[int]] = {}
    timings: dict[str, list[float]] = {key: [] for key in ("pack", "unpack", "encode", "decode", "to_dict", "json",
                                                           "zlib", "zlib1")}
    formats: dict[str, ProposedFormat] = {}
    for category, script in scripts.items():
        others = [run for other, run in training.items() if other != category] or list(training.values())
        stock_dictionary = b"".join(dumps(json.loads(zlib.decompress(blob)))
                                    for run in others for blob in run.boundaries[len(run.boundaries) // 2: -1])
        proposed = formats[category] = ProposedFormat(ProposedFormat.train(bundle, others))
        for blob in script.boundaries[:-1]:
            state = json.loads(zlib.decompress(blob))
            raw = dumps(state)
            workflow = restore(bundle, blob)
            encoded = proposed.encode(workflow)
            timings["pack"].append(timed(pack_state, workflow))
            timings["encode"].append(timed(proposed.encode, workflow))
            timings["unpack"].append(timed(restore, bundle, blob))
            timings["decode"].append(timed(proposed.decode, encoded, bundle))
            timings["to_dict"].append(timed(STATE_SERIALIZER.to_dict, workflow))
            timings["json"].append(timed(dumps, state))
            timings["zlib"].append(timed(zlib.compress, raw, 6))
            timings["zlib1"].append(timed(zlib.compress, raw, 1))
            no_subs = without_completed_subprocesses(state)
            sizes = {
                "as stored (zlib-6)": len(blob),
                "zlib-9": z(raw, 9),
                "lzma (xz)": len(lzma.compress(raw)),
                "zlib-6 + per-version dictionary": z(raw, 6, stock_dictionary[-32768:]),
                "without MAYBE/LIKELY tasks": z(dumps(without_predicted(state))),
                "without finished tasks' data (bound)": z(dumps(without_finished_data(state))),
                "without completed subprocesses": z(dumps(no_subs)),
                "ids written once (id table)": z(dumps(encode_ids(state))),
                "ids without entropy (counters)": z(ids_without_entropy(raw)),
                "no completed subprocesses + id table": z(dumps(encode_ids(no_subs))),
                "PROPOSED: that + per-version dict": len(encoded),
            }
            for label, size in sizes.items():
                variants.setdefault(label, []).append(size)
    for label, values in variants.items():
        print(stats_line(label, values))
    print("  time per save / restore, median: "
          f"pack_state {median(timings['pack']) * 1000:.2f} / unpack_state {median(timings['unpack']) * 1000:.2f} ms;"
          f" proposed {median(timings['encode']) * 1000:.2f} / {median(timings['decode']) * 1000:.2f} ms")
    print(f"  pack_state's parts, median: SpiffWorkflow to_dict {median(timings['to_dict']) * 1000:.2f} ms, "
          f"json.dumps {median(timings['json']) * 1000:.2f} ms, zlib-6 {median(timings['zlib']) * 1000:.2f} ms "
          f"(zlib-1 would take {median(timings['zlib1']) * 1000:.2f} ms)")
    return formats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default=",".join(SAMPLE_CATEGORIES))
    args = parser.parse_args()
    categories = [c for c in args.categories.split(",") if c]

    print(f"state size — {machine_note()}")
    bundle = load_process_folder(PROCESSES)
    scripts = {category: record_script(bundle, category, keep_states=True) for category in categories}
    # A second, independent run of every category (other task ids) trains the compression dictionaries.
    training = {category: record_script(bundle, category, keep_states=True) for category in categories}

    report_sizes(scripts)
    report_composition(scripts)
    formats = report_candidates(bundle, scripts, training)

    print("\nreplay check (save + restore around every interaction, same answers and clock):")
    for category, script in scripts.items():
        visited_stock, data_stock = replay(bundle, script, pack_state, lambda blob: blob)
        fmt = formats[category]
        visited_new, data_new = replay(bundle, script, fmt.encode,
                                       lambda blob, f=fmt: pack_state(f.decode(blob, bundle)))
        same = visited_stock == visited_new == script.visited and data_stock == data_new
        print(f"  {category:<20} proposed format: {'same path, same final case data' if same else 'DIFFERS'}")


if __name__ == "__main__":
    main()
