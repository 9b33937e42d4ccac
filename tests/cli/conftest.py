"""The `s3tasks` command (packages/cli) against a real stack behind an nginx ingress (a 100 MB
body limit), run as a user runs it: its own process, its own config, data and cache
directories (XDG_*), in the stack's transfer mode (S3TASKS_TEST_TRANSFER; `make test-direct`
runs these again in direct mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from s3tasks_testkit.balancer import nginx_available, nginx_ingress
from s3tasks_testkit.ports import free_loopback_ports
from s3tasks_testkit.stack import Dependencies, Stack, isolated_config, running_stack

MIB = 1024 * 1024
PART_BYTES = 5 * MIB
MAX_FILE_BYTES = 128 * MIB


@dataclass(frozen=True)
class Site:
    stack: Stack
    #: the ingress (nginx, `client_max_body_size 100m`) in front of web: the command's way in
    url: str


@pytest.fixture(scope="package")
def site(dependencies: Dependencies) -> Iterator[Site]:
    """The stack behind nginx as an ingress; web knows the ingress's address as its public
    one, so the links and (in `proxy` mode) the part URLs it hands out go through it."""
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")
    (ingress_port,) = free_loopback_ports(1)
    public_url = f"http://127.0.0.1:{ingress_port}"
    with (
        isolated_config(
            dependencies,
            "cli",
            sweep_interval_seconds=1.0,
            extra_env={
                "STORAGE_API_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
                "STORAGE_API_S3_PART_SIZE_BYTES": str(PART_BYTES),
                "WEB_PUBLIC_URL": public_url,
            },
        ) as config,
        running_stack(config) as stack,
    ):
        assert stack.web is not None
        web_port = urlsplit(stack.web.url).port
        assert web_port is not None
        with nginx_ingress(web_port, config.log_dir / "ingress", port=ingress_port) as ingress:
            assert ingress.urls["web"] == public_url
            yield Site(stack, public_url)


@dataclass(frozen=True)
class User:
    """One user of the command: a home of their own (config, token, uploads under way)."""

    home: Path
    site: str

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CACHE_HOME": str(self.home / "cache"),
            "S3TASKS_URL": self.site,
        }

    @property
    def uploads_dir(self) -> Path:
        return self.home / "cache" / "s3tasks" / "uploads"

    def argv(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).with_name("s3tasks")), *args]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
            cwd=self.home,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.home,
        )


@pytest.fixture
def user(site: Site, tmp_path: Path) -> User:
    return User(tmp_path, site.url)
