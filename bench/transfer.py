"""Cases 1-3: upload and download throughput through web vs the minio client, and memory.

Bytes are produced on the fly from a 1 MiB random block, so neither side holds a file in
memory; web gets a multipart form as a browser sends it (Content-Length, boundary, a
description field before the file), streamed from a generator.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3

from bench.harness import BenchEnv, delete_all, latest_file_id, started, visitor_on
from bench.meters import cpu_seconds
from bench.stats import Summary
from s3tasks_testkit.memory import MIB, PeakRss
from s3tasks_testkit.web_visitor import WebVisitor

CHUNK = 64 * 1024
_BLOCK = os.urandom(MIB)


def chunks(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        offset = sent % MIB
        n = min(CHUNK, size - sent, MIB - offset)
        yield _BLOCK[offset : offset + n]
        sent += n


class PatternReader:
    """A file-like `read(n)` over the same bytes, for minio's put_object."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        remaining = self._size - self._pos
        if n < 0 or n > remaining:
            n = remaining
        out = bytearray()
        while len(out) < n:
            offset = self._pos % MIB
            take = min(n - len(out), MIB - offset)
            out += _BLOCK[offset : offset + take]
            self._pos += take
        return bytes(out)


@dataclass(frozen=True)
class MultipartForm:
    content_type: str
    length: int
    head: bytes
    tail: bytes

    @classmethod
    def for_file(
        cls, size: int, fields: dict[str, str] | None = None, filename: str = "bench.bin"
    ) -> MultipartForm:
        """The fields (web's form: a description), then the file, as a browser sends them."""
        boundary = f"----s3tasksBench{secrets.token_hex(8)}"
        head = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in (fields or {"description": "benchmark upload"}).items()
        )
        head += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        tail = f"\r\n--{boundary}--\r\n".encode()
        return cls(
            f"multipart/form-data; boundary={boundary}",
            len(head.encode()) + size + len(tail),
            head.encode(),
            tail,
        )

    def body(self, size: int) -> Iterator[bytes]:
        yield self.head
        yield from chunks(size)
        yield self.tail


def web_upload(visitor: WebVisitor, size: int) -> float:
    """Seconds for one upload through web's /files form (303 expected)."""
    token = visitor.csrf_token()
    form = MultipartForm.for_file(size)
    started = time.perf_counter()
    response = visitor.http.post(
        "/files/upload",
        params={"csrf": token},
        content=form.body(size),
        headers={
            "Content-Type": form.content_type,
            "Content-Length": str(form.length),
        },
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 303:
        raise RuntimeError(f"web upload answered {response.status_code}: {response.text[:300]}")
    return elapsed


def web_download(visitor: WebVisitor, item_id: str, size: int) -> float:
    started = time.perf_counter()
    cookie = f"s3tasks_session={visitor.session_cookie}"
    fetch(f"{visitor.base_url}/files/{item_id}/download", size, "web download", cookie=cookie)
    return time.perf_counter() - started


#: bulk reads on both sides of a ratio go through the client the baseline uses (minio's is
#: urllib3): the clients' own costs then cancel out, and the servers are compared
BULK = urllib3.PoolManager(maxsize=4, retries=False, timeout=urllib3.Timeout(10, read=600))


def fetch(url: str, size: int, what: str, *, cookie: str | None = None) -> None:
    """GET `url` to its end; it must answer 200 with `size` bytes."""
    response = BULK.request(
        "GET", url, headers={"Cookie": cookie} if cookie else None, preload_content=False
    )
    try:
        if response.status != 200:
            raise RuntimeError(f"{what} answered {response.status}")
        received = sum(len(chunk) for chunk in response.stream(256 * 1024))
    finally:
        response.release_conn()
    if received != size:
        raise RuntimeError(f"{what} gave {received} bytes, expected {size}")


def direct_put(env: BenchEnv, key: str, size: int) -> float:
    started = time.perf_counter()
    env.s3.put_object(env.bucket, key, PatternReader(size), length=size)  # type: ignore[arg-type]
    return time.perf_counter() - started


def object_key_of(env: BenchEnv, item_id: str) -> str:
    """The S3 key storage-api stored an item's bytes under."""
    with env.db() as conn:
        row = conn.execute("SELECT object_key FROM items WHERE id = %s", (item_id,)).fetchone()
    if row is None:
        raise RuntimeError(f"no item {item_id}")
    return str(row[0])


def direct_get(env: BenchEnv, key: str, size: int) -> float:
    started = time.perf_counter()
    response = env.s3.get_object(env.bucket, key)
    received = 0
    try:
        for chunk in response.stream(256 * 1024):
            received += len(chunk)
    finally:
        response.close()
        response.release_conn()
    elapsed = time.perf_counter() - started
    if received != size:
        raise RuntimeError(f"direct get gave {received} bytes, expected {size}")
    return elapsed


def mib_per_s(size: int, seconds: float) -> float:
    return size / MIB / seconds


#: one transfer of `size` bytes as a visitor makes it; seconds
Upload = Callable[[WebVisitor, int], float]
Download = Callable[[WebVisitor, str, int], float]


def throughput(
    env: BenchEnv,
    sizes: list[int],
    reps: int,
    *,
    upload: Upload | None = None,
    download: Download | None = None,
    cpu_transfers: int = 20,
) -> dict[str, Any]:
    """Per size: ours vs direct, upload then download, runs interleaved (ABAB) after a warm-up.
    Ours is web's form and download link (proxy mode: web's one hop to S3) unless `upload` and
    `download` say otherwise (direct mode: what the browser does). The upload's baseline is
    minio's `put_object` of as many bytes; the download's, minio's `get_object` of the very
    object ours stored (radosgw reads a one-POST object slower than a multipart one: the
    same object on both sides compares the paths, not the layouts). Then the CPU web and
    storage-api spend per 1 MiB upload and download, over `cpu_transfers` of each in a row
    (the kernel counts CPU in 10 ms ticks: one small transfer alone reads 0 or 10)."""
    web_upload_ = upload or web_upload
    web_download_ = download or web_download
    pids = {
        "web": started(env.stack.web, "web").pid,
        "storage-api": started(env.stack.storage_api, "storage-api").pid,
    }
    visitor = visitor_on(env)
    results: list[dict[str, Any]] = []
    try:
        # warm-up: templates, pooled connections, the S3 server's first multipart upload
        web_upload_(visitor, MIB)
        web_download_(visitor, latest_file_id(visitor), MIB)
        direct_put(env, "bench/warm", MIB)
        direct_get(env, "bench/warm", MIB)
        env.s3.remove_object(env.bucket, "bench/warm")
        for size in sizes:
            up_web: list[float] = []
            up_direct: list[float] = []
            down_web: list[float] = []
            down_direct: list[float] = []
            #: CPU ms of each service per transfer (utime + stime around it)
            up_cpu: dict[str, list[float]] = {name: [] for name in pids}
            down_cpu: dict[str, list[float]] = {name: [] for name in pids}
            for rep in range(reps):
                key = f"bench/direct-{size}-{rep}"
                before = cpu_seconds(pids)
                up_web.append(mib_per_s(size, web_upload_(visitor, size)))
                _add_cpu(up_cpu, before, cpu_seconds(pids))
                up_direct.append(mib_per_s(size, direct_put(env, key, size)))
                env.s3.remove_object(env.bucket, key)
                item_id = latest_file_id(visitor)
                before = cpu_seconds(pids)
                down_web.append(mib_per_s(size, web_download_(visitor, item_id, size)))
                _add_cpu(down_cpu, before, cpu_seconds(pids))
                # the same object, read straight from S3: how an object was written (one PUT,
                # a POST, parts of some size) changes how fast radosgw reads it back
                ours = object_key_of(env, item_id)
                down_direct.append(mib_per_s(size, direct_get(env, ours, size)))
            delete_all(visitor, "file")  # the worker's purge job frees the S3 server's memory
            results.append(
                {
                    "size_mib": size / MIB,
                    "upload_web_mib_s": Summary.of(up_web).as_dict(),
                    "upload_direct_mib_s": Summary.of(up_direct).as_dict(),
                    "download_web_mib_s": Summary.of(down_web).as_dict(),
                    "download_direct_mib_s": Summary.of(down_direct).as_dict(),
                    "upload_ratio": Summary.of(up_web).median / Summary.of(up_direct).median,
                    "download_ratio": Summary.of(down_web).median / Summary.of(down_direct).median,
                    "upload_cpu_ms": {k: Summary.of(v).median for k, v in up_cpu.items()},
                    "download_cpu_ms": {k: Summary.of(v).median for k, v in down_cpu.items()},
                }
            )
        small_cpu = _small_transfer_cpu(visitor, pids, web_upload_, web_download_, cpu_transfers)
    finally:
        visitor.close()
    return {"reps": reps, "sizes": results, "small_cpu_ms": small_cpu}


def _small_transfer_cpu(
    visitor: WebVisitor, pids: dict[str, int], upload: Upload, download: Download, count: int
) -> dict[str, Any]:
    """CPU ms per 1 MiB upload and per 1 MiB download, by service, over `count` of each."""
    before = cpu_seconds(pids)
    for _ in range(count):
        upload(visitor, MIB)
    after_up = cpu_seconds(pids)
    item_id = latest_file_id(visitor)
    for _ in range(count):
        download(visitor, item_id, MIB)
    after_down = cpu_seconds(pids)
    delete_all(visitor, "file")

    def per(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {name: round((b[name] - a[name]) * 1000 / count, 2) for name in pids}

    return {
        "size_mib": 1,
        "transfers": count,
        "upload": per(before, after_up),
        "download": per(after_up, after_down),
    }


def _add_cpu(
    into: dict[str, list[float]], before: dict[str, float], after: dict[str, float]
) -> None:
    for name, values in into.items():
        values.append((after[name] - before[name]) * 1000)


def memory(env: BenchEnv, size: int) -> dict[str, Any]:
    """Peak RSS growth of web and storage-api while `size` bytes go up and come back down."""
    pids = {
        "web": started(env.stack.web, "web").pid,
        "storage-api": started(env.stack.storage_api, "storage-api").pid,
    }
    visitor = visitor_on(env)
    try:
        web_upload(visitor, 16 * MIB)  # warm-up at a size that already uses multipart
        web_download(visitor, latest_file_id(visitor), 16 * MIB)
        with PeakRss(pids) as up:
            up_seconds = web_upload(visitor, size)
        item_id = latest_file_id(visitor)
        with PeakRss(pids) as down:
            down_seconds = web_download(visitor, item_id, size)
        delete_all(visitor, "file")
    finally:
        visitor.close()
    upload_growth = {name: up.growth_mib(name) for name in pids}
    download_growth = {name: down.growth_mib(name) for name in pids}
    peak = {name: max(upload_growth[name], download_growth[name]) for name in pids}
    return {
        "size_mib": size / MIB,
        "upload_growth_mib": upload_growth,
        "download_growth_mib": download_growth,
        "upload_mib_s": mib_per_s(size, up_seconds),
        "download_mib_s": mib_per_s(size, down_seconds),
        "peak_growth_mib": peak,
        "baseline_rss_mib": {name: up.baseline_mib(name) for name in pids},
    }
