"""Ports for processes that bind their own listening sockets: nginx, redis-server, a Ceph
monitor, containers on the host network (their healthchecks and the chart's probes name the
port, so it must be known before they start).

A child that can take a socket gets one from `processes.bind_loopback` and there is no race.
The others are given a port the kernel just handed out and then let go of, and on a loaded
machine running the suite in parallel another process may bind it first (seen: a worker
container's metrics server could not bind its port, EADDRINUSE). So every such start goes
through `start_on_free_ports`: the caller's start function says the port was taken by
raising `PortTaken`, and the start is made again on fresh ports. Nothing here waits on a
clock: a start that lost its port fails fast (the process exits saying so).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final, TypeVar

T = TypeVar("T")

#: a lost port is rare (one in many hundreds of starts here): a few fresh tries are plenty
START_ATTEMPTS: Final = 5


class PortTaken(RuntimeError):
    """A process could not bind the port it was given: another process took it first."""


def says_address_in_use(text: str) -> bool:
    """Does a process's log or error say it could not bind (Python, nginx, redis, Ceph, Go
    and podman all spell the kernel's EADDRINUSE message this way, in some case)?"""
    return "address already in use" in text.lower()


@contextmanager
def refused_ports(count: int = 1) -> Iterator[tuple[int, ...]]:
    """Loopback ports where connections are refused, as to a stopped replica or a dependency
    that is down, for as long as the block runs. Each stays bound here without listening,
    and without SO_REUSEADDR, so no other socket can bind it meanwhile: a port let go of
    could be taken by another process of a parallel run, and the test would reach that one."""
    with ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        yield tuple(int(sock.getsockname()[1]) for sock in socks)


def free_loopback_ports(count: int) -> tuple[int, ...]:
    """`count` distinct ports the kernel just handed out on 127.0.0.1, all let go of again.
    Only for a start made through `start_on_free_ports`, which tries again when one is lost."""
    with refused_ports(count) as ports:
        return ports


def start_on_free_ports(
    count: int, start: Callable[[tuple[int, ...]], T], *, attempts: int = START_ATTEMPTS
) -> T:
    """`start(ports)` with `count` fresh loopback ports; made again on new ports whenever it
    raises `PortTaken` (it must have cleaned up after itself first), at most `attempts`
    times."""
    for attempt in range(1, attempts + 1):
        try:
            return start(free_loopback_ports(count))
        except PortTaken:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def listening_ports(pid: int) -> set[int]:
    """TCP ports a process or any of its descendants listens on, from /proc (their socket
    inodes in /proc/net/tcp): the proof that a port answering is this process's, not the
    one of whoever took the port first."""
    inodes: set[str] = set()
    for each in _with_descendants(pid):
        try:
            fds = list(Path(f"/proc/{each}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports: set[int] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        listening = fields[3] == "0A"
        if listening and fields[9] in inodes:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _with_descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found
