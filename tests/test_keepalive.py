"""Responses on a kept-alive connection do not wait for the client's delayed ACK.

testkit, `make run` and the benchmarks serve web and storage-api on a listening socket the
parent made (`serve --fd N`); the containers let uvicorn bind `--host`/`--port`. Both must set
TCP_NODELAY on the connections they accept: without it, Nagle's algorithm holds the second
write of every response (body after headers) until the client ACKs the first, and Linux delays
that ACK by at least 40 ms. That stall was on every request after a connection's first.

Two checks that cannot flake on a loaded machine: the socket option itself on an accepted
connection (exact), and the fastest of many kept-alive requests to the real processes, which
with the stall is never under 40 ms and without it is well under a millisecond.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from s3tasks_servicekit.listeners import inherited_listener
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, python_module, wait_until
from s3tasks_testkit.stack import Dependencies, Stack, isolated_config

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Linux's shortest delayed ACK is 40 ms; a kept-alive /healthz without the stall takes well
#: under 1 ms, so the fastest of KEPT_ALIVE_REQUESTS is far from this bound either way.
STALL_BOUND_SECONDS = 0.030
KEPT_ALIVE_REQUESTS = 25


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def _uvicorn_in_thread(
    config: uvicorn.Config, sockets: list[socket.socket] | None
) -> Iterator[uvicorn.Server]:
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=sockets)))
    thread.start()
    try:
        wait_until(
            lambda: server.started or not thread.is_alive(),
            timeout=patience(starts=1),
            message="uvicorn",
        )
        assert server.started, "uvicorn did not start"
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _accepted_nodelay(server: uvicorn.Server, port: int) -> int:
    """TCP_NODELAY of the server side of a connection that has answered one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"ok"
        (protocol,) = server.server_state.connections
        accepted: socket.socket = protocol.transport.get_extra_info("socket")  # type: ignore[union-attr]
        return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        conn.close()


def test_connections_accepted_on_an_inherited_socket_have_nodelay() -> None:
    """web's and storage-api's `serve --fd N` (s3tasks_servicekit.listeners)."""
    listener = bind_loopback()
    try:
        config = uvicorn.Config(_ok, lifespan="off", log_config=None)
        # a duplicate, as a child inherits it: uvicorn closes its copy when it stops
        inherited = inherited_listener(os.dup(listener.fileno()))
        with _uvicorn_in_thread(config, inherited) as server:
            assert _accepted_nodelay(server, listener.getsockname()[1]) == 1
    finally:
        listener.close()


def test_connections_accepted_on_a_bound_address_have_nodelay() -> None:
    """The containers' command line (`serve --host 0.0.0.0 --port P`): uvicorn binds itself."""
    config = uvicorn.Config(_ok, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    with _uvicorn_in_thread(config, None) as server:
        (listener,) = server.servers[0].sockets
        assert _accepted_nodelay(server, listener.getsockname()[1]) == 1


def _fastest_kept_alive_seconds(url: str, path: str) -> float:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    latencies = []
    try:
        for _ in range(1 + KEPT_ALIVE_REQUESTS):
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            assert not response.will_close, "the connection must stay open"
            latencies.append(time.perf_counter() - started)
    finally:
        conn.close()
    # the first request rides the kernel's quick-ACK start of a connection and never stalls
    return min(latencies[1:])


def test_kept_alive_requests_to_the_started_services_do_not_stall(
    dependencies: Dependencies,
) -> None:
    """web and storage-api as testkit, `make run` and the benchmarks start them, and the
    benchmark's bare Litestar baseline."""
    with isolated_config(dependencies, "keepalive") as config:
        stack = Stack(config)
        bare_sock = bind_loopback()
        # bench's baseline app, run as bench runs it (the suite cannot import bench itself)
        bare = ServiceProcess(
            name="bare-litestar",
            argv=python_module("bench.bare_app"),
            env={"PYTHONPATH": str(REPO_ROOT)},
            log_dir=config.log_dir,
            sock=bare_sock,
            ready_url=f"http://127.0.0.1:{bare_sock.getsockname()[1]}/readyz",
        )
        try:
            stack.migrate()
            api = stack.start_storage_api()
            web = stack.start_web()
            bare.start()
            fastest = {
                "storage-api": _fastest_kept_alive_seconds(api.url, "/healthz"),
                "web": _fastest_kept_alive_seconds(web.url, "/healthz"),
                "bare-litestar": _fastest_kept_alive_seconds(bare.url, "/readyz"),
            }
        finally:
            bare.stop()
            bare_sock.close()
            stack.stop_all()
    stalled = {name: f"{s * 1000:.1f} ms" for name, s in fastest.items() if s > STALL_BOUND_SECONDS}
    assert not stalled, f"every kept-alive request stalled (fastest shown): {stalled}"
