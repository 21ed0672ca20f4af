"""A process folder: the BPMN, DMN and form files of one version of the process, parsed and hashed.

A version is identified by the SHA-256 of its files' relative paths and contents, so that deploying unchanged files
is recognisably the same version. One parser per folder: SpiffWorkflow cannot hold two versions of one process id.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from .dialect import new_parser as dialect_parser

MAIN_PROCESS_ID = "baozhuang"
FORMS_DIR = "forms"
SAMPLES_DIR = "samples"
"""Sample applications per category (``baozhuang try``, the simulator); stored with a version, not hashed."""
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
LANE_PREFIX = "lane_"


class NotUtf8Error(ValueError):
    """A file that is not UTF-8 text: ``file:line: not UTF-8 …`` (the line of the first byte that is not)."""

    def __init__(self, path: Path, line: int, byte: int) -> None:
        self.path, self.line = path, line
        self.reason = f"not UTF-8 text (byte 0x{byte:02x} on this line); save the file as UTF-8"
        super().__init__(f"{path}:{line}: {self.reason}")


def read_utf8(path: Path) -> str:
    """The text of a file that must be UTF-8; ``NotUtf8Error`` (with the line of the first bad byte) if it is not.

    ``OSError`` passes through: a file that cannot be read is the caller's to report."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NotUtf8Error(path, data.count(b"\n", 0, err.start) + 1, data[err.start]) from None


def utf8_problem(path: Path) -> Problem | None:
    """The problem of a file that is not UTF-8 text, located at its first bad byte; None if it is."""
    try:
        read_utf8(path)
    except NotUtf8Error as err:
        return Problem(str(path), err.line, "-", err.reason)
    return None


class ProcessFolderError(Exception):
    """The folder cannot be parsed; ``problems`` name each file and element."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def spec_properties(task_spec: Any) -> dict[str, str]:
    """The ``spiffworkflow:properties`` of a task spec ({} when it has none): ``formJsonSchemaFilename``,
    ``fourEyesWith`` …"""
    properties: dict[str, str] = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    return properties


@dataclass
class ProcessBundle:
    """One parsed version of the process: specs, forms, roles per element, and the version hash."""

    root: Path
    version: str
    spec: Any
    subprocess_specs: dict[str, Any]
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    start_form: str | None = None
    """The form (schema file name) of the main process's start event: what an application must satisfy."""

    def form(self, filename: str) -> dict[str, Any]:
        """A form file by name (as referenced from the BPMN)."""
        return self.forms[filename]

    def process_with(self, element_id: str) -> Any | None:
        """The process spec (the main one, else the first called one) that has a task spec for ``element_id``."""
        for process in (self.spec, *self.subprocess_specs.values()):
            if element_id in process.task_specs:
                return process
        return None

    @cached_property
    def form_files(self) -> dict[str, str]:
        """BPMN element id → the file name of its form's JSON schema (``formJsonSchemaFilename``), over every process
        of the version (an id in two processes: the later one's)."""
        forms: dict[str, str] = {}
        for process in (self.spec, *self.subprocess_specs.values()):
            for spec in process.task_specs.values():
                properties = spec_properties(spec)
                if getattr(spec, "bpmn_id", None) and properties.get("formJsonSchemaFilename"):
                    forms[spec.bpmn_id] = properties["formJsonSchemaFilename"]
        return forms

    @cached_property
    def has_timers(self) -> bool:
        """Whether any process of the version has a timer event: if none, no case of it ever waits for one (a
        converted Prosimos model has none, and the simulator asks for due dates at every enabled task)."""
        return any(isinstance(getattr(task_spec, "event_definition", None), TimerEventDefinition)
                   for spec in (self.spec, *self.subprocess_specs.values()) for task_spec in spec.task_specs.values())


def source_files(root: Path) -> list[Path]:
    """The files that make up a version: BPMN, DMN and form JSON, sorted by relative path."""
    patterns = ("*.bpmn", "*.dmn", f"{FORMS_DIR}/*.json")
    files = {p for pattern in patterns for p in root.glob(pattern) if p.is_file()}
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def content_hash(root: Path) -> str:
    """SHA-256 over the relative paths and contents of the version's files."""
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


XML_ID_NAMESPACES = (BPMN_NS, "http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DI",
                     "http://www.omg.org/spec/DD/20100524/DC")
"""The namespaces whose elements' ``id`` is an XML ID, unique in its file (a ``spiffworkflow:parameter`` id is not:
it names the parameter, as often as the operator is called)."""


def id_lines(tree: Any) -> dict[str, list[int]]:
    """The lines of the elements carrying each XML ID value (``XML_ID_NAMESPACES``), in document order."""
    lines: dict[str, list[int]] = {}
    for namespace in XML_ID_NAMESPACES:
        for element in tree.iter(f"{{{namespace}}}*"):
            value = element.get("id")
            if value is not None:
                lines.setdefault(value, []).append(element.sourceline)
    return {value: sorted(found) for value, found in lines.items()}


def duplicate_ids(tree: Any) -> dict[str, list[int]]:
    """Each XML ID value carried by more than one element of the file, with the lines of those elements."""
    return {value: lines for value, lines in id_lines(tree).items() if len(lines) > 1}


def owner_with_id(node: Any) -> Any:
    """The node itself or its nearest ancestor with an ``id`` (the element a problem is named by); None if none."""
    while node is not None and not node.get("id"):
        node = node.getparent()
    return node


def lane_roles(tree: Any) -> dict[str, str]:
    """Map each flow node id to the role of the lane holding it (lane id ``lane_<role>``)."""
    roles: dict[str, str] = {}
    for lane in tree.iterfind(".//bpmn:lane", NS):
        lane_id = lane.get("id", "")
        role = lane_id[len(LANE_PREFIX):] if lane_id.startswith(LANE_PREFIX) else lane_id
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            if ref.text:
                roles[ref.text.strip()] = role
    return roles


def start_form(tree: Any, process_id: str) -> str | None:
    """The ``formJsonSchemaFilename`` property of the process's (none) start event, if it has one."""
    path = (f".//bpmn:process[@id='{process_id}']/bpmn:startEvent/bpmn:extensionElements/"
            "spiffworkflow:properties/spiffworkflow:property[@name='formJsonSchemaFilename']")
    found = tree.find(path, NS)
    return found.get("value") if found is not None else None


def new_parser() -> SpiffBpmnParser:
    """A parser of our dialect (``runner.dialect``) that validates against the BPMN, DMN and Spiff XSDs."""
    return dialect_parser()


def load_process_folder(root: str | Path, main_process: str = MAIN_PROCESS_ID) -> ProcessBundle:
    """Parse a folder into a ``ProcessBundle``; raise ``ProcessFolderError`` naming file and element on failure."""
    root = Path(root)
    if not root.is_dir():
        raise ProcessFolderError([f"{root}:0: -: not a folder"])
    parser = new_parser()
    problems: list[str] = []
    roles: dict[str, str] = {}
    main_start_form = None
    trees: dict[Path, Any] = {}
    bpmn_files = sorted(root.glob("*.bpmn"))
    defined: dict[str, tuple[Path, int]] = {}
    for path in bpmn_files:
        try:
            read_utf8(path)
            tree = trees[path] = etree.parse(str(path))
            redefined = redefinitions(path, tree.iterfind(".//bpmn:process", NS), defined, "process")
            if redefined:  # the parser would refuse it without a line
                problems.extend(str(problem) for problem in redefined)
                continue
            parser.add_bpmn_xml(tree, filename=str(path))
            roles.update(lane_roles(tree))
            main_start_form = main_start_form or start_form(tree, main_process)
        except (etree.XMLSyntaxError, ValidationException, NotUtf8Error) as err:
            problems.append(describe_parse_error(path, err))
    if len(trees) == len(bpmn_files) and not any(duplicate_ids(tree) for tree in trees.values()):
        # every file read: a reference to another file's process can be judged (unless an id is ambiguous)
        problems.extend(str(broken) for broken in broken_references(trees))
    dmn_trees: dict[Path, Any] = {}
    dmn_files = sorted(root.glob("*.dmn"))
    decisions: dict[str, tuple[Path, int]] = {}
    for path in dmn_files:
        try:
            read_utf8(path)
            dmn_trees[path] = etree.parse(str(path))
            redefined = redefinitions(path, dmn_trees[path].iter("{*}decision"), decisions, "decision")
            if redefined:  # the parser would keep the file that sorts last, silently
                problems.extend(str(problem) for problem in redefined)
                continue
            parser.add_dmn_file(str(path))
        except (etree.XMLSyntaxError, ValidationException, NotUtf8Error) as err:
            problems.append(describe_parse_error(path, err))
    if len(trees) == len(bpmn_files) and len(dmn_trees) == len(dmn_files):
        problems.extend(str(missing) for missing in missing_decisions(trees, dmn_trees))
    if problems:
        raise ProcessFolderError(problems)
    try:
        spec = parser.get_spec(main_process)
        subprocess_specs = parser.get_subprocess_specs(main_process)
    except ValidationException as err:
        raise ProcessFolderError([describe_parse_error(Path(err.file_name or root), err)]) from err
    forms = {}
    for path in sorted((root / FORMS_DIR).glob("*.json")):
        try:
            forms[path.name] = json.loads(read_utf8(path))
        except NotUtf8Error as err:
            problems.append(str(err))
        except json.JSONDecodeError as err:
            problems.append(f"{path}:{err.lineno}: invalid JSON: {err.msg}")
    if problems:
        raise ProcessFolderError(problems)
    return ProcessBundle(root, content_hash(root), spec, subprocess_specs, forms, roles, main_start_form)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a process folder, located by file, line and element id (``runner.validation``'s
    problems; ``broken_references``: an attribute naming an element or process that is not there)."""

    file: str
    line: int
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.element}: {self.message}"


def broken_references(trees: dict[Path, Any]) -> list[Problem]:
    """References SpiffWorkflow's parser would report without a line, misleadingly, or not at all.

    A flow's ``sourceRef``/``targetRef``, a gateway's or task's ``default`` flow and a boundary event's
    ``attachedToRef`` must name an element of the same file, a ``messageRef`` a ``bpmn:message`` of the file (the
    parser's own error for one that does not is a ``TypeError`` of its own); a call activity's ``calledElement`` a
    process of the folder. Checked on the XML (lxml knows lines) before the parser sees it.
    """
    processes = {process.get("id") for tree in trees.values() for process in tree.iterfind(".//bpmn:process", NS)}
    broken: list[Problem] = []
    for path, tree in trees.items():
        broken.extend(_broken_in_file(str(path), tree, processes))
    return broken


def _broken_in_file(file: str, tree: Any, processes: set[str | None]) -> Iterator[Problem]:
    ids = {el.get("id") for el in tree.iter(f"{{{BPMN_NS}}}*") if el.get("id")}
    outgoing = {(flow.get("sourceRef"), flow.get("id")) for flow in tree.iterfind(".//bpmn:sequenceFlow", NS)}
    for flow in tree.iterfind(".//bpmn:sequenceFlow", NS):
        for attribute in ("sourceRef", "targetRef"):
            yield from _missing(file, flow, attribute, ids)
    for event in tree.iterfind(".//bpmn:boundaryEvent", NS):
        yield from _missing(file, event, "attachedToRef", ids)
    for node in tree.iter(f"{{{BPMN_NS}}}*"):
        default = node.get("default")
        if default is None or node.tag == f"{{{BPMN_NS}}}sequenceFlow":
            continue
        element = node.get("id", "-")
        if default not in ids:
            yield Problem(file, node.sourceline, element, f"default flow {default!r} does not exist")
        elif (element, default) not in outgoing:
            yield Problem(file, node.sourceline, element,
                                  f"default flow {default!r} does not leave this element")
    messages = {message.get("id") for message in tree.iterfind(".//bpmn:message", NS)}
    for node in tree.iter(f"{{{BPMN_NS}}}*"):
        reference = node.get("messageRef")
        if reference is not None and reference not in messages:
            owner = node.getparent() if node.tag == f"{{{BPMN_NS}}}messageEventDefinition" else node
            known = ", ".join(sorted(m for m in messages if m)) or "none"
            yield Problem(file, node.sourceline, owner.get("id", "-"),
                          f"messageRef {reference!r} names no message of this file (bpmn:message ids: {known})")
    for call in tree.iterfind(".//bpmn:callActivity", NS):
        called = call.get("calledElement")
        if called is not None and called not in processes:
            known = ", ".join(sorted(p for p in processes if p))
            yield Problem(file, call.sourceline, call.get("id", "-"),
                                  f"calledElement {called!r} names no process of this folder (processes: {known})")


def redefinitions(path: Path, elements: Iterable[Any], defined: dict[str, tuple[Path, int]], kind: str
                  ) -> list[Problem]:
    """The ``process`` or ``decision`` elements of a file whose id an earlier file of the folder (``defined``: id →
    file and line, updated here) already defines: a folder holds each once (a backup copy left in it, say), as the
    parser would keep one of them silently or refuse without a line."""
    problems = []
    for element in elements:
        element_id = element.get("id")
        if not element_id:
            continue
        first = defined.setdefault(element_id, (path, element.sourceline))
        if first[0] != path:
            problems.append(Problem(str(path), element.sourceline, element_id,
                                    f'{kind} "{element_id}" is already defined in {first[0]}:{first[1]}: a folder '
                                    f"holds each {kind} once; delete or move out the copy (a backup?) you do not mean "
                                    "to deploy"))
    return problems


def duplicate_definitions(trees: dict[Path, Any], dmn_trees: dict[Path, Any]) -> list[Problem]:
    """``redefinitions`` over the folder's BPMN processes and DMN decisions, files in sorted order."""
    processes: dict[str, tuple[Path, int]] = {}
    decisions: dict[str, tuple[Path, int]] = {}
    problems = []
    for path in sorted(trees):
        problems.extend(redefinitions(path, trees[path].iterfind(".//bpmn:process", NS), processes, "process"))
    for path in sorted(dmn_trees):
        problems.extend(redefinitions(path, dmn_trees[path].iter("{*}decision"), decisions, "decision"))
    return problems


def dmn_decisions(dmn_trees: dict[Path, Any]) -> set[str]:
    """The ids of the decisions of the folder's DMN files (any DMN version's namespace)."""
    return {decision.get("id") for tree in dmn_trees.values() for decision in tree.iter("{*}decision")
            if decision.get("id")}


def missing_decisions(trees: dict[Path, Any], dmn_trees: dict[Path, Any]) -> list[Problem]:
    """Business rule tasks whose ``spiffworkflow:calledDecisionId`` names no decision of the folder's DMN files.

    SpiffWorkflow reports them only when the spec is built, without file or line; lxml knows the line."""
    decisions = dmn_decisions(dmn_trees)
    known = ", ".join(sorted(decisions)) or "none"
    missing: list[Problem] = []
    for path, tree in trees.items():
        for called in tree.iterfind(".//bpmn:businessRuleTask/bpmn:extensionElements/spiffworkflow:calledDecisionId",
                                    NS):
            decision = (called.text or "").strip()
            if decision not in decisions:
                task = called.getparent().getparent()
                missing.append(Problem(str(path), called.sourceline, task.get("id", "-"),
                                       f'no DMN decision "{decision}" (decisions in this folder: {known})'))
    return missing


def _missing(file: str, node: Any, attribute: str, ids: set[str]) -> Iterator[Problem]:
    value = node.get(attribute)
    if value is not None and value not in ids:
        yield Problem(file, node.sourceline, node.get("id", "-"), f"{attribute} {value!r} does not exist")


def _first_schema_problem(path: Path) -> Problem | None:
    """The first XSD error of a BPMN file as ``runner.schema_problems`` words it, or None."""
    from .schema_problems import schema_problems  # it imports this module

    if path.suffix != ".bpmn" or not path.is_file():
        return None
    try:
        tree = etree.parse(str(path))
    except etree.XMLSyntaxError:
        return None
    return next(iter(schema_problems(path, tree)), None)


def describe_parse_error(path: Path, err: Exception) -> str:
    """One line ``file:line: element: message`` for a parse or XSD error."""
    if isinstance(err, NotUtf8Error):
        return f"{err.path}:{err.line}: -: {err.reason}"
    if isinstance(err, etree.XMLSyntaxError):
        line, element, message = xml_error(path, err)
        return f"{path}:{line}: {element}: {message}" if element != "-" else f"{path}:{line}: {message}"
    if isinstance(err, ValidationException):
        line = err.line_number or 0
        if not err.id and (schema_error := _first_schema_problem(Path(err.file_name or path))) is not None:
            return str(schema_error)  # the library's XSD message names no element: ours does, in plain words
        element = err.id or err.tag or "-"
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"{err.file_name or path}:{line}: {element}: {message}"
    return f"{path}:0: -: {err}"


UNCLOSED_START_TAG = re.compile(r"Couldn't find end of Start Tag (\S+) line (\d+)")
TAG_MISMATCH = re.compile(r"Opening and ending tag mismatch: ([^\s,]+) line (\d+) and ([^\s,]+)")
OPEN_ATTRIBUTE = "Unescaped '<' not allowed in attributes values"
"""libxml2's follow-up message for a start tag left open (``<bpmn:userTask id="x" …`` without ``>``): its first
error is reported on the line where parsing gave up, the line after; this one names the tag's own line."""


def xml_error(path: Path, err: etree.XMLSyntaxError) -> tuple[int, str, str]:
    """(line, element id or ``-``, ``invalid XML: …``) of a file that is not well-formed XML: the line lxml gives,
    except for a start tag left open, which is reported at its own line with the id it carries, if any."""
    at = (err.lineno, err.position[1] if err.position else None)
    for entry in getattr(err, "error_log", None) or []:
        if (entry.line, entry.column) != at:
            continue  # the log may hold other parses' entries: only those at this error's position describe it
        unclosed = UNCLOSED_START_TAG.search(entry.message or "")
        if unclosed is not None:
            tag, line = unclosed[1], int(unclosed[2])
            shown, element = opening_tag(path, line, tag)
            return line, element or "-", f"invalid XML: the start tag <{shown}> on this line is not closed ({err.msg})"
    return err.lineno or 0, "-", f"invalid XML: {err.msg}{_xml_hint(path, err)}"


def _xml_hint(path: Path, err: etree.XMLSyntaxError) -> str:
    """What to do about the two XML errors a hand edit makes most: an end tag that is not the open element's (an
    element left open, or an end tag misspelt), and an attribute value whose closing quote was lost (libxml2 stops
    at the next ``<``)."""
    mismatch = TAG_MISMATCH.search(err.msg or "")
    if mismatch is not None:
        opened, line, closing = mismatch[1], int(mismatch[2]), mismatch[3]
        shown, _ = opening_tag(path, line, opened)
        closing_shown = f"{shown.partition(':')[0]}:{closing}" if ":" in shown else closing
        return (f": the end tag </{closing_shown}> on this line does not match the start tag <{shown}> of line "
                f"{line}; end <{shown}> before it, or correct the end tag's name")
    if OPEN_ATTRIBUTE in (err.msg or ""):
        return (": an attribute value is not closed: its closing quote is missing, on this line or one just above "
                '(e.g. name="审核供电方案>)')
    return ""


def opening_tag(path: Path, line: int, tag: str) -> tuple[str, str | None]:
    """The tag as written (``bpmn:userTask``) starting on ``line`` of the file, and the ``id`` its attributes give."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return tag, None
    text = "\n".join(lines[max(line - 1, 0): line + 20])
    found = re.search(rf"<((?:[\w.-]+:)?{re.escape(tag)})\b([^<>]*)", text)
    if found is None:
        return tag, None
    element = re.search(r"""\bid\s*=\s*["']([^"'<>]+)["']""", found[2])
    return found[1], element[1] if element else None
