"""Rebuild a what-if variant's BPMN file from today's main model, or tell where it has drifted from it.

A variant overlay (``processes/variants/<name>/baozhuang.bpmn``) is a whole copy of the main model, so every later
change of the main model must reach it, or a what-if comparison measures the copy's age instead of the change (the
shipped ``parallel_plan_review`` once missed the 受理条件满足？ check and the 回访 clock: one surveyor fewer read as
+4.8 working days). The variant's own part is one or more subprocesses (``plan_stage``). ``rebuild`` gives the main
model's text, line for line, with those subprocesses' flow elements, their diagram shapes and edges and their lane
entries taken from the variant; the subprocesses' own attributes, scripts and flows in and out stay today's.

Which subprocesses are the variant's own: those named (``keep``), else those holding a model element the main file
does not have (``variant_parts``: the parallel review's split and join gateways put ``plan_stage`` there).
``drift`` names the elements where the variant differs from its rebuild: each element by its own content (an
element's child with an id is that child's difference, not its parent's).

``baozhuang variant rebuild FOLDER [--check]`` (``runner.cli_variant``) runs it on an overlay folder.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"


class VariantRebuildError(ValueError):
    """The files cannot be rebuilt: invalid XML, no such subprocess, a layout the line editor cannot follow."""


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _parse(text: bytes, name: str) -> etree._ElementTree:
    try:
        return etree.ElementTree(etree.fromstring(text))
    except etree.XMLSyntaxError as err:
        raise VariantRebuildError(f"{name}:{err.lineno}: invalid XML: {err.msg}") from None


def _subprocess(tree: etree._ElementTree, element_id: str, name: str) -> etree._Element:
    found = [e for e in tree.getroot().iter(_q(BPMN, "subProcess"), _q(BPMN, "transaction"))
             if e.get("id") == element_id]
    if not found:
        raise VariantRebuildError(f"{name}: no subprocess {element_id!r} (the variant's part must be a subprocess of "
                                  "both files)")
    return found[0]


def _ids_below(element: etree._Element) -> set[str]:
    return {e.get("id") for e in element.iter() if e.get("id")} - {element.get("id")}


def model_ids(tree: etree._ElementTree) -> set[str]:
    """The ids of the BPMN model's elements (not of the diagram's shapes and edges)."""
    return {e.get("id") for e in tree.getroot().iter(_q(BPMN, "*")) if e.get("id")}


def variant_parts(main_text: bytes, variant_text: bytes, main_name: str = "main", variant_name: str = "variant"
                  ) -> list[str]:
    """The id of the subprocess holding the model elements the main file does not have (the innermost subprocess of
    each such element). Such elements outside any subprocess are the main model's removals, not the variant's own
    (the rebuild replaces everything outside the kept subprocesses). Several subprocesses are ambiguous — an element
    the main model removed from a subprocess looks the same as one the variant added — and refused
    (``VariantRebuildError``): name them with ``keep``."""
    main, variant = _parse(main_text, main_name), _parse(variant_text, variant_name)
    known = model_ids(main)
    parts: dict[str, list[str]] = {}
    for element in variant.getroot().iter(_q(BPMN, "*")):
        element_id = element.get("id")
        if not element_id or element_id in known:
            continue
        owner = next((a for a in element.iterancestors(_q(BPMN, "subProcess"), _q(BPMN, "transaction"))), None)
        if owner is not None and owner.get("id") in known:
            parts.setdefault(owner.get("id"), []).append(element_id)
    if len(parts) > 1:
        shown = "; ".join(f"{part} ({', '.join(ids[:3])}{' …' if len(ids) > 3 else ''})" for part, ids in parts.items())
        raise VariantRebuildError(f"{variant_name}: elements {main_name} does not have lie in several subprocesses "
                                  f"({shown}): some may be the main model's removals; name the subprocesses the "
                                  "variant changes with --keep SUBPROCESS_ID")
    return list(parts)


def c14n(element: etree._Element) -> bytes:
    """The element's canonical XML, indentation aside."""
    element = copy.deepcopy(element)
    for e in element.iter():
        if isinstance(e.tag, str):
            if e.text is not None and not e.text.strip():
                e.text = None
            if e.tail is not None and not e.tail.strip():
                e.tail = None
    text: bytes = etree.tostring(element, method="c14n")
    return text


def _own(element: etree._Element) -> bytes:
    """The element's canonical XML without its descendants that have ids of their own."""
    element = copy.deepcopy(element)
    for child in list(element.iter()):
        if child is not element and isinstance(child.tag, str) and child.get("id"):
            parent = child.getparent()
            if parent is not None:
                parent.remove(child)
    return c14n(element)


def _span(lines: list[str], element: etree._Element, name: str) -> tuple[int, int]:
    """The lines [start, end) of a pretty-printed element (one opening tag per line; closed at its indentation)."""
    start = element.sourceline - 1
    opening = lines[start]
    indent = opening[: len(opening) - len(opening.lstrip())]
    if opening.rstrip().endswith("/>") or re.search(r"</[\w:]+>\s*$", opening):
        return start, start + 1
    end = start + 1
    while end < len(lines) and not (lines[end].startswith(indent + "</") and lines[end][len(indent)] == "<"):
        end += 1
    if end >= len(lines):
        raise VariantRebuildError(f"{name}:{element.sourceline}: {element.get('id') or element.tag} is not closed "
                                  "at its own indentation: pretty-print the file (one element per line) first")
    return start, end + 1


def rebuild(main_text: bytes, variant_text: bytes, keep: Sequence[str], main_name: str = "main",
            variant_name: str = "variant") -> bytes:
    """The main model (its text, line for line) with the variant's subprocesses ``keep``: their flow elements,
    diagram shapes and edges, and lane entries."""
    main, variant = _parse(main_text, main_name), _parse(variant_text, variant_name)
    main_lines = main_text.decode("utf-8").splitlines(keepends=True)
    variant_lines = variant_text.decode("utf-8").splitlines(keepends=True)
    edits: list[tuple[int, int, list[str]]] = []  # replace main_lines[start:end] by the lines
    main_ids: set[str] = set()
    variant_ids: set[str] = set()
    for part in keep:
        main_stage = _subprocess(main, part, main_name)
        variant_stage = _subprocess(variant, part, variant_name)
        main_ids |= _ids_below(main_stage)
        variant_ids |= _ids_below(variant_stage)
        # the subprocess's own parts (script, flows in and out) stay today's; its flow elements are the variant's
        stage_start, stage_end = _span(main_lines, main_stage, main_name)
        own = [line for child in main_stage if isinstance(child.tag, str) and not child.get("id")
               for line in _lines(main_lines, child, main_name)]
        content = [line for child in variant_stage if isinstance(child.tag, str) and child.get("id")
                   for line in _lines(variant_lines, child, variant_name)]
        edits.append((stage_start + 1, stage_end - 1, own + content))
    edits.extend(_diagram_edits(main, variant, main_lines, variant_lines, main_ids, variant_ids, main_name,
                                variant_name))
    edits.extend(_lane_edits(main, variant, main_lines, main_ids, variant_ids))
    for start, end, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1]), reverse=True):
        main_lines[start:end] = replacement
    return "".join(main_lines).encode("utf-8")


def _lines(lines: list[str], element: etree._Element, name: str) -> list[str]:
    start, end = _span(lines, element, name)
    return lines[start:end]


def _diagram_edits(main: etree._ElementTree, variant: etree._ElementTree, main_lines: list[str],
                   variant_lines: list[str], main_ids: set[str], variant_ids: set[str], main_name: str,
                   variant_name: str) -> list[tuple[int, int, list[str]]]:
    """Today's shapes (edges) of the kept parts out, the variant's in where the first of them was."""
    edits: list[tuple[int, int, list[str]]] = []
    main_plane = next(main.getroot().iter(_q(BPMNDI, "BPMNPlane")), None)
    variant_plane = next(variant.getroot().iter(_q(BPMNDI, "BPMNPlane")), None)
    if main_plane is None or variant_plane is None:
        return edits
    for kind in ("BPMNShape", "BPMNEdge"):
        old = [e for e in main_plane if e.tag == _q(BPMNDI, kind) and e.get("bpmnElement") in main_ids]
        new = [line for e in variant_plane if e.tag == _q(BPMNDI, kind) and e.get("bpmnElement") in variant_ids
               for line in _lines(variant_lines, e, variant_name)]
        for index, element in enumerate(old):
            start, end = _span(main_lines, element, main_name)
            edits.append((start, end, new if index == 0 else []))
    return edits


def _lane_edits(main: etree._ElementTree, variant: etree._ElementTree, main_lines: list[str], main_ids: set[str],
                variant_ids: set[str]) -> list[tuple[int, int, list[str]]]:
    """The kept parts' lane entries as the variant has them, after today's other entries of the lane."""
    edits: list[tuple[int, int, list[str]]] = []
    variant_lanes = {lane.get("id"): lane for lane in variant.getroot().iter(_q(BPMN, "lane"))}
    for lane in main.getroot().iter(_q(BPMN, "lane")):
        refs = lane.findall(_q(BPMN, "flowNodeRef"))
        other = variant_lanes.get(lane.get("id"))
        wanted = [ref.text for ref in other.findall(_q(BPMN, "flowNodeRef"))
                  if ref.text in variant_ids] if other is not None else []
        if not refs and not wanted:
            continue
        indent = "        "
        if refs:
            line = main_lines[refs[0].sourceline - 1]
            indent = line[: len(line) - len(line.lstrip())]
        stage_refs = [ref for ref in refs if ref.text in main_ids]
        for ref in stage_refs:
            edits.append((ref.sourceline - 1, ref.sourceline, []))
        added = [f"{indent}<bpmn:flowNodeRef>{name}</bpmn:flowNodeRef>\n" for name in wanted]
        at = (stage_refs[0].sourceline - 1) if stage_refs else (refs[-1].sourceline if refs else None)
        if at is None:
            raise VariantRebuildError(f"lane {lane.get('id')} has no entries to place the variant's next to")
        edits.append((at, at, added))
    return edits


def drift(expected: bytes, actual: bytes) -> list[str]:
    """The elements where ``actual`` (the variant) differs from ``expected`` (its rebuild), by id: ``id`` (changed),
    ``id (missing from the variant)``, ``id (only in the variant)``; an element without an id counts as its nearest
    ancestor's content."""
    want, have = _by_id(_parse(expected, "rebuilt")), _by_id(_parse(actual, "variant"))
    found = [element_id for element_id in want
             if element_id in have and _own(want[element_id]) != _own(have[element_id])]
    found += [f"{element_id} (missing from the variant)" for element_id in want if element_id not in have]
    found += [f"{element_id} (only in the variant)" for element_id in have if element_id not in want]
    return found


def _by_id(tree: etree._ElementTree) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for element in tree.getroot().iter():
        if isinstance(element.tag, str) and element.get("id"):
            found.setdefault(element.get("id"), element)
    return found


@dataclass
class RebuiltFile:
    """One BPMN file of an overlay: its path, the main model it follows, the kept subprocesses, its rebuilt text and
    where the current text differs from it (empty: up to date)."""

    path: Path
    main: Path
    kept: list[str]
    rebuilt: bytes
    drifted: list[str]


def rebuild_overlay(overlay: Path, base: Path, keep: Sequence[str] = ()) -> list[RebuiltFile]:
    """Every BPMN file of the overlay that the base folder has too, rebuilt (nothing written)."""
    results = []
    for path in sorted(overlay.glob("*.bpmn")):
        main = base / path.name
        if not main.is_file():
            continue
        main_text, variant_text = main.read_bytes(), path.read_bytes()
        kept = list(keep) or variant_parts(main_text, variant_text, str(main), str(path))
        if not kept:
            raise VariantRebuildError(f"{path}: no subprocess holds an element {main} lacks, so the variant's own "
                                      "part is not known: name it with --keep SUBPROCESS_ID")
        rebuilt = rebuild(main_text, variant_text, kept, str(main), str(path))
        results.append(RebuiltFile(path, main, kept, rebuilt, drift(rebuilt, variant_text)))
    if not results:
        raise VariantRebuildError(f"{overlay}: no .bpmn file that {base} has too")
    return results
