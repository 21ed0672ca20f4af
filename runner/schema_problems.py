"""A BPMN file checked against the BPMN and Spiff XSDs, each error as ``file:line: element-id: message``.

SpiffWorkflow's parser validates with the same schemas but reports only the last error, without the element, in the
schema's words (``Element '{http://www.omg.org/…}sequenceFlow': The attribute 'targetRef' is required but
missing.``). Here every error of the file is reported, named by the element at the error's line (or its nearest
ancestor with an id), and a missing required attribute reads ``sequence flow has no targetRef``.
An id used twice (an element copied, or renamed to an id the file already has) reads ``id draft_plan is used twice
(also at line 469)`` instead of the XSD's ``'draft_plan' is not a valid value of the atomic type 'xs:ID'``, and an
id that is no XML name (``1 survey``) says what an id may hold.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from .diagram_checks import kind_in_words
from .process_folder import BPMN_NS, SPIFF_NS, Problem, id_lines, owner_with_id

PREFIXES = {BPMN_NS: "bpmn", SPIFF_NS: "spiffworkflow", "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
            "http://www.omg.org/spec/DD/20100524/DC": "dc", "http://www.omg.org/spec/DD/20100524/DI": "di",
            **dict.fromkeys(DMN_SCHEMAS, "dmn")}
SCHEMA_ERROR = re.compile(r"^Element '(?P<tag>[^']+)'(?:, attribute '(?P<attribute>[^']+)')?: (?P<rest>.*)$", re.S)
REQUIRED_MISSING = re.compile(r"^The attribute '(?P<attribute>[^']+)' is required but missing\.?$")
NOT_AN_ID = re.compile(r"^'(?P<value>[^']*)' is not a valid value of the atomic type 'xs:ID'\.?$")


def schema_problems(path: Path, tree: Any) -> Iterator[Problem]:
    """Every error of the XSD validation SpiffWorkflow's parser would make (on a copy: it rewrites some tags), and
    every id used twice, at its second use."""
    checked = copy.deepcopy(tree)
    VALIDATOR.preprocess(checked)
    schema = VALIDATOR.validator
    used = id_lines(tree)
    told: set[str] = set()
    if not schema.validate(checked):
        for error in schema.error_log:
            yield describe_schema_error(str(path), checked, error.line, error.message, used)
            refused = SCHEMA_ERROR.match(error.message.strip())
            if refused is not None and (not_an_id := NOT_AN_ID.match(refused.group("rest").strip())) is not None:
                told.add(not_an_id.group("value"))
    for value, lines in used.items():  # in case the XSD let one pass: the references to it are ambiguous
        if len(lines) > 1 and value not in told:
            yield Problem(str(path), lines[1], value, _id_message(value, lines[1], used))


_DMN_SCHEMAS: dict[str, Any] = {}


def dmn_schema_problems(path: Path, tree: Any) -> Iterator[Problem]:
    """Every error of the XSD validation the parser makes of a DMN file (which stops at the first one and names no
    element, e.g. ``'rule_1' is not a valid value of the atomic type 'xs:ID'`` for a rule id used twice), as for a
    BPMN file. A file of an unknown DMN namespace is left to ``runner.validation.check_dmn``."""
    root = tree.getroot()
    xsd = DMN_SCHEMAS.get(root.nsmap.get(None) or root.nsmap.get("dmn") or "")
    if xsd is None:
        return
    if xsd not in _DMN_SCHEMAS:
        _DMN_SCHEMAS[xsd] = etree.XMLSchema(etree.parse(xsd))
    schema = _DMN_SCHEMAS[xsd]
    used: dict[str, list[int]] = {}
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("id") is not None:
            used.setdefault(element.get("id"), []).append(element.sourceline)
    if not schema.validate(tree):
        for error in schema.error_log:
            yield describe_schema_error(str(path), tree, error.line, error.message, used)


def describe_schema_error(file: str, tree: Any, line: int, message: str,
                          used: dict[str, list[int]] | None = None) -> Problem:
    """One XSD error in plain words, named by its element; ``used``: the lines of each id value (``id_lines``)."""
    match = SCHEMA_ERROR.match(message.strip())
    if match is None:
        return Problem(file, line, _element_id(tree, line, None), _prefixed(message.strip().rstrip(".")))
    tag = match.group("tag")
    element_id = _element_id(tree, line, tag)
    rest = match.group("rest").strip()
    missing = REQUIRED_MISSING.match(rest)
    if missing is not None:
        return Problem(file, line, element_id, f"{_kind(tag)} has no {missing.group('attribute')}")
    attribute = match.group("attribute")
    not_an_id = NOT_AN_ID.match(rest) if attribute == "id" else None
    if not_an_id is not None:
        return Problem(file, line, element_id, _id_message(not_an_id.group("value"), line, used or {}))
    where = f"{_kind(tag)}, attribute {attribute}" if attribute else _kind(tag)
    return Problem(file, line, element_id, f"{where}: {_prefixed(rest).rstrip('.')}")


def _id_message(value: str, line: int, used: dict[str, list[int]]) -> str:
    """Why ``value`` is refused as the id of the element at ``line``: used before, or no XML name."""
    others = [other for other in used.get(value, []) if other != line]
    if others:
        times = "twice" if len(others) == 1 else f"{len(others) + 1} times"
        where = "line" if len(others) == 1 else "lines"
        return f"id {value} is used {times} (also at {where} {', '.join(map(str, others))})"
    return (f"id {value!r} is not a valid id: an XML name (letters, digits, '_', '-', '.'; no spaces; not starting "
            "with a digit)")


def _element_id(tree: Any, line: int, tag: str | None) -> str:
    """The id of the element the error lies on (the one of ``tag`` at ``line``) or of its nearest ancestor."""
    at_line = [el for el in tree.iter() if isinstance(el.tag, str) and el.sourceline == line]
    element = owner_with_id(next((el for el in at_line if el.tag == tag), at_line[0] if at_line else None))
    return element.get("id") if element is not None else "-"


def _kind(tag: str) -> str:
    """``{bpmn}sequenceFlow`` → ``sequence flow``; a tag of another namespace keeps its prefix."""
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if namespace and namespace != BPMN_NS:
        return f"{PREFIXES.get(namespace, namespace)}:{local}"
    return kind_in_words(local)


def _prefixed(text: str) -> str:
    """``{http://www.omg.org/spec/BPMN/20100524/MODEL}task`` → ``bpmn:task``."""
    return re.sub(r"\{((?:https?|urn):[^}]+)\}", lambda m: f"{PREFIXES.get(m.group(1), m.group(1))}:", text)
