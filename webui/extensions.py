"""The Flask extensions, created once here and bound to the app in ``create_app`` (microblog style), and the
runner environment the app keeps: database URL, instance folder and the one ``Runtime`` (clock, calendar,
handlers, parsed versions) of this process.
"""

from __future__ import annotations

from typing import Any

import flask_sqlalchemy
from flask import Flask, current_app
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from runner.database import make_engine
from runner.environment import Environment
from runner.models import Base
from runner.store import Runtime


class RunnerSQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy whose engines are made like the runner's (``runner.database.make_engine``: SQLite in WAL
    mode with ``BEGIN IMMEDIATE``, ``pool_pre_ping`` on PostgreSQL), so the web app and the worker write alike."""

    def _make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> Engine:
        options = dict(options)
        url = options.pop("url")
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        return make_engine(text, **options)


db = RunnerSQLAlchemy(model_class=Base)  # shares the runner's metadata (docs/decisions.md, item 16)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class RunnerEnvironment:
    """The app's one ``Environment`` and ``Runtime``: ``app.extensions["baozhuang"]``."""

    def __init__(self, environment: Environment, runtime: Runtime | None = None) -> None:
        self.environment = environment
        self.runtime = runtime or environment.runtime

    def init_app(self, app: Flask) -> None:
        app.extensions["baozhuang"] = self


def runner_env() -> RunnerEnvironment:
    env: RunnerEnvironment = current_app.extensions["baozhuang"]
    return env


def runtime() -> Runtime:
    """The runtime of this app (its clock says what "now" and "overdue" mean)."""
    return runner_env().runtime


def session() -> Session:
    """The request's database session (Flask-SQLAlchemy's scoped session, removed at the end of the request)."""
    return db.session()
