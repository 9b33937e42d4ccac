"""Child processes that serve on a socket made by the parent (port 0, no race; a child
that binds its own goes through `ports.start_on_free_ports`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from s3tasks_testkit.patience import patience


def bind_loopback() -> socket.socket:
    """A listening TCP socket on 127.0.0.1 with a kernel-chosen port, inheritable by children."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
) -> None:
    """Poll `predicate` until it holds; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class ServiceProcess:
    """One service run as a child process with its output kept in a log file."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_dir: Path
    sock: socket.socket | None = None
    ready_url: str | None = None
    #: a second listening socket, passed as `--metrics-fd` (web serves /metrics apart)
    metrics_sock: socket.socket | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def port(self) -> int:
        if self.sock is None:
            raise RuntimeError(f"{self.name} has no socket")
        return port_of(self.sock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Where this service's /metrics is: its own port if it has one, else its main one."""
        if self.metrics_sock is None:
            return self.url
        return f"http://127.0.0.1:{port_of(self.metrics_sock)}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc.pid

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, *, ready_timeout: float | None = None) -> ServiceProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        argv = list(self.argv)
        pass_fds: tuple[int, ...] = ()
        if self.sock is not None:
            argv += ["--fd", str(self.sock.fileno())]
            pass_fds = (self.sock.fileno(),)
        if self.metrics_sock is not None:
            argv += ["--metrics-fd", str(self.metrics_sock.fileno())]
            pass_fds = (*pass_fds, self.metrics_sock.fileno())
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, pass_fds=pass_fds
        )
        if self.ready_url is not None:
            # a busy machine starts a Python service slowly: the suite's patience, not a number
            timeout = patience(starts=2) if ready_timeout is None else ready_timeout
            try:
                self.wait_ready(self.ready_url, timeout=timeout)
            except BaseException:
                self.stop(grace=5.0)  # a start that failed leaves no process nor open log
                raise
        return self

    def wait_ready(self, url: str, *, timeout: float) -> None:
        def ready() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.name} exited early:\n{self.tail_log()}")
            return http_ok(url)

        try:
            wait_until(ready, timeout=timeout, message=f"{self.name} at {url}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.tail_log()}") from exc

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def signal(self, signum: int) -> None:
        if self._proc is not None:
            self._proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, *, grace: float = 15.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            if self.wait_exit(grace) is None:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a node loss would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def tail_log(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def python_module(module: str, *args: str) -> list[str]:
    """argv that runs a module with the interpreter running us (the workspace venv)."""
    return [sys.executable, "-m", module, *args]
