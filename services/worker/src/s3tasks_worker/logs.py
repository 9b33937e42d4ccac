"""Log set-up for worker and beat: the shared format (`s3tasks_servicekit.logs`), with the
process of each line (the main process or a pool process). Celery's own log set-up is switched
off so both processes log the same way."""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging

from s3tasks_servicekit.logs import configure_logging as configure_shared_logging
from s3tasks_worker.settings import WorkerSettings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"


def configure_logging(settings: WorkerSettings) -> None:
    configure_shared_logging(
        settings.log_level,
        json_format=settings.json_logs,
        service="worker",
        text_format=TEXT_FORMAT,
        record_fields={"process": "processName", "pid": "process"},
        # one line per HTTP call would bury the one line per job
        quiet=("httpx",),
    )
    # Connecting any receiver tells Celery not to replace this configuration.
    setup_logging.connect(_keep_our_logging, dispatch_uid="s3tasks-logging", weak=False)


def _keep_our_logging(**_: Any) -> None:
    return
