"""Process variants as overlays: a folder holding only the changed files, laid over the base process folder.

A variant lives in ``processes/variants/<name>/`` (e.g. ``baozhuang.bpmn`` alone) and means "``processes/`` with
these files replaced or added". :func:`materialize` builds the complete folder the engine and ``baozhuang validate``
need: the base's BPMN, DMN and form files (:func:`runner.process_folder.source_files`) and sample applications,
with the overlay's on top, in
a cache folder named by the content hash of both, so that every run of an unchanged variant reuses one folder and an
edited variant gets a fresh one. A scenario points at a variant simply with ``process: ../variants/<name>``;
:func:`resolve_process_folder` recognises an overlay by its place (a folder inside a ``variants`` folder of a
process folder).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from ..process_folder import LANE_PREFIX, MAIN_PROCESS_ID, NS, SAMPLES_DIR, source_files

VARIANTS_DIR = "variants"
CACHE_ENV = "BAOZHUANG_VARIANT_CACHE"
"""Where materialized variants are kept (default: ``<temp dir>/baozhuang-variants``)."""


class VariantError(ValueError):
    """An overlay or its base folder is missing or holds no process files."""


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "baozhuang-variants")


def _folder_digest(digest: hashlib._Hash, root: Path) -> None:
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")


def overlay_key(base_folder: Path, overlay: Path) -> str:
    """A short hash of the base's and the overlay's files (names and contents)."""
    digest = hashlib.sha256()
    _folder_digest(digest, base_folder)
    digest.update(b"\1overlay\1")
    _folder_digest(digest, overlay)
    return digest.hexdigest()[:16]


def _copy(source: Path, target: Path) -> None:
    # sample applications (``baozhuang try``) are copied along, so that a materialized folder can be tried too
    samples = sorted((source / SAMPLES_DIR).glob("*.json"))
    for path in [*source_files(source), *samples]:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def materialize(base_folder: str | Path, overlay: str | Path, cache_dir: Path | None = None) -> Path:
    """The complete process folder of ``overlay`` over ``base_folder`` (built once per content, then reused).

    Raises:
        VariantError: If either folder is missing, or the overlay holds no BPMN, DMN or form file.
    """
    base, over = Path(base_folder).resolve(), Path(overlay).resolve()
    for folder, what in ((base, "base process folder"), (over, "variant overlay")):
        if not folder.is_dir():
            raise VariantError(f"{folder}: {what} not found")
    if not source_files(over):
        raise VariantError(f"{over}: the overlay holds no .bpmn, .dmn or forms/*.json file")
    cache = cache_dir or default_cache_dir()
    target = cache / f"{over.name}-{overlay_key(base, over)}"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{over.name}-", dir=cache))
    try:
        _copy(base, building)
        _copy(over, building)
        building.rename(target)
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
        if not target.is_dir():  # not a concurrent builder's win: a real failure
            raise
    return target


def overlay_base(folder: str | Path) -> Path | None:
    """The base folder when ``folder`` is an overlay (``<base>/variants/<name>``), else None."""
    path = Path(folder).resolve()
    base = path.parent.parent
    if path.parent.name == VARIANTS_DIR and (base / f"{MAIN_PROCESS_ID}.bpmn").is_file():
        return base
    return None


def resolve_process_folder(folder: str | Path, cache_dir: Path | None = None) -> Path:
    """The folder to load: an overlay materialized over its base, any other folder as it is."""
    base = overlay_base(folder)
    return Path(folder) if base is None else materialize(base, folder, cache_dir)


def process_names(process_folder: str | Path) -> dict[str, str]:
    """Role → lane name, and element id → element name, from the folder's BPMN files (for labels)."""
    names: dict[str, str] = {}
    for path in sorted(Path(process_folder).glob("*.bpmn")):
        try:
            tree = etree.parse(str(path))
        except (OSError, etree.XMLSyntaxError):
            continue  # labels only: checking the folder (check_process) reports the broken file with its line
        for element in tree.iter(f"{{{NS['bpmn']}}}*"):
            element_id, name = element.get("id", ""), element.get("name")
            if not name:
                continue
            if etree.QName(element).localname == "lane" and element_id.startswith(LANE_PREFIX):
                names.setdefault(element_id[len(LANE_PREFIX):], name)
            else:
                names.setdefault(element_id, name)
    return names


Layer = tuple[Path, str]
"""A folder the files of a complete process folder come from, and how the reader names it."""


def shown_name(path: Path) -> str:
    """A path as the command line shows it: relative to the working folder when below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def rename_paths(text: str, folder: Path, layers: Sequence[Layer]) -> str:
    """``text`` with every path below ``folder`` (a complete process folder built from ``layers``, the base first)
    named as the reader knows it: under the last layer that has the file (else the base)."""
    def shown(match: re.Match[str]) -> str:
        relative = match[1]
        for source, name in reversed(layers):
            if (source / relative).exists():
                return f"{name}/{relative}"
        return f"{layers[0][1]}/{relative}"

    return re.sub(re.escape(str(folder)) + r"/([^\s:'\"]+)", shown, text)


def validation_problems(folder: Path, layers: Sequence[Layer]) -> list[str]:
    """What ``baozhuang validate`` reports on the complete process folder ``folder`` (built from ``layers``), one
    line ``file:line: element: message`` per problem, each file named as the reader knows it (``rename_paths``)."""
    from handlers import build_registry

    from ..validation import validate_folder

    return [rename_paths(str(problem), folder, layers) for problem in validate_folder(folder, build_registry())]


def check_process(folder: str | Path, cache_dir: Path | None = None) -> list[str]:
    """The checks of ``baozhuang validate`` on the process a scenario names (an overlay laid over its base first),
    made before a simulation runs any case: a draft that validate refuses is not simulated. Each problem is one line
    ``file:line: element: message`` naming the user's file (the overlay's, else the base's), relative to the working
    folder when below it.

    Raises:
        VariantError: If an overlay holds no process file.
    """
    folder = Path(folder)
    base = overlay_base(folder)
    if base is None:
        return validation_problems(folder, [(folder, shown_name(folder))])
    complete = materialize(base, folder, cache_dir)
    return validation_problems(complete, [(base, shown_name(base)), (folder, shown_name(folder))])
