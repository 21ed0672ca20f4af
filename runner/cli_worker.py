"""``baozhuang worker``: run the job and outbox worker (``runner.worker``) in the foreground."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from .cli_runner import at_most, column_length
from .delivery import lease_warning, webhook_settings
from .environment import SettingError, command_environment, fail
from .heartbeat import WorkerIdInUse
from .logging_setup import configure_logging
from .models import Job, WorkerHeartbeat
from .worker import DEFAULT_BATCH_SIZE, DEFAULT_LEASE_SECONDS, DEFAULT_POLL_SECONDS, Worker

WORKER_ID_LENGTH = column_length(Job.lease_owner, WorkerHeartbeat.worker_id)

log = logging.getLogger("baozhuang.worker")


def register(main: click.Group) -> None:
    """Add ``worker`` to the ``baozhuang`` group."""
    main.add_command(worker_command)


@click.command(name="worker")
@click.option("--once", is_flag=True, help="Run one pass (a batch of due jobs, then of due outbox messages), exit.")
@click.option("--batch", "batch_size", default=DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(min=1),
              help="Jobs, and then outbox messages, claimed per pass.")
@click.option("--lease-seconds", default=DEFAULT_LEASE_SECONDS, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="How long a claim holds; a crashed worker's rows are taken over after it.")
@click.option("--poll-seconds", default=DEFAULT_POLL_SECONDS, show_default=True, type=click.FloatRange(min=0),
              help="Pause after a pass that found less than a full batch. Kept in the worker's heartbeat row: "
                   "/healthz counts this worker alive while its last heartbeat is younger than max(3 x this, 30 s).")
@click.option("--worker-id", callback=at_most(WORKER_ID_LENGTH),
              help=f"Lease owner name (default host:pid:random; at most {WORKER_ID_LENGTH} characters). A worker "
                   "restarted under the same id takes its old leases back at once.")
@click.option("--simulation-jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes a simulation run from the web page may use for its replications (one run at a time "
                   "per worker). More finishes a what-if sooner and takes those cores from this host's other work; "
                   "the results are the same.")
def worker_command(once: bool, batch_size: int, lease_seconds: float, poll_seconds: float,
                   worker_id: str | None, simulation_jobs: int) -> None:
    """Fire due timers, retry failed service tasks and deliver the outbox, until SIGTERM or SIGINT.

    On SIGTERM/SIGINT the job or message in hand is finished, the claimed ones not yet started are released, and
    the worker exits 0. Configuration: DATABASE_URL, BAOZHUANG_INSTANCE, BAOZHUANG_WEBHOOK_URL (sms, email and
    webhook channels; without it sms and email go to <instance>/outbox.log), BAOZHUANG_WEBHOOK_TIMEOUT (seconds,
    default 10). A webhook setting the worker cannot use stops it before it starts, with one error line; a
    timeout of half --lease-seconds or more is a warning (a slow webhook could then get a message twice).

    Each pass begins with a heartbeat (worker id, host, pid, start, poll interval; wall-clock time even under
    BAOZHUANG_CLOCK_OFFSET_DAYS) that /healthz reads. Log lines (baozhuang.worker, baozhuang.admin) go to stderr.
    """
    try:
        url, timeout = webhook_settings()  # checked before the database: nothing is claimed with channels that
        # cannot deliver
    except SettingError as err:
        fail(str(err))
    configure_logging()  # one line per action of ours; the engine's own chatter only from WARNING
    too_slow = lease_warning(url, timeout, lease_seconds)
    if too_slow is not None:
        log.warning("worker: %s", too_slow)
    env = command_environment()
    worker = Worker.from_environment(env, worker_id=worker_id, batch_size=batch_size, lease_seconds=lease_seconds,
                                     poll_seconds=poll_seconds, simulation_jobs=simulation_jobs)
    if once:
        click.echo(worker.run_once().describe())
        return
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker=%s %s received: finishing the current job", worker.worker_id, signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        worker.run_forever(stop)
    except WorkerIdInUse as err:
        fail(str(err))
