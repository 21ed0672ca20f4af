"""Logging of every baozhuang process (web server, worker, ``baozhuang`` commands): our own lines from INFO, the
libraries' from WARNING, to stderr.

The ``baozhuang.*`` loggers carry the operator's trail: ``baozhuang.admin`` (who changed which user, who sent
failed messages again — docs/decisions.md point 22), ``baozhuang.worker`` (one line per job and delivery),
``baozhuang.documents`` (an upload whose file is missing). Without set-up they would be dropped: Python's default
is WARNING and no handler. There is no log file of our own: stderr is collected by whatever runs the process
(systemd's journal, ``docker logs``, a shell redirect — docs/operations.md).

:func:`configure_logging` never takes over a set-up made before it: when the root logger already has handlers
(pytest's capture, a host's ``logging.config``, gunicorn's ``--log-config``) it adds none, so no line is written
twice; and a level already set on ``baozhuang`` is kept. Calling it again changes nothing.
"""

from __future__ import annotations

import logging

OUR_LOGGER = "baozhuang"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging() -> None:
    """``baozhuang.*`` INFO lines (and everybody's warnings) to stderr, unless logging is configured already."""
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)  # a no-op when the root has handlers
    ours = logging.getLogger(OUR_LOGGER)
    if ours.level == logging.NOTSET:  # not chosen by the host: our trail from INFO, whatever the root's level
        ours.setLevel(logging.INFO)
