"""GET shows the task's form (defaults filled in, the BPMN documentation as instructions, a fresh request id);
POST completes the task through ``runner.services.complete_task``.

A refused submission changes nothing and shows the form again with the user's input: field errors → 400, a
conflict (another person completed it, a four-eyes rule) → 409, a case that cannot take it (suspended) → 422,
each in words (``webui.refusals``). A form sent for a task no longer open (done by someone else, withdrawn because
the customer answered the survey first) is a 409 page saying what happened.
The request id makes a repeated POST (double click, resend) complete the task once and answer like the first.
暂存 (``_action=draft``) keeps the input unvalidated as the user's draft of the task (``runner.drafts``); the form
shows it instead of the defaults until the task completes or the draft is discarded, with what a move of the case
to another process version took out of it (``notice``) until it is saved again.
Below the form, the last answer of each earlier form step of the case (``earlier_records``, ``GET /<id>/records``,
loaded by the page): what the step builds on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner import case_queries, drafts, services, task_eligibility
from runner.case import CUSTOMER_ROLE, CaseError, FourEyesError
from runner.forms import FormValidationError
from runner.models import Event, OpenTask, TaskDraft
from runner.services import TaskForm
from runner.store import ConflictError, NotFoundError

from ..cases.values import Shown, event_fields
from ..extensions import runtime, session
from ..formrender import initial_data, parse_submission, render_form
from ..i18n import _
from ..refusals import case_number_of_task, completion_refusal
from ..security import may_work_on, require_account, staff_required
from ..tasks.people import display_name
from .notice import DraftNotice, draft_notice

bp = Blueprint("taskform", __name__, url_prefix="/tasks")



def show(tf: TaskForm, data: dict[str, Any], request_id: str, *, errors: list[tuple[str, str]] | None = None,
         message: str | None = None, min_rows: dict[str, int] | None = None, status: int = 200,
         draft_saved_at: datetime | None = None, earlier_draft: TaskDraft | None = None,
         draft_notice: DraftNotice | None = None) -> ResponseReturnValue:
    account = require_account()
    form = render_form(tf.schema, tf.ui_schema, data, errors, min_rows)
    if message:
        form.errors.insert(0, message)
    claimed_by_other = tf.task.assignee not in (None, account.username)
    # refused before anything is typed rather than after: a suspended case takes no completion, nor the person who
    # did the task's four-eyes partner step
    number = tf.task.case_number
    case_suspended = case_queries.case_statuses(session(), {number}).get(number) == "suspended"
    paused_since = case_queries.suspended_since(session(), [number]).get(number) if case_suspended else None
    four_eyes = services.four_eyes_conflict(session(), runtime(), tf.task, account.username)
    page = render_template("tasks/form.html", tf=tf, task=tf.task, form=form, request_id=request_id,
                           claimed_by_other=claimed_by_other, draft_saved_at=draft_saved_at,
                           earlier_draft=earlier_draft, draft_notice=draft_notice,
                           case_suspended=case_suspended, paused_since=paused_since, four_eyes=four_eyes)
    return page, status


@dataclass
class Record:
    """An earlier step's answer shown with a task form: the step, when, who, and its data under its form's
    titles (personal fields masked, as on the case page)."""

    name: str
    at: datetime
    who: str
    fields: Shown


EARLIER_RECORDS = 8
"""How many earlier steps' answers a task form shows (the newest); the case page has them all."""


def earlier_records(task: OpenTask) -> list[Record]:
    """The last answer of each form step the case completed before, newest first: what a reviewer reviews (编制供电方案
    under 审核供电方案), what the customer sent (设计文件, 竣工报验, 补充申请资料, the objection of 暂不签订 under
    拟定供用电合同, the complaint of 回访评价 under 指定整改) — on the form, without opening the case page. Read as the
    case page reads them (``case_queries.case_data_view``, masked; nothing is logged)."""
    account = require_account()
    view = case_queries.case_data_view(session(), runtime(), task.case_number, account.username, account.groups,
                                       lifecycles=("completed",))
    forms = view.bundle.form_files
    latest: dict[str, Event] = {}
    for event in view.events:  # oldest first: a later visit of a step replaces the earlier one
        if event.element_id in forms and view.event_data.get(event.id):
            latest[event.element_id] = event
    newest = sorted(latest.values(), key=lambda event: event.id, reverse=True)[:EARLIER_RECORDS]
    records = []
    for event in newest:
        schema_file = forms[event.element_id]
        fields = event_fields(view.event_data[event.id], view.bundle.forms.get(schema_file, {}),
                              view.bundle.forms.get(schema_file.replace(".schema.json", ".uischema.json"), {}))
        who = _("客户（申请人）") if event.role == CUSTOMER_ROLE else display_name(event.user)
        records.append(Record(event.activity or event.element_id, event.at, who, fields))
    return records


def load(task_id: str) -> TaskForm:
    tf = services.task_form(session(), runtime(), task_id)
    if not may_work_on(require_account(), tf.task):
        abort(403)
    return tf


@bp.get("/<task_id>")
@staff_required()
def form(task_id: str) -> ResponseReturnValue:
    tf = load(task_id)
    draft = drafts.load_draft(session(), task_id, require_account().username)
    if draft is not None:  # with what a move of the case to another version took out of it, if anything
        return show(tf, dict(draft.data), uuid.uuid4().hex, draft_saved_at=draft.saved_at,
                    draft_notice=draft_notice(draft.migration_notice, tf.schema))
    earlier = drafts.earlier_draft(session(), task_id, require_account().username)  # a colleague's, to take over
    return show(tf, initial_data(tf.schema), uuid.uuid4().hex, earlier_draft=earlier)


@bp.get("/<task_id>/records")
@staff_required()
def records(task_id: str) -> ResponseReturnValue:
    """此前办理记录 of the task's case, for whoever may work on the task: the section the form page fills in
    (``?part=1``: just the section) or, without JavaScript, a page of its own. Kept out of the form page itself so
    that the form shows only what the form holds (earlier answers are no defaults: tests/test_form_prefill.py)."""
    tf = load(task_id)
    found = earlier_records(tf.task)
    if request.args.get("part") == "1":
        return render_template("tasks/_records.html", records=found, task=tf.task)
    return render_template("tasks/records.html", records=found, task=tf.task)


@bp.post("/<task_id>")
@staff_required()
def submit(task_id: str) -> ResponseReturnValue:
    account = require_account()
    request_id = request.form.get("request_id", "")
    if not services.REQUEST_ID.match(request_id):
        abort(400)
    try:
        tf = load(task_id)
    except NotFoundError:
        # Gone: completed by this very request id before (a resubmission) — or by someone else, or withdrawn by
        # the process (the customer answered the survey first): then a 409 page saying so
        try:
            completion = services.complete_task(session(), runtime(), task_id, {}, account.username, request_id,
                                                account.groups)
        except (ConflictError, CaseError) as err:
            return gone(task_id, err)
        if resent_other_answers(task_id):
            session().rollback()
            flash(_("该任务已按此前提交的内容办结；本次重新提交的内容与已保存的不同，未被保存：%(case)s",
                    case=completion.case_number), "error")
            return redirect(url_for("tasks.index"))
        return done(completion.case_number, repeated=True)
    data = parse_submission(tf.schema, tf.ui_schema, request.form)
    action = request.form.get("_action", "complete")
    if action.startswith("add_row:"):  # one more blank row in a repeating table; nothing is submitted
        name = action.split(":", 1)[1]
        shown = request.form.get(f"{name}.rows", "0")
        return show(tf, data, request_id, min_rows={name: (int(shown) if shown.isdigit() else 0) + 1})
    if action == "draft":
        return save_draft(tf, data)
    if action == "take_draft":  # the earlier person's 暂存 becomes this user's (``drafts.take_over_draft``)
        try:
            author = drafts.take_over_draft(session(), task_id, account.username)
        except services.PermissionDenied:
            session().rollback()
            flash(_("该暂存内容已不可接手（任务已由他人领取或暂存已删除）。"), "error")
        else:
            session().commit()
            flash(_("已接手 %(user)s 暂存的内容。", user=display_name(author)), "success")
        return redirect(url_for("taskform.form", task_id=task_id))
    if action == "discard_draft":
        drafts.discard_draft(session(), task_id, account.username)
        session().commit()
        flash(_("已删除暂存内容。"), "info")
        return redirect(url_for("taskform.form", task_id=task_id))
    case_number = tf.task.case_number
    try:
        completion = services.complete_task(session(), runtime(), task_id, data, account.username, request_id,
                                            account.groups)
    except FormValidationError as err:
        session().rollback()
        return show(tf, data, request_id, errors=err.errors, message=_("提交未成功，请按提示修改后重新提交。"),
                    status=400)
    except ConflictError as err:
        session().rollback()
        return show(tf, data, request_id, message=_("无法提交：%(reason)s", reason=refusal(err, task_id, case_number)),
                    status=409)
    except CaseError as err:
        session().rollback()
        return show(tf, data, request_id, message=_("无法提交：%(reason)s", reason=refusal(err, task_id, case_number)),
                    status=422)
    return done(case_number, repeated=completion.repeated, step=tf.task.name)


def resent_other_answers(task_id: str) -> bool:
    """Whether a form sent again with a used request id (the task is done) holds answers other than those the
    task was completed with: they were not saved, and the page must say so (the API answers 409 there)."""
    form = task_eligibility.completed_form(session(), runtime(), task_id)
    if form is None:
        return False
    schema, ui_schema = form
    return parse_submission(schema, ui_schema, request.form) != services.completed_with(session(), task_id)


def refusal(err: Exception, task_id: str, case_number: str | None) -> str:
    """Why the runner refused, in the reader's language where it says so in structured form (the four-eyes rule,
    which the completion reports as a conflict caused by it) or the database does (``refusals``), else as the
    runner worded it."""
    cause = err if isinstance(err, FourEyesError) else err.__cause__
    if isinstance(cause, FourEyesError):
        return _("%(element)s 须由办理 %(partner)s 以外的人办理（四眼原则）：您已办理 %(partner)s，请由其他人办理。",
                 element=cause.element_name, partner=cause.partner_name)
    return completion_refusal(session(), err, task_id, case_number) or str(err)


def gone(task_id: str, err: Exception) -> ResponseReturnValue:
    """The 409 page for a task no longer open when its form was sent: done by someone else, withdrawn by the
    process, or its case suspended, cancelled or ended — in words."""
    session().rollback()
    case_number = case_number_of_task(session(), task_id)
    page = render_template("errors/error.html", status=409, title=_("无法提交"),
                           message=refusal(err, task_id, case_number))
    return page, 409


def save_draft(tf: TaskForm, data: dict[str, Any]) -> ResponseReturnValue:
    """暂存: keep the input as it is (not validated) and come back to the form."""
    account = require_account()
    if tf.task.assignee not in (None, account.username):  # a colleague claimed it after this form was opened
        return show(tf, data, request.form.get("request_id", ""), status=409, message=_(
            "无法暂存：该任务已被 %(user)s 领取，只有领取人可以暂存或提交。", user=display_name(tf.task.assignee)))
    drafts.save_draft(session(), tf.task.id, account.username, data, runtime().clock.now())
    session().commit()
    flash(_("已暂存，可稍后继续填写。"), "success")
    return redirect(url_for("taskform.form", task_id=tf.task.id))


def done(case_number: str, repeated: bool, step: str | None = None) -> ResponseReturnValue:
    session().commit()  # the completion's one transaction
    if repeated:
        flash(_("该任务已提交（重复提交已忽略）：%(case)s", case=case_number), "info")
    else:
        flash(_("已提交：%(case)s %(step)s", case=case_number, step=step or ""), "success")
    return redirect(url_for("tasks.index"))
