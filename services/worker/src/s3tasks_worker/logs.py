"""Log set-up for worker and beat: readable text in development, one JSON object a line in
production. Celery's own log set-up is switched off so both processes log the same way."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from celery.signals import setup_logging

from s3tasks_worker.settings import WorkerSettings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(settings: WorkerSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # one line per HTTP call would bury the one line per job
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Connecting any receiver tells Celery not to replace this configuration.
    setup_logging.connect(_keep_our_logging, dispatch_uid="s3tasks-logging", weak=False)


def _keep_our_logging(**_: Any) -> None:
    return
