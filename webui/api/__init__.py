"""The REST API ``/api/v1``: JSON over the same service layer as the HTML views, authenticated by bearer tokens.

Exempt from CSRF protection: it reads no cookies (``auth.py``). The OpenAPI document is ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from ..extensions import csrf
from . import cases, errors, failed_messages, tasks
from .auth import authenticate
from .openapi import document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate)
errors.register_handlers(bp)
tasks.register(bp)
cases.register(bp)
failed_messages.register(bp)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(document())


def init_app(app: Flask) -> None:
    """Register the blueprint (CSRF-exempt) and the JSON answers to HTTP errors under ``/api/``; call it after
    ``webui.errors.init_app``."""
    csrf.exempt(bp)
    app.register_blueprint(bp)
    errors.init_app(app)


__all__ = ["bp", "init_app"]
