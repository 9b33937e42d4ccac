"""web's front nginx (`s3tasks_web.transfers.front`: the config the chart's sidecar and
compose's service run) before a web the tests, the bench and `make run` start: the web URL
they use is the front's, so proxy-mode downloads go out by X-Accel-Redirect as deployed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from s3tasks_testkit.balancer import nginx_available
from s3tasks_testkit.patience import patience
from s3tasks_testkit.ports import PortTaken, listening_ports, says_address_in_use
from s3tasks_testkit.ports import start_on_free_ports as _start_on_free_ports
from s3tasks_testkit.processes import wait_until

#: web's setting that makes it answer downloads by X-Accel-Redirect to the front
ACCEL_ENV = "WEB_ACCEL_REDIRECT"


@dataclass
class WebFront:
    """The front of the web on `web_port`, fetching downloads from `s3_url`."""

    web_port: int
    s3_url: str
    log_dir: Path
    #: the front's port once started (or the one to listen on again after a stop)
    port: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

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

    def start(self) -> WebFront:
        if not nginx_available():
            raise RuntimeError("nginx is not installed (apt-get install nginx; make install does)")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.port:
            self._proc = self._launch((self.port,))
        else:
            self._proc = _start_on_free_ports(1, self._launch)
        return self

    def _launch(self, ports: tuple[int, ...]) -> subprocess.Popen[bytes]:
        (port,) = ports
        state = self.log_dir / f"web-front-{port}"
        state.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "WEB_FRONT_PORT": str(port),
            "WEB_FRONT_WEB_URL": f"http://127.0.0.1:{self.web_port}",
            "WEB_FRONT_S3_ENDPOINT": self.s3_url,
            "WEB_FRONT_STATE_DIR": str(state),
            "WEB_FRONT_ERROR_LOG": str(self.error_log),
            "WEB_FRONT_LOG_LEVEL": "WARNING",
        }
        seen = self.error_log.stat().st_size if self.error_log.exists() else 0
        # `s3tasks-web front` writes the config and becomes nginx, as in the chart's sidecar
        front = Path(sys.executable).with_name("s3tasks-web")
        with (self.log_dir / "web-front.log").open("ab") as out:
            proc = subprocess.Popen(
                [str(front), "front"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

        def listening() -> bool:
            if proc.poll() is not None:
                errors = _since(self.error_log, seen) + _since(self.log_dir / "web-front.log", 0)
                if says_address_in_use(errors):
                    raise PortTaken(f"the front could not bind {port}:\n{errors[-2000:]}")
                raise RuntimeError(f"the front exited with {proc.returncode}:\n{errors[-2000:]}")
            return port in listening_ports(proc.pid)

        try:
            wait_until(listening, timeout=patience(starts=1), message=f"web's front on {port}")
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        self.port = port
        return proc

    def stop(self, *, grace: float = 15.0) -> None:
        """SIGQUIT, as the chart's preStop does: nginx stops listening and finishes what is
        in flight (downloads from S3 included), then exits."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _since(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
