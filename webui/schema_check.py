"""The web app serves only a database at the schema revision this release ships (``runner.schema.head``).

``make run`` upgrades the database before it starts the app, but a server started on its own (``waitress-serve
--call webui:create_app``) may meet a database nobody upgraded yet, or one a newer release already upgraded. Serving
it would fail on missing tables half way through a request, or write state an older release cannot read. Until the
revision matches, every request but ``/healthz`` is a 503 naming the revision found and the command to run;
``/healthz`` says the same. Once it matched, it is not read again (upgrades only move forward while serving)."""

from __future__ import annotations

from flask import Flask, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from runner.schema import head

from .extensions import db


def schema_problem() -> str | None:
    """Why the database cannot be served, or None when it is at this release's revision."""
    try:
        revision = db.session.scalar(text("SELECT version_num FROM alembic_version"))
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

    @app.before_request
    def database_at_this_release() -> None:
        if served["ok"] or request.endpoint in ("health.healthz", "static"):
            return
        problem = schema_problem()
        if problem is not None:
            raise ServiceUnavailable(problem)
        served["ok"] = True
