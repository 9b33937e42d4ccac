"""One real stack (storage-api, worker, beat, web) for the terminal's ways in, and the real
`curl` binary (Debian's, installed by `make install`) as the client.

The stack runs in the transfer mode of S3TASKS_TEST_TRANSFER (`make test-direct` runs these
again in direct mode): web relays a terminal's body in both. Limits are small, so "too
large" is cheap to provoke.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

import psycopg
import pytest

from s3tasks_testkit import backing_services
from s3tasks_testkit.stack import Dependencies, Stack, isolated_config, running_stack

MIB = 1024 * 1024
MAX_IMAGE_BYTES = 1 * MIB
MAX_FILE_BYTES = 12 * MIB
PART_BYTES = 5 * MIB
SWEEP_INTERVAL_SECONDS = 1.0
#: items live 15 minutes: `Expires-In` goes up to 15
TTL_SECONDS = 900


@pytest.fixture(scope="package")
def stack(dependencies: Dependencies) -> Iterator[Stack]:
    with (
        isolated_config(
            dependencies,
            "terminal",
            sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
            image_ttl_seconds=TTL_SECONDS,
            file_ttl_seconds=TTL_SECONDS,
            extra_env={
                "STORAGE_API_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES),
                "STORAGE_API_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
                "STORAGE_API_S3_PART_SIZE_BYTES": str(PART_BYTES),
            },
        ) as config,
        running_stack(config) as running,
    ):
        yield running


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[-1] if values else None


@dataclass
class Curl:
    """The `curl` binary, run as people run it; each answer's last header block and body."""

    site: str
    workdir: Path
    calls: int = field(default=0)

    def __call__(self, *args: str, stdin: bytes | None = None) -> Answer:
        self.calls += 1
        headers_file = self.workdir / f"headers-{self.calls}"
        body_file = self.workdir / f"body-{self.calls}"
        done = subprocess.run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--dump-header",
                str(headers_file),
                "--output",
                str(body_file),
                "--write-out",
                "%{http_code}",
                *args,
            ],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
        return Answer(
            int(done.stdout.decode()), _last_block(headers_file.read_text()), body_file.read_bytes()
        )

    def file(self, name: str, content: bytes) -> Path:
        path = self.workdir / name
        path.write_bytes(content)
        return path


def _last_block(dump: str) -> dict[str, list[str]]:
    """The headers of the final answer (after a 100 Continue or a redirect's)."""
    blocks = [block for block in dump.replace("\r\n", "\n").split("\n\n") if block.strip()]
    headers: dict[str, list[str]] = {}
    for line in blocks[-1].splitlines()[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


@pytest.fixture(scope="session")
def curl_binary() -> str:
    found = shutil.which("curl")
    assert found is not None, "curl is installed by `make install` (scripts/bootstrap.sh)"
    return found


@pytest.fixture
def curl(stack: Stack, tmp_path: Path, curl_binary: str) -> Curl:
    assert stack.web is not None
    return Curl(stack.web.url, tmp_path)


def database_now(stack: Stack) -> datetime:
    with psycopg.connect(stack.config.database_url) as conn:
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return cast(datetime, row[0])


def items_since(stack: Stack, since: datetime) -> int:
    """Rows written since `since` (the database's clock), whatever became of them."""
    with psycopg.connect(stack.config.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM items WHERE created_at >= %s", (since,)).fetchone()
    assert row is not None
    return int(row[0])


def bucket_keys(stack: Stack) -> set[str]:
    return backing_services.object_keys(stack.config.s3.client(), stack.config.bucket)


def open_uploads(stack: Stack) -> int:
    return backing_services.open_multipart_uploads(stack.config.s3.client(), stack.config.bucket)
