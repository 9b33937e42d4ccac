"""The ingress's retries, on testkit's nginx (the directives the chart's ingress-nginx
annotations set): a request a replica refused, or reset before answering, goes to the next
replica when that cannot make anything happen twice, and only then.

The replicas are small HTTP servers on loopback that record every request they read, so the
test sees which replica got what; "refused" is a real port nothing listens on, "lost" a
server that reads the whole request and resets the connection without a byte back (a replica
killed mid-request, made repeatable).
"""

from __future__ import annotations

import http.server
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from s3tasks_testkit.balancer import (
    NEXT_UPSTREAM_TRIES,
    Balancer,
    nginx_available,
    nginx_balancer,
)
from s3tasks_testkit.ports import refused_ports

REQUESTS = 8  # round robin over two replicas: half of them meet the bad one first


class _Replica(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, loses_requests: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.loses_requests = loses_requests
        self.seen: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        """A reset connection is this replica's point, not an error to print."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Replica
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.command, self.path))
        if self.server.loses_requests:
            # SO_LINGER 0: close() sends RST, the peer reads "connection reset" and no byte
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        body = b"stored" if self.command in {"POST", "PUT"} else b"page"
        self.send_response(201 if self.command in {"POST", "PUT"} else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `seen`."""


@contextmanager
def replica(*, loses_requests: bool = False) -> Iterator[_Replica]:
    server = _Replica(loses_requests=loses_requests)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def _nginx() -> None:
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")


@contextmanager
def balancer(replica_ports: list[int], log_dir: Path) -> Iterator[tuple[Balancer, httpx.Client]]:
    with (
        nginx_balancer({"web": replica_ports}, log_dir) as nginx,
        httpx.Client(base_url=nginx.urls["web"], timeout=30) as client,
    ):
        yield nginx, client


def error_log(nginx: Balancer) -> str:
    return (nginx.access_log.parent / "nginx-error.log").read_text()


def test_reads_sent_to_a_refused_replica_are_answered_by_the_next(tmp_path: Path) -> None:
    with (
        replica() as live,
        refused_ports(1) as (dead,),
        balancer([dead, live.port], tmp_path) as (nginx, client),
    ):
        paths = [f"/images/{uuid.uuid4().hex}" for _ in range(REQUESTS)]
        for i, path in enumerate(paths):
            answer = client.head(path) if (i // 2) % 2 else client.get(path)
            assert answer.status_code == 200, (path, answer.status_code)
    assert sorted(p for _, p in live.seen) == sorted(paths)
    assert "Connection refused" in error_log(nginx)  # tried first, skipped: nobody noticed


def test_reads_a_replica_reset_before_answering_are_answered_by_the_next(tmp_path: Path) -> None:
    with (
        replica(loses_requests=True) as loser,
        replica() as live,
        balancer([loser.port, live.port], tmp_path) as (_, client),
    ):
        paths = [f"/files/{uuid.uuid4().hex}" for _ in range(REQUESTS)]
        for path in paths:
            assert client.get(path).status_code == 200, path
    assert loser.seen, "round robin sent some reads to the replica that lost them"
    assert sorted(p for _, p in live.seen) == sorted(paths)


@pytest.mark.parametrize(
    ("method", "body_bytes"),
    [
        # a form upload or "delete all": never passed on once sent (no `non_idempotent`)
        ("POST", 4096),
        # a part of an upload in parts, idempotent (the same part again) but streamed: nginx
        # has no copy of the body to send again. A body small enough to arrive with the
        # headers is read whole first, and an idempotent PUT with it may be passed on
        ("PUT", 1024 * 1024),
    ],
)
def test_writes_a_replica_received_and_lost_are_not_sent_again(
    tmp_path: Path, method: str, body_bytes: int
) -> None:
    """The visitor sees the 502; no second replica acts on the write."""
    answers: dict[str, int] = {}
    with (
        replica(loses_requests=True) as loser,
        replica() as live,
        balancer([loser.port, live.port], tmp_path) as (_, client),
    ):
        for _ in range(REQUESTS):
            path = f"/files/upload/{uuid.uuid4().hex}"
            answers[path] = client.request(method, path, content=b"x" * body_bytes).status_code
    lost = {p for _, p in loser.seen}
    stored = {p for _, p in live.seen}
    assert lost, "round robin sent some writes to the replica that lost them"
    assert not lost & stored, "a write the first replica received was sent to the second"
    assert {p for p, status in answers.items() if status == 502} == lost
    assert {p for p, status in answers.items() if status == 201} == stored
    assert len(live.seen) == len(stored), "every write reached a replica at most once"


def test_a_write_refused_at_connect_reached_nobody_and_goes_to_the_next_once(
    tmp_path: Path,
) -> None:
    """A refused connection carried no byte of the request, so passing it on cannot make it
    happen twice: nginx does (no `non_idempotent` needed), and the visitor sees no error."""
    with (
        replica() as live,
        refused_ports(1) as (dead,),
        balancer([dead, live.port], tmp_path) as (nginx, client),
    ):
        paths = [f"/files/upload/{uuid.uuid4().hex}" for _ in range(REQUESTS)]
        for path in paths:
            assert client.post(path, content=b"y" * 4096).status_code == 201, path
    assert sorted(p for _, p in live.seen) == sorted(paths)
    assert "Connection refused" in error_log(nginx)


def test_a_request_is_tried_on_at_most_the_configured_number_of_replicas(
    tmp_path: Path,
) -> None:
    """Every replica gone: the visitor gets nginx's 502 after NEXT_UPSTREAM_TRIES attempts,
    not a walk over every port nor a wait."""
    with (
        refused_ports(NEXT_UPSTREAM_TRIES + 2) as dead,
        balancer(list(dead), tmp_path) as (nginx, client),
    ):
        assert client.get("/images").status_code == 502
    assert error_log(nginx).count("Connection refused") == NEXT_UPSTREAM_TRIES
