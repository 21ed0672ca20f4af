"""The staff web UI (业扩报装工作台): a Flask application factory with one blueprint per area.

Layers: views (this package) → ``runner.services`` / ``runner.accounts`` → ``runner`` → database. Nothing below
the views imports Flask. Run it with ``flask --app webui run`` (development) or ``make run`` (server + worker).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix

from runner.clock import SHANGHAI
from runner.environment import Environment
from runner.logging_setup import configure_logging

from . import config
from .extensions import RunnerEnvironment, babel, csrf, db, login_manager, runtime

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults → ``<instance>/webui.cfg`` → ``BAOZHUANG_*`` environment → ``test_config``.

    The database URL and the instance folder come from ``runner.environment.Environment`` (``DATABASE_URL``,
    ``BAOZHUANG_INSTANCE``). A test passes ``DATABASE_URL`` and ``INSTANCE_PATH`` (and, optionally, a ready
    ``RUNTIME``, e.g. on a virtual clock) in ``test_config`` instead.

    Logging is set up as for every baozhuang process (``runner.logging_setup``): the ``baozhuang.admin`` trail and
    the other ``baozhuang.*`` lines to stderr, unless the host (or pytest) configured logging already.
    """
    configure_logging()
    overrides = dict(test_config or {})
    runtime_override = overrides.pop("RUNTIME", None)
    environment = _environment(overrides)
    app = Flask(__name__, instance_path=str(environment.instance.resolve()), instance_relative_config=True)
    app.config.from_object(config.Defaults)
    app.config.from_pyfile(config.INSTANCE_CONFIG, silent=True)
    app.config.from_prefixed_env("BAOZHUANG")
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = environment.url
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.instance_secret_key(environment.instance)
    if app.config["SESSION_COOKIE_SECURE"] is None:  # not configured: HTTPS-only cookies unless debugging
        app.config["SESSION_COOKIE_SECURE"] = not app.debug
    if app.config["REMEMBER_COOKIE_SECURE"] is None:
        app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]

    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

    RunnerEnvironment(environment, runtime_override).init_app(app)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # the login page says what to do
    babel.init_app(app, locale_selector=_select_locale)

    from . import api, auth, cases, converters, errors, health, schema_check, taskform, tasks

    converters.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(taskform.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(health.bp)
    from . import portal, uploads

    app.register_blueprint(portal.bp)
    app.register_blueprint(uploads.bp)
    from . import admin
    from .cases import incidents

    app.register_blueprint(admin.bp)
    app.register_blueprint(incidents.bp)
    from . import simulation
    from .security import current_account, home_endpoint

    app.register_blueprint(simulation.bp)
    errors.init_app(app)
    api.init_app(app)  # after errors.init_app: HTTP errors under /api/ answered as JSON
    schema_check.init_app(app)
    _template_helpers(app)

    @app.get("/")
    def index() -> ResponseReturnValue:
        account = current_account()  # signed out: the login page, which sends each to their home afterwards
        return redirect(url_for(home_endpoint(account)) if account is not None else url_for("auth.login"))

    @app.get("/favicon.ico")
    def favicon() -> ResponseReturnValue:
        """For clients that ask for the icon without reading a page's ``<link rel="icon">``."""
        return redirect(url_for("static", filename="favicon.svg"), code=301)

    return app


def _environment(overrides: dict[str, Any]) -> Environment:
    instance = overrides.pop("INSTANCE_PATH", None)
    url = overrides.pop("DATABASE_URL", None)
    if instance is None:
        environment = Environment.from_env()
        return Environment(url=url, instance=environment.instance) if url else environment
    path = Path(instance)
    path.mkdir(parents=True, exist_ok=True)
    return Environment(url=url or f"sqlite:///{(path / 'baozhuang.sqlite3').resolve()}", instance=path)


def _select_locale() -> str:
    from flask import current_app

    chosen = session.get("lang")
    languages = current_app.config["LANGUAGES"]
    if chosen in languages:
        return str(chosen)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def _template_helpers(app: Flask) -> None:
    from . import labels
    from .security import current_account, is_supervisor

    def shanghai(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(SHANGHAI).strftime(fmt) if value is not None else "—"

    def iso_shanghai(value: object) -> object:
        """An ISO datetime string (as case data holds them) shown like the other times; anything else as it is."""
        if isinstance(value, str) and ISO_DATETIME.match(value):
            try:
                return shanghai(datetime.fromisoformat(value))
            except ValueError:
                return value
        return value

    app.jinja_env.filters["shanghai"] = shanghai
    app.jinja_env.filters["iso_shanghai"] = iso_shanghai
    app.jinja_env.filters["group_label"] = lambda code: labels.label(labels.GROUP_LABELS, code)
    app.jinja_env.filters["category_label"] = lambda code: labels.label(labels.CATEGORY_LABELS, code)
    app.jinja_env.filters["status_label"] = lambda code: labels.label(labels.CASE_STATUS_LABELS, code)
    app.jinja_env.filters["lifecycle_label"] = lambda code: labels.label(labels.LIFECYCLE_LABELS, code)
    app.jinja_env.filters["channel_label"] = lambda code: labels.label(labels.CHANNEL_LABELS, code)
    app.jinja_env.filters["template_label"] = lambda code: labels.label(labels.TEMPLATE_LABELS, code)
    # an event of the case as a whole (撤销, as the button says), else as the other events
    app.jinja_env.filters["case_event_label"] = lambda code: labels.label(
        labels.CASE_EVENT_LABELS if code in labels.CASE_EVENT_LABELS else labels.LIFECYCLE_LABELS, code)

    @app.context_processor
    def globals_for_templates() -> dict[str, Any]:
        account = current_account()
        now = runtime().clock.now()
        return {
            "account": account,
            "supervisor": account is not None and is_supervisor(account),
            "now": now,
            "today": now.astimezone(SHANGHAI).date(),
            "lang": _select_locale(),
            "request_path": request.full_path if request.query_string else request.path,
        }
