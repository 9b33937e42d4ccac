"""web's front nginx (`s3tasks_web.transfers.front`: the config the chart's sidecar and
compose's service run) before a web the tests, the bench and `make run` start: the web URL
they use is the front's, so proxy-mode downloads go out by X-Accel-Redirect as deployed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from s3tasks_testkit.balancer import nginx_available
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import http_ok, port_of, wait_until

#: web's setting that makes it answer downloads by X-Accel-Redirect to the front
ACCEL_ENV = "WEB_ACCEL_REDIRECT"
#: the front's own answer, whatever web does (s3tasks_web.transfers.front)
FRONT_HEALTH_PATH = "/_s3tasks/front/healthz"


@dataclass
class WebFront:
    """The front of the web on `web_port`, fetching downloads from `s3_url`, listening on
    `sock` (bound by the caller, as the tests' services are: nginx takes it over through its
    `NGINX` variable, the way its own binary upgrade hands sockets on)."""

    sock: socket.socket
    web_port: int
    s3_url: str
    log_dir: Path
    #: nginx's exit status once stopped (0: it finished what it carried and quit)
    exit_code: int | None = field(default=None, init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def port(self) -> int:
        return port_of(self.sock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the front is not running")
        return self._proc.pid

    @property
    def error_log(self) -> Path:
        return self.log_dir / "web-front-error.log"

    def __post_init__(self) -> None:
        # nginx reads relative paths from its prefix (the state directory), not from here
        self.log_dir = self.log_dir.resolve()

    def start(self) -> WebFront:
        if not nginx_available():
            raise RuntimeError("nginx is not installed (apt-get install nginx; make install does)")
        state = self.log_dir / f"web-front-{self.port}"
        state.mkdir(parents=True, exist_ok=True)
        host = self.sock.getsockname()[0]
        fd = self.sock.fileno()
        env = {
            **os.environ,
            "NGINX": f"{fd};",
            "WEB_FRONT_HOST": host,
            "WEB_FRONT_PORT": str(self.port),
            "WEB_FRONT_WEB_URL": f"http://127.0.0.1:{self.web_port}",
            "WEB_FRONT_S3_ENDPOINT": self.s3_url,
            "WEB_FRONT_STATE_DIR": str(state),
            "WEB_FRONT_ERROR_LOG": str(self.error_log),
            "WEB_FRONT_LOG_LEVEL": "WARNING",
        }
        # `s3tasks-web front` writes the config and becomes nginx, as in the chart's sidecar
        front = Path(sys.executable).with_name("s3tasks-web")
        with (self.log_dir / "web-front.log").open("ab") as out:
            proc = subprocess.Popen(
                [str(front), "front"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
            )
        self._proc = proc

        def serving() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the front exited with {proc.returncode}:\n"
                    + _tail(self.error_log)
                    + _tail(self.log_dir / "web-front.log")
                )
            # its own answer: web may not be up yet (its socket already takes connections, so
            # a request for web would wait for it)
            return http_ok(f"{self.url}{FRONT_HEALTH_PATH}")

        try:
            wait_until(
                serving,
                timeout=patience(starts=1),
                message=f"web's front on {self.port}",
            )
        except BaseException:
            self.stop(grace=5.0)
            raise
        return self

    def stop(self, *, grace: float = 15.0) -> None:
        """SIGQUIT, as the chart's preStop does: nginx stops listening and finishes what is
        in flight (downloads from S3 included), then exits."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.exit_code = proc.returncode


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except FileNotFoundError:
        return ""
