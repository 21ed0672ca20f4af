"""Simulation for process owners (and administrators): stored runs, the new-run form, live progress, the report.

Views stay thin: ``runner.simulation.run_request`` checks the form and builds the run's parameters,
``runner.simulation.runs`` stores them; a worker (``baozhuang worker``) runs them in the background. The page polls
``status.json`` (``static/simulation.js``) and, once the run is done, draws the charts (Chart.js from
``node_modules``, ``/static/vendor/chart.umd.min.js``) and the waiting-time heatmap on the diagram (bpmn-js) from
``result.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from runner.simulation import run_processes, run_request, runs

from ..errors.handlers import page
from ..extensions import runtime, session
from ..i18n import _, _l
from ..labels import GROUP_LABELS
from ..security import require_account, staff_required
from . import vendor
from .report import build_report

bp = Blueprint("simulation", __name__, url_prefix="/simulation")
OWNERS = ("process_owner", "admin")
DEFAULT_TEMPLATE = "today"
DEFAULT_REPLICATIONS = 3

REGIME_LABELS = {"statute": _l("法定时限（供电监管办法）"), "sgcc_commitment": _l("国网服务承诺"),
                 "sgcc_internal": _l("国网内部考核"), "csg": _l("南方电网")}
RUN_FIELD_LABELS = {"start": _l("开始日期"), "cases": _l("案件数"), "horizon_days": _l("申请到达时段（天）"),
                    "regime": _l("时限口径"), "seed": _l("随机种子")}
RUN_STATUS_LABELS = {"queued": _l("排队中"), "running": _l("运行中"), "done": _l("已完成"), "failed": _l("失败"),
                     "cancelled": _l("已取消")}
PROBLEM_TEXTS = {"required": _l("请填写此项。"), "integer": _l("请输入整数。"), "number": _l("请输入数字。"),
                 "date": _l("请输入日期（如 2026-12-01）。"), "choice": _l("请从列表中选择。"),
                 "range": _l("超出允许范围：")}


@bp.errorhandler(runs.RunNotFound)
def run_not_found(err: runs.RunNotFound) -> ResponseReturnValue:
    return page(404, _("未找到"), _("该仿真不存在。"))


def problem_text(problem: run_request.Problem) -> str:
    """A problem as the person reads it: our words for the form's own checks, the validator's for the scenario."""
    text = PROBLEM_TEXTS.get(problem.code)
    if text is None:
        return problem.detail
    return f"{text}{problem.detail}" if problem.code == "range" else str(text)


def _element_names() -> dict[str, str]:
    try:
        return run_processes.element_names(run_processes.main_diagram(run_processes.PROCESSES))
    except OSError:
        return {}


def _form_page(form: dict[str, str], template: str, templates: dict[str, dict[str, Any]],
               problems: list[run_request.Problem] | None = None, status: int = 200) -> ResponseReturnValue:
    scenario = templates.get(template, {})
    grouped: dict[str, list[str]] = {}
    for problem in problems or []:
        grouped.setdefault(problem.path, []).append(problem_text(problem))
    fields = run_request.form_fields(scenario)
    known = {spec.path for spec in fields} | {f"variant.pools.{pool}.count" for pool in scenario.get("pools", {})}
    known |= {"name", "template", "base_process", "variant_process", "replications"}
    elsewhere = [(path, text) for path, texts in grouped.items()
                 if path not in known and not path.startswith(("scenario_raw", "variant_raw")) for text in texts]
    raw_problems: dict[str, list[tuple[str, str]]] = {"scenario_raw": [], "variant_raw": []}
    for path, texts in grouped.items():
        editor, _sep, key = path.partition(":")
        if editor in raw_problems:
            raw_problems[editor].extend((key or "(root)", text) for text in texts)
    return render_template(
        "simulation/new.html", raw_problems=raw_problems, form=form, template=template, templates=sorted(templates),
        fields=fields, pools=list(scenario.get("pools", {})), choices=run_processes.process_choices(session()),
        problems=grouped, other_problems=elsewhere, regimes=REGIME_LABELS, run_field_labels=RUN_FIELD_LABELS,
        element_names=_element_names(), max_replications=run_request.MAX_REPLICATIONS), status


def _initial_form(template: str, scenario: dict[str, Any]) -> dict[str, str]:
    form = {spec.path: "" if spec.value is None else str(spec.value)
            for spec in run_request.form_fields(scenario)}
    form.update(name=str(scenario.get("name", template)), template=template,
                base_process=run_request.template_process(template),
                variant_process="", replications=str(DEFAULT_REPLICATIONS), mode="form",
                scenario_raw=json.dumps(scenario, ensure_ascii=False, indent=2), variant_raw="")
    return form


@bp.get("/")
@staff_required(*OWNERS)
def index() -> ResponseReturnValue:
    return render_template("simulation/index.html", runs=runs.list_runs(session()), status_labels=RUN_STATUS_LABELS)


@bp.get("/new")
@staff_required(*OWNERS)
def new() -> ResponseReturnValue:
    templates = run_request.scenario_templates()
    template = request.args.get("template") or (DEFAULT_TEMPLATE if DEFAULT_TEMPLATE in templates else
                                                next(iter(sorted(templates)), ""))
    if templates and template not in templates:
        abort(404)
    return _form_page(_initial_form(template, templates.get(template, {})), template, templates)


@bp.post("/new")
@staff_required(*OWNERS)
def create() -> ResponseReturnValue:
    account = require_account()
    templates = run_request.scenario_templates()
    form = {key: value for key, value in request.form.items() if key != "csrf_token"}
    try:
        checked = run_request.build_request(session(), form, templates)
    except run_request.RequestProblems as err:
        return _form_page(form, form.get("template", ""), templates, err.problems, 400)
    run_id = runs.create_run(session(), name=checked.name, created_by=account.username, params=checked.params,
                             now=runtime().clock.now())
    session().commit()
    return redirect(url_for("simulation.detail", run_id=run_id))


@bp.get("/<int:run_id>")
@staff_required(*OWNERS)
def detail(run_id: int) -> ResponseReturnValue:
    run = runs.get_run(session(), run_id)
    side = request.args.get("side", "base")
    if side not in ("base", "variant") or (side == "variant" and not (run.params or {}).get("variant")):
        abort(404)
    report = build_report(run.result, str(get_locale()), side) if run.status == "done" and run.result else None
    pool_labels = {code: str(text) for code, text in GROUP_LABELS.items()}
    return render_template("simulation/run.html", run=run, report=report, status_labels=RUN_STATUS_LABELS,
                           regimes=REGIME_LABELS, pool_labels=pool_labels, process_label=run_processes.describe,
                           side=side)


@bp.post("/<int:run_id>/cancel")
@staff_required(*OWNERS)
def cancel(run_id: int) -> ResponseReturnValue:
    account = require_account()
    if runs.cancel(session(), run_id, by=account.username, now=runtime().clock.now()):
        session().commit()
        flash(_("仿真已取消。"), "success")
    else:
        flash(_("该仿真已结束，无法取消。"), "error")
    return redirect(url_for("simulation.detail", run_id=run_id))


@bp.get("/<int:run_id>/status.json")
@staff_required(*OWNERS)
def status(run_id: int) -> ResponseReturnValue:
    run = runs.get_run(session(), run_id)
    response = jsonify(id=run.id, status=run.status, progress=run.progress, error=run.error,
                       status_label=str(RUN_STATUS_LABELS.get(run.status, run.status)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:run_id>/result.json")
@staff_required(*OWNERS)
def result(run_id: int) -> ResponseReturnValue:
    run = runs.get_run(session(), run_id)
    if run.status != "done" or run.result is None:
        return jsonify(error="not finished", status=run.status), 409
    return jsonify(run.result)


@bp.get("/<int:run_id>/diagram.bpmn")
@staff_required(*OWNERS)
def diagram(run_id: int) -> ResponseReturnValue:
    """The main BPMN the run simulated (``?side=variant`` for the variant's)."""
    run = runs.get_run(session(), run_id)
    side = "variant" if request.args.get("side") == "variant" else "base"
    folder = Path(run.output_dir or "") / f"{side}_process"
    if not run.output_dir or not (folder / run_processes.MAIN_PROCESS_FILE).is_file():
        abort(404)
    return Response(run_processes.main_diagram(folder), mimetype="application/xml",
                    headers={"Cache-Control": "private, max-age=300"})


@bp.get("/scenario.schema.json")
def schema() -> ResponseReturnValue:
    """The published scenario schema (JSON Schema 2020-12): public, like any published format."""
    return Response(run_request.SCHEMA_PATH.read_bytes(), mimetype="application/schema+json",
                    headers={"Cache-Control": "public, max-age=300"})


def _register_vendor(state: BlueprintSetupState) -> None:
    vendor.register(state)


bp.record_once(_register_vendor)
