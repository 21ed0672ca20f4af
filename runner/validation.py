"""``baozhuang validate``: everything that must hold before a process folder may be deployed.

SpiffWorkflow checks the XML against the BPMN, DMN and Spiff XSDs while parsing, but stops at the first error and
names no element: every XSD error of a BPMN file is reported here, at its element (``runner.schema_problems``). On
top of that we check what the engine leaves to us (ENGINE-NOTES.md): every flow node and sequence flow is drawn on
the diagram (``runner.diagram_checks``) and lies on a path: a sequence flow leads to it (but to start and boundary
events) and one leaves it (but end events; ``runner.flow_checks``), and an error or escalation boundary event
catches something its activity can throw; every user task lies in a lane and has an existing, valid form schema;
every service operator is registered; every condition, script, timer and DMN cell compiles; timers are ``timeDate``
only; every flow, default, attachment and call names an element or process that exists (the parser's own message for
a dangling reference has no line, or there is none); every business rule task's decision exists; every file (BPMN,
DMN, forms, samples) is UTF-8 text, as a version is stored. DMN output entries fit their column's typeRef and
allowed values, a string in an input entry is a value its column can hold, and no UNIQUE table has two rules with
the same input entries (``runner.dmn_checks``). An id used twice in a BPMN file is one problem, and the file's other
checks wait for it. When all of that holds, every sample application of ``samples/`` is run through the process in
memory as ``baozhuang try`` runs it (``sample_problems``): a table that fails every case of a category (a gap, an
overlap under UNIQUE) is found before a case meets it.
Also: the numbers no rule of a single-hit table matches (``runner.range_checks``), a condition comparing a form
field with a value its form never gives (``runner.form_value_checks``), a gateway flow with neither condition nor
default (``runner.flow_checks``), form schema, ``required`` and UI schema names at their lines
(``runner.form_schema_checks``), a failing DMN input expression once at its line (``runner.decision_input_checks``).
``folder_report`` adds warnings, which do not refuse the folder: numeric gaps beyond every number a table names and
staff tasks without a time limit (``runner.sla_checks``).
Each problem is one line ``file:line: element-id: message`` (for a DMN cell the element is its rule's id; for a
sample that fails, the element that failed, the message beginning ``sample <name>:``).
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.exceptions import TaskNotFoundException

from handlers.registry import HandlerRegistry

from .accounts import LANE_ROLES
from .case import CUSTOMER_ROLE, ServiceFailure
from .clock import parse_iso
from .decision_engine import CaseDecisionEngine
from .decision_input_checks import failing_input, merge_samples
from .decision_keys import decision_result_keys, undefined_names, unknown_keys
from .diagram_checks import stale_drawings, undrawn_elements
from .dmn_checks import (
    ColumnValues,
    check_output_entry,
    column_domains,
    duplicate_rules,
    feel_range_hint,
    folder_data_names,
    names_set_outside_tables,
    produced_values,
    uncovered_cases,
    unknown_input_literals,
    working_days_outputs,
)
from .flow_checks import conditionless_flows, event_gateway_targets, uncaught_boundaries, unconnected_steps
from .form_field_checks import HUMAN_TASK_TAGS, form_fields, unknown_form_fields
from .form_schema_checks import schema_error, unknown_required, unknown_ui_fields
from .form_value_checks import form_field_values, impossible_comparisons
from .forms import COMPLETION_CHECKS, FormValidationError, completion_check_problems
from .hit_policy_checks import unsupported_hit_policy
from .process_folder import (
    BPMN_NS,
    FORMS_DIR,
    LANE_PREFIX,
    NS,
    SAMPLES_DIR,
    NotUtf8Error,
    Problem,
    ProcessBundle,
    ProcessFolderError,
    broken_references,
    duplicate_definitions,
    duplicate_ids,
    lane_roles,
    load_process_folder,
    missing_decisions,
    owner_with_id,
    read_utf8,
    utf8_problem,
    xml_error,
)
from .range_checks import form_schemas, gap_problems
from .sample_answers import SAMPLE_EXPRESSION, sample_expression_problems
from .schema_problems import dmn_schema_problems, schema_problems
from .script_engine import RESERVED_NAMES
from .sla_checks import untimed_staff_tasks
from .trial import TrialDriver, TrialError, TrialOptions

LANE_ID = re.compile(r"^lane_[a-z][a-z0-9_]*$")
DMN_NAMESPACES = {
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
}


@dataclass
class FolderReport:
    """What ``validate`` finds: ``problems`` refuse the folder; ``warnings`` (things that may be meant, e.g. a
    decision table's range beyond every number it names) are said, and do not."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def validate_folder(root: str | Path, registry: HandlerRegistry) -> list[Problem]:
    """All problems of a process folder; an empty list means it may be deployed."""
    return folder_report(root, registry).problems


def folder_report(root: str | Path, registry: HandlerRegistry) -> FolderReport:
    """The problems and warnings of a process folder."""
    root = Path(root)
    if not root.is_dir():
        return FolderReport([Problem(str(root), 0, "-", "not a folder")])
    report = FolderReport()
    problems = report.problems
    bpmn_files = sorted(root.glob("*.bpmn"))
    if not bpmn_files:
        problems.append(Problem(str(root), 0, "-", "no .bpmn file"))
    trees: dict[Path, Any] = {}
    for path in bpmn_files:
        tree = _parse_xml(path, problems)
        if tree is None:
            continue
        problems.extend(schema_problems(path, tree))
        if duplicate_ids(tree):
            continue  # every reference to such an id is ambiguous: the duplicate is the problem to fix, alone
        trees[path] = tree
        in_file = [*check_bpmn(path, tree, root, registry), *undrawn_elements(path, tree),
                   *unconnected_steps(path, tree), *uncaught_boundaries(path, tree),
                   *event_gateway_targets(path, tree), *conditionless_flows(path, tree)]
        problems.extend(in_file)
        if not in_file:  # an element renamed by mistake is that problem: putting its id back mends its drawing too
            problems.extend(stale_drawings(path, tree))
    if len(trees) == len(bpmn_files):  # every file read: a reference to another file's process can be judged
        problems.extend(broken_references(trees))
        report.warnings.extend(untimed_staff_tasks(trees))
    dmn_files = sorted(root.glob("*.dmn"))
    dmn_trees = {path: tree for path in dmn_files if (tree := _parse_xml(path, problems)) is not None}
    all_read = len(trees) == len(bpmn_files) and len(dmn_trees) == len(dmn_files)
    known_names = folder_data_names(root, trees, dmn_trees) if len(trees) == len(bpmn_files) else None
    scripts = [text for tree in trees.values() for _, mode, text in expressions(tree) if mode == "exec"]
    produced = produced_values(dmn_trees, names_set_outside_tables(root, trees, scripts)) if all_read else None
    whole_days = working_days_outputs(text for tree in trees.values() for _, mode, text in expressions(tree)
                                      if mode == "eval")
    domains = column_domains(dmn_trees, produced) if produced is not None else {}
    schemas = form_schemas(trees, root)
    for path, tree in dmn_trees.items():
        problems.extend(dmn_schema_problems(path, tree))
        in_file = list(check_dmn(path, tree, known_names, produced, whole_days))
        problems.extend(in_file)
        if not in_file:  # a gap a wrong cell makes (a typo in a category) is that cell's problem, reported above
            for table in tree.iter("{*}decisionTable"):
                uncovered = list(uncovered_cases(str(path), table, domains))
                problems.extend(uncovered)
                if not uncovered:  # the numbers of the combinations that have rules
                    errors, warnings = gap_problems(str(path), table, domains, schemas)
                    problems.extend(errors)
                    report.warnings.extend(warnings)
    problems.extend(duplicate_definitions(trees, dmn_trees))
    if all_read:
        problems.extend(missing_decisions(trees, dmn_trees))
        result_keys = decision_result_keys(dmn_trees)
        defined = (names_set_outside_tables(root, trees, scripts) | set(RESERVED_NAMES)
                   | {(output.get("name") or "").partition(".")[0] for tree in dmn_trees.values()
                      for output in tree.iter("{*}output")})
        forms = form_fields(trees, root, scripts)
        values = form_field_values(trees, root, scripts)
        for path, tree in trees.items():
            problems.extend(unknown_form_fields(str(path), expressions(tree), forms))
            problems.extend(impossible_comparisons(str(path), expressions(tree), values))
            problems.extend(unknown_keys(str(path), expressions(tree), scripts, result_keys))
            problems.extend(undefined_names(str(path), (found for found in expressions(tree)
                                                        if not _duration_name(found[2])), defined))
    samples = sorted((root / SAMPLES_DIR).glob("*.json"))
    problems.extend(problem for path in samples if (problem := sample_file_problem(path)) is not None)
    if not problems:
        try:
            bundle = load_process_folder(root)
        except ProcessFolderError as err:
            problems.extend(_from_line(line) for line in err.problems)
        else:
            problems.extend(sample_problems(bundle, samples, trees, dmn_trees))
    return report


def _parse_xml(path: Path, problems: list[Problem]) -> Any:
    not_utf8 = utf8_problem(path)  # lxml would read a file in its declared encoding; a version is stored as UTF-8
    if not_utf8 is not None:
        problems.append(not_utf8)
        return None
    try:
        return etree.parse(str(path))
    except etree.XMLSyntaxError as err:
        problems.append(Problem(str(path), *xml_error(path, err)))
        return None


def _from_line(line: str) -> Problem:
    parts = line.split(": ", 2)
    location = parts[0].rsplit(":", 1)
    number = int(location[1]) if len(location) == 2 and location[1].isdigit() else 0
    if len(parts) == 3:
        return Problem(location[0], number, parts[1], parts[2])
    return Problem(location[0], number, "-", parts[-1])


# -- BPMN ------------------------------------------------------------------------------------------------------------


def check_bpmn(path: Path, tree: Any, root: Path, registry: HandlerRegistry) -> Iterator[Problem]:
    """Lanes, forms, operators, expressions and timers of one BPMN file."""
    file = str(path)
    roles = lane_roles(tree)
    ids = {el.get("id") for el in tree.iter() if isinstance(el.tag, str) and el.get("id")}
    for lane in tree.iterfind(".//bpmn:lane", NS):
        yield from check_lane(file, lane)
    yield from nodes_in_two_lanes(file, tree)
    for tag in HUMAN_TASK_TAGS:
        for task in tree.iterfind(f".//bpmn:{tag}", NS):
            yield from check_human_task(file, task, roles, root, ids)
    for event in tree.iterfind(".//bpmn:startEvent", NS):
        yield from check_start_form(file, event, root)
    for task in tree.iterfind(".//bpmn:serviceTask", NS):
        yield from check_service_task(file, task, registry)
    for node, kind, text in expressions(tree):
        yield from check_expression(file, node, kind, text)
    for timer in tree.iterfind(".//bpmn:timerEventDefinition", NS):
        event = timer.getparent()
        if timer.find("bpmn:timeDate", NS) is None:
            yield Problem(file, timer.sourceline, event.get("id", "-"),
                          "timers must be timeDate expressions (durations and cycles ignore working days)")
        for tag in ("timeDate", "timeCycle"):
            for expression in timer.iterfind(f"bpmn:{tag}", NS):
                yield from check_timer_value(file, event, tag, expression.text or "")


KNOWN_ROLES = (*LANE_ROLES, CUSTOMER_ROLE)
"""The roles a lane may stand for: a staff group (``runner.accounts.LANE_ROLES``) or the customer (the portal)."""


def check_lane(file: str, lane: Any) -> Iterator[Problem]:
    """A lane's id reads ``lane_<role>`` and the role is one people can hold: a lane of an unknown role (a typo)
    would give its tasks to a group no one is in; nobody would see them."""
    lane_id = lane.get("id", "")
    if not LANE_ID.match(lane_id):
        yield Problem(file, lane.sourceline, lane_id or "-", "lane ids must read lane_<role> (a-z, _)")
        return
    role = lane_id.removeprefix(LANE_PREFIX)
    if role not in KNOWN_ROLES:
        close = difflib.get_close_matches(role, KNOWN_ROLES, n=1)
        hint = f" (did you mean {LANE_PREFIX}{close[0]}?)" if close else ""
        yield Problem(file, lane.sourceline, lane_id,
                      f'lane of unknown role "{role}"{hint}: no user can be in that group, so nobody would see its '
                      f"tasks; a lane id is lane_<role>, the roles are {', '.join(KNOWN_ROLES)}")


def nodes_in_two_lanes(file: str, tree: Any) -> Iterator[Problem]:
    """A flow node listed in two lanes (of the innermost lanes: a lane with child lanes lists their nodes too):
    each belongs to exactly one role."""
    seen: dict[str, Any] = {}
    for lane in tree.iterfind(".//bpmn:lane", NS):
        if lane.find("bpmn:childLaneSet", NS) is not None:
            continue
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            node = (ref.text or "").strip()
            first = seen.setdefault(node, lane)
            if node and first is not lane:
                yield Problem(file, ref.sourceline, node,
                              f"listed in lane {lane.get('id', '-')} and in lane {first.get('id', '-')} (line "
                              f"{first.sourceline}): a step belongs to exactly one lane; remove one flowNodeRef")


ISO_DURATION = re.compile(r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")
DAYS = re.compile(r"P(\d+)D")


def check_timer_value(file: str, event: Any, tag: str, text: str) -> Iterator[Problem]:
    """A timer expression that is a fixed value (a string, a number, an ISO duration such as ``"P5D"`` or a bare
    ``P5D``) compiles, but computes no date/time: the case would fail when it reaches the timer."""
    text = text.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return  # reported as not compiling
    body = tree.body
    if isinstance(body, ast.Name) and ISO_DURATION.fullmatch(body.id):
        said, duration = f"{body.id} is an ISO duration, not a date/time", body.id
    elif isinstance(body, ast.Constant) and isinstance(body.value, str) and ISO_DURATION.fullmatch(body.value):
        said, duration = f"{text} is an ISO duration, not a date/time", body.value
    elif not any(isinstance(node, (ast.Name, ast.Call, ast.Attribute)) for node in ast.walk(tree)):
        said, duration = f"{text[:80]} is a fixed value, not a date/time", ""
        if isinstance(body, ast.Constant) and isinstance(body.value, str):
            try:
                parse_iso(body.value)
                said = f"{text[:80]} is a fixed date, the same for every case"
            except ValueError:
                pass
    else:
        return
    days = DAYS.fullmatch(duration)
    count = days[1] if days else "n"
    yield Problem(file, event.sourceline, event.get("id", "-"),
                  f"{tag} {said}: a {tag} must compute when the timer fires, e.g. "
                  f"working_deadline({count}, timeline[\"accepted\"]) ({count} working days after a date of the case) "
                  f"or add_calendar_days(now(), {count}) ({count} calendar days from when the timer starts)")


def _duration_name(text: str) -> bool:
    """A bare ISO duration (``P3D``): a timer problem (``check_timer_value``), not a name to look up."""
    return ISO_DURATION.fullmatch(text.strip()) is not None


def check_human_task(file: str, task: Any, roles: dict[str, str], root: Path, ids: set[str]) -> Iterator[Problem]:
    """A user task needs a lane and a form whose schema and UI schema exist and are valid."""
    task_id = task.get("id", "-")
    line = task.sourceline
    if task_id not in roles:
        yield Problem(file, line, task_id, "user task lies in no lane (no role may work on it)")
    properties = {
        prop.get("name"): prop.get("value")
        for prop in task.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)
    }
    schema_name = properties.get("formJsonSchemaFilename")
    ui_name = properties.get("formUiSchemaFilename")
    if not schema_name:
        yield Problem(file, line, task_id, "no formJsonSchemaFilename property")
    else:
        yield from check_form_file(file, line, task_id, root / FORMS_DIR / schema_name, schema=True)
    if not ui_name:
        yield Problem(file, line, task_id, "no formUiSchemaFilename property")
    else:
        yield from check_form_file(file, line, task_id, root / FORMS_DIR / ui_name, schema=False)
        if schema_name:
            yield from ui_field_problems(task_id, root / FORMS_DIR / schema_name, root / FORMS_DIR / ui_name)
    four_eyes = properties.get("fourEyesWith")
    if four_eyes and four_eyes not in ids:
        yield Problem(file, line, task_id, f"fourEyesWith names unknown element {four_eyes!r}")


def check_start_form(file: str, event: Any, root: Path) -> Iterator[Problem]:
    """A start event's form (the application ``apply``), when it has one: checked as a user task's is."""
    properties = {prop.get("name"): prop.get("value") for prop in event.iterfind(
        "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
    event_id = event.get("id", "-")
    schema_name, ui_name = properties.get("formJsonSchemaFilename"), properties.get("formUiSchemaFilename")
    if schema_name:
        yield from check_form_file(file, event.sourceline, event_id, root / FORMS_DIR / schema_name, schema=True)
    if ui_name:
        yield from check_form_file(file, event.sourceline, event_id, root / FORMS_DIR / ui_name, schema=False)
    if schema_name and ui_name:
        yield from ui_field_problems(event_id, root / FORMS_DIR / schema_name, root / FORMS_DIR / ui_name)


def check_form_file(file: str, line: int, task_id: str, path: Path, schema: bool) -> Iterator[Problem]:
    if not path.is_file():
        kind = "schema" if schema else "UI schema"
        yield Problem(file, line, task_id, f"form file {path} does not exist: add the form's {kind} there (forms/"
                      f"README.md), or name an existing file in the task's "
                      f"{'formJsonSchemaFilename' if schema else 'formUiSchemaFilename'} property")
        return
    try:
        text = read_utf8(path)
        content = json.loads(text)
    except NotUtf8Error as err:
        yield Problem(str(path), err.line, task_id, err.reason)
        return
    except json.JSONDecodeError as err:
        yield Problem(str(path), err.lineno, task_id, f"invalid JSON: {err.msg}")
        return
    if not isinstance(content, dict):
        yield Problem(str(path), 1, task_id, "a form file must hold a JSON object")
        return
    if schema:
        invalid = schema_error(content, text)
        if invalid is not None:
            yield Problem(str(path), invalid[0], task_id, invalid[1])
        else:
            yield from (Problem(str(path), at, task_id, said) for at, said in unknown_required(content, text))
        for problem in completion_check_problems(content):
            yield Problem(str(path), _line_of(path, COMPLETION_CHECKS), task_id, problem)
        for problem in sample_expression_problems(content):
            yield Problem(str(path), _line_of(path, SAMPLE_EXPRESSION), task_id, problem)


def ui_field_problems(task_id: str, schema_path: Path, ui_path: Path) -> Iterator[Problem]:
    """``ui:order`` entries and UI keys of a task's UI schema naming no field of its form (``runner.
    form_schema_checks``); files that cannot be read are reported on their own."""
    try:
        schema = json.loads(read_utf8(schema_path))
        text = read_utf8(ui_path)
        ui = json.loads(text)
    except (OSError, NotUtf8Error, json.JSONDecodeError):
        return
    if isinstance(schema, dict) and isinstance(ui, dict):
        yield from (Problem(str(ui_path), at, task_id, said) for at, said in unknown_ui_fields(ui, schema, text))


def _line_of(path: Path, text: str) -> int:
    """The line of a file on which ``text`` first appears (1 when it does not)."""
    for number, line in enumerate(read_utf8(path).splitlines(), start=1):
        if text in line:
            return number
    return 1


def check_service_task(file: str, task: Any, registry: HandlerRegistry) -> Iterator[Problem]:
    operator = task.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
    task_id = task.get("id", "-")
    if operator is None:
        yield Problem(file, task.sourceline, task_id, "service task without spiffworkflow:serviceTaskOperator")
    elif operator.get("id") not in registry.names():
        yield Problem(file, operator.sourceline, task_id, f"no handler registered for operator {operator.get('id')!r}")


def expressions(tree: Any) -> Iterator[tuple[Any, str, str]]:
    """Every Python text in a BPMN file: (element it belongs to, 'eval' or 'exec', text)."""
    for cond in tree.iterfind(".//bpmn:conditionExpression", NS):
        yield cond.getparent(), "eval", cond.text or ""
    for script in tree.iterfind(".//bpmn:scriptTask/bpmn:script", NS):
        yield script.getparent(), "exec", script.text or ""
    for tag in ("preScript", "postScript"):
        for script in tree.iterfind(f".//spiffworkflow:{tag}", NS):
            yield script.getparent().getparent(), "exec", script.text or ""
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        for timer in tree.iterfind(f".//bpmn:{tag}", NS):
            yield timer.getparent().getparent(), "eval", timer.text or ""
    for param in tree.iterfind(".//spiffworkflow:parameter", NS):
        yield owner_with_id(param), "eval", param.get("value") or ""
    for tag in ("messagePayload", "payloadExpression"):
        for payload in tree.iterfind(f".//spiffworkflow:{tag}", NS):
            yield owner_with_id(payload), "eval", payload.text or ""


LONE_EQUALS = re.compile(r"(?<![=!<>:])=(?!=)")
FEEL_EQUALS_HINT = "; expressions are Python, not FEEL: compare with == (a single = assigns)"


def _feel_equals(text: str) -> bool:
    """Whether an expression that does not compile would with each lone ``=`` read as ``==``: a comparison
    written as FEEL writes it (``review_plan["decision"] = "approve"``)."""
    if not LONE_EQUALS.search(text):
        return False
    try:
        compile(LONE_EQUALS.sub("==", text.strip()), "<feel>", "eval")
    except SyntaxError:
        return False
    return True


def check_expression(file: str, node: Any, mode: str, text: str) -> Iterator[Problem]:
    element = node.get("id", "-") if node is not None else "-"
    line = node.sourceline if node is not None else 0
    if not text.strip():
        yield Problem(file, line, element, "empty expression")
        return
    try:
        compile(text.strip() if mode == "eval" else text, f"{file}:{element}", mode)
    except SyntaxError as err:
        yield Problem(file, line, element, f"expression does not compile: {err.msg}: {text.strip()[:80]!r}"
                      + (FEEL_EQUALS_HINT if mode == "eval" and _feel_equals(text) else ""))
        return
    if mode == "exec":
        for name in RESERVED_NAMES:
            if re.search(rf"^\s*{name}\s*=", text, re.MULTILINE):
                yield Problem(file, line, element, f"a script may not assign {name!r}: it is a reserved function")


# -- DMN -------------------------------------------------------------------------------------------------------------


DMN_ID_TAGS = ("decision", "decisionTable", "input", "output", "rule", "inputEntry", "outputEntry")
"""The DMN elements SpiffWorkflow's parser reads by their ``id`` (a missing one fails the parse with a bare
``KeyError('id')``, reported at no line)."""


def check_dmn(path: Path, tree: Any, known_names: set[str] | None = None,
              produced: dict[str, ColumnValues] | None = None, whole_days: set[str] | None = None
              ) -> Iterator[Problem]:
    """Every input expression, input entry and output entry of every decision table compiles; output entries fit
    their columns; string literals of input entries are values their column can have; a UNIQUE table has no two
    rules with the same input entries. ``known_names``: every name the case data could hold (None: do not judge
    bare names); ``produced``: the values of the names only decision tables set (None: judge only declared
    ``inputValues``); ``whole_days``: output names used as a number of working days (whole numbers only)."""
    file = str(path)
    namespace = tree.getroot().nsmap.get(None) or tree.getroot().nsmap.get("dmn")
    if namespace not in DMN_NAMESPACES:
        yield Problem(file, 1, "-", f"unknown DMN namespace {namespace!r}")
        return
    ns = {"dmn": namespace}
    for tag in DMN_ID_TAGS:
        for element in tree.iterfind(f".//dmn:{tag}", ns):
            if not element.get("id"):
                owner = owner_with_id(element)
                yield Problem(file, element.sourceline, owner.get("id", "-") if owner is not None else "-",
                              f"{tag} without an id: the engine reads every {tag} by its id; give it one, unique "
                              "in the file")
    for table in tree.iterfind(".//dmn:decisionTable", ns):
        table_id = table.getparent().get("id", "-")
        for expression in table.iterfind("dmn:input/dmn:inputExpression/dmn:text", ns):
            yield from check_expression(file, expression, "eval", expression.text or "")
        outputs = table.findall("dmn:output", ns)
        for rule in table.iterfind("dmn:rule", ns):
            rule_id = rule.get("id", table_id)
            for entry in rule.iterfind("dmn:inputEntry/dmn:text", ns):
                text = (entry.text or "").strip()
                if text and text != "-" and not _input_entry_compiles(text):
                    yield Problem(file, entry.sourceline, rule_id, f"input entry does not compile: {text[:80]!r}"
                                  f"{feel_range_hint(text)}")
            for index, output_entry in enumerate(rule.iterfind("dmn:outputEntry", ns)):
                entry = output_entry.find("dmn:text", ns)
                if entry is None:
                    continue
                text = (entry.text or "").strip()
                if text and text != "-" and not _compiles(text):
                    yield Problem(file, entry.sourceline, rule_id,
                                  f"output entry {output_entry.get('id', '?')} does not compile: {text[:80]!r}")
                if index < len(outputs):
                    yield from check_output_entry(file, rule_id, entry, outputs[index], known_names, whole_days)
        yield from unsupported_hit_policy(file, table)
        yield from unknown_input_literals(file, table, produced)
        yield from duplicate_rules(file, table)


def _compiles(text: str) -> bool:
    try:
        compile(text, "<dmn>", "eval")
        return True
    except SyntaxError:
        return False


def _input_entry_compiles(text: str) -> bool:
    """As SpiffWorkflow's DMN engine reads a cell: a value, ``< 10``-style tests, or ``?`` placeholders."""
    candidates = [text, f"v {text}", text.replace("?", "v")]
    for candidate in candidates:
        try:
            compile(candidate, "<dmn>", "eval")
            return True
        except SyntaxError:
            continue
    return False


# -- samples ---------------------------------------------------------------------------------------------------------


def sample_file_problem(path: Path) -> Problem | None:
    """A sample application that is no start data a trial could begin with: not UTF-8 text (it is stored with the
    version), not a JSON object, or without an ``applied_at`` time (the trial's clock starts there)."""
    try:
        text = read_utf8(path)
    except NotUtf8Error as err:
        return Problem(str(path), err.line, "-", err.reason)
    try:
        sample = json.loads(text)
    except json.JSONDecodeError as err:
        return Problem(str(path), err.lineno, "-", f"invalid JSON: {err.msg}")
    if not isinstance(sample, dict):
        return Problem(str(path), 1, "-", "a sample must hold a JSON object (the start data of a case)")
    applied_at = sample.get("applied_at")
    try:
        parse_iso(applied_at if isinstance(applied_at, str) else "")
    except ValueError:
        line = _key_line(text, "applied_at")
        said = "no applied_at" if line == 1 and "applied_at" not in sample else f"applied_at {applied_at!r}"
        return Problem(str(path), line, "-", f"{said}: a sample needs the time its case is applied for, ISO 8601 "
                                             '(e.g. "2026-11-26T09:30:00+08:00")')
    return None


def sample_problems(bundle: ProcessBundle, samples: list[Path], bpmn_trees: dict[Path, Any],
                    dmn_trees: dict[Path, Any]) -> list[Problem]:
    """Each sample application run through the process in memory as ``baozhuang try`` runs it (``runner.trial``:
    virtual clock, every task answered with its form's defaults); one that fails is a problem at the element that
    failed, named ``sample <name>``, or at the decision table's rule (its DMN file) when a decision failed."""
    if not samples:
        return []
    elements: dict[str, tuple[Path, Any]] = {}
    for path, tree in bpmn_trees.items():
        for element in tree.iter(f"{{{BPMN_NS}}}*"):
            if element.get("id"):
                elements.setdefault(element.get("id"), (path, element))
    decisions = {decision.get("id"): (path, decision) for path, tree in dmn_trees.items()
                 for decision in tree.iter("{*}decision")}
    problems = []
    for sample in samples:
        driver: TrialDriver | None = None
        try:
            driver = TrialDriver(bundle, TrialOptions(category=sample.stem))
            driver.run()
        except TrialError as err:
            problems.append(_failed_sample(sample, driver, err, elements, decisions) if driver is not None
                            else Problem(str(sample), 1, "-", f"sample {sample.stem}: {err}"))
        except Exception as err:  # a sample the trial cannot drive is the sample's problem, never a traceback
            message = f"sample {sample.stem}: the trial failed: {type(err).__name__}: {err}"
            failed = _failing_element(err)
            if failed in elements:
                path, element = elements[failed]
                problems.append(Problem(str(path), element.sourceline, failed, message))
            else:
                problems.append(Problem(str(sample), 1, "-", message))
    return merge_samples(problems)


def _failing_element(err: BaseException) -> str | None:
    """The BPMN element whose task was being worked on, innermost first, where an unexpected exception was raised
    (a SpiffWorkflow spec method's ``my_task``, an engine exception's ``task``)."""
    found = getattr(getattr(getattr(err, "task", None), "task_spec", None), "bpmn_id", None)
    trace = err.__traceback__
    while trace is not None:
        task = trace.tb_frame.f_locals.get("my_task")
        found = getattr(getattr(task, "task_spec", None), "bpmn_id", None) or found
        trace = trace.tb_next
    return found


def _failed_sample(sample: Path, driver: TrialDriver, err: TrialError, elements: dict[str, tuple[Path, Any]],
                   decisions: dict[str, tuple[Path, Any]]) -> Problem:
    """Where and why a sample's trial stopped."""
    said = f"sample {sample.stem}"
    failures = driver.case.failures
    cause = err.__cause__
    if failures:
        at_decision = _failed_decision(driver, failures[0], said, decisions)
        if at_decision is not None:
            return at_decision
        message = failures[0].message
    elif err.element_id and isinstance(cause, FormValidationError):
        message = f"the form's default answer does not fit the form: {cause}"
    elif err.element_id and cause is not None:
        message = str(cause)
    elif isinstance(cause, FormValidationError):  # the start data: at the field, else the object that lacks it
        text = read_utf8(sample)
        keys = (cause.errors[0][0] if cause.errors else "").split(".")
        line = next((found for key in reversed(keys) if (found := _key_line(text, key)) > 1), 1)
        return Problem(str(sample), line, "-", f"{said}: {cause}")
    else:
        message = str(err)
    if err.element_id in elements:
        path, element = elements[err.element_id]
        return Problem(str(path), element.sourceline, err.element_id, f"{said}: {message}")
    return Problem(str(sample), 1, err.element_id or "-", f"{said}: {message}")


def _failed_decision(driver: TrialDriver, failure: ServiceFailure, said: str,
                     decisions: dict[str, tuple[Path, Any]]) -> Problem | None:
    """A business rule task whose table matched no rule, or several under UNIQUE: at the first matching rule's line
    (the decision's, when none matches) of its DMN file."""
    try:
        task = driver.case.workflow.get_task_from_id(UUID(failure.task_id))
    except (ValueError, TaskNotFoundException):
        return None
    engine = getattr(getattr(task, "task_spec", None), "dmnEngine", None)
    if not isinstance(engine, CaseDecisionEngine) or engine.decision_id not in decisions:
        return None
    path, decision = decisions[engine.decision_id]
    try:
        matched = [rule.id for rule in engine.matching_rules(task)]
    except Exception:  # an input entry that fails to evaluate: at its input expression when that is what fails
        input_failure = failing_input(task, engine, decision)
        if input_failure is not None:
            line, element, message = input_failure
            return Problem(str(path), line, element, f"{said}: {message}")
        matched = []
    rules = {rule.get("id"): rule for rule in decision.iter("{*}rule")}
    line = rules[matched[0]].sourceline if matched and matched[0] in rules else decision.sourceline
    message = failure.message.removeprefix(f"{engine.file}: ") if engine.file else failure.message
    return Problem(str(path), line, failure.element_id, f"{said}: {message}")


def _key_line(text: str, key: str) -> int:
    """The line of the first ``"key":`` of a JSON text; 1 if there is none."""
    found = re.search(rf'"{re.escape(key)}"\s*:', text) if key else None
    return text.count("\n", 0, found.start()) + 1 if found else 1
