"""The customer portal's use cases, without an account: apply (a case and a one-time access code), assess a load as
the customer types it, check an access code, show the case's progress, and do the customer's own tasks.

The customer acts as the pseudo user ``customer:<case number>`` in the group ``customer``: the role of the
process's customer lane (``lane_customer``, ``runner.process_folder.lane_roles``), which no member of staff holds.
Requests that may be abused (applications, code checks, anonymous uploads) are counted per client address in
``rate_limit_hits``. No Flask here.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.script_engine import TaskDataEnvironment
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from handlers.context import HandlerContext, MemoryArchive, MemoryOutbox

from . import documents, services
from .case import CUSTOMER_ROLE
from .decisions import DecisionError, evaluate, load_decisions
from .forms import FormValidationError
from .models import Case as CaseRow
from .models import Document, Event, OpenTask, RateLimitHit
from .process_folder import ProcessBundle, spec_properties
from .script_engine import expression_functions
from .start_data import validate_start_data
from .store import NotFoundError, Runtime, latest_version

CUSTOMER_GROUPS = (CUSTOMER_ROLE,)
PORTAL_USER = "portal"
CAPACITY_TASK = "assess_capacity"
ACCESS_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed on a phone
ACCESS_CODE_LENGTH = 10
ACCESS_CODE_HASH = "pbkdf2:sha256:200000"
_DUMMY_HASH = generate_password_hash("not-a-code", method=ACCESS_CODE_HASH)


def customer_user(case_number: str) -> str:
    """The pseudo user the customer of a case acts as (in the event log and as uploader)."""
    return f"customer:{case_number}"


# -- rate limits -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` counted requests of ``bucket`` per key (client address) within ``window_seconds``."""

    bucket: str
    limit: int
    window_seconds: int


APPLY_LIMIT = RateLimit("portal_apply", 5, 3600)
CODE_LIMIT = RateLimit("portal_code", 10, 600)
UPLOAD_LIMIT = RateLimit("portal_upload", 30, 3600)


def retry_after(session: Session, rule: RateLimit, key: str, now: datetime) -> int | None:
    """Seconds until the key may try again, or None when it is within its limit (nothing is counted)."""
    since = now - timedelta(seconds=rule.window_seconds)
    times = list(session.scalars(select(RateLimitHit.at).where(
        RateLimitHit.bucket == rule.bucket, RateLimitHit.key == key[:128], RateLimitHit.at > since)
        .order_by(RateLimitHit.at.desc()).limit(rule.limit)))
    if len(times) < rule.limit:
        return None
    frees_at = times[-1] + timedelta(seconds=rule.window_seconds)  # the oldest counted hit leaves the window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def count_hit(session: Session, rule: RateLimit, key: str, now: datetime) -> None:
    """Count one request (and forget this key's hits that have left the window)."""
    since = now - timedelta(seconds=rule.window_seconds)
    session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == rule.bucket, RateLimitHit.key == key[:128],
                                               RateLimitHit.at <= since))
    session.add(RateLimitHit(bucket=rule.bucket, key=key[:128], at=now))


# -- assessment as the customer types ---------------------------------------------------------------------------


@dataclass
class Assessment:
    """The suggested capacity and supply of an application, as the case's own service task and DMN decide."""

    installed_kw: float
    apparent_kva: float
    transformer_kva: float
    supply_voltage_kv: float | None
    category: str | None


_DECISIONS: dict[str, dict[str, Any]] = {}


def _decisions(bundle: ProcessBundle) -> dict[str, Any]:
    """The DMN engines of a version, parsed once per version."""
    if bundle.version not in _DECISIONS:
        _DECISIONS[bundle.version] = load_decisions(bundle.root)
    return _DECISIONS[bundle.version]


def assess(session: Session, runtime: Runtime, application: dict[str, Any]) -> Assessment:
    """Run the newest version's capacity service task (its operator and parameters, evaluated on the application)
    and its ``supply_voltage`` and ``customer_category`` decisions. ``ValueError`` names bad input."""
    bundle = runtime.bundle(latest_version(session))
    task_spec = bundle.spec.task_specs[CAPACITY_TASK]
    environment = TaskDataEnvironment(expression_functions(runtime.clock, runtime.calendar))
    try:
        params = {name: environment.evaluate(param["value"], {"application": application})
                  for name, param in task_spec.operation_params.items()}
    except Exception as err:  # a missing field of a half-typed application
        raise ValueError(f"incomplete application: {err}") from err
    context = HandlerContext("PORTAL", runtime.clock.now, runtime.calendar, MemoryOutbox(), MemoryArchive())
    capacity = runtime.registry.call(task_spec.operation_name, context, params)
    data: dict[str, Any] = {"application": application, "capacity": capacity}
    engines = _decisions(bundle)
    voltage: float | None = None
    category: str | None = None
    try:
        voltage = evaluate(engines["supply_voltage"], data, runtime.clock).outputs.get("supply_voltage_kv")
        data["supply_voltage_kv"] = voltage
        category = evaluate(engines["customer_category"], data, runtime.clock).outputs.get("category")
    except DecisionError:
        pass  # an application the tables do not cover yet (e.g. the enterprise size still unset)
    return Assessment(capacity["installed_kw"], capacity["apparent_kva"], capacity["transformer_kva"], voltage,
                      category)


# -- applying and access codes ----------------------------------------------------------------------------------


@dataclass
class Application:
    case_number: str
    access_code: str
    """Shown to the customer once; only its hash is kept."""


def new_access_code() -> str:
    return "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))


def normalise_code(text: str) -> str:
    """What the customer typed, as stored: capitals, without spaces and dashes."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


IDENTITY_REQUIRED = "an identity document is required"
COMMITMENT_REQUIRED = "without a property proof the commitment must be signed"
MATERIAL_KINDS = ("identity", "property_proof", "business_licence", "other")
"""What the portal uploads; all but ``other`` are ``provided_materials`` codes of the start form."""


def owned_documents(session: Session, references: list[str], applicant: str) -> list[Document]:
    """The not yet attached documents ``applicant`` uploaded that the references name (others are ignored)."""
    ids = list(dict.fromkeys(found for found in (documents.document_id_of(ref) for ref in references) if found))
    if not ids:
        return []
    owned = {doc.id: doc for doc in session.scalars(select(Document).where(
        Document.id.in_(ids), Document.case_id.is_(None), Document.uploaded_by == applicant))}
    return [owned[found] for found in ids if found in owned]


def owned_references(session: Session, references: list[str], applicant: str) -> list[str]:
    return [documents.reference_of(doc.id) for doc in owned_documents(session, references, applicant)]


def apply(session: Session, runtime: Runtime, application: dict[str, Any], materials: dict[str, list[str]],
          applicant: str, submission_id: str) -> Application:
    """Start a case from the portal's application and the documents ``applicant`` uploaded for it (by kind);
    give it an access code. ``has_property_proof`` and ``provided_materials`` follow the uploads.

    ``submission_id`` (the form's, random) starts at most one case: a repeat, also a concurrent one, raises
    ``services.StartRepeated`` naming the first case and changes nothing (the first request's code is not kept).

    Raises ``FormValidationError`` with every problem at once: the start form's (paths without the
    ``application.`` prefix), ``materials.identity`` when no identity document came (一证受理 needs at least that)
    and ``commitment_signed`` when the property proof is missing and the commitment is not signed."""
    owned = {kind: owned_references(session, materials.get(kind, []), applicant) for kind in MATERIAL_KINDS}
    application = {**application, "has_property_proof": bool(owned["property_proof"]),
                   "provided_materials": [kind for kind in MATERIAL_KINDS if kind != "other" and owned[kind]]}
    errors: list[tuple[str, str]] = []
    if not owned["identity"]:
        errors.append(("materials.identity", IDENTITY_REQUIRED))
    if not owned["property_proof"] and application.get("commitment_signed") is not True:
        errors.append(("commitment_signed", COMMITMENT_REQUIRED))
    bundle = runtime.bundle(latest_version(session))
    try:
        validate_start_data(bundle, {"application": application, "regime": runtime.default_regime})
    except FormValidationError as err:
        errors.extend((path.removeprefix("application").lstrip("."), message) for path, message in err.errors)
    if errors:
        raise FormValidationError(errors)
    number = services.start_case(session, runtime, {"application": application}, PORTAL_USER,
                                 request_id=submission_id, requested_by=applicant)
    code = reset_access_code(session, number)
    row = services.get_case(session, number)
    documents.attach_documents(session, [ref for refs in owned.values() for ref in refs], row.id, applicant)
    return Application(number, code)


def discard_uploads(session: Session, root: Path, references: list[str], applicant: str) -> int:
    """Delete the not yet attached documents ``applicant`` uploaded that the references name (those of a submission
    that turned out to be a repeat), and their files once no other row keeps the same bytes. Returns how many."""
    owned = owned_documents(session, references, applicant)
    for document in owned:
        session.delete(document)
    session.flush()
    keys = {document.storage_key for document in owned}
    kept = set(session.scalars(select(Document.storage_key).where(Document.storage_key.in_(sorted(keys))))) \
        if keys else set()
    for key in sorted(keys - kept):
        (root / key).unlink(missing_ok=True)
    return len(owned)


def reset_access_code(session: Session, case_number: str) -> str:
    """Give the case a new access code (the old one stops working) and return it; only its hash is kept."""
    row = services.get_case(session, case_number)
    code = new_access_code()
    row.access_code_hash = generate_password_hash(code, method=ACCESS_CODE_HASH)
    return code


ACCESS_CODE_GROUPS = ("account_manager", "supervisor")
"""Who may give a case a new access code (web case page; the API also admits ``admin``): the staff a customer
turns to at the service hall or on the phone when the code is lost, or was never shown (a case filed for the
customer through the API)."""


def reissue_access_code(session: Session, case_number: str, user: str) -> str:
    """A new access code for the case, for ``user`` to hand to the customer (after checking who they are): the old
    code stops working. Logged on ``baozhuang.admin`` (who, which case; never the code), as the other staff
    actions outside the flow are."""
    code = reset_access_code(session, case_number)
    services.admin_log.info("admin=%s action=reissue_access_code case=%s", user, case_number)
    return code


def format_code(code: str) -> str:
    """An access code as shown (``ABCDE-23456``): two halves, easier to read aloud and to copy."""
    return f"{code[:5]}-{code[5:]}"


def check_access_code(session: Session, case_number: str, code: str) -> bool:
    """Whether the code opens the case. An unknown case costs the same work as a wrong code."""
    stored = session.scalar(select(CaseRow.access_code_hash).where(CaseRow.case_number == case_number.strip()))
    matches = check_password_hash(stored or _DUMMY_HASH, normalise_code(code))
    return bool(stored) and matches


# -- progress ------------------------------------------------------------------------------------------------------


@dataclass
class ProgressStep:
    """A step of the case the customer may see: a human step's Chinese name and its dates (no people)."""

    element_id: str
    name: str
    state: str  # done|current
    started_at: datetime
    completed_at: datetime | None = None
    due_at: datetime | None = None
    customer: bool = False


@dataclass
class Progress:
    case_number: str
    status: str
    category: str | None
    applied_at: datetime
    steps: list[ProgressStep] = field(default_factory=list)
    customer_tasks: list[OpenTask] = field(default_factory=list)


INTERNAL_PROCESSES = ("baozhuang_sla_escalation",)
"""Called processes whose steps the customer never sees: the 督办 of a late step (processes/escalation.bpmn, called
by the ``escalate_*`` call activities) is the utility's own supervision with a deadline of its own; the late step
stays open beside it, and that step is what the customer waits on."""


HIDDEN_FROM_CUSTOMER = "hiddenFromCustomer"
"""A step's ``spiffworkflow:property`` (value ``true``) that keeps it off the customer's progress page: an internal
control the customer should not read about (高风险审批 tells them they were rated high-risk), set by the analyst."""


_INTERNAL_KEPT_AS = "_portal_internal_elements"
"""The attribute of a ``ProcessBundle`` instance that keeps its ``internal_elements`` (gone with the bundle)."""


def internal_elements(bundle: ProcessBundle) -> frozenset[str]:
    """The element ids of the ``INTERNAL_PROCESSES`` in this version (none if it has no such process), and of every
    step marked ``hiddenFromCustomer``. Found once per parsed version and kept on the bundle (a bundle never changes
    once parsed, and the runtime keeps one per version): the progress page asks on every request, and the walk reads
    every task spec of every process. Two threads asking at once may both walk; they find the same answer."""
    kept: frozenset[str] | None = vars(bundle).get(_INTERNAL_KEPT_AS)
    if kept is None:
        kept = vars(bundle)[_INTERNAL_KEPT_AS] = _find_internal_elements(bundle)
    return kept


def _find_internal_elements(bundle: ProcessBundle) -> frozenset[str]:
    specs = [bundle.subprocess_specs[name] for name in INTERNAL_PROCESSES if name in bundle.subprocess_specs]
    internal = {task_spec.bpmn_id for spec in specs for task_spec in spec.task_specs.values()
                if getattr(task_spec, "bpmn_id", None)}
    for spec in (bundle.spec, *bundle.subprocess_specs.values()):
        internal.update(task_spec.bpmn_id for task_spec in spec.task_specs.values()
                        if getattr(task_spec, "bpmn_id", None)
                        and spec_properties(task_spec).get(HIDDEN_FROM_CUSTOMER, "").strip().lower() == "true")
    return frozenset(internal)


def progress(session: Session, runtime: Runtime, case_number: str) -> Progress:
    """The case's human steps in the order they were reached (the last visit of each), which are open now and
    until when, and the customer's open tasks; the steps of ``INTERNAL_PROCESSES`` left out."""
    row = services.get_case(session, case_number)
    internal = internal_elements(runtime.bundle_for_case(session, row))
    open_tasks = {task.id: task for task in services.case_tasks(session, case_number)
                  if task.element_id not in internal}
    events = session.scalars(select(Event).where(Event.case_id == row.id, Event.lifecycle.in_(("enabled",
                                                 "completed")), Event.task_id.is_not(None)).order_by(Event.id))
    by_task: dict[str, ProgressStep] = {}
    for event in events:
        if event.element_id in internal:
            continue
        task_id = str(event.task_id)
        if event.lifecycle == "enabled":
            by_task[task_id] = ProgressStep(event.element_id, event.activity, "other", event.at,
                                            customer=event.role == CUSTOMER_ROLE)
        elif task_id in by_task:
            by_task[task_id].state, by_task[task_id].completed_at = "done", event.at
    latest: dict[str, ProgressStep] = {}
    for task_id, step in by_task.items():
        if task_id in open_tasks:
            step.state, step.due_at = "current", open_tasks[task_id].due_at
        if step.state != "other":
            latest.pop(step.element_id, None)  # a step visited again (a loop) is listed at its last visit
            latest[step.element_id] = step
    customer_tasks = [task for task in open_tasks.values() if task.lane == CUSTOMER_ROLE]
    return Progress(row.case_number, row.status, row.category, row.created_at, list(latest.values()),
                    customer_tasks)


# -- the customer's tasks ----------------------------------------------------------------------------------------


def customer_task_form(session: Session, runtime: Runtime, case_number: str, task_id: str) -> services.TaskForm:
    """An open customer-lane task of this case and its form; ``NotFoundError`` for any other task."""
    task = session.get(OpenTask, task_id)
    if task is None or task.case_number != case_number or task.lane != CUSTOMER_ROLE:
        raise NotFoundError(f"no open customer task {task_id} in case {case_number}")
    return services.task_form(session, runtime, task_id)


def complete_customer_task(session: Session, runtime: Runtime, case_number: str, task_id: str,
                           data: dict[str, Any], request_id: str) -> services.Completion:
    """Complete the customer's task as ``customer:<case number>`` in the customer group."""
    task = session.get(OpenTask, task_id)
    if task is not None and (task.case_number != case_number or task.lane != CUSTOMER_ROLE):
        raise NotFoundError(f"no open customer task {task_id} in case {case_number}")
    # a task already gone is left to complete_task: a repeated request id answers as before, else a conflict
    return services.complete_task(session, runtime, task_id, data, customer_user(case_number), request_id,
                                  CUSTOMER_GROUPS)
