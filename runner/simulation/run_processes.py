"""Which process a stored simulation run simulates, and how it becomes a folder the engine can load.

A choice is one of: a deployed version (``version:<id>``, the files stored in ``process_versions``), the project's
``processes/`` folder (``folder``) or a variant overlay (``variant:<name>``: ``processes/variants/<name>`` laid
over ``processes/``). The run copies the chosen files into a folder of its own (``materialize``), so that it
simulates exactly what was chosen even if the folder is edited or redeployed meanwhile.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import shown_time
from ..models import ProcessVersion
from ..process_folder import content_hash, source_files
from ..store import current_version_id

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROCESSES = PROJECT_ROOT / "processes"
VARIANTS = PROCESSES / "variants"
SCENARIOS = PROCESSES / "scenarios"
SAMPLES = PROCESSES / "samples"
MAIN_PROCESS_FILE = "baozhuang.bpmn"
CHOICE = re.compile(r"^(folder|version:(\d{1,9})|variant:([A-Za-z0-9_\-]{1,80}))$")


class ProcessChoiceError(ValueError):
    """The chosen process does not exist (any more) or is written wrongly."""


@dataclass(frozen=True)
class ProcessChoice:
    """One process the form offers: its key (``folder``, ``version:3``, ``variant:name``) and what to show.
    ``current``: the deployed version new cases start on (what production runs today); ``same_as``: for the
    folder, the id of the deployed version with the same files, if any (None: the folder holds undeployed edits)."""

    key: str
    kind: str  # folder|version|variant
    label: str
    current: bool = False
    same_as: int | None = None


def describe(key: str) -> str:
    """A stored choice as the pages show it: ``processes/``, ``processes/variants/<name>`` or ``#<version id>``."""
    match = CHOICE.match(key)
    if match is None:
        return key
    if match[2] is not None:
        return f"#{match[2]}"
    return f"processes/variants/{match[3]}" if match[3] is not None else "processes/"


def variant_names() -> list[str]:
    """The overlay folders under ``processes/variants`` (each holds only the changed files)."""
    if not VARIANTS.is_dir():
        return []
    return sorted(path.name for path in VARIANTS.iterdir() if path.is_dir() and CHOICE.match(f"variant:{path.name}"))


def process_choices(session: Session, *, versions: int = 20) -> list[ProcessChoice]:
    """The ``processes/`` folder, the newest deployed versions (the current one marked, deployment times in China
    Standard Time as everywhere else), then the variant overlays."""
    current = current_version_id(session)
    rows = session.execute(select(ProcessVersion.id, ProcessVersion.version_hash, ProcessVersion.deployed_at,
                                  ProcessVersion.note).order_by(ProcessVersion.id.desc()).limit(versions)).all()
    folder_hash = content_hash(PROCESSES)
    same_as = session.scalar(select(ProcessVersion.id).where(ProcessVersion.version_hash == folder_hash))
    choices = [ProcessChoice("folder", "folder", "processes/", same_as=same_as)]
    for version_id, version_hash, deployed_at, note in rows:
        label = f"#{version_id} {version_hash[:12]} {shown_time(deployed_at)}" + (f" {note}" if note else "")
        choices.append(ProcessChoice(f"version:{version_id}", "version", label, current=version_id == current))
    choices.extend(ProcessChoice(f"variant:{name}", "variant", f"processes/variants/{name}")
                   for name in variant_names())
    return choices


def default_base(choices: list[ProcessChoice], template_choice: str) -> str:
    """The base process a new run starts with: a template naming the ``processes/`` folder means today's process,
    so the current deployed version when the folder holds the same files (the same model either way, named as
    production knows it); the folder otherwise (its edits are what the owner is trying), and a variant as named."""
    if template_choice != "folder":
        return template_choice
    folder = next((choice for choice in choices if choice.kind == "folder"), None)
    current = next((choice for choice in choices if choice.current), None)
    if folder is not None and current is not None and folder.same_as is not None \
            and current.key == f"version:{folder.same_as}":
        return current.key
    return template_choice


def check_choice(session: Session, key: str) -> str:
    """``key`` if it names an existing process; ``ProcessChoiceError`` otherwise."""
    match = CHOICE.match(key)
    if match is None:
        raise ProcessChoiceError(f"unknown process choice {key!r}")
    if match[2] is not None and session.get(ProcessVersion, int(match[2])) is None:
        raise ProcessChoiceError(f"no deployed version {match[2]}")
    if match[3] is not None and match[3] not in variant_names():
        raise ProcessChoiceError(f"no variant processes/variants/{match[3]}")
    return key


def _copy_folder(source: Path, target: Path) -> None:
    for path in source_files(source):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def materialize(session: Session, key: str, target: Path) -> Path:
    """Write the chosen process's BPMN, DMN and form files into ``target`` (created; must not exist yet)."""
    match = CHOICE.match(key)
    if match is None:
        raise ProcessChoiceError(f"unknown process choice {key!r}")
    target.mkdir(parents=True)
    if match[2] is not None:
        version = session.get(ProcessVersion, int(match[2]))
        if version is None:
            raise ProcessChoiceError(f"no deployed version {match[2]}")
        for relative, text in version.files.items():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text, encoding="utf-8")
        return target
    _copy_folder(PROCESSES, target)
    if match[3] is not None:
        overlay = VARIANTS / match[3]
        if not overlay.is_dir():
            raise ProcessChoiceError(f"no variant processes/variants/{match[3]}")
        _copy_folder(overlay, target)
    return target


def process_layers(key: str) -> list[tuple[Path, str]]:
    """The folders a choice's files come from, the base first, each with the name the pages show for it: the
    project's ``processes`` (and ``processes/variants/<name>``), or ``#<id>`` for a deployed version."""
    match = CHOICE.match(key)
    if match is not None and match[2] is not None:
        return [(Path(f"#{match[2]}"), f"#{match[2]}")]  # stored, not on disk: named by its id
    layers = [(PROCESSES, "processes")]
    if match is not None and match[3] is not None:
        layers.append((VARIANTS / match[3], f"processes/variants/{match[3]}"))
    return layers


def main_diagram(folder: Path) -> str:
    """The main BPMN of a materialized process (what the report's heatmap is drawn on)."""
    return (folder / MAIN_PROCESS_FILE).read_text(encoding="utf-8")


def element_names(xml: str) -> dict[str, str]:
    """Element id → name of every named flow node of a BPMN text (labels for the form's durations)."""
    from lxml import etree

    root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    return {str(node.get("id")): str(node.get("name")) for node in root.iter()
            if isinstance(node.tag, str) and node.get("id") and node.get("name")}
