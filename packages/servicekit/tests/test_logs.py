"""Log lines as an operator reads them: one format for every service, and what a visitor sends
forges no line and drives no terminal."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from s3tasks_servicekit.logs import JsonFormatter, TextFormatter, configure_logging
from s3tasks_servicekit.requestid import bind_request_id, unbind_request_id

#: a visitor's path that, written raw, would forge a log line and hide the rest (ESC [8m)
HOSTILE = "/files/\r\n2026-11-25 23:00:00,000 INFO    forged\x1b[8m\x85\u2028\x7f\x00/download"


def _record(message: str, *args: object) -> logging.LogRecord:
    error = ValueError("bad\r\nname\x1b[31m\n2026-11-25 23:00:00,000 INFO    forged")
    exc_info = (ValueError, error, None)
    return logging.LogRecord("test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_text_logs_escape_control_characters() -> None:
    line = TextFormatter("%(asctime)s %(levelname)s %(message)s").format(_record("GET %s", HOSTILE))
    first, *traceback = line.split("\n")
    assert "\\r\\n2026-11-25 23:00:00,000" in first
    assert "\\x1b[8m" in first
    for raw in ("\r", "\x1b", "\x85", "\u2028", "\x7f", "\x00"):
        assert raw not in line
    assert traceback, "the traceback keeps its own lines"
    assert all(text.startswith("    ") for text in traceback), traceback


def test_json_logs_escape_control_characters() -> None:
    line = JsonFormatter("svc").format(_record("GET %s", HOSTILE))
    assert "\n" not in line
    for raw in ("\r", "\x1b", "\x85", "\u2028", "\x7f", "\x00"):
        assert raw not in line
    assert json.loads(line)["message"] == f"GET {HOSTILE}"


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """What the root logger writes, with the configuration every test here makes undone."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("chatty").level)
    stream = io.StringIO()
    yield stream
    root.handlers[:], level, chatty = saved
    root.setLevel(level)
    logging.getLogger("chatty").setLevel(chatty)


def _configure(stream: io.StringIO, **options: object) -> None:
    configure_logging("info", service="svc", quiet=("chatty",), **options)  # type: ignore[arg-type]
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def test_json_lines_carry_utc_time_level_service_request_id_and_extras(
    root_stream: io.StringIO,
) -> None:
    _configure(root_stream, json_format=True, record_fields={"pid": "process"})
    _, token = bind_request_id("req-42")
    try:
        logging.getLogger("s3tasks.test").info("stored %s", "a.png", extra={"kind": "image"})
    finally:
        unbind_request_id(token)
    logging.getLogger("chatty").info("quieted: not written")
    (line,) = root_stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["time"].endswith("+00:00")
    assert entry["level"] == "INFO"
    assert entry["logger"] == "s3tasks.test"
    assert entry["message"] == "stored a.png"
    assert entry["service"] == "svc"
    assert entry["request_id"] == "req-42"
    assert entry["kind"] == "image"
    assert isinstance(entry["pid"], int)


def test_text_lines_carry_utc_time_and_the_request_id(root_stream: io.StringIO) -> None:
    _configure(root_stream, json_format=False)
    logging.getLogger("s3tasks.test").warning("outside any request")
    line = root_stream.getvalue()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING \[-\] s3tasks.test: ", line)
