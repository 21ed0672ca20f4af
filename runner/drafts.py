"""Task drafts (暂存): a task form saved unfinished, to be reloaded into the form later.

One draft per task (table ``task_drafts``, keyed by the task id), owned by the person who saved it last: it comes
back into their form, and nobody working beside them sees their half-typed data. When the task passes to someone
else, the draft is not lost: the person now holding the task (a supervisor assigned it to them, or they claimed it
after it was released), or any member of its lane once the author can no longer work on it (deactivated, out of the
lane), sees who saved it and when (``earlier_draft``) and may take it over (``take_over_draft``), as when a colleague
hands over a half-finished paper file. ``services.complete_task`` deletes the draft when the task completes. Plain
functions over a session; the caller commits.

A case moved to another process version (``baozhuang migrate``) keeps its open tasks, and their drafts, but a task's
form may have changed. ``recheck_drafts`` fits each draft to the new form (``fit_to_form``): what the new form still
takes stays; a field the new form no longer has, or a value it now refuses that the old form took, is taken out of
the draft, so that the form opens clean, and kept with the draft in ``migration_notice`` — the field, the value as
saved and why — which the form shows to whoever loads the draft until they save it again (or submit or discard
it). The values stay with the draft they were typed into, as private as the draft itself; the case's ``migrated``
event names the fields taken out of whose draft, never their values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .accounts import User
from .clock import to_iso
from .forms import FORMAT_CHECKER, FormValidator, located
from .models import TaskDraft
from .services import PermissionDenied, get_task


def save_draft(session: Session, task_id: str, user: str, data: dict[str, Any], now: datetime) -> TaskDraft:
    """Keep ``data`` as the task's draft (replacing any earlier one); refused while someone else holds the task."""
    task = get_task(session, task_id)
    if task.assignee not in (None, user):
        raise PermissionDenied(f"task {task_id} is claimed by {task.assignee}")
    draft = session.get(TaskDraft, task_id)
    if draft is None:
        draft = TaskDraft(task_id=task_id, case_id=task.case_id, user=user, data=data, saved_at=now)
        session.add(draft)
    else:
        draft.user, draft.data, draft.saved_at = user, data, now
        draft.migration_notice = None  # saved again on the new form, the notice in front of its author
    session.flush()
    return draft


def load_draft(session: Session, task_id: str, user: str) -> TaskDraft | None:
    """The user's draft of the task, if they saved one."""
    return session.scalar(select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.user == user))


def discard_draft(session: Session, task_id: str, user: str) -> bool:
    """Throw the user's draft of the task away; whether there was one."""
    result = session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.user == user))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def draft_of(session: Session, task_id: str) -> TaskDraft | None:
    """The task's draft, whoever saved it (for the supervisor's assign page: who left unfinished input)."""
    return session.get(TaskDraft, task_id)


def earlier_draft(session: Session, task_id: str, user: str) -> TaskDraft | None:
    """Another person's draft of the task that ``user`` may see and take over, else None: while the task is free
    or held by ``user``, if ``user`` holds it now, or if its author can no longer work on it (deactivated, deleted,
    out of the task's lane). A draft of a colleague still in the lane of a free task stays theirs."""
    draft = session.get(TaskDraft, task_id)
    if draft is None or draft.user == user:
        return None
    task = get_task(session, task_id)
    if task.assignee not in (None, user):
        return None
    if task.assignee == user:
        return draft
    author = session.scalar(select(User).where(User.username == draft.user))
    if author is None or not author.active or task.lane not in author.group_names:
        return draft
    return None


def take_over_draft(session: Session, task_id: str, user: str) -> str:
    """Make the earlier draft ``user``'s own (it then fills their form; its time stays when it was saved) and
    return who saved it; refused (``PermissionDenied``) when ``earlier_draft`` would not show it to them."""
    draft = earlier_draft(session, task_id, user)
    if draft is None:
        raise PermissionDenied(f"no draft of task {task_id} for {user} to take over")
    author, draft.user = draft.user, user
    session.flush()
    return author


# -- a case moved to another version: its drafts against the new forms ----------------------------------------------

INCOMPLETE = frozenset({"required", "minItems", "minProperties", "dependentRequired", "dependencies"})
"""What a draft may lack by nature: it is checked for these when it is submitted, not when its form changes."""

Path = tuple[str | int, ...]


@dataclass
class DroppedValue:
    """A value taken out of a draft because the new form does not take it: where (``path``: field, row, column),
    the forms' titles along that path (a row as its index), the value as saved, and the new form's reason (empty:
    the new form has no such field)."""

    path: list[str | int]
    titles: list[str | int]
    value: Any
    problem: str
    value_title: str | None = None
    """The old form's title for the value when the field was a choice (what the person picked it as)."""

    def as_json(self) -> dict[str, Any]:
        found = {"path": self.path, "titles": self.titles, "value": self.value, "problem": self.problem}
        return found | ({"value_title": self.value_title} if self.value_title else {})


def fit_to_form(data: dict[str, Any], old_form: dict[str, Any] | None, new_form: dict[str, Any] | None
                ) -> tuple[dict[str, Any], list[DroppedValue]]:
    """``data`` (a draft saved on ``old_form``) as ``new_form`` takes it, and what had to be taken out.

    Taken out: a field (or a column of a row) the new form does not have, and a value the new form refuses where
    the old form took it (a value the old form refused already stays: it is the person's unfinished input, and the
    form says what is wrong with it when it is submitted). Missing answers do not count (``INCOMPLETE``). Empty
    values taken out are not listed: nothing is lost."""
    if not isinstance(data, dict):
        return {}, []
    new_schema = new_form or {"type": "object", "properties": {}, "additionalProperties": False}
    known = set((new_form or {}).get("properties") or {})
    problems: dict[Path, str] = {(key,): "" for key in data if key not in known}
    already = set(_problems(old_form, data)) if old_form is not None else set()
    for path, message in _problems(new_schema, data).items():
        if not any(path[:n] in already for n in range(1, len(path) + 1)):
            problems.setdefault(path, message)
    kept = copy.deepcopy(data)
    dropped = []
    for path in sorted(_outermost(problems), key=_removal_order):
        found, value = _take(kept, path)
        if found and not _empty(value):
            dropped.append(DroppedValue(list(path), _titles(path, new_form, old_form), value, problems[path],
                                        _choice_title(_field(old_form, path), value)))
    dropped.sort(key=lambda item: [str(part) for part in item.path])
    return kept, dropped


def _problems(schema: dict[str, Any], data: dict[str, Any]) -> dict[Path, str]:
    """Path → message of every value ``schema`` refuses in ``data``, missing answers left aside; a field or column
    it does not have: an empty message."""
    found: dict[Path, str] = {}
    for error in FormValidator(schema, format_checker=FORMAT_CHECKER).iter_errors(data):
        if error.validator in INCOMPLETE:
            continue
        path: Path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            names = set((error.schema or {}).get("properties") or {})
            for key in error.instance:
                if key not in names:
                    found.setdefault((*path, key), "")
            continue
        if not path:
            continue  # the form as a whole (its size): not one value
        messages = located(error)
        found.setdefault(path, messages[0][1] if messages else str(error.message))
    return found


def _outermost(problems: dict[Path, str]) -> list[Path]:
    """The paths not inside another one (a field taken out whole takes its rows with it)."""
    return [path for path in problems if not any(path[:n] in problems for n in range(1, len(path)))]


def _removal_order(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Later rows of a list first, so that taking a row out does not move the ones still to be taken out."""
    return tuple((0, -part) if isinstance(part, int) else (1, part) for part in path)


def _take(data: Any, path: Path) -> tuple[bool, Any]:
    """Remove the value at ``path`` from ``data``; whether it was there, and the value."""
    *parents, last = path
    node = data
    for part in parents:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    if isinstance(last, int) and isinstance(node, list) and 0 <= last < len(node):
        return True, node.pop(last)
    if isinstance(last, str) and isinstance(node, dict) and last in node:
        return True, node.pop(last)
    return False, None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _titles(path: Path, new_form: dict[str, Any] | None, old_form: dict[str, Any] | None) -> list[str | int]:
    """The title of each field or column along ``path``: the new form's, else the old form's (under which the
    value was typed), else its key; a row stays its index."""
    titles: list[str | int] = []
    nodes: list[dict[str, Any]] = [new_form or {}, old_form or {}]
    for part in path:
        if isinstance(part, int):
            titles.append(part)
            nodes = [node["items"] if isinstance(node.get("items"), dict) else {} for node in nodes]
            continue
        found = [(node.get("properties") or {}).get(part) for node in nodes]
        entries = [entry if isinstance(entry, dict) else {} for entry in found]
        title = next((entry["title"] for entry in entries if entry.get("title")), None)
        titles.append(str(title or part))
        nodes = entries
    return titles


def _field(form: dict[str, Any] | None, path: Path) -> dict[str, Any]:
    """The schema of the field or column at ``path`` in ``form`` (empty when it has none)."""
    node: Any = form or {}
    for part in path:
        node = node.get("items") if isinstance(part, int) else (node.get("properties") or {}).get(part)
        if not isinstance(node, dict):
            return {}
    return dict(node)


def _choice_title(schema: dict[str, Any], value: Any) -> str | None:
    """The title a choice field gives ``value`` (``oneOf`` of ``const`` and ``title``), else None."""
    for branch in schema.get("oneOf") or []:
        if isinstance(branch, dict) and "const" in branch and branch["const"] == value and branch.get("title"):
            return str(branch["title"])
    return None


@dataclass
class ChangedForm:
    """An open task of a moved case whose form changed: the task, its step's name (in the new version) and the
    two forms (None: the step has no form in that version)."""

    task_id: str
    element_id: str
    step: str
    old_form: dict[str, Any] | None
    new_form: dict[str, Any] | None


def recheck_drafts(session: Session, tasks: list[ChangedForm], now: datetime, moved: str) -> list[dict[str, Any]]:
    """Fit the drafts of ``tasks`` to their new forms (``fit_to_form``); what was taken out of each goes into its
    ``migration_notice`` (after an earlier one not yet seen), with ``moved`` (the two versions, as the operator
    names them). Returns, for the ``migrated`` event, one entry per draft that lost a value: the task, its step,
    the draft's author and the paths taken out — never the values."""
    told = []
    for task in tasks:
        draft = session.get(TaskDraft, task.task_id, with_for_update=True)  # not under a save of its author's
        if draft is None:
            continue
        kept, dropped = fit_to_form(draft.data, task.old_form, task.new_form)
        if kept == draft.data:
            continue
        draft.data = kept
        if not dropped:
            continue  # only empty values went
        earlier = draft.migration_notice or {}
        draft.migration_notice = {"at": to_iso(now), "moved": moved, "step": task.step,
                                  "values": [*(earlier.get("values") or []), *(item.as_json() for item in dropped)]}
        told.append({"task_id": task.task_id, "element_id": task.element_id, "step": task.step, "user": draft.user,
                     "dropped": [path_text(item.path) for item in dropped]})
    session.flush()
    return told


def path_text(path: list[str | int]) -> str:
    """``equipment[2].count``, as validation errors name a value."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
