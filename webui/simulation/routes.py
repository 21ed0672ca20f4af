"""Simulation for process owners (and administrators): stored runs, the new-run form, live progress, the report.

Views stay thin: ``runner.simulation.run_request`` checks the form and builds the run's parameters,
``runner.simulation.runs`` stores them; a worker (``baozhuang worker``) runs them in the background. The page polls
``status.json`` (``static/simulation.js``) and, once the run is done, draws the charts (Chart.js from
``node_modules``, ``/static/vendor/chart.umd.min.js``) and the waiting-time heatmap on the diagram (bpmn-js) from
``result.json``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any, cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from werkzeug.exceptions import HTTPException

from runner.accounts import LANE_ROLES
from runner.models import row_id
from runner.simulation import run_processes, run_request, run_worker, runs

from ..errors.handlers import page
from ..extensions import db, runtime, session
from ..i18n import _, _l
from ..labels import CATEGORY_LABELS, GROUP_LABELS, REGIME_LABELS, label
from ..security import require_account, staff_required
from . import vendor
from .form import (
    DISTRIBUTION_LABELS,
    PARAMETER_LABELS,
    comparison_form,
    kept_on_load,
    placed_problems,
    template_choices,
    template_parent,
    template_text,
    unshown_lines,
)
from .report import build_report

bp = Blueprint("simulation", __name__, url_prefix="/simulation")
OWNERS = ("process_owner", "analyst", "admin")
"""Who simulates: process owners, and the analysts who change the model (to try a change before deploying it)."""
DEFAULT_TEMPLATE = "today"
DISCARD_FIELD = "discard_unshown"
"""The checkbox of a rerun's form mode: 我知道这些设置将被丢弃 (the settings of the run the form cannot hold)."""
DEFAULT_REPLICATIONS = 10
"""Enough paired replications for readable intervals (with 3 a what-if's verdicts flip from run to run); the
template's ≈ 220 cases a replication take about half a minute of the worker for 10 (a minute when compared)."""

RUN_FIELD_LABELS = {"start": _l("开始日期"), "cases": _l("案件数"), "horizon_days": _l("申请到达时段（天）"),
                    "regime": _l("时限口径"), "seed": _l("随机种子")}
RUN_STATUS_LABELS = {"queued": _l("排队中"), "running": _l("运行中"), "done": _l("已完成"), "failed": _l("失败"),
                     "cancelled": _l("已取消")}
PROBLEM_TEXTS = {"required": _l("请填写此项。"), "integer": _l("请输入整数。"), "number": _l("请输入数字。"),
                 "finite": _l("请输入有限的数字（不能是 nan 或 inf）。"), "date": _l("请输入日期（如 2026-12-01）。"),
                 "choice": _l("请从列表中选择。"), "range": _l("超出允许范围："), "missing": _l("缺少此项。"),
                 "extends": _l("高级编辑器不支持 extends：要与现状对比一个假设场景，请在上方“从场景模板开始”中载入它"
                               "（自动以它继承的模板为基准方案、它本身为对比方案）；否则请填写完整场景。"),
                 "working_days": _l("请至少填写一个工作日（mon、tue、wed、thu、fri、sat、sun），或填写 cn（法定工作日）"
                                    "或 all（每天）。"),
                 "variant_without_process": _l("填写了对比方案，但未选择对比方案的流程：请选择对比方案的流程"
                                               "（可与基准流程相同），或清空对比方案。"),
                 "not_mapping": _l("场景应为键值映射（JSON 对象，或每行“键: 值”的 YAML），如 name: 方案一。"),
                 "one_rate": _l("每个申请类别须填写且只填写以下一项：每工作日（per_working_day）、每日（per_day）"
                                "或到达间隔（interarrival_hours）。"),
                 "empty": _l("不能为空。"), "unique_items": _l("不能有重复项。")}
"""Problems worded without numbers (``range`` is followed by the allowed range)."""
PROBLEM_FORMATS = {
    "minimum": _l("不能小于 %(limit)s。"), "maximum": _l("不能大于 %(limit)s。"),
    "exclusive_minimum": _l("必须大于 %(limit)s。"), "exclusive_maximum": _l("必须小于 %(limit)s。"),
    "type": _l("应为%(limit)s。"), "enum": _l("应为以下之一：%(limit)s。"), "unknown_key": _l("未知的键 %(key)s。"),
    "template": _l("未知的场景模板“%(name)s”：请重新载入模板后再提交。"),
    "too_deep": _l("场景的嵌套层数过多（最多 %(limit)s 层）：请检查括号是否成对。"),
    "too_many_cases": _l("案件数不能超过 %(limit)s。"), "days": _l("不能超过 %(limit)s 天。"),
    "expected_cases": _l("按此到达时段与到达率，每次重复约有 %(expected)s 个案件，超过上限 %(limit)s："
                         "请缩短到达时段、降低到达率，或填写案件数。"),
    "workload": _l("案件数 × 重复次数 × 方案数（%(sides)s）约为 %(total)s，超过上限 %(limit)s："
                   "请减少案件数或重复次数。"),
    "no_arrivals": _l("按到达日历，%(start)s 至 %(end)s 没有可受理申请的日子（节假日、周末）：不会有申请到达，"
                      "报告将为空。请调整开始日期，或延长申请到达时段。"),
    "start_range": _l("开始日期应在 %(low)s 至 %(high)s 之间（节假日数据覆盖的年份前后）。"),
    "schema": _l("不符合场景模式：%(detail)s"),
    "scenario": _l("场景不成立：%(detail)s"), "engine": _l("场景与流程不符：%(detail)s"),
    "process": _l("流程文件有误：%(detail)s"),
    "min_items": _l("至少须有 %(limit)s 项。"),
    "pool_name": _l("岗位代码 %(key)s 无效：只能由英文字母、数字和下划线组成，且以字母开头（如 surveyor）。"),
    "time_range": _l("格式应为 HH:MM-HH:MM（如 08:30-12:00），现为 %(got)s。"),
    "discard_unshown": _l("以表单方式提交将丢弃该次仿真中表单无法显示的 %(n)s 项设置（见上方列表）。要按表单内容"
                          "运行，请勾选“我知道这些设置将被丢弃，按表单内容运行”；要保留这些设置，请改用“高级”"
                          "编辑方式提交。")}
"""Problems worded with their values (``limit``, ``key`` …; ``detail``: the validator's or engine's own words)."""
TYPE_LABELS = {"integer": _l("整数"), "number": _l("数字"), "string": _l("文本"), "object": _l("键值映射"),
               "array": _l("列表"), "boolean": _l("true 或 false")}
TRIANGULAR = re.compile(r"^triangular needs low <= mode <= high$")
ENGINE_TEXTS = (
    # a negative value worded alike whether the parameter must be above 0 or may be 0 (lognormal or exponential)
    (re.compile(r"^(?:a fixed value|(?P<key>\w+)) must be >=? 0, got (?P<got>-.+)$"),
     _l("%(key)s不能为负数（现为 %(got)s）。")),
    (re.compile(r"^(?:a fixed value|(?P<key>\w+)) must be > 0, got (?P<got>.+)$"),
     _l("%(key)s必须大于 0（现为 %(got)s）。")),
    (re.compile(r"^(?:a fixed value|(?P<key>\w+)) must be >= 0, got (?P<got>.+)$"),
     _l("%(key)s不能小于 0（现为 %(got)s）。")),
    (re.compile(r"^must be a number, got (?P<got>.+)$"), _l("请输入数字（现为 %(got)s）。")),
    (re.compile(r"^give horizon_days"), _l("请填写申请到达时段（天）或案件数，或两项都填。")),
    (re.compile(r"^every arrival rate is 0"),
     _l("所有类别的到达率都为 0，不会有申请到达：请至少给一个类别填写大于 0 的到达率。")),
    (re.compile(r"^no pool for lane role '(?P<role>[^']*)' \(task (?P<task>[^)]+)\)$"),
     _l("流程中岗位 %(role)s 的环节（%(task)s）没有人员配置：请在 pools 中加上该岗位。")),
    (re.compile(r"^no lane with role '(?P<role>[^']*)' in the process \(staff lanes: (?P<lanes>.*)\)$"),
     _l("流程中没有岗位 %(role)s（流程的岗位：%(lanes)s）。")),
    (re.compile(r"^(?P<element>\S+) needs another person than (?P<partner>\S+) \(four-eyes\)$"),
     _l("%(element)s 须由办理 %(partner)s 以外的人办理（四眼原则）：此岗位至少需要 2 人。")),
    (re.compile(r"^not a staff task of the process$"), _l("流程中没有这个人工办理环节。")),
    (re.compile(r"^shift '(?P<shift>[^']*)': (?P<time>\d\d:\d\d) is out of range"),
     _l("班次 %(shift)s 中的 %(time)s 超出范围：小时为 00–23，分钟为 00–59，24:00 只能作为结束时间。")),
    (re.compile(r"^shift '(?P<shift>[^']*)' is not HH:MM-HH:MM$"),
     _l("班次 %(shift)s 的格式应为 HH:MM-HH:MM（如 08:30-12:00）。")),
    (re.compile(r"^working_days needs at least one weekday"), PROBLEM_TEXTS["working_days"]),
    (re.compile(r"^unknown category '(?P<category>[^']*)'; known: (?P<categories>.*?) \(the sample applications"),
     _l("未知的申请类别 %(category)s：已知的类别为 %(categories)s（每个类别须有一份样例申请）。")),
    (re.compile(r"^no sample application (?P<sample>[^ ]+)\.json in .*; known: (?P<categories>.*)$"),
     _l("没有样例申请 %(sample)s：已有的样例为 %(categories)s。")),
    (re.compile(r"^unknown parameter '(?P<parameter>[^']*)' for (?P<kind>\w+); allowed: (?P<allowed>.*)$"),
     _l("%(kind)s没有参数 %(parameter)s：可用的参数为 %(allowed)s。")),
    (re.compile(r"^(?P<kind>\w+) needs '(?P<parameter>[^']*)'$"), _l("%(kind)s须填写%(parameter)s。")),
    (re.compile(r"^unknown distribution '?(?P<kind>.+?)'?; one of (?P<allowed>.*)$"),
     _l("未知的分布 %(kind)s：可用的分布为 %(allowed)s。")),
    (re.compile(r"^high (?P<high>\S+) is below low (?P<low>\S+)$"),
     _l("均匀分布的上限（%(high)s）不能小于下限（%(low)s）。")),
    (re.compile(r"^max (?P<high>\S+) is below min (?P<low>\S+)$"),
     _l("最大值（%(high)s）不能小于最小值（%(low)s）。")),
    (TRIANGULAR,
     _l("三角分布须满足 下限 ≤ 众数 ≤ 上限（现为下限 %(low)s、众数 %(mode)s、上限 %(high)s）。")),
    (re.compile(r"^gamma needs either mean \+ sd or shape \+ scale$"),
     _l("伽马分布（gamma）须填写平均（mean）与标准差（sd），或形状参数（shape）与尺度参数（scale），二者选一。")),
    # the schema validator's words, from the engine's own reading (an answer's weight …)
    (re.compile(r"^(?P<got>\S+) is less than or equal to the minimum of (?P<limit>\S+)$"),
     _l("必须大于 %(limit)s（现为 %(got)s）。")),
    (re.compile(r"^(?P<got>\S+) is less than the minimum of (?P<limit>\S+)$"),
     _l("不能小于 %(limit)s（现为 %(got)s）。")),
    (re.compile(r"^(?P<got>\S+) is greater than the maximum of (?P<limit>\S+)$"),
     _l("不能大于 %(limit)s（现为 %(got)s）。")),
    (re.compile(r"^extends works in scenario files only"), PROBLEM_TEXTS["extends"]),
)
"""The engine's most common refusals in the reader's language, each setting by its name (平均, 均匀分布的上限) and
its key where the person types one (伽马分布（gamma）须填写平均（mean）…); any other keeps the engine's words."""
TRIANGULAR_TEXT = _l("三角分布须满足 下限 ≤ 众数 ≤ 上限。")
"""The triangular's refusal when its values are not known (a problem found outside the web form's scenario)."""
SYNTAX_TEXTS = (
    (re.compile(r"end of stream|'<stream end>'"), _l("内容在此意外结束：括号、引号或列表是否未闭合？")),
    (re.compile(r"^mapping values are not allowed here"),
     _l("此处不能出现“键: 值”：请检查缩进，或给含冒号的文字加引号。")),
    (re.compile(r"^could not find expected ':'"), _l("缺少冒号“:”。")),
    (re.compile(r"^found character '\\t' that cannot start any token"), _l("不能用制表符（Tab）缩进，请改用空格。")),
    (re.compile(r"^expected ',' or '\}'"), _l("缺少逗号“,”或右花括号“}”。")),
    (re.compile(r"^expected ',' or '\]'"), _l("缺少逗号“,”或右方括号“]”。")),
    (re.compile(r"^did not find expected (?:key|'-' indicator)|^expected <block end>"),
     _l("缩进不一致：同一层的键须对齐。")),
    (re.compile(r"^did not find expected node content|^expected the node content"), _l("缺少值。")),
    (re.compile(r"^found unknown escape character"), _l("引号内有无法识别的转义字符（\\ 后的字符）。")),
    (re.compile(r"^found undefined alias"), _l("引用了未定义的锚点（*…）。")),
)
"""The YAML/JSON reader's common complaints in the reader's language; any other keeps the reader's words."""
STALLED_TEXT = _l("等待后台服务接手：运行此仿真的后台服务已停止响应，将由另一个后台服务从头重新运行"
                  "（进度从 0% 开始）。")
log = logging.getLogger(__name__)
admin_log = logging.getLogger("baozhuang.admin")  # the trail of who changed what (runner.logging_setup)


@bp.errorhandler(runs.RunNotFound)
def run_not_found(err: runs.RunNotFound) -> ResponseReturnValue:
    return page(404, _("未找到"), _("该仿真不存在（可能已被删除）。"),
                back=(url_for("simulation.index"), _("返回流程仿真")))


def problem_text(problem: run_request.Problem) -> str:
    """A problem as the person reads it, in the page's language: the form's and the schema's checks in our words,
    the engine's common refusals too, any other with the validator's or engine's own words after ours."""
    text = PROBLEM_TEXTS.get(problem.code)
    if text is not None:
        return f"{text}{problem.detail}" if problem.code == "range" else str(text)
    if problem.code in ("scenario", "engine"):
        known = _engine_text(problem.detail, problem.values)
        if known is not None:
            return known
    if problem.code == "syntax":
        return _syntax_text(problem)
    template = PROBLEM_FORMATS.get(problem.code)
    if template is None:
        return problem.detail
    values = {key: _shown(value) for key, value in problem.values.items()}
    return str(template) % {"detail": problem.detail, "limit": "", "key": "", **values}


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return str(_("或")).join(_shown(item) for item in value)
    if isinstance(value, str) and value in TYPE_LABELS:
        return str(TYPE_LABELS[value])
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str | int | float) else str(value)


def _syntax_text(problem: run_request.Problem) -> str:
    """A YAML/JSON syntax problem of the editor: where (line and column) and what, in the page's language."""
    words = str(problem.values.get("problem") or problem.detail)
    what = next((str(text) for pattern, text in SYNTAX_TEXTS if pattern.search(words)), None)
    what = what or _("无法读取：%(detail)s", detail=words)
    if "line" in problem.values:
        return _("语法错误：第 %(line)s 行第 %(column)s 列：%(what)s", line=problem.values["line"],
                 column=problem.values["column"], what=what)
    return _("语法错误：%(what)s", what=what)


def _engine_text(detail: str, numbers: Mapping[str, Any] | None = None) -> str | None:
    """The engine's refusal ``detail`` in the reader's words; ``numbers``: the distribution's values, for a refusal
    about how they fit together (a triangular's low ≤ mode ≤ high)."""
    for pattern, text in ENGINE_TEXTS:
        match = pattern.match(detail)
        if match is not None:
            values = {key: value or "" for key, value in match.groupdict().items()}
            if "key" in values:  # the parameter by its label (平均, not mean); a plain number is a fixed value
                values["key"] = str(PARAMETER_LABELS.get(values["key"] or "value", values["key"]))
            for key in ("got", "limit", "high", "low"):  # the value as typed: -4, not the engine's -4.0
                if key in values:
                    values[key] = _number_text(values[key])
            if "kind" in values:  # the distribution by its name, with its key: 三角分布（triangular）
                values["kind"] = _named(DISTRIBUTION_LABELS, values["kind"])
            if "parameter" in values:
                values["parameter"] = _named(PARAMETER_LABELS, values["parameter"])
            if "allowed" in values:  # the parameters or kinds to choose from, likewise (not the kind's own key)
                table = PARAMETER_LABELS if "parameter" in values else DISTRIBUTION_LABELS
                values["allowed"] = str(_("、")).join(_named(table, part.strip()) for part in values[
                    "allowed"].split(",") if part.strip() and part.strip() != "distribution")
            if "categories" in values:  # the categories with their names: lv_residential（低压居民）
                values["categories"] = str(_("、")).join(_category(part.strip()) for part in values[
                    "categories"].split(",") if part.strip())
            if "lanes" in values:  # the staff lanes by their names: the customer's lane has no pool
                values["lanes"] = str(_("、")).join(str(label(GROUP_LABELS, lane)) for lane in (
                    part.strip() for part in values["lanes"].split(",")) if lane and lane != "customer")
            if pattern is TRIANGULAR:  # with its values when known (the web form's scenario gives them)
                values = {key: _number_text(str(value)) for key, value in (numbers or {}).items()}
                if not {"low", "mode", "high"} <= values.keys():
                    return str(TRIANGULAR_TEXT)
            return str(text) % values if values else str(text)
    return None


def _named(table: Mapping[str, Any], key: str) -> str:
    """A key by its name with the key itself (平均（mean）), or as it is when no name is known."""
    return _("%(label)s（%(key)s）", label=table[key], key=key) if key in table else key


def _number_text(text: str) -> str:
    """A number as the person typed it (``-4.0`` → ``-4``); anything else as it is."""
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else text


def _category(code: str) -> str:
    name = CATEGORY_LABELS.get(code)
    return _("%(code)s（%(name)s）", code=code, name=name) if name is not None else code


def json_errors(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """A JSON endpoint answers every failure in JSON (``{"error": …}`` with its status), never an HTML page: the
    page's script (and any other program) reads it. Put outside ``staff_required`` so that its 403 is JSON too."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            return view(*args, **kwargs)
        except runs.RunNotFound:
            return jsonify(error=_("该仿真不存在。")), 404
        except HTTPException as err:
            return jsonify(error=err.description or err.name), err.code or 500
        except Exception:
            log.exception("simulation JSON endpoint %s failed", request.path)
            db.session.rollback()
            return jsonify(error=_("服务器内部错误")), 500

    return wrapped


def _element_names() -> dict[str, str]:
    try:
        return run_processes.element_names(run_processes.main_diagram(run_processes.PROCESSES))
    except OSError:
        return {}


def _process_choices() -> list[run_processes.ProcessChoice]:
    """The processes the form offers, read once per request (the page and its defaults both use them; reading them
    hashes the ``processes/`` folder)."""
    if "simulation_process_choices" not in g:
        g.simulation_process_choices = run_processes.process_choices(session())
    return cast(list[run_processes.ProcessChoice], g.simulation_process_choices)


def _form_page(form: dict[str, str], template: str, templates: dict[str, dict[str, Any]],
               problems: list[run_request.Problem] | None = None, status: int = 200,
               unshown: list[run_request.Unshown] | None = None) -> ResponseReturnValue:
    """The form; with problems, each at its field and all of them, by the fields' labels, in the summary on top.
    A form started from a stored run (``from_run``) warns in its form mode of what of the run the form cannot hold
    (``unshown``, found again from the run when not given)."""
    scenario = templates.get(template, {})
    if unshown is None:
        unshown = _unshown(form.get("from_run"), scenario)
    fields = run_request.form_fields(scenario)
    known = {spec.path for spec in fields} | {f"variant.pools.{pool}.count" for pool in scenario.get("pools", {})}
    known |= {"name", "base_process", "variant_process", "replications", DISCARD_FIELD}
    names = _element_names()
    placed = placed_problems(problems or [], form, known, names, problem_text)
    grouped: dict[str, list[str]] = {}
    for problem in placed:
        if problem.field in known:
            grouped.setdefault(problem.field or "", []).append(problem.text)
    raw_problems = {editor: [problem for problem in placed if problem.field == editor]
                    for editor in ("scenario_raw", "variant_raw")}
    loaded = form.get("loaded") or template
    parent = template_parent(loaded, templates) if loaded in templates else None
    return render_template(
        "simulation/new.html", raw_problems=raw_problems, form=form, template=template, templates=sorted(templates),
        loaded=loaded, whatif_parent=parent if parent == template else None,
        fields=fields, pools=list(scenario.get("pools", {})), choices=_process_choices(),
        problems=grouped, placed_problems=placed, regimes=REGIME_LABELS, run_field_labels=RUN_FIELD_LABELS,
        element_names=names, max_replications=run_request.MAX_REPLICATIONS,
        template_choices=template_choices(templates), unshown=unshown_lines(unshown, names)), status


def _unshown(from_run: str | None, template: Mapping[str, Any]) -> list[run_request.Unshown]:
    """What of the stored run ``from_run`` (a form posted back) the form mode on ``template`` cannot hold."""
    earlier_id = row_id(from_run) if from_run else None
    if earlier_id is None or not template:
        return []
    try:
        earlier = runs.get_run(session(), earlier_id)
    except runs.RunNotFound:
        return []
    return run_request.form_of_run(template, earlier.params or {})[1]


def _initial_form(template: str, scenario: Mapping[str, Any]) -> dict[str, str]:
    form = {spec.path: "" if spec.value is None else str(spec.value)
            for spec in run_request.form_fields(scenario)}
    form.update(name=template_text(scenario, "name") or template, template=template,
                base_process=run_processes.default_base(_process_choices(),
                                                        run_request.template_process(template)),
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
    from_run = request.args.get("from_run")
    if from_run is not None:  # 以此为起点新建: the earlier run's processes and scenarios in the advanced editor
        earlier_id = row_id(from_run)
        if earlier_id is None:
            raise runs.RunNotFound(from_run)  # the run's own 404: it may have been deleted
        earlier = runs.get_run(session(), earlier_id)
        # the form mode holds the run's values too, on the template that holds most of them (what it cannot
        # hold is listed where the form mode shows)
        rerun = run_request.rerun_form(earlier.params or {}, templates, (template,))
        form = _initial_form(rerun.template, templates.get(rerun.template, {}))
        form.update(rerun.fields, name=str(_("%(name)s（再次）", name=earlier.name))[:runs.NAME_MAX],
                    from_run=str(earlier_id))
        return _form_page(form, rerun.template, templates, unshown=rerun.unshown)
    kept = kept_on_load(request.args, templates)  # what was typed before 载入模板, in fields no template sets
    parent = template_parent(template, templates)
    if parent is not None:  # a what-if template: compared with the template it extends, ready to run
        form, _whatif = comparison_form(template, parent, templates, _initial_form)
        return _form_page({**form, **kept}, parent, templates)
    return _form_page({**_initial_form(template, templates.get(template, {})), **kept}, template, templates)


@bp.post("/new")
@staff_required(*OWNERS)
def create() -> ResponseReturnValue:
    account = require_account()
    templates = run_request.scenario_templates()
    form = {key: value for key, value in request.form.items() if key != "csrf_token"}
    template = form.get("template", "")
    unshown = _unshown(form.get("from_run"), templates.get(template, {}))
    # the form mode of a rerun drops what the form cannot hold: only when the person said so, beside the list
    unconfirmed = [run_request.Problem(DISCARD_FIELD, "discard_unshown", values={"n": len(unshown)})] if (
        unshown and form.get("mode") != "raw" and form.get(DISCARD_FIELD) != "1") else []
    try:
        checked = run_request.build_request(session(), form, templates)
    except run_request.RequestProblems as err:
        return _form_page(form, template, templates, unconfirmed + err.problems, 400, unshown)
    if unconfirmed:
        return _form_page(form, template, templates, unconfirmed, 400, unshown)
    run_id = runs.create_run(session(), name=checked.name, created_by=account.username, params=checked.params,
                             now=runtime().clock.now())
    session().commit()
    return redirect(url_for("simulation.detail", run_id=run_id))


@bp.get("/<row_id:run_id>")
@staff_required(*OWNERS)
def detail(run_id: int) -> ResponseReturnValue:
    run = runs.get_run(session(), run_id)
    side = request.args.get("side", "base")
    if side not in ("base", "variant") or (side == "variant" and not (run.params or {}).get("variant")):
        abort(404)
    report = build_report(run.result, str(get_locale()), side) if run.status == "done" and run.result else None
    pool_labels = {code: str(text) for code, text in GROUP_LABELS.items()}
    summary = run_request.run_summary(run.params or {}, run.result)
    summary["pools"] = sorted(summary["pools"], key=lambda row: _process_order(row[0]))
    return render_template("simulation/run.html", run=run, report=report, status_labels=RUN_STATUS_LABELS,
                           regimes=REGIME_LABELS, pool_labels=pool_labels, process_label=run_processes.describe,
                           side=side, summary=summary, stalled=is_stalled(run), stalled_text=STALLED_TEXT,
                           remaining=remaining_label(run))


def is_stalled(run: Any) -> bool:
    """A running run whose lease has expired: its worker died, and another worker will take it over (from 0 %)."""
    return runs.lease_expired(run, runtime().clock.now())


def remaining_label(run: Any) -> str | None:
    """预计还需约 … for a running run (``runs.remaining_seconds``): seconds in steps of 5 under a minute and a half,
    else whole minutes, rounded up; None when there is no estimate yet."""
    seconds = runs.remaining_seconds(run, runtime().clock.now())
    if seconds is None:
        return None
    if seconds < 90:
        return str(_("预计还需约 %(n)s 秒", n=max(5, 5 * math.ceil(seconds / 5))))
    return str(_("预计还需约 %(n)s 分钟", n=math.ceil(seconds / 60)))


def _process_order(pool: str) -> tuple[int, str]:
    """Pools in the order of the process's lanes, as the form lists them (any other pool after, by name)."""
    return (LANE_ROLES.index(pool), "") if pool in LANE_ROLES else (len(LANE_ROLES), pool)


@bp.post("/<row_id:run_id>/cancel")
@staff_required(*OWNERS)
def cancel(run_id: int) -> ResponseReturnValue:
    account = require_account()
    if runs.cancel(session(), run_id, by=account.username, now=runtime().clock.now()):
        session().commit()
        flash(_("仿真已取消。"), "success")
    else:
        flash(_("该仿真已结束，无法取消。"), "error")
    return redirect(url_for("simulation.detail", run_id=run_id))


@bp.post("/<row_id:run_id>/delete")
@staff_required(*OWNERS)
def delete(run_id: int) -> ResponseReturnValue:
    """An ended run and its files go (a queued or running one must be cancelled first). The files are removed here
    when they lie under this host's ``<instance>/simulations`` (a worker on another host keeps its copy; a run that
    gets the id again does not read it, ``runs.run_next``)."""
    account = require_account()
    name = runs.get_run(session(), run_id).name
    deleted, folder = runs.delete(session(), run_id)
    if not deleted:
        flash(_("排队中或运行中的仿真不能删除：请先取消。"), "error")
        return redirect(url_for("simulation.detail", run_id=run_id))
    session().commit()
    admin_log.info("admin=%s action=delete_simulation_run run=%d name=%r", account.username, run_id, name)
    root = (Path(current_app.instance_path) / run_worker.OUTPUT_FOLDER).resolve()
    where = Path(folder).resolve() if folder else root
    if where != root and where.is_relative_to(root):
        shutil.rmtree(where, ignore_errors=True)
    flash(_("已删除仿真“%(name)s”。", name=name), "success")
    return redirect(url_for("simulation.index"))


@bp.get("/<row_id:run_id>/status.json")
@json_errors
@staff_required(*OWNERS)
def status(run_id: int) -> ResponseReturnValue:
    run = runs.get_run(session(), run_id)
    state: dict[str, Any] = {"id": run.id, "status": run.status, "progress": run.progress, "error": run.error,
                             "status_label": str(RUN_STATUS_LABELS.get(run.status, run.status))}
    if run.status == "running":  # whether its worker died (lease expired): the page shows the takeover hint
        state["stalled"] = is_stalled(run)
        state["stalled_label"] = str(STALLED_TEXT) if state["stalled"] else None
    state["remaining_label"] = remaining_label(run)
    response = jsonify(state)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<row_id:run_id>/result.json")
@json_errors
@staff_required(*OWNERS)
def result(run_id: int) -> ResponseReturnValue:
    run = runs.get_run(session(), run_id)
    if run.status != "done" or run.result is None:
        return jsonify(error="not finished", status=run.status), 409
    response = jsonify(run.result)
    if request.args.get("download"):  # the page's 下载结果 link: a file to keep, not 260 KB of JSON in the tab
        response.headers["Content-Disposition"] = f'attachment; filename="simulation-{run.id}.json"'
    return response


@bp.get("/<row_id:run_id>/diagram.bpmn")
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
