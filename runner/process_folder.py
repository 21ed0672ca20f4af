"""A process folder: the BPMN, DMN and form files of one version of the process, parsed and hashed.

A version is identified by the SHA-256 of its files' relative paths and contents, so that deploying unchanged files
is recognisably the same version. One parser per folder: SpiffWorkflow cannot hold two versions of one process id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from .dialect import new_parser as dialect_parser

MAIN_PROCESS_ID = "baozhuang"
FORMS_DIR = "forms"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
LANE_PREFIX = "lane_"


class ProcessFolderError(Exception):
    """The folder cannot be parsed; ``problems`` name each file and element."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    parser = new_parser()
    problems: list[str] = []
    roles: dict[str, str] = {}
    main_start_form = None
    for path in sorted(root.glob("*.bpmn")):
        try:
            tree = etree.parse(str(path))
            parser.add_bpmn_xml(tree, filename=str(path))
            roles.update(lane_roles(tree))
            main_start_form = main_start_form or start_form(tree, main_process)
        except (etree.XMLSyntaxError, ValidationException) as err:
            problems.append(describe_parse_error(path, err))
    for path in sorted(root.glob("*.dmn")):
        try:
            parser.add_dmn_file(str(path))
        except (etree.XMLSyntaxError, ValidationException) as err:
            problems.append(describe_parse_error(path, err))
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
            forms[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            problems.append(f"{path}:{err.lineno}: invalid JSON: {err.msg}")
    if problems:
        raise ProcessFolderError(problems)
    return ProcessBundle(root, content_hash(root), spec, subprocess_specs, forms, roles, main_start_form)


def describe_parse_error(path: Path, err: Exception) -> str:
    """One line ``file:line: element: message`` for a parse or XSD error."""
    if isinstance(err, etree.XMLSyntaxError):
        return f"{path}:{err.lineno}: invalid XML: {err.msg}"
    if isinstance(err, ValidationException):
        line = err.line_number or 0
        element = err.id or err.tag or "-"
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"{err.file_name or path}:{line}: {element}: {message}"
    return f"{path}:0: -: {err}"
