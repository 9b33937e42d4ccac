"""A TCP fault proxy on loopback: put it between a service and a dependency, switch faults on.

    with FaultProxy("127.0.0.1", 5432) as proxy:   # listens on 127.0.0.1:<kernel port>
        proxy.set_mode(Latency(0.5))                # every chunk waits half a second
        proxy.set_mode(ResetAfter(64 * 1024))       # RST once 64 KiB more went upstream
        proxy.set_mode(ResetAtCommit(b"UPDATE x"))  # a COMMIT after that lands; its client
                                                    # is reset before the answer (once)
        proxy.set_mode(BLACKHOLE)                   # accept, swallow, never answer
        proxy.set_mode(REFUSE)                      # new connections are reset at once
        proxy.set_mode(PASS)

A mode applies at once to new and to open connections (a client's keep-alive pool must not
dodge the fault). Threads, not asyncio, so it runs beside any test or service code; the
listening socket is bound by the parent, so the port stays the same for the proxy's life.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

from s3tasks_testkit.backing_services import sqlalchemy_url
from s3tasks_testkit.stack import StackConfig

_CHUNK: Final = 64 * 1024
_POLL_SECONDS: Final = 0.05
_LOOPBACK: Final = "127.0.0.1"
#: PostgreSQL's extended protocol: a Parse that names its statement ('P', length, name, text),
#: and a Bind of a named statement ('B', length, portal, name)
_PARSE_NAMED: Final = re.compile(rb"P.{4}(_pg3_\d+)\x00([^\x00]*)\x00", re.DOTALL)
_BIND_NAMED: Final = re.compile(rb"B.{4}[^\x00]*\x00(_pg3_\d+)\x00", re.DOTALL)


@dataclass(frozen=True)
class Pass:
    """Forward everything unchanged."""


@dataclass(frozen=True)
class Latency:
    """Forward everything, each chunk after `seconds` (both directions)."""

    seconds: float


@dataclass(frozen=True)
class ResetAfter:
    """Forward, then reset both sides once `bytes_upstream` more bytes went client → server."""

    bytes_upstream: int


@dataclass(frozen=True)
class ResetAtCommit:
    """PostgreSQL: on a connection that sent `after`, forward its next COMMIT, then reset the
    client before the answer comes back. The server commits; the client cannot know it did
    (an unknown outcome, as when a network drops at that moment). Fires once per set_mode.

    psycopg prepares a statement on a connection once it ran it five times
    (`prepare_threshold`) and from then on sends only its name (`_pg3_N`) in a Bind, not its
    text: the proxy remembers the names whose Parse carried `after`, so a prepared execution
    counts as sending it too (the test otherwise depends on how often the pooled connection
    ran the statement before: it failed so under load)."""

    after: bytes


@dataclass(frozen=True)
class Blackhole:
    """Accept and read, never forward and never answer (a dead peer behind a live socket)."""


@dataclass(frozen=True)
class Refuse:
    """Reset new and open connections at once (a stopped server)."""


Mode = Pass | Latency | ResetAfter | ResetAtCommit | Blackhole | Refuse
PASS: Final = Pass()
BLACKHOLE: Final = Blackhole()
REFUSE: Final = Refuse()


@dataclass
class _Generation:
    """A mode and the moment it was set; `ResetAfter` counts bytes from that moment."""

    mode: Mode
    number: int


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer's kernel would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Connection:
    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self._proxy = proxy
        self._client = client
        self._server: socket.socket | None = None
        self._closed = threading.Event()
        self._generation = -1
        self._upstream_since_mode = 0
        self._marker_sent_in = -1  # the generation in which `after` went upstream
        #: the statements this connection prepared, by name: their text (whatever the mode:
        #: psycopg prepares a statement long before a test sets the mode that looks for it)
        self._prepared: dict[bytes, bytes] = {}

    def run(self) -> None:
        try:
            self._serve()
        except OSError:
            pass
        finally:
            self.close(reset=False)
            # a close from another thread (a mode change, the proxy stopping) can come while
            # the upstream connection is being made, and then finds no server socket yet
            if self._server is not None:
                with contextlib.suppress(OSError):
                    self._server.close()

    def _serve(self) -> None:
        if isinstance(self._proxy.mode, Refuse):
            self.close(reset=True)
            return
        while isinstance(self._proxy.mode, Blackhole) and not self._closed.is_set():
            # not connected yet: swallow what the client sends, answer nothing
            if not self._swallow_client():
                return
        if self._closed.is_set():
            return
        self._server = socket.create_connection(self._proxy.target, timeout=5)
        self._server.settimeout(None)
        sockets = [self._client, self._server]
        while not self._closed.is_set():
            readable, _, _ = select.select(sockets, [], [], _POLL_SECONDS)
            gen = self._proxy.generation
            if isinstance(gen.mode, Refuse):
                self.close(reset=True)
                return
            for sock in readable:
                data = sock.recv(_CHUNK)
                if not data:
                    return
                upstream = sock is self._client
                if not self._forward(gen, data, upstream=upstream):
                    return

    def _swallow_client(self) -> bool:
        readable, _, _ = select.select([self._client], [], [], _POLL_SECONDS)
        if readable:
            return bool(self._client.recv(_CHUNK))
        return True

    def _forward(self, gen: _Generation, data: bytes, *, upstream: bool) -> bool:
        mode = gen.mode
        if upstream:
            self._prepared.update(_PARSE_NAMED.findall(data))
        if isinstance(mode, Blackhole):
            return True  # swallowed
        if isinstance(mode, Latency):
            time.sleep(mode.seconds)
        if isinstance(mode, ResetAfter) and upstream:
            if gen.number != self._generation:
                self._generation, self._upstream_since_mode = gen.number, 0
            allowed = mode.bytes_upstream - self._upstream_since_mode
            if len(data) >= allowed:
                if allowed > 0 and self._server is not None:
                    self._server.sendall(data[:allowed])
                self.close(reset=True)
                return False
            self._upstream_since_mode += len(data)
        if isinstance(mode, ResetAtCommit) and upstream and self._server is not None:
            if self._sends_marker(mode.after, data):
                self._marker_sent_in = gen.number
            elif (
                self._marker_sent_in == gen.number and b"COMMIT" in data and self._proxy._fire(gen)
            ):
                self._server.sendall(data)
                # the server reads the COMMIT before the FIN of our close, and commits
                _reset(self._client)
                return False
        target = self._server if upstream else self._client
        assert target is not None
        target.sendall(data)
        return True

    def _sends_marker(self, after: bytes, data: bytes) -> bool:
        """`after` in the statement text, or a Bind of a statement prepared with it."""
        if after in data:
            return True
        return any(after in self._prepared.get(name, b"") for name in _BIND_NAMED.findall(data))

    def close(self, *, reset: bool) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for sock in (self._client, self._server):
            if sock is None:
                continue
            if reset:
                _reset(sock)
            else:
                with contextlib.suppress(OSError):
                    sock.close()
        self._proxy._forget(self)


class FaultProxy:
    """Listens on 127.0.0.1 (kernel-chosen port) and forwards to `target_host:target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        if not target_host.startswith("127.") and target_host != "localhost":
            raise ValueError("the fault proxy forwards to loopback addresses only")
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((_LOOPBACK, 0))
        self._listener.listen(128)
        self._listener.settimeout(_POLL_SECONDS)
        self._lock = threading.Lock()
        self._generation = _Generation(PASS, 0)
        self._connections: set[_Connection] = set()
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)
        self.connections_accepted = 0
        self._fired_generations: set[int] = set()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def address(self) -> str:
        return f"{_LOOPBACK}:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._generation.mode

    @property
    def generation(self) -> _Generation:
        return self._generation

    def set_mode(self, mode: Mode) -> None:
        with self._lock:
            self._generation = _Generation(mode, self._generation.number + 1)
            open_now = list(self._connections)
        if isinstance(mode, Refuse):
            for conn in open_now:
                conn.close(reset=True)

    @property
    def fired(self) -> int:
        """How many one-shot faults (ResetAtCommit) went off."""
        with self._lock:
            return len(self._fired_generations)

    def _fire(self, gen: _Generation) -> bool:
        """True for the first connection to fire a one-shot mode, False for any later one."""
        with self._lock:
            if gen.number in self._fired_generations:
                return False
            self._fired_generations.add(gen.number)
            return True

    @contextlib.contextmanager
    def fault(self, mode: Mode) -> Iterator[None]:
        """`with proxy.fault(REFUSE): ...` then back to PASS."""
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode(PASS)

    def start(self) -> FaultProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._acceptor.join(timeout=5)
        with self._lock:
            open_now = list(self._connections)
        for conn in open_now:
            conn.close(reset=False)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, client)
            with self._lock:
                self._connections.add(conn)
                self.connections_accepted += 1
            threading.Thread(target=conn.run, name="faultproxy-conn", daemon=True).start()

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)


def loopback_address(url: str, default_port: int) -> tuple[str, int]:
    """Host and port of a TCP dependency on this machine. ValueError for anything else (a
    unix socket, another host): a fault proxy here cannot stand in front of it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.startswith("127.") and host != "localhost":
        raise ValueError(f"fault proxies need a TCP loopback dependency, not {url}")
    return host, parts.port or default_port


def _through(url: str, proxy: FaultProxy) -> str:
    """`url` with its host and port replaced by the proxy's (user and password kept)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return parts._replace(netloc=f"{userinfo}{proxy.address}").geturl()


@dataclass(frozen=True)
class Proxies:
    s3: FaultProxy
    database: FaultProxy
    redis: FaultProxy


@contextlib.contextmanager
def storage_api_through_proxies(
    config: StackConfig, *, s3_timeout_seconds: int
) -> Iterator[tuple[StackConfig, Proxies]]:
    """`config` with storage-api reaching S3, PostgreSQL and Redis through a fault proxy each
    (all passing until told otherwise), and giving up on a cut-off S3 or PostgreSQL soon.
    Only storage-api: the worker and beat keep their direct Redis, so the sweep keeps
    ticking while storage-api's broker is cut off."""
    with (
        FaultProxy(*loopback_address(config.s3.url, 80)) as s3,
        FaultProxy(*loopback_address(config.database_url, 5432)) as database,
        FaultProxy(*loopback_address(config.redis_url, 6379)) as redis,
    ):
        proxied = {
            "STORAGE_API_S3_ENDPOINT": f"http://{s3.address}",
            "STORAGE_API_DATABASE_URL": sqlalchemy_url(_through(config.database_url, database)),
            "STORAGE_API_BROKER_URL": _through(config.redis_url, redis),
            "STORAGE_API_S3_TIMEOUT_SECONDS": str(s3_timeout_seconds),
            "STORAGE_API_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        }
        yield (
            replace(config, extra_env={**config.extra_env, **proxied}),
            Proxies(s3, database, redis),
        )
