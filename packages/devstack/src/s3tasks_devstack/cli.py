"""`s3tasks-devstack` (`make run`): start the stack, say where everything is, supervise it
until Ctrl-C or SIGTERM, then stop it all."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from s3tasks_devstack.options import parse_args
from s3tasks_devstack.startup import RunningStack, devstack
from s3tasks_testkit.processes import ServiceProcess, http_ok
from s3tasks_testkit.stack import Stack

log = logging.getLogger("s3tasks.devstack")


class _Stopped(Exception):
    """Ctrl-C or SIGTERM."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    # A second Ctrl-C must not interrupt the clean-up the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stopped


def _running(stack: Stack) -> list[ServiceProcess]:
    return [p for p in (stack.storage_api, stack.worker, stack.beat, stack.web) if p is not None]


def where_everything_is(running: RunningStack) -> str:
    """What a developer opens: the pages first, then each service's /metrics and the API."""
    return "\n".join(
        [
            "",
            f"  s3tasks is running at {running.web_url}/images",
            "",
            f"  web's metrics          {running.web_metrics_url}/metrics",
            f"  storage-api            {running.storage_api_url}"
            f"  (metrics: /metrics, OpenAPI: /schema)",
            f"  worker's metrics       {running.worker_url}/metrics  (the deletion jobs)",
            "",
            "  Ctrl-C stops everything.",
            "",
        ]
    )


def _supervise(stack: Stack, pending: dict[str, str]) -> int:
    """Watch the services until Ctrl-C/SIGTERM (exit 0) or until one of them dies (exit 1)."""
    tick = threading.Event()  # never set: its wait() is an interruptible one-second tick
    try:
        while not tick.wait(1.0):
            for name, ready_url in list(pending.items()):
                if http_ok(ready_url):
                    log.info("%s ready", name)
                    del pending[name]
            dead = [p for p in _running(stack) if not p.running]
            for proc in dead:
                log.error("%s exited:\n%s", proc.name, proc.tail_log())
            if dead:
                log.info("stopping everything")
                return 1
    except _Stopped:
        log.info("stopping web, beat, worker and storage-api, then the embedded services")
    return 0


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(message)s")
    for chatty in ("httpx", "pgserver"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGINT, _raise_stopped)
    exit_code = 0
    try:
        with devstack(options) as running:
            log.info(
                "s3tasks is running: open %s/images (Ctrl-C stops everything)", running.web_url
            )
            print(where_everything_is(running), flush=True)
            exit_code = _supervise(running.stack, dict(running.pending))
    except _Stopped:
        log.info("stopped while starting")
    except (RuntimeError, TimeoutError, OSError) as exc:
        log.error("devstack failed: %s", exc)  # noqa: TRY400 - the message is the whole story
        exit_code = 1
    log.info("stopped")
    raise SystemExit(exit_code)
