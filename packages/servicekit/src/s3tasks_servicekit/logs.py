"""One log format for every service: readable lines in development, one JSON object a line in
production, times in UTC, levels as Python names them (`INFO`), every control character escaped.

Each service calls `configure_logging` with its own name and, where it has them, its own
fields and the loggers it quiets.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from s3tasks_servicekit.requestid import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"

#: C0 and C1 control characters, DEL and the Unicode line and paragraph separators: written raw
#: they forge log lines (CR, LF, NEL, U+2028) or drive the reader's terminal (ESC sequences).
#: Visitors choose much of what is logged (paths, names, headers), so none is written raw.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: what every record has; anything else was given with `extra=` and goes into the JSON object
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def escape_controls(text: str) -> str:
    """`text` with every control character written as its Python escape (`\\r`, `\\x1b`)."""
    return _CONTROL_CHARACTERS.sub(
        lambda found: found.group().encode("unicode_escape").decode("ascii"), text
    )


def json_line(entry: Mapping[str, Any]) -> str:
    """One JSON object, ASCII only: json escapes every control character but DEL, done here."""
    return json.dumps(entry, default=str, ensure_ascii=True).replace("\x7f", "\\u007f")


class TextFormatter(logging.Formatter):
    """Readable lines, one per record: the line is escaped; a traceback keeps its line breaks
    but is indented, so no line of it can pass for a record of its own."""

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self.converter = time.gmtime  # UTC, as the JSON lines: one clock for every service

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        lines = super().formatException(ei).split("\n")
        return "\n".join("    " + escape_controls(line) for line in lines)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return "\n".join("    " + escape_controls(line) for line in stack_info.split("\n"))


class JsonFormatter(logging.Formatter):
    """`time`, `level`, `logger`, `message`, `service`, `request_id`, the record attributes the
    service names in `record_fields` (JSON key: attribute), then whatever `extra=` gave."""

    def __init__(self, service: str, record_fields: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._service = service
        self._record_fields = dict(record_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, attribute in self._record_fields.items():
            entry[key] = getattr(record, attribute, None)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_line(entry)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True


def configure_logging(
    level: str,
    *,
    json_format: bool,
    service: str,
    text_format: str = TEXT_FORMAT,
    record_fields: Mapping[str, str] | None = None,
    quiet: Iterable[str] = (),
) -> None:
    """The root logger writes to stderr in the one format; the `quiet` loggers say only
    warnings and worse."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        JsonFormatter(service, record_fields) if json_format else TextFormatter(text_format)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
