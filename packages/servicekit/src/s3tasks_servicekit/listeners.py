"""Serving on a listening socket handed over by the parent (tests, the load harness)."""

from __future__ import annotations

import socket


def inherited_listener(fd: int | None) -> list[socket.socket] | None:
    """The listening socket behind `--fd`, for `uvicorn.Server.run(sockets=...)`.

    Not `uvicorn.Config(fd=...)`: uvicorn wraps that descriptor as an AF_UNIX socket, so
    asyncio never sets TCP_NODELAY on the connections it accepts, and every response on a
    kept-alive connection then waits ~40 ms for the client's delayed ACK (Nagle).
    `socket.socket(fileno=...)` asks the kernel for the real family, type and protocol.
    """
    return None if fd is None else [socket.socket(fileno=fd)]
