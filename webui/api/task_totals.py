"""The REST API task list's ``count_token``: the total of a list, counted once, carried to its later pages.

A page's answer holds ``count_token`` (and ``next``, the next page's URL carrying it): the total it reported, the
bound it was counted to, the filter it counted (user, groups and every filter parameter, as a short digest) and
``task_list.list_version`` read before counting, signed with the app's secret key. A later page given the token
reports that total without counting again while the version is unchanged and the filter and bound are the same
(docs/api.md, "Paging"): whenever an event has been logged since, or the filter depends on the clock (``due``), the
list is counted again. A token this server did not sign is a 400; a stale or foreign one just means a new count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from runner.task_list import TaskFilter, list_version

from .errors import ApiError

SALT = "api-task-list-total"


@dataclass(frozen=True)
class CountedTotal:
    """A total as a page reported it: ``total`` up to ``bound`` exact, ``bound + 1`` meaning more."""

    version: int
    total: int
    bound: int
    filter_key: str

    def reusable_for(self, version: int, filter_key: str, bound: int) -> int | None:
        """The total to report for a page counted to ``bound``, if this one still is it: same filter, no event
        since, and either exact within ``bound`` or capped at the same bound."""
        if version != self.version or filter_key != self.filter_key:
            return None
        exact = self.total <= self.bound
        if (exact and self.total <= bound) or (not exact and bound == self.bound):
            return self.total
        return None


def counts_change_with_the_clock(flt: TaskFilter) -> bool:
    """Whether the list changes as time passes, with no write (overdue, due today): never reused."""
    return flt.overdue or flt.due_today or flt.follow_up_due


def filter_key(flt: TaskFilter) -> str:
    """A short digest of everything that decides which tasks the filter counts (the user and their groups too)."""
    fields = dataclasses.asdict(flt)
    fields["groups"] = sorted(set(fields["groups"]))
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=SALT)  # type: ignore[arg-type]


def issue(counted: CountedTotal) -> str:
    return str(_serializer().dumps([counted.version, counted.total, counted.bound, counted.filter_key]))


def read(token: str) -> CountedTotal:
    """The total a token carries; 400 for one this server did not sign (or signed with another secret key)."""
    try:
        version, total, bound, key = _serializer().loads(token)
        return CountedTotal(int(version), int(total), int(bound), str(key))
    except (BadSignature, TypeError, ValueError):
        raise ApiError(400, "query parameter count_token: not a token of this server's task list (send the one of "
                       "the previous page, or none)", "invalid_parameter") from None


@dataclass(frozen=True)
class Counting:
    """How one request of the task list comes by its total: ``known`` (the carried token's, still valid) or a new
    count; ``version`` is None where no token is issued (the clock changes the list)."""

    version: int | None
    filter_key: str
    bound: int
    known: int | None

    def token(self, total: int) -> str | None:
        """The ``count_token`` of the total this request reports."""
        if self.version is None:
            return None
        return issue(CountedTotal(self.version, total, self.bound, self.filter_key))


def counting(session: Session, flt: TaskFilter, bound: int, token: str | None) -> Counting:
    """The request's ``Counting``: the token checked first (400 if this server did not sign it), then the list
    version read, before the count it guards."""
    carried = read(token) if token else None
    key = filter_key(flt)
    version = None if counts_change_with_the_clock(flt) else list_version(session)
    known = carried.reusable_for(version, key, bound) if carried is not None and version is not None else None
    return Counting(version, key, bound, known)
