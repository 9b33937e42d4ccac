"""The test kit's ports for processes that bind their own sockets: a start that lost its port
is made again on new ones, a refused port is held until the test lets go of it, and a port
answering is told apart from a port this process listens on."""

from __future__ import annotations

import os
import socket

import pytest

from s3tasks_testkit.ports import (
    PortTaken,
    listening_ports,
    refused_ports,
    start_on_free_ports,
)
from s3tasks_testkit.processes import bind_loopback, port_of


def test_a_start_that_lost_its_port_is_made_again_on_new_ones() -> None:
    tried: list[tuple[int, ...]] = []

    def start(free: tuple[int, ...]) -> tuple[int, ...]:
        tried.append(free)
        if len(tried) < 3:
            raise PortTaken("taken")
        return free

    assert start_on_free_ports(2, start) == tried[-1]
    assert len(tried) == 3
    assert all(len(set(free)) == 2 for free in tried)


def test_a_port_lost_on_every_attempt_fails_with_the_last_reason() -> None:
    def start(free: tuple[int, ...]) -> None:
        raise PortTaken(f"lost {free}")

    with pytest.raises(PortTaken, match="lost"):
        start_on_free_ports(1, start, attempts=2)
    # any other failure is not retried
    calls = []

    def broken(free: tuple[int, ...]) -> None:
        calls.append(free)
        raise RuntimeError("not a port")

    with pytest.raises(RuntimeError):
        start_on_free_ports(1, broken)
    assert len(calls) == 1


def test_a_refused_port_refuses_and_no_one_else_may_bind_it_meanwhile() -> None:
    with refused_ports(2) as (first, second):
        assert first != second
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", first), timeout=5)
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with other, pytest.raises(OSError, match=r"(?i)address already in use"):
            other.bind(("127.0.0.1", first))


def test_listening_ports_are_this_process_s_own() -> None:
    sock = bind_loopback()
    with sock:
        port = port_of(sock)
        assert port in listening_ports(os.getpid())
    assert port not in listening_ports(os.getpid())
