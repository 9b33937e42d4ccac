"""web's `/metrics` on a port of its own.

The public port is what the ingress publishes to the internet; the metrics are for the
operator's Prometheus only, so they are served apart (as the worker's are), by a thread of
web's process. Everything else on this port is a 404.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class _MetricsHandler(BaseHTTPRequestHandler):
    registry: ClassVar[CollectorRegistry]

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/metrics":
            self._send(HTTPStatus.OK, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        else:
            self._send(HTTPStatus.NOT_FOUND, b'{"status": "not found"}\n', "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # a scrape every few seconds would drown everything else


class MetricsServer:
    def __init__(self, sock: socket.socket, registry: CollectorRegistry) -> None:
        handler = type("MetricsHandler", (_MetricsHandler,), {"registry": registry})
        self._server = ThreadingHTTPServer(sock.getsockname()[:2], handler, bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = sock
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )

    @classmethod
    def on_inherited_socket(cls, fd: int, registry: CollectorRegistry) -> MetricsServer:
        return cls(socket.socket(fileno=fd), registry)

    @classmethod
    def on_address(cls, host: str, port: int, registry: CollectorRegistry) -> MetricsServer:
        return cls(socket.create_server((host, port)), registry)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown()
            self._server.server_close()
