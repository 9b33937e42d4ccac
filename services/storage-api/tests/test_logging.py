"""Log lines as an operator reads them: what a visitor sends forges no line, drives no terminal."""

from __future__ import annotations

import json
import logging

from s3tasks_storage_api.observability.logging import JsonFormatter, TextFormatter

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
    line = JsonFormatter().format(_record("GET %s", HOSTILE))
    assert "\n" not in line
    for raw in ("\r", "\x1b", "\x85", "\u2028", "\x7f", "\x00"):
        assert raw not in line
    assert json.loads(line)["message"] == f"GET {HOSTILE}"
