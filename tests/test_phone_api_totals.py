"""``/api/v1/tasks``: a later page reuses the total counted for the first one (``count_token``, carried by
``next``) instead of counting again, but only while no task changed (no event logged since), for the same user,
groups, filters and bound, and never for ``due`` filters; a token the server did not sign is a 400. Every kind of
task change moves the version the token carries (``task_list.list_version``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import event

from runner import services
from runner.task_list import list_version
from tests.api_helpers import (
    PREFIX,
    Api,
    api_fixture,  # noqa: F401  (the api fixture)
    error_of,
)
from tests.db import Db, advance_to, complete, open_task
from tests.webui_helpers import start_case
from webui.extensions import db as flask_db


@contextmanager
def counts(api: Api) -> Iterator[list[str]]:
    """The COUNT statements the app runs meanwhile."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "count(" in statement.lower():
            seen.append(statement)

    with api.app.app_context():
        engine = flask_db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def page(api: Api, path: str, user: str = "account_manager") -> dict[str, Any]:
    response = api.get(path, user)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def following(body: dict[str, Any]) -> str:
    """The ``next`` URL as a path under /api/v1."""
    link = body["next"]
    assert isinstance(link, str) and link.startswith(PREFIX + "/tasks?"), link
    return link.removeprefix(PREFIX)


def cases(api: Api, n: int) -> list[str]:
    return [start_case(api.db, "lv_residential") for _ in range(n)]


def test_later_pages_reuse_the_first_pages_total(api: Api) -> None:
    cases(api, 5)
    with counts(api) as counted:
        first = page(api, "/tasks?limit=2")
    assert counted and first["total"] == 5 and first["count_token"]
    seen = [task["id"] for task in first["items"]]
    link = following(first)
    assert parse_qs(urlsplit(link).query)["offset"] == ["2"]
    while link:
        with counts(api) as counted:
            later = page(api, link)
        assert counted == [], link  # the total of the token, not counted again
        assert later["total"] == 5 and later["total_exact"] is True
        seen += [task["id"] for task in later["items"]]
        link = following(later) if later["next"] else ""
    assert len(seen) == len(set(seen)) == 5
    with counts(api) as counted:  # an offset that is not a multiple of the limit: two reads, no count
        assert page(api, f"/tasks?limit=2&offset=1&count_token={first['count_token']}")["total"] == 5
    assert counted == []


def test_a_change_between_pages_is_counted_again(api: Api) -> None:
    cases(api, 4)
    first = page(api, "/tasks?limit=2")
    assert first["total"] == 4
    start_case(api.db, "lv_residential")  # a new task in the lane: an event, a new version
    with counts(api) as counted:
        later = page(api, following(first))
    assert counted and later["total"] == 5 and later["count_token"] != first["count_token"]
    task = later["items"][0]["id"]
    with api.db.transaction() as session:  # taken by someone else of the lane: no longer in my list
        services.claim_task(session, task, "account_manager.b", now=api.db.clock.now())
    assert page(api, following(later))["total"] == 4


def test_only_the_same_list_reuses_a_token(api: Api) -> None:
    numbers = cases(api, 3)
    token = page(api, "/tasks?limit=1")["count_token"]
    with counts(api) as counted:  # another filter, another user: counted, never the token's total
        assert page(api, f"/tasks?limit=1&offset=1&q={numbers[0]}&count_token={token}")["total"] == 1
        assert page(api, f"/tasks?limit=1&offset=1&count_token={token}", "supervisor")["total"] == 0
    assert len(counted) >= 2
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = api.get(f"/tasks?limit=1&offset=1&count_token={forged}", "account_manager")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_parameter"


def test_lists_that_change_with_the_clock_are_always_counted(api: Api) -> None:
    number = cases(api, 1)[0]
    due = open_task(api.db, number, "accept_application").due_at
    assert due is not None
    api.db.clock.advance_to(due - timedelta(hours=1))
    first = page(api, "/tasks?due=overdue")
    assert first["total"] == 0 and first["count_token"] is None and first["next"] is None
    api.db.clock.advance_to(due + timedelta(hours=1))  # overdue now, with nothing written
    assert page(api, "/tasks?due=overdue")["total"] == 1


def test_every_kind_of_task_change_moves_the_list_version(db: Db) -> None:
    def version() -> int:
        with db.reading() as session:
            return list_version(session)

    before = version()
    number = start_case(db, "hv_ordinary")
    moves = [before, version()]
    task = open_task(db, number, "accept_application").id
    for change in (
            lambda session: services.claim_task(session, task, "account_manager", now=db.clock.now()),
            lambda session: services.unclaim_task(session, task, "account_manager", now=db.clock.now()),
            lambda session: services.assign_task(session, task, "account_manager", by="supervisor",
                                                 now=db.clock.now()),
            lambda session: services.set_case_status(session, db.runtime, number, "suspended", "supervisor"),
            lambda session: services.set_case_status(session, db.runtime, number, "running", "supervisor")):
        with db.transaction() as session:
            change(session)
        moves.append(version())
    complete(db, number, "accept_application", user="account_manager")
    moves.append(version())
    advance_to(db, number, "site_survey")
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "cancelled", "supervisor", reason="test")
    moves.append(version())
    assert all(later != earlier for earlier, later in zip(moves, moves[1:], strict=False)), moves
