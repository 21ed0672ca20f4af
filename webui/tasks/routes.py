"""The task list (my tasks and my lanes' unclaimed tasks; for supervisors 全部岗位, every open task of every lane,
also those others hold) with filters, counts and paging; claim, unclaim, assign. Tasks of a suspended case are
marked 已挂起 and offer no claim, unclaim or assignment (the service refuses them until the case is resumed).

Every change is a POST with a CSRF token, one service call and one commit; refusals come back as flashed messages
(conflicts) or as 403 (permissions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from runner import accounts, case_queries, drafts, services, task_eligibility
from runner.accounts import LANE_ROLES, Account
from runner.case import FourEyesError
from runner.clock import SHANGHAI
from runner.models import OpenTask
from runner.services import TaskFilter
from runner.store import ConflictError
from runner.task_list import LIST_COUNT_BOUND

from ..auth.routes import safe_next
from ..extensions import runtime, session
from ..i18n import _
from ..labels import CATEGORY_LABELS
from ..refusals import case_not_running, task_conflict
from ..security import is_supervisor, may_unclaim, may_work_on, require_account, staff_required
from .people import display_name, person

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
bp.add_app_template_global(person, "person")

SCOPES = ("all", "mine", "team")
DUE_FILTERS = ("", "overdue", "today", "follow_up")
MAX_PAGE = 100_000
"""The highest page number the list answers (far beyond any real list); a higher one is refused with 400."""
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
FOLLOW_UP_YEARS = 5
"""How far ahead a follow-up date (跟进日期) may be set; not before today (a reminder for a past day is a typo)."""
BADGE_COUNT_BOUND = LIST_COUNT_BOUND
"""The tabs' and the category choices' counts are exact up to this; a larger one shows as ``10000+`` and is counted
only that far (全部岗位 holds every lane's tasks: tens of thousands at scale). The list's own total is counted up to
this bound too, or up to the page shown when that lies beyond it (``共 10000+ 项任务``, then a next page as long as
there are more); the REST API's task list counts the same way (``total_exact``)."""


@bp.app_template_global()
def due_estimated(task: OpenTask) -> bool:
    """Whether the task's due date rests on the rule-based holiday estimate (a year without official data): the
    pages mark it (DOMAIN §2: the fallback must be flagged)."""
    return task_eligibility.due_estimated(runtime().calendar, task)


@bp.app_template_global()
def working_days_left(task: OpenTask, at: datetime | None = None) -> int | None:
    """Working days from today (or from ``at``: when a suspended case's clock stopped) to the task's due day (today
    not counted: 3 on a Saturday before a Wednesday deadline), negative for the working days since an overdue task's
    due day; None without a due date. Time limits are set in working days (DOMAIN §2), so the lists say them so
    besides the date."""
    if task.due_at is None:
        return None
    calendar, now = runtime().calendar, at or runtime().clock.now()
    if task.due_at >= now:
        return calendar.working_days_between(now, task.due_at)
    return -calendar.working_days_between(task.due_at, now)


@dataclass
class ListArgs:
    """The list's query string, cleaned."""

    scope: str
    due: str
    category: str
    step: str
    q: str
    page: int

    @classmethod
    def from_request(cls, account: Account) -> ListArgs:
        args = request.args
        scope = args.get("scope", "all")
        if scope not in SCOPES or (scope == "team" and not is_supervisor(account)):
            scope = "all"
        due = args.get("due", "")
        category = args.get("category", "")
        try:
            page = max(int(args.get("page", "1")), 1)
        except ValueError:
            page = 1
        if page > MAX_PAGE:  # its offset would not fit the database's integers (a 500): a bad request
            abort(400)
        return cls(scope=scope, due=due if due in DUE_FILTERS else "",
                   category=category if category in CATEGORY_LABELS else "",
                   step=args.get("step", "")[:100], q=args.get("q", "").strip()[:100], page=page)

    def query(self, **changes: str | int) -> dict[str, str | int]:
        """Query-string values for a link that changes some filters (and, unless it says a page, starts at 1)."""
        values: dict[str, str | int] = {"scope": self.scope, "due": self.due, "category": self.category,
                                        "step": self.step, "q": self.q}
        values.update(changes)
        return {key: value for key, value in values.items()
                if value != "" and not (key == "scope" and value == "all") and not (key == "page" and value == 1)}


def task_filter(account: Account, args: ListArgs) -> TaskFilter:
    """The list's filter; 全部岗位 (``team``, supervisors only) is every lane's open tasks, also those claimed by or
    assigned to others (marked with who holds them), so that a supervisor can release or reassign them."""
    team = args.scope == "team"
    groups = LANE_ROLES if team else account.groups
    return TaskFilter(user=account.username, groups=tuple(groups), mine_only=args.scope == "mine",
                      category=args.category or None, element_id=args.step or None,
                      overdue=args.due == "overdue", due_today=args.due == "today",
                      follow_up_due=args.due == "follow_up", search=args.q or None, include_claimed=team)


def count(flt: TaskFilter) -> int:
    """A tab's count, up to ``BADGE_COUNT_BOUND + 1`` (more than the bound)."""
    return services.count_tasks(session(), runtime(), flt, BADGE_COUNT_BOUND)


@bp.app_template_filter("badge_count")
def badge_count(n: int) -> str:
    """A tab's count as shown: the number, or ``10000+`` beyond ``BADGE_COUNT_BOUND``."""
    return f"{BADGE_COUNT_BOUND}+" if n > BADGE_COUNT_BOUND else str(n)


@bp.get("/")
@staff_required()
def index() -> ResponseReturnValue:
    account = require_account()
    args = ListArgs.from_request(account)
    flt = task_filter(account, args)
    per_page = current_app.config["TASKS_PER_PAGE"]
    page = services.list_tasks(session(), runtime(), flt, args.page, per_page,
                               count_bound=max(BADGE_COUNT_BOUND, args.page * per_page))

    def tab_count(changed: ListArgs) -> int:
        """How many tasks a tab's filter shows; the tab of the list shown is the list's own total (全部岗位 counts
        every lane's tasks: one count fewer per row of tabs)."""
        other = task_filter(account, changed)
        return min(page.total, BADGE_COUNT_BOUND + 1) if other == flt else count(other)

    counts = {
        "scope": {scope: tab_count(replace(args, scope=scope))
                  for scope in SCOPES if scope != "team" or is_supervisor(account)},
        "due": {due: tab_count(replace(args, due=due)) for due in DUE_FILTERS},
        "category": {code: tab_count(replace(args, category=code)) for code in CATEGORY_LABELS},
    }
    steps = services.task_steps(session(), runtime(), replace(flt, element_id=None))
    pages = max((page.total + per_page - 1) // per_page, 1)  # capped: one more than the bound holds, so a next page
    total_label = f"{page.total_bound}+" if page.total_capped else str(page.total)
    pages_label = f"{pages}+" if page.total_capped else str(pages)  # at least that many pages
    statuses = case_queries.case_statuses(session(), {task.case_number for task in page.items})
    on_hold = [number for number, status in statuses.items() if status == "suspended"]
    since = case_queries.suspended_since(session(), on_hold)
    suspended = {number: since.get(number) for number in on_hold}  # case → when its time limits stopped
    four_eyes = task_eligibility.four_eyes_blocked(
        session(), runtime(), [task for task in page.items if may_work_on(account, task)], account.username)
    return render_template("tasks/list.html", page=page, pages=pages, total_label=total_label,
                           pages_label=pages_label, args=args, counts=counts, steps=steps,
                           categories=CATEGORY_LABELS, may_work_on=may_work_on,
                           may_unclaim=may_unclaim, suspended=suspended, four_eyes=four_eyes)


def four_eyes_refusal(err: ConflictError, assignee: str | None = None) -> str | None:
    """The four-eyes rule in the reader's language when it is why a claim or an assignment was refused, else None:
    the person did (or, assigning, ``assignee`` did) the task's partner step, so could never complete it."""
    cause = err.__cause__
    if not isinstance(cause, FourEyesError):
        return None
    if assignee is not None:
        return _("%(user)s 已办理 %(partner)s，不能再办理 %(element)s（四眼原则），请指派给其他人。",
                 user=display_name(assignee), partner=cause.partner_name, element=cause.element_name)
    return _("%(element)s 须由办理 %(partner)s 以外的人办理（四眼原则）：您已办理 %(partner)s，请由其他人办理。",
             element=cause.element_name, partner=cause.partner_name)


def back() -> ResponseReturnValue:
    return redirect(safe_next(request.form.get("next")) or url_for("tasks.index"))


def _task_to_act_on(task_id: str) -> OpenTask | None:
    """The open task to claim, give back or assign; None, with a message saying who did it, when it was open and
    is no more (a list shown before a colleague finished it); 404 for an id that was never a task."""
    try:
        return services.task_to_act_on(session(), task_id)
    except services.TaskGone as gone:
        flash(task_conflict(gone) or str(gone), "error")
        return None


def conflict_message(err: ConflictError, case_number: str, *, assignee: str | None = None,
                     fallback: str | None = None) -> str:
    """Why a claim, release or assignment was refused, in the reader's language: the task completed meanwhile (by
    whom), claimed by whom, the case not running, the four-eyes rule (``assignee``: the person assigned), else
    ``fallback`` or the error's own words."""
    return (task_conflict(err) or case_not_running(session(), case_number, ("suspended", "cancelled"))
            or four_eyes_refusal(err, assignee) or fallback or str(err))


@bp.post("/<task_id>/claim")
@staff_required()
def claim(task_id: str) -> ResponseReturnValue:
    account = require_account()
    task = _task_to_act_on(task_id)
    if task is None:
        return back()
    if not may_work_on(account, task):
        abort(403)
    try:
        services.claim_task(session(), task_id, account.username, account.groups, now=runtime().clock.now(),
                            runtime=runtime())
    except ConflictError as err:
        session().rollback()
        flash(conflict_message(err, task.case_number, fallback=_("该任务已被他人领取。")), "error")
        return back()
    session().commit()
    flash(_("已领取：%(case)s %(step)s", case=task.case_number, step=task.name), "success")
    return back()


@bp.post("/<task_id>/unclaim")
@staff_required()
def unclaim(task_id: str) -> ResponseReturnValue:
    account = require_account()
    task = _task_to_act_on(task_id)
    if task is None:
        return back()
    if not may_unclaim(account, task):
        abort(403)
    case_number, name = task.case_number, task.name
    try:
        services.unclaim_task(session(), task_id, account.username, may_unclaim_others=is_supervisor(account),
                              now=runtime().clock.now())
    except ConflictError as err:
        session().rollback()
        flash(conflict_message(err, case_number), "error")
        return back()
    session().commit()
    flash(_("已退回待领取：%(case)s %(step)s", case=case_number, step=name), "success")
    return back()


@bp.route("/<task_id>/assign", methods=["GET", "POST"])
@staff_required("supervisor")
def assign(task_id: str) -> ResponseReturnValue:
    account = require_account()
    task = _task_to_act_on(task_id)
    if task is None:
        return back()
    members = accounts.users_in_group(session(), task.lane) if task.lane else []
    # who did the task's four-eyes partner step could never complete it: not offered (a POST naming them anyway
    # gets the service's refusal, in words)
    excluded = task_eligibility.four_eyes_excluded(session(), runtime(), task, [m.username for m in members])
    candidates = [member for member in members if member.username not in excluded]
    error = None
    if request.method == "POST":
        # user names are stored casefolded: the form takes ``Li.Wei`` as the API does (``api.tasks.assign``)
        assignee = accounts.normalize_username(request.form.get("assignee", ""))
        if assignee in {member.username for member in members}:
            try:
                services.assign_task(session(), task_id, assignee, by=account.username, now=runtime().clock.now(),
                                     runtime=runtime())
            except ConflictError as err:
                session().rollback()
                flash(conflict_message(err, task.case_number, assignee=assignee), "error")
                return back()
            session().commit()
            flash(_("已指派给 %(user)s：%(case)s %(step)s", user=display_name(assignee), case=task.case_number,
                    step=task.name), "success")
            return back()
        error = _("请选择该环节岗位中的一位人员。")
    page = render_template("tasks/assign.html", task=task, candidates=candidates, error=error,
                           draft=drafts.draft_of(session(), task.id),
                           excluded=[(member, excluded[member.username]) for member in members
                                     if member.username in excluded],
                           next_url=safe_next(request.values.get("next")))
    return page, 400 if error else 200


def follow_up_last_day(today: date) -> date:
    """The last day a follow-up date may be set to: the same day ``FOLLOW_UP_YEARS`` years on (29 February: the
    28th)."""
    return today.replace(year=today.year + FOLLOW_UP_YEARS, day=min(today.day, 28) if today.month == 2 else today.day)


@bp.app_template_global()
def follow_up_range() -> tuple[str, str]:
    """The first and last day a follow-up date may be set to today (the date input's ``min`` and ``max``)."""
    today = runtime().clock.now().astimezone(SHANGHAI).date()
    return today.isoformat(), follow_up_last_day(today).isoformat()


def follow_up_moment(text: str, today: date) -> datetime | None:
    """A follow-up date (``YYYY-MM-DD``, Shanghai) as the start of that day; empty clears it. ValueError for
    anything else, also for another ISO spelling (``20261128``, ``2026-W48-6``) and for a day before ``today`` or
    more than ``FOLLOW_UP_YEARS`` years ahead."""
    if not text:
        return None
    if not ISO_DAY.fullmatch(text):
        raise ValueError(f"not YYYY-MM-DD: {text!r}")
    day = date.fromisoformat(text)
    if not today <= day <= follow_up_last_day(today):
        raise ValueError(f"{day} is out of range")
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI)


@bp.post("/<task_id>/follow-up")
@staff_required()
def follow_up(task_id: str) -> ResponseReturnValue:
    """Set (``follow_up=YYYY-MM-DD``) or clear (empty, or ``clear``) the task's follow-up date (跟进日期)."""
    account = require_account()
    task = services.get_task(session(), task_id)
    if not may_work_on(account, task):
        abort(403)
    text = "" if "clear" in request.form else request.form.get("follow_up", "").strip()
    today = runtime().clock.now().astimezone(SHANGHAI).date()
    try:
        when = follow_up_moment(text, today)
    except ValueError:
        abort(400, description=_("跟进日期格式应为 年-月-日，且在今天至 %(years)s 年内。", years=FOLLOW_UP_YEARS))
    services.set_follow_up(session(), task_id, when)
    session().commit()
    if when is None:
        flash(_("已清除跟进日期：%(case)s %(step)s", case=task.case_number, step=task.name), "success")
    else:
        flash(_("跟进日期已设为 %(day)s：%(case)s %(step)s", day=text, case=task.case_number, step=task.name),
              "success")
    return back()
