"""Warnings about deployed process versions for the operator: decision tables a version still holds that the engine
cannot run (``baozhuang versions`` says them of every version, ``baozhuang deploy`` of the other versions that
still have open cases)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from .hit_policy_checks import unrunnable_tables
from .models import Case, ProcessVersion

OPEN_CASE_STATUSES = ("running", "suspended")
"""A case of these still runs its version's tables: now, or once resumed (``baozhuang versions`` counts them)."""


def versions_with_open_cases(session: Session, other_than: int | None = None) -> list[int]:
    """The ids of the versions with running or suspended cases (but ``other_than``), ascending."""
    query = select(Case.version_id).where(Case.status.in_(OPEN_CASE_STATUSES)).distinct()
    if other_than is not None:
        query = query.where(Case.version_id != other_than)
    return sorted(session.scalars(query))


def unrunnable_table_warnings(session: Session, version_ids: Collection[int] | None = None) -> list[str]:
    """A warning per decision table of a deployed version (every one, or those of ``version_ids``) that the engine
    cannot run as DMN 1.3 defines it (``hit_policy_checks.unrunnable_tables``): deployed before ``validate`` refused
    it, its cases stop there with an incident. Names the version, the file (and line) and the decision. ``baozhuang
    versions`` says them of every version; ``deploy``, of the other versions that still have open cases (an
    operator deploying a corrected table learns that those cases still run the old one until migrated)."""
    query = select(ProcessVersion.id, ProcessVersion.version_hash, ProcessVersion.files).order_by(ProcessVersion.id)
    if version_ids is not None:
        if not version_ids:
            return []
        query = query.where(ProcessVersion.id.in_(sorted(version_ids)))
    warnings = []
    for version_id, version_hash, files in session.execute(query).tuples():
        for problem in unrunnable_tables(files or {}):
            warnings.append(f"warning: version {version_id} ({version_hash[:12]}): {problem.file}:{problem.line}: "
                            f"decision {problem.element}: {problem.message}; its cases reaching the table stop "
                            "there with an incident: deploy a corrected folder and migrate them")
    return warnings
