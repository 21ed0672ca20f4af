"""``/api/v1/failed-messages``: the notifications the worker gave up on (outbox status ``failed``) and sending them
again, one or all — what supervisors do on ``/incidents/``, through the same services."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from runner import services
from runner.models import row_id

from ..extensions import runtime, session
from .auth import require_groups
from .errors import ApiError
from .payloads import known_args, text_arg
from .representations import failed_message_json

MESSAGE_GROUPS = ("supervisor", "admin")
"""As for incidents."""
MAX_ID = 2**63 - 1  # the outbox id column (BIGINT)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/failed-messages", view_func=list_failed_messages, methods=["GET"])
    bp.add_url_rule("/failed-messages/retry", view_func=retry_all_messages, methods=["POST"])
    bp.add_url_rule("/failed-messages/<message_id>/retry", view_func=retry_message, methods=["POST"])


def list_failed_messages() -> ResponseReturnValue:
    """Oldest first; ``?case=`` only that case's."""
    require_groups(*MESSAGE_GROUPS)
    known_args("case")
    rows = services.failed_messages(session(), text_arg("case"))
    return jsonify(items=[failed_message_json(row) for row in rows])


def retry_message(message_id: str) -> ResponseReturnValue:
    """Pending again, delivered at the worker's next pass (409 when it is not failed any more)."""
    account = require_groups(*MESSAGE_GROUPS)
    number = row_id(message_id, MAX_ID)
    if number is None:
        raise ApiError(404, f"no outbox message {message_id[:20]}")
    services.send_message_again(session(), runtime(), number, account.username)
    session().commit()
    return jsonify(id=number, sent_again=True)


def retry_all_messages() -> ResponseReturnValue:
    account = require_groups(*MESSAGE_GROUPS)
    count = services.send_failed_messages_again(session(), runtime(), account.username)
    session().commit()
    return jsonify(sent_again=count)
