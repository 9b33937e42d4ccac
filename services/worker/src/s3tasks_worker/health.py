"""Liveness and readiness of the worker, as files (for exec probes) and over HTTP.

Liveness is a heartbeat file touched by a thread of the worker's main process. It does not
depend on Redis: a broker outage makes the worker unready (its consumer stops), not dead, so
Kubernetes does not restart healthy workers in a loop while Redis is away.
Readiness is a file that exists while the consumer is connected and consuming.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthFiles:
    heartbeat_file: Path
    ready_file: Path
    stale_after_seconds: float

    def touch_heartbeat(self) -> None:
        self.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
        self.heartbeat_file.touch()

    def mark_ready(self) -> None:
        self.ready_file.parent.mkdir(parents=True, exist_ok=True)
        self.ready_file.touch()

    def mark_not_ready(self) -> None:
        self.ready_file.unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget a previous run's files (the state dir may outlive a killed container)."""
        self.mark_not_ready()
        self.heartbeat_file.unlink(missing_ok=True)

    def is_alive(self) -> bool:
        try:
            age = time.time() - self.heartbeat_file.stat().st_mtime
        except FileNotFoundError:
            return False
        return age <= self.stale_after_seconds

    def is_ready(self) -> bool:
        return self.is_alive() and self.ready_file.exists()


class HeartbeatThread:
    """Touches the heartbeat file every `interval` seconds until stopped."""

    def __init__(self, files: HealthFiles, interval: float) -> None:
        self._files = files
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._files.touch_heartbeat()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 1)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._files.touch_heartbeat()
            except OSError:
                logger.exception("cannot touch the heartbeat file %s", self._files.heartbeat_file)


class _HealthHandler(BaseHTTPRequestHandler):
    files: ClassVar[HealthFiles]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, content_type = render_multiprocess_metrics()
            self._send(HTTPStatus.OK, body, content_type)
        elif path == "/healthz":
            self._send_check(alive=self.files.is_alive())
        elif path == "/readyz":
            self._send_check(alive=self.files.is_ready())
        else:
            self._send(HTTPStatus.NOT_FOUND, b'{"status": "not found"}\n', "application/json")

    def _send_check(self, *, alive: bool) -> None:
        if alive:
            self._send(HTTPStatus.OK, b'{"status": "ok"}\n', "application/json")
        else:
            status = HTTPStatus.SERVICE_UNAVAILABLE
            self._send(status, b'{"status": "unavailable"}\n', "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Probes and scrapes every few seconds would drown the job logs.
        return


def render_multiprocess_metrics() -> tuple[bytes, str]:
    """The sum over every pool process's files (PROMETHEUS_MULTIPROC_DIR)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


class HealthServer:
    """`/metrics`, `/healthz` and `/readyz` served by a thread of the worker's main process."""

    def __init__(self, sock: socket.socket, files: HealthFiles) -> None:
        handler = type("HealthHandler", (_HealthHandler,), {"files": files})
        self._server = ThreadingHTTPServer(sock.getsockname()[:2], handler, bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = sock
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @classmethod
    def on_inherited_socket(cls, fd: int, files: HealthFiles) -> HealthServer:
        return cls(socket.socket(fileno=fd), files)

    @classmethod
    def on_address(cls, host: str, port: int, files: HealthFiles) -> HealthServer:
        sock = socket.create_server((host, port), reuse_port=False)
        return cls(sock, files)

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown()
            self._server.server_close()
