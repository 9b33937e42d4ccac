"""The operations port answers its routes and nothing else, over real HTTP on loopback."""

from __future__ import annotations

import socket
from http import HTTPStatus

import httpx

from s3tasks_servicekit.opsserver import Answer, OpsServer, json_status


def test_routes_are_answered_and_everything_else_is_a_404() -> None:
    def metrics() -> Answer:
        return HTTPStatus.OK, b"s3tasks_up 1\n", "text/plain; version=0.0.4"

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = OpsServer(
        sock,
        {
            "/metrics": metrics,
            "/readyz": lambda: json_status(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable"),
        },
    )
    server.start()
    try:
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics?name[]=x", timeout=10)
        assert scraped.status_code == 200
        assert scraped.text == "s3tasks_up 1\n"
        assert scraped.headers["content-type"] == "text/plain; version=0.0.4"
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable"}
        missing = httpx.get(f"http://127.0.0.1:{port}/images", timeout=10)
        assert missing.status_code == 404
        assert missing.json() == {"status": "not found"}
    finally:
        server.stop()
