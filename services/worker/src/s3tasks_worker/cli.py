"""`s3tasks-worker worker [--fd N] | beat | probe live|ready`."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from s3tasks_servicekit.settings import settings_or_exit
from s3tasks_worker.settings import WorkerSettings


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = settings_or_exit(WorkerSettings, parser.prog)
    if args.command == "worker":
        run_worker(settings, args.fd)
    elif args.command == "beat":
        run_beat(settings)
    else:
        raise SystemExit(probe(settings, args.check))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3tasks-worker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser(
        "worker", help="run the Celery worker; serves /metrics, /healthz and /readyz"
    )
    worker.add_argument(
        "--fd",
        type=int,
        default=None,
        help="serve on this inherited listening socket instead of WORKER_METRICS_HOST/PORT",
    )
    commands.add_parser("beat", help="run the schedule (two at once do no harm)")
    check = commands.add_parser("probe", help="exit 0 when the worker is live / ready")
    check.add_argument("check", choices=["live", "ready"])
    return parser


def run_worker(settings: WorkerSettings, fd: int | None) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    use_multiprocess_dir(settings.metrics_dir)

    from s3tasks_servicekit.opsserver import OpsServer
    from s3tasks_worker.app import create_celery_app, health_files
    from s3tasks_worker.health import health_routes
    from s3tasks_worker.logs import configure_logging
    from s3tasks_worker.metrics import DeletionMetrics

    configure_logging(settings)
    files = health_files(settings)
    files.clear()
    metrics = DeletionMetrics.create()
    metrics.initialise_series()
    app = create_celery_app(settings, metrics)
    routes = health_routes(files)
    if fd is not None:
        server = OpsServer.on_inherited_socket(fd, routes)
    else:
        server = OpsServer.on_address(settings.metrics_host, settings.metrics_port, routes)
    server.start()
    try:
        app.worker_main(
            [
                "worker",
                "--pool=prefork",
                f"--concurrency={settings.concurrency}",
                f"--queues={settings.task_queue}",
                f"--loglevel={settings.log_level}",
                # cluster chatter the jobs do not need; it only slows start-up
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
            ]
        )
    finally:
        files.clear()
        server.stop()


def use_multiprocess_dir(directory: Path) -> None:
    """Make pool processes write metric files there; call before prometheus_client is imported.

    prometheus-client chooses multiprocess mode when first imported. Each run starts with an
    empty directory: files of a previous run are not ours to sum.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before multiprocess mode was set")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def run_beat(settings: WorkerSettings) -> None:
    from s3tasks_worker.app import create_celery_app, health_files
    from s3tasks_worker.health import HeartbeatThread
    from s3tasks_worker.logs import configure_logging

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(settings)
    app = create_celery_app(settings)
    # `probe live` works for the beat container too: beat has its own state dir there.
    heartbeat = HeartbeatThread(health_files(settings), settings.heartbeat_interval_seconds)
    heartbeat.start()
    beat = app.Beat(schedule=str(settings.beat_schedule_file), loglevel=settings.log_level)
    beat.install_sync_handler = _stop_beat_on_signal
    try:
        beat.run()
    finally:
        heartbeat.stop()


def _stop_beat_on_signal(service: Any) -> None:
    """SIGTERM and SIGINT end beat's loop; the loop's own `finally` saves and closes the
    schedule, once.

    Celery's handler closes the schedule's shelf first, then raises SystemExit from wherever
    the signal landed: when that was inside a tick (publishing, through code that handles
    what it raises), the loop went on and its next tick read the closed shelf and beat
    exited 1 ("invalid operation on closed shelf"; seen in tests/shutdown/test_sigterm.py).
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        service.stop()  # the loop ends even where the SystemExit below is swallowed
        raise SystemExit

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def probe(settings: WorkerSettings, check: str) -> int:
    from s3tasks_worker.app import health_files

    files = health_files(settings)
    healthy = files.is_alive() if check == "live" else files.is_ready()
    return 0 if healthy else 1


if __name__ == "__main__":
    main(sys.argv[1:])
