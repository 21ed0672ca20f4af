"""Workflow state without the spec: what a case row stores, restored onto the version's cached spec objects.

SpiffWorkflow's serializer embeds the whole spec in every workflow (ENGINE-NOTES.md); the stored state leaves it out
and, on restore, takes the parsed specs of the case's version. The state is kept as compressed bytes, never as a JSON
column: task data are stored as deltas that must be restored parent before child, which a JSONB column's key
reordering would break.

Formats (told apart by the first byte; every format stays readable):

* 1 — zlib-compressed JSON ``{"format": 1, "workflow": <SpiffWorkflow's dict without the specs>}``. A zlib stream
  starts with ``0x78``. Written until 2026-11; read only.
* 2 — ``bytes([2, n])`` followed by zlib-compressed JSON of ``runner.state_codec`` (id table, compact tasks,
  finished subprocesses without their data), compressed with preset dictionary ``n`` of ``runner.state_dictionary``.
  Written until 2026-11; read only.
* 3 — ``bytes([3, n])``, the zlib stream (preset dictionary ``n``) of the JSON of ``runner.state_codec`` version 3,
  then the id table as raw bytes (16 per task id; zlib's ``unused_data``). Unlike 2: finished subprocesses are left
  out whole, a summary of their completed steps (``"finished"``) standing in for them
  (``runner.state_codec.drop_finished_subprocesses``); ``last_state_change`` is a difference of 2**-22 s ticks
  from the previous task's; a subprocess's root task stores its data as a delta against its caller's. A release
  that reads only format 2 refuses these states instead of losing the summary. Written until 2026-11; read only.
* 4 — ``bytes([4, n])``, a Zstandard frame (``ZSTD_PARAMETERS``, with its checksum; dictionary ``n`` of
  ``runner.state_dictionary`` as raw content) of the same JSON as format 3, then the id table as in format 3 (what
  follows the frame). A seventh of zlib's time, for a state of about the same size (decisions 44).
"""

from __future__ import annotations

import json
import threading
import zlib
from functools import cache
from typing import Any
from uuid import UUID

import zstandard
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter

from .dialect import SERIALIZER_CONFIG
from .fast_workflow import task_id_of
from .state_codec import StateCodec, drop_finished_subprocesses, strip_finished_subprocesses
from .state_dictionary import CURRENT_DICTIONARY, dictionary

STATE_FORMAT = 4
ZLIB_FORMATS = (2, 3)
"""Formats of ``runner.state_codec``'s JSON compressed with zlib (2 never has a ``"finished"`` summary, and may hold
finished subprocesses without their data); ``STATE_FORMAT`` is format 3's JSON compressed with Zstandard."""
LEGACY_FORMAT = 1
ZLIB_FIRST_BYTE = 0x78  # deflate with a 32 KB window: how every format-1 state begins
COMPRESSION_LEVEL = 6
"""zlib's level for formats 2 and 3 (``pack_format_3_state``, ``pack_format_2_state``)."""
ZSTD_LEVEL = 3
"""Zstandard's level for format 4. On the sample states level 3 took 16 µs where zlib 6 took 110 µs, for about the
same median size and a smaller largest state; level 6 stored 7 % less for three times the time."""
ZSTD_TABLE_LOG = 12
"""log2 of the entries of the match finder's hash and chain tables (``ZSTD_PARAMETERS``). Level 3 alone sizes them
for inputs of any length (2**16 and 2**15 entries: 384 KB), and a compression copies the dictionary's prepared
tables into its own whenever the state is over 8 KB: 384 KB moved on every save, pushing the rest of the request
out of the CPU's caches. With 2**12 entries (32 KB) the sample states come out about 6 % larger (median 2,382 B
instead of 2,244 B, max 4,077 B); decisions 44."""


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Serializes a workflow without its specs; restores it onto specs handed in by the caller (format 1)."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)  # not the specs: never converted at all
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        if spec is None:
            raise ValueError("restoring a workflow state needs the version's spec")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


STATE_SERIALIZER = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**SERIALIZER_CONFIG, BpmnWorkflow: SpecFreeWorkflowConverter})
)
STATE_CODEC = StateCodec(STATE_SERIALIZER.registry)


def pack_state(workflow: Any) -> bytes:
    """The workflow's state (no spec) in the current format.

    Finished subprocesses are dropped from ``workflow`` itself first (and the data of any finished one kept
    because a subprocess in it still runs are emptied), so that the live workflow is the one a restore gives back
    (the runner keeps live workflows between requests)."""
    drop_finished_subprocesses(workflow)
    strip_finished_subprocesses(workflow)
    payload, ids = STATE_CODEC.dumps(workflow)
    table = b"".join([task_id.int.to_bytes(16) for task_id in ids])  # each id's UUID.bytes
    frame = _zstd.compressor(CURRENT_DICTIONARY).compress(payload)
    return b"".join((bytes((STATE_FORMAT, CURRENT_DICTIONARY)), frame, table))


def pack_format_3_state(workflow: Any) -> bytes:
    """Format 3, as written before format 4 (for tests and benchmarks that check old rows still load)."""
    drop_finished_subprocesses(workflow)
    strip_finished_subprocesses(workflow)
    payload, ids = STATE_CODEC.dumps(workflow)
    return _compressed(3, CURRENT_DICTIONARY, payload, b"".join([task_id.bytes for task_id in ids]))


ZSTD_PARAMETERS = zstandard.ZstdCompressionParameters.from_level(
    ZSTD_LEVEL, hash_log=ZSTD_TABLE_LOG, chain_log=ZSTD_TABLE_LOG, write_checksum=1)
"""Format 4's compression: level ``ZSTD_LEVEL`` with ``ZSTD_TABLE_LOG``-sized tables, and the frame's checksum."""


class _ZstdCodecs(threading.local):
    """Zstandard compressors and decompressors per preset dictionary, one set per thread (the library's objects
    may not be used by two threads at once); each dictionary is prepared once per process."""

    def __init__(self) -> None:
        self.compressors: dict[int, Any] = {}
        self.decompressors: dict[int, Any] = {}

    def compressor(self, number: int) -> Any:
        found = self.compressors.get(number)
        if found is None:
            found = self.compressors[number] = zstandard.ZstdCompressor(
                dict_data=_zstd_dictionary(number), compression_params=ZSTD_PARAMETERS)
        return found

    def decompressor(self, number: int) -> Any:
        found = self.decompressors.get(number)
        if found is None:
            found = self.decompressors[number] = zstandard.ZstdDecompressor(dict_data=_zstd_dictionary(number))
        return found


_zstd = _ZstdCodecs()


@cache
def _zstd_dictionary(number: int) -> Any:
    """Preset dictionary ``number`` as Zstandard raw content, prepared for ``ZSTD_PARAMETERS``."""
    prepared = zstandard.ZstdCompressionDict(dictionary(number), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    prepared.precompute_compress(compression_params=ZSTD_PARAMETERS)
    return prepared


def _compressed(format_number: int, dictionary_number: int, payload: bytes, tail: bytes = b"") -> bytes:
    """The format byte, the dictionary byte, ``payload`` compressed with that preset dictionary, then ``tail``."""
    compressor = _primed_compressor(dictionary_number).copy()
    return b"".join((bytes((format_number, dictionary_number)), compressor.compress(payload), compressor.flush(),
                     tail))


@cache
def _primed_compressor(number: int) -> Any:
    """A compressor that has read preset dictionary ``number``, to be copied: loading a dictionary into a new
    compressor costs about six times as much as copying one that has it."""
    return zlib.compressobj(COMPRESSION_LEVEL, zdict=dictionary(number))


def state_format(blob: bytes) -> int:
    """The format number of a stored state."""
    if not blob:
        raise ValueError("empty case state")
    return LEGACY_FORMAT if blob[0] == ZLIB_FIRST_BYTE else blob[0]


def unpack_state(blob: bytes, spec: Any, subprocess_specs: dict[str, Any], script_engine: Any) -> Any:
    """Restore a workflow packed by ``pack_state`` (any format) onto the given (shared, cached) specs."""
    if spec is None:
        raise ValueError("restoring a workflow state needs the version's spec")
    number = state_format(blob)
    if number == STATE_FORMAT:
        reader = _zstd.decompressor(blob[1]).decompressobj()
        try:
            text = reader.decompress(blob[2:])
        except zstandard.ZstdError as err:
            raise ValueError(f"damaged case state ({err})") from err
        workflow = STATE_CODEC.decode(json.loads(text), spec, subprocess_specs, _id_table(reader))
    elif number in ZLIB_FORMATS:
        decompressor = zlib.decompressobj(zdict=dictionary(blob[1]))
        dct = json.loads(decompressor.decompress(blob[2:]) + decompressor.flush())
        workflow = STATE_CODEC.decode(dct, spec, subprocess_specs, _id_table(decompressor) if number == 3 else None)
    elif number == LEGACY_FORMAT:
        state = json.loads(zlib.decompress(blob))
        if state.get("format") != LEGACY_FORMAT:
            raise ValueError(f"unknown case state format {state.get('format')!r}")
        workflow = STATE_SERIALIZER.from_dict(state["workflow"], spec=spec, subprocess_specs=subprocess_specs)
    else:
        raise ValueError(f"unknown case state format {number}")
    workflow.script_engine = script_engine
    return workflow


def _id_table(reader: Any) -> list[UUID]:
    """The task ids stored after the compressed JSON (formats 3 and 4): what the decompressor left unread."""
    table = reader.unused_data
    if len(table) % 16 or not reader.eof:
        raise ValueError("truncated case state")
    return [task_id_of(int.from_bytes(table[i:i + 16])) for i in range(0, len(table), 16)]


def pack_legacy_state(workflow: Any) -> bytes:
    """Format 1, as written before format 2 (for tests and benchmarks that check old rows still load)."""
    state = {"format": LEGACY_FORMAT, "workflow": STATE_SERIALIZER.to_dict(workflow)}
    return zlib.compress(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def pack_format_2_state(workflow: Any) -> bytes:
    """Format 2, as written before format 3: finished subprocesses stay, without their data (for tests and
    benchmarks that check such rows still load). Empties those data in ``workflow``, as that release did."""
    strip_finished_subprocesses(workflow)
    payload, _ids = STATE_CODEC.dumps(workflow, version=2)
    return _compressed(2, 1, payload)
