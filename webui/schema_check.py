"""The web app serves only a database it can reach, write, and that is at the schema revision this release ships
(``runner.schema.head``).

``make run`` upgrades the database before it starts the app, but a server started on its own (``waitress-serve
--call webui:create_app``) may meet a database nobody upgraded yet, or one a newer release already upgraded. Serving
it would fail on missing tables half way through a request, or write state an older release cannot read. Until the
revision matches, every request but ``/healthz`` is a 503 naming the revision found and the command to run;
``/healthz`` says the same.

A database that cannot be used at all is told apart from one without a schema, and named with the driver's reason
(never a password, a statement or its parameters): ``cannot connect to the database (host:port): <reason>`` (a
closed port, a wrong host, refused credentials, a server restarted or failed over), ``the database (…) is
read-only (<reason>)`` (a SQLite file or folder that cannot be written, a PostgreSQL standby), ``the database (…)
cannot store data: the disk or the database is full``. The app finds out either before serving (the check below)
or when a request meets it (``webui.errors`` turns such a ``DBAPIError`` into the same 503): either way it is
logged on ``baozhuang.web`` once per distinct problem, not on every request, and from then on every request checks
again, so the app serves as soon as the database is back (and logs ``serving again``). While all is well nothing
is checked: the check costs a few statements, and only after a problem."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from flask import Flask, current_app, request
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.exceptions import ServiceUnavailable

from runner.environment import database_problem, driver_reason, masked_url
from runner.schema import head

from .extensions import db

log = logging.getLogger("baozhuang.web")

MIN_FREE_BYTES = 1024 * 1024
"""Less free space than this beside a SQLite database counts as a full disk: the next write would fail."""
WRITE_PROBE = text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0")
"""A write that changes nothing: refused by a read-only database (SQLite's file or folder, a PostgreSQL standby),
cheap everywhere else (no row matches, nothing is written)."""

INSUFFICIENT_PRIVILEGE = "42501"
"""PostgreSQL's SQLSTATE for a statement the role may not run (here: the probe on ``alembic_version``)."""


class DatabaseNotServed(ServiceUnavailable):
    """A 503 because of the database (unreachable, read-only, full, or at another schema revision); the description
    is the problem in the operator's words. Its page touches no database (``webui.errors``)."""


def database_place(url: str) -> str:
    """Where the database is, as an operator names it: ``host:port`` (or the file of SQLite), without a password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return masked_url(url)
    if parsed.host:
        return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host
    return parsed.database or masked_url(url)


def connection_problem(url: str, err: DBAPIError) -> str:
    """The 503 text for a database that cannot be reached; the driver's reason with any password masked."""
    return f"cannot connect to the database ({database_place(url)}): {driver_reason(err, url)}"


def request_problem(err: DBAPIError) -> str | None:
    """What a statement's failure says about the app's database (``runner.environment.database_problem``, in the
    words of the 503 page), or None when it is the statement's own failure."""
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    return database_problem(err, f"the database ({database_place(url)})", url)


def storage_problem(database: Session) -> str | None:
    """Why the database, at this release's revision, could not store anything now: read-only, or (SQLite) no room
    left on its disk. A no-op write and a look at the free space: cheap enough for ``/healthz``."""
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        database.execute(WRITE_PROBE)
    except DBAPIError as err:
        problem = request_problem(err)
        if problem is None and getattr(err.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            database.rollback()
            return None  # a role that may write the app's tables but not Alembic's: the probe proves nothing
        return problem or f"the database ({database_place(url)}) cannot be written: {driver_reason(err, url)}"
    folder = sqlite_folder(url)
    if folder is not None:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return None  # the database answered: a folder we cannot measure is no reason to stop serving
        if free < MIN_FREE_BYTES:
            return f"the database ({database_place(url)}) cannot store data: the disk is full ({free} bytes free " \
                   f"in {folder})"
    return None


def sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite database file (``sqlite:///path`` or ``sqlite:///file:path?mode=…&uri=true``)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database.removeprefix("file:").partition("?")[0]).parent


def schema_problem() -> str | None:
    """Why the database cannot be served, or None when it can: reachable, at this release's revision, writable."""
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    try:
        try:
            db.session.connection()  # a failure here is the server, not the schema
        except DBAPIError as err:
            return request_problem(err) or connection_problem(url, err)
        try:
            revision = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        except DBAPIError as err:
            problem = request_problem(err)
            if problem is not None:  # the server went away between connecting and reading, or cannot read
                return problem
            revision = None  # no alembic_version table: never upgraded
        except SQLAlchemyError:
            revision = None
        if revision == head():
            return storage_problem(db.session())
    finally:
        rollback_quietly()
    found = f"at schema revision {revision}" if revision else "without a schema"
    return f"the database is {found}, this release needs {head()}: run `baozhuang db upgrade`"


def rollback_quietly() -> None:
    """End the request's transaction; on a connection that is gone there is nothing left to roll back."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass


class Availability:
    """Whether the app checks the database before each request, and the problem it last logged
    (``app.extensions["baozhuang_availability"]``)."""

    def __init__(self) -> None:
        self.checked = False
        self.reported: str | None = None

    def refuse(self, problem: str) -> DatabaseNotServed:
        """The 503 for ``problem``; logged when it starts or changes (not on every request), checked from now on."""
        if problem != self.reported:
            log.error("not serving: %s", problem)
            self.reported = problem
        self.checked = False
        return DatabaseNotServed(problem)

    def serving(self) -> None:
        if self.reported is not None:
            log.info("serving again: the database is reachable, writable and at schema revision %s", head())
            self.reported = None
        self.checked = True


def availability() -> Availability:
    found: Availability = current_app.extensions["baozhuang_availability"]
    return found


def init_app(app: Flask) -> None:
    app.extensions["baozhuang_availability"] = Availability()

    @app.before_request
    def database_at_this_release() -> None:
        state = availability()
        if state.checked or request.endpoint in ("health.healthz", "static"):
            return
        problem = schema_problem()
        if problem is not None:
            raise state.refuse(problem)
        state.serving()
