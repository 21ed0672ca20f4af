"""The web app serves only a database it can reach, at the schema revision this release ships (``runner.schema.head``).

``make run`` upgrades the database before it starts the app, but a server started on its own (``waitress-serve
--call webui:create_app``) may meet a database nobody upgraded yet, or one a newer release already upgraded. Serving
it would fail on missing tables half way through a request, or write state an older release cannot read. Until the
revision matches, every request but ``/healthz`` is a 503 naming the revision found and the command to run;
``/healthz`` says the same. Once it matched, it is not read again (upgrades only move forward while serving).

A database that cannot be reached at all (a closed port, a wrong host, refused credentials) is told apart from one
without a schema: the 503 says ``cannot connect to the database (host:port): <the driver's reason>`` (no password),
and the error is logged on ``baozhuang.web`` — once per distinct problem, not on every request. Every later
request checks again, so the app serves as soon as the database is back (and logs that it is)."""

from __future__ import annotations

import logging

from flask import Flask, current_app, request
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from runner.environment import driver_reason, masked_url
from runner.schema import head

from .extensions import db

log = logging.getLogger("baozhuang.web")


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


def schema_problem() -> str | None:
    """Why the database cannot be served, or None when it is at this release's revision."""
    try:
        try:
            db.session.connection()  # a failure here is the server, not the schema
        except DBAPIError as err:
            return connection_problem(current_app.config["SQLALCHEMY_DATABASE_URI"], err)
        try:
            revision = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        except DBAPIError as err:
            if err.connection_invalidated:  # the server went away between connecting and reading
                return connection_problem(current_app.config["SQLALCHEMY_DATABASE_URI"], err)
            revision = None  # no alembic_version table: never upgraded
        except SQLAlchemyError:
            revision = None
    finally:
        db.session.rollback()
    if revision == head():
        return None
    found = f"at schema revision {revision}" if revision else "without a schema"
    return f"the database is {found}, this release needs {head()}: run `baozhuang db upgrade`"


def init_app(app: Flask) -> None:
    served = {"ok": False}
    reported: dict[str, str | None] = {"problem": None}

    @app.before_request
    def database_at_this_release() -> None:
        if served["ok"] or request.endpoint in ("health.healthz", "static"):
            return
        problem = schema_problem()
        if problem is not None:
            if problem != reported["problem"]:  # logged when it starts or changes, not on every request
                log.error("not serving: %s", problem)
                reported["problem"] = problem
            raise ServiceUnavailable(problem)
        if reported["problem"] is not None:
            log.info("serving again: the database is reachable and at schema revision %s", head())
        served["ok"] = True
