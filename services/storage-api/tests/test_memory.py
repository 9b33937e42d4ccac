"""Uploads and downloads stream: 200 MB through the API grows the process by < 64 MB."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest

from s3tasks_testkit import deps
from s3tasks_testkit.storage_api import MIB, Api, start_api, upload

TOTAL = 200 * MIB


@pytest.fixture(scope="module")
def big_api(
    s3_endpoint: deps.S3Endpoint, postgres_admin_url: str, redis_base_url: str, artifacts_dir: Path
) -> Iterator[Api]:
    with ExitStack() as es:
        yield start_api(
            es,
            s3=s3_endpoint,
            postgres_admin_url=postgres_admin_url,
            redis_url=redis_base_url,
            log_dir=artifacts_dir / "logs" / "memory",
            env={"STORAGE_API_MAX_FILE_BYTES": str(TOTAL + MIB)},
        )


class PeakRss:
    """Samples a process's resident memory in the background and keeps the peak."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.baseline = self._proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / MIB


def _pattern() -> Iterator[bytes]:
    block = hashlib.sha256(b"s3tasks").digest() * (MIB // 32)
    for i in range(TOTAL // MIB):
        yield block[i % 32 :] + block[: i % 32]


@pytest.mark.slow
def test_200_mb_upload_and_download_stay_within_64_mb(big_api: Api) -> None:
    visitor = uuid.uuid4().hex
    assert big_api.stack.storage_api is not None
    pid = big_api.stack.storage_api.pid
    expected = hashlib.sha256()
    with big_api.client() as client:
        upload(client, visitor, b"warm-up", kind="file", filename="w.txt")  # load code paths first

        def body() -> Iterator[bytes]:
            for chunk in _pattern():
                expected.update(chunk)
                yield chunk

        with PeakRss(pid) as up:
            resp = upload(client, visitor, body(), kind="file", filename="big.bin")  # type: ignore[arg-type]
        assert resp.status_code == 201, resp.text
        assert resp.json()["size_bytes"] == TOTAL

        got = hashlib.sha256()
        with (
            PeakRss(pid) as down,
            client.stream(
                "GET", f"/v1/visitors/{visitor}/items/{resp.json()['id']}/content"
            ) as stream,
        ):
            for chunk in stream.iter_bytes():
                got.update(chunk)

    print(
        f"storage-api RSS growth: upload {up.growth_mib:.1f} MiB,"
        f" download {down.growth_mib:.1f} MiB"
    )
    assert got.hexdigest() == expected.hexdigest()
    assert up.growth_mib < 64
    assert down.growth_mib < 64
