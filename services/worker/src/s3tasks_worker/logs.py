"""Log set-up for worker and beat: readable text in development, one JSON object a line in
production. Celery's own log set-up is switched off so both processes log the same way."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from celery.signals import setup_logging

from s3tasks_worker.settings import WorkerSettings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"

#: C0 and C1 control characters, DEL and the Unicode line and paragraph separators: written raw
#: they forge log lines (CR, LF, NEL, U+2028) or drive the reader's terminal (ESC sequences).
#: Visitors choose much of what is logged (paths, names, headers), so none is written raw.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` with every control character written as its Python escape (`\\r`, `\\x1b`)."""
    return _CONTROL_CHARACTERS.sub(
        lambda found: found.group().encode("unicode_escape").decode("ascii"), text
    )


class TextFormatter(logging.Formatter):
    """Readable lines, one per record: the line is escaped; a traceback keeps its line breaks
    but is indented, so no line of it can pass for a record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        lines = super().formatException(ei).split("\n")
        return "\n".join("    " + escape_controls(line) for line in lines)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return "\n".join("    " + escape_controls(line) for line in stack_info.split("\n"))


def json_line(entry: dict[str, Any]) -> str:
    """One JSON object, ASCII only: json escapes every control character but DEL, done here."""
    return json.dumps(entry, default=str, ensure_ascii=True).replace("\x7f", "\\u007f")


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
        return json_line(entry)


def configure_logging(settings: WorkerSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # one line per HTTP call would bury the one line per job
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Connecting any receiver tells Celery not to replace this configuration.
    setup_logging.connect(_keep_our_logging, dispatch_uid="s3tasks-logging", weak=False)


def _keep_our_logging(**_: Any) -> None:
    return
