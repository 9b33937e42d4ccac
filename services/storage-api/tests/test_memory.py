"""Uploads and downloads stream: 200 MB through the API grows the process by < 64 MB."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import pytest

from s3tasks_testkit.memory import PeakRss
from s3tasks_testkit.stack import Dependencies
from s3tasks_testkit.storage_api import MIB, Api, running_api, upload

TOTAL = 200 * MIB


@pytest.fixture(scope="module")
def big_api(dependencies: Dependencies) -> Iterator[Api]:
    with running_api(
        dependencies, "memory", {"STORAGE_API_MAX_FILE_BYTES": str(TOTAL + MIB)}
    ) as api:
        yield api


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

        with PeakRss({"storage-api": pid}) as up:
            resp = upload(client, visitor, body(), kind="file", filename="big.bin")  # type: ignore[arg-type]
        assert resp.status_code == 201, resp.text
        assert resp.json()["size_bytes"] == TOTAL

        got = hashlib.sha256()
        with (
            PeakRss({"storage-api": pid}) as down,
            client.stream(
                "GET", f"/v1/visitors/{visitor}/items/{resp.json()['id']}/content"
            ) as stream,
        ):
            for chunk in stream.iter_bytes():
                got.update(chunk)

    up_growth, down_growth = up.growth_mib("storage-api"), down.growth_mib("storage-api")
    print(f"storage-api RSS growth: upload {up_growth:.1f} MiB, download {down_growth:.1f} MiB")
    assert got.hexdigest() == expected.hexdigest()
    assert up_growth < 64
    assert down_growth < 64
