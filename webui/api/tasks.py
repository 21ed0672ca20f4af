"""``/api/v1/tasks``: the work list with the 工作台's filters, a task with its form, claim, unclaim, assign and
complete. The permission rules are the HTML views' (``webui.security``): a lane's members and the assignee work on
a task, supervisors see every lane and assign."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm.exc import ObjectDeletedError

from runner import accounts, services
from runner.accounts import LANE_ROLES, Account
from runner.models import OpenTask
from runner.services import TaskFilter
from runner.store import ConflictError, NotFoundError
from runner.task_list import LIST_COUNT_BOUND

from ..extensions import runtime, session
from ..labels import CATEGORY_LABELS
from ..security import is_supervisor, may_unclaim, may_work_on
from . import task_totals
from .auth import require_groups
from .errors import ApiError
from .payloads import (
    MAX_OFFSET,
    int_arg,
    json_body,
    known_args,
    known_fields,
    object_field,
    path_id,
    string_field,
    text_arg,
)
from .representations import page_json, task_detail_json, task_facts, task_json

SCOPES = ("all", "mine", "team")
DUE_FILTERS = ("overdue", "today")
MAX_LIMIT = 200
LIST_PARAMETERS = ("scope", "due", "category", "step", "q", "limit", "offset", "count_token")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/tasks", view_func=list_tasks, methods=["GET"])
    bp.add_url_rule("/tasks/<task_id>", view_func=get_task, methods=["GET"])
    bp.add_url_rule("/tasks/<task_id>/claim", view_func=claim, methods=["POST"])
    bp.add_url_rule("/tasks/<task_id>/unclaim", view_func=unclaim, methods=["POST"])
    bp.add_url_rule("/tasks/<task_id>/assign", view_func=assign, methods=["POST"])
    bp.add_url_rule("/tasks/<task_id>/complete", view_func=complete, methods=["POST"])


def list_tasks() -> ResponseReturnValue:
    """Mine and my lanes' unclaimed tasks (``scope=mine``: mine only; ``team``: every open task of every lane,
    claimed by others too, supervisors only: the tasks they release or reassign)."""
    account = require_groups()
    known_args(*LIST_PARAMETERS)
    scope = text_arg("scope", SCOPES) or "all"
    if scope == "team" and not is_supervisor(account):
        raise ApiError(403, "scope=team is for supervisors")
    due = text_arg("due", DUE_FILTERS)
    flt = TaskFilter(user=account.username, groups=LANE_ROLES if scope == "team" else account.groups,
                     mine_only=scope == "mine", include_claimed=scope == "team",
                     category=text_arg("category", tuple(CATEGORY_LABELS)), element_id=text_arg("step"),
                     overdue=due == "overdue", due_today=due == "today", search=text_arg("q"))
    limit, offset = int_arg("limit", 50, 1, MAX_LIMIT), int_arg("offset", 0, 0, MAX_OFFSET)
    # the service pages by page number: the two pages of size ``limit`` that hold [offset, offset + limit)
    first = offset // limit + 1
    # the total is counted as the web list counts it: exactly up to LIST_COUNT_BOUND (or to this window's end),
    # beyond it "more than" (total_exact false), so that 全部岗位 does not count every lane's tasks per request;
    # a later page reuses the first page's count while no event has been logged since (``task_totals``)
    counting = task_totals.counting(session(), flt, max(LIST_COUNT_BOUND, offset + limit), text_arg("count_token"))
    bound = counting.bound
    page = services.list_tasks(session(), runtime(), flt, first, limit, count_bound=bound, total=counting.known)
    items = page.items
    if offset % limit:
        items = items + services.list_tasks(session(), runtime(), flt, first + 1, limit, count_bound=bound,
                                            total=page.total).items
    items = items[offset % limit:offset % limit + limit]
    now = runtime().clock.now()
    facts = task_facts(items, account.username)
    token = counting.token(page.total)
    answer = page_json([task_json(task, now, facts) for task in items], page.total, limit, offset,
                       not page.total_capped)
    return jsonify(**answer, count_token=token, next=_next_page(offset + limit, page.total, token))


def _next_page(offset: int, total: int, token: str | None) -> str | None:
    """The URL of the next page (this request's parameters, the offset moved on, the total's token), or None at
    the end of the list."""
    if offset >= total or offset > MAX_OFFSET:
        return None
    args: dict[str, Any] = {name: value for name, value in request.args.items()
                            if name not in ("offset", "count_token")}
    args["offset"] = offset
    if token:
        args["count_token"] = token
    return url_for("api.list_tasks", **args)


def _task(task_id: str) -> OpenTask:
    """The open task to claim, give back or assign: 409 when it was open and is no more, 404 for an unknown id."""
    return services.task_to_act_on(session(), path_id(task_id, "open task"))


def get_task(task_id: str) -> ResponseReturnValue:
    """The task with its form (JSON Schema and UI schema) and instructions (BPMN documentation)."""
    account = require_groups()
    tf = services.task_form(session(), runtime(), path_id(task_id, "open task"))
    if not (may_work_on(account, tf.task) or is_supervisor(account)):
        raise ApiError(403, f"{account.username} is neither in group {tf.task.lane} nor the task's assignee")
    return jsonify(task_detail_json(tf, runtime().clock.now()))


def claim(task_id: str) -> ResponseReturnValue:
    account = require_groups()
    task = _task(task_id)
    if not may_work_on(account, task):
        raise ApiError(403, f"{account.username} is not in group {task.lane}")
    task_id = task.id
    services.claim_task(session(), task_id, account.username, account.groups, now=runtime().clock.now(),
                        runtime=runtime())
    session().commit()
    return _answer(task_id)


def unclaim(task_id: str) -> ResponseReturnValue:
    """Give the task back to its lane's queue: the assignee, or a supervisor for anyone. An unclaimed task stays as
    it is (200, nothing logged) for whoever may work on it, as on the web 工作台."""
    account = require_groups()
    task = _task(task_id)
    if not (may_unclaim(account, task) or (task.assignee is None and may_work_on(account, task))):
        raise ApiError(403, _why_not_unclaim(account, task))
    task_id = task.id
    services.unclaim_task(session(), task_id, account.username, may_unclaim_others=is_supervisor(account),
                          now=runtime().clock.now())
    session().commit()
    return _answer(task_id)


def _why_not_unclaim(account: Account, task: OpenTask) -> str:
    if task.lane not in account.groups:
        return f"{account.username} is not in group {task.lane} (task {task.id} is another lane's)"
    return (f"task {task.id} is claimed by {task.assignee}: only they or a supervisor can give it back to the "
            "queue")


def assign(task_id: str) -> ResponseReturnValue:
    """A supervisor gives the task to an active member of its lane: body ``{"user": "..."}``."""
    account = require_groups("supervisor")
    task = _task(task_id)
    body = json_body()
    known_fields(body, ("user",))
    user = accounts.normalize_username(str(string_field(body, "user")))  # user names are stored so
    candidates = {member.username for member in accounts.users_in_group(session(), task.lane)} if task.lane else set()
    if user not in candidates:
        raise ApiError(422, f"{user} is not an active member of group {task.lane}",
                       fields=[("user", f"must be an active member of group {task.lane}")])
    task_id = task.id
    services.assign_task(session(), task_id, user, by=account.username, now=runtime().clock.now(),
                         runtime=runtime())
    session().commit()
    return _answer(task_id)


def complete(task_id: str) -> ResponseReturnValue:
    """Body ``{"data": {...}, "request_id": "..."}``; the same request id again answers like the first time."""
    account = require_groups()
    task_id = path_id(task_id, "open task")
    try:
        task: OpenTask | None = services.get_task(session(), task_id)
    except NotFoundError:
        task = None
    if task is not None and not may_work_on(account, task):
        raise ApiError(403, f"{account.username} is not in group {task.lane}")
    body = json_body()
    known_fields(body, ("data", "request_id"))
    request_id = str(string_field(body, "request_id", services.REQUEST_ID))
    data = object_field(body, "data", required=False)
    # a task no longer open goes to the service too: a repeated request id answers, anything else is 404/409
    completion = services.complete_task(session(), runtime(), task_id, data, account.username, request_id,
                                        account.groups)
    if completion.repeated and services.completed_with(session(), task_id) != data:
        raise ConflictError(f"request id {request_id} completed task {task_id} with other data: the task is "
                            "completed already (nothing was changed); send the same data to repeat the request")
    session().commit()
    return jsonify(case_number=completion.case_number, task_id=completion.task_id, repeated=completion.repeated)


def _answer(task_id: str) -> ResponseReturnValue:
    """The task as it is after this request's commit. Another process may have completed or withdrawn it in
    between: that is a 409 saying so, not an error claiming the request was not carried out (it was)."""
    try:
        return jsonify(task_json(services.get_task(session(), task_id), runtime().clock.now()))
    except (NotFoundError, ObjectDeletedError) as err:
        session().rollback()
        raise ConflictError(f"task {task_id} was completed or withdrawn meanwhile, after this request was "
                            "carried out") from err
