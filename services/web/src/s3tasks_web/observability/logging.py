"""Structured logs: JSON lines in production, readable text in development."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from s3tasks_web.observability.context import current_request_id

_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


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


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": "web",
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_line(entry)


def configure_logging(level: str, log_format: Literal["json", "text"]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
