"""Logs: readable lines in development, one JSON object per line in production.

Every line carries the request id (from `X-Request-ID`, set by web or the worker, or made
here), so one upload can be followed from web to storage-api to the worker.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REQUEST_ID_HEADER = "x-request-id"


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
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_line(entry)


def configure_logging(level: str, json_format: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_format
        else TextFormatter("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # the deletion audit trail is kept at any level (deletions/service.py)
    logging.getLogger("s3tasks.deletions").setLevel(logging.INFO)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        )
        token = request_id_var.set(request_id)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self._app(scope, receive, send_wrapper)
        finally:
            request_id_var.reset(token)
