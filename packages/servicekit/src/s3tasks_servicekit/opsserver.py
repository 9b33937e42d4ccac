"""The operations port: a few GET paths (`/metrics`, probes) served by a thread of the
service's process, apart from the port the service publishes. Everything else is a 404."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

#: status, body and content type of an answer
Answer = tuple[HTTPStatus, bytes, str]
Route = Callable[[], Answer]


def json_status(status: HTTPStatus, word: str) -> Answer:
    """`{"status": word}`, as the probes answer."""
    return status, f'{{"status": "{word}"}}\n'.encode(), "application/json"


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[Mapping[str, Route]]

    def do_GET(self) -> None:
        route = self.routes.get(self.path.split("?", 1)[0])
        status, body, content_type = (
            route() if route else json_status(HTTPStatus.NOT_FOUND, "not found")
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # scrapes and probes every few seconds would drown everything else


class OpsServer:
    def __init__(self, sock: socket.socket, routes: Mapping[str, Route]) -> None:
        handler = type("OpsHandler", (_Handler,), {"routes": dict(routes)})
        self._server = ThreadingHTTPServer(sock.getsockname()[:2], handler, bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = sock
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ops-server", daemon=True
        )

    @classmethod
    def on_inherited_socket(cls, fd: int, routes: Mapping[str, Route]) -> OpsServer:
        return cls(socket.socket(fileno=fd), routes)

    @classmethod
    def on_address(cls, host: str, port: int, routes: Mapping[str, Route]) -> OpsServer:
        return cls(socket.create_server((host, port)), routes)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown()
            self._server.server_close()
