"""``make run``: prepare the database with demo data, then run the worker and the web server together.

Steps: ``db upgrade`` → one in-memory trial per category (as before) → deploy ``processes/`` and seed the demo
cases (``runner.demo.seed``) → demo users (``webui.demo_users``) → the worker (``baozhuang worker``, its simulation
runs on up to ``SIMULATION_JOBS`` processes) in a subprocess → the web server (waitress) in the foreground on
127.0.0.1, port ``PORT`` (default 5000). Ctrl-C or SIGTERM stops the server, then the worker (SIGTERM: it finishes
the job in hand).

Logging as everywhere (``runner.logging_setup``): ``baozhuang.*`` lines from INFO and other warnings to stderr.
Configuration as everywhere: ``DATABASE_URL``, ``BAOZHUANG_INSTANCE``, ``BAOZHUANG_*`` settings of the web app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import waitress

from runner import schema
from runner.demo import seed, show_trials
from runner.environment import CommandEnvironment, DatabaseNotReady, Environment
from runner.logging_setup import configure_logging

from . import create_app
from .demo_users import ensure_demo_users, print_demo_users

HOST = "127.0.0.1"
DEFAULT_PORT = 5000
WORKER_STOP_SECONDS = 30
SIMULATION_JOBS = max(1, min(2, os.cpu_count() or 1))
"""``worker --simulation-jobs`` of the demo: a process owner's what-if uses two cores where the machine has them
(a production worker keeps the default of one unless its operator gives it more)."""


def worker_command() -> list[str] | None:
    """``baozhuang worker`` from this environment, or None when the command does not exist."""
    script = Path(sys.executable).with_name("baozhuang")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from runner.cli import main; main()"]
    probe = subprocess.run([*command, "worker", "--help"], capture_output=True, check=False)
    return [*command, "worker", "--simulation-jobs", str(SIMULATION_JOBS)] if probe.returncode == 0 else None


def start_worker() -> subprocess.Popen[bytes] | None:
    command = worker_command()
    if command is None:
        print("worker: `baozhuang worker` is not available; timers and notifications will not run", flush=True)
        return None
    process = subprocess.Popen(command)
    print(f"worker: started (pid {process.pid})", flush=True)
    return process


def stop_worker(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    print(f"worker: stopped (exit {process.returncode})", flush=True)


def _stop_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds waitress.serve, then the finally below stops the worker


def main(folder: str = "processes") -> int:
    configure_logging()  # before waitress's own basicConfig: the baozhuang.* lines (admin trail) to stderr
    env = Environment.from_env()
    checked = CommandEnvironment(url=env.url, instance=env.instance)
    try:  # as the commands do: one line for a bad URL, an unreachable server or a newer release's database
        checked.check_connection()
    except DatabaseNotReady as err:
        print(f"error: {err.format_message()}", file=sys.stderr)
        return 1
    finally:
        checked.dispose()
    schema.upgrade(env.url)
    show_trials(Path(folder))
    seed(Path(folder), env)
    print_demo_users(ensure_demo_users(env.sessions))
    port = int(os.environ.get("PORT", DEFAULT_PORT))
    app = create_app()
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)  # also when started with SIGINT ignored (a background job)
    worker = start_worker()
    print(f"web: http://{HOST}:{port}/  (Ctrl-C stops the server and the worker)", flush=True)
    try:
        waitress.serve(app, host=HOST, port=port, threads=8)
    except KeyboardInterrupt:
        pass
    finally:
        stop_worker(worker)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
