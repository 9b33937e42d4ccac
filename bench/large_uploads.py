"""Case 10, `direct` mode: a large file in parts, exactly as the upload script sends one.
web starts it (storage-api writes the row and chooses the part size), web signs the parts
(S3's presigned URLs, a hundred at a time), the client PUTs each part to S3, web completes it
(storage-api completes the multipart upload and checks the object). The baseline is a plain S3
multipart upload of the same bytes to the same server with the same part size (create,
presigned part PUTs, complete). One part at a time on both sides, with the same client for the
bytes (urllib3), so what differs is our control calls (start, sign, complete through web and
storage-api, which also checks the object)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from minio.datatypes import Part

from bench.harness import BenchEnv, delete_all, poll, visitor_on
from bench.stats import Summary
from bench.transfer import BULK, PatternReader, mib_per_s
from s3tasks_testkit.memory import MIB
from s3tasks_testkit.web_visitor import WebVisitor

#: part URLs asked for at once (what the script asks for is smaller; fewer calls favour us
#: only by a few milliseconds in a transfer of seconds)
SIGN_BATCH = 100


def browser_upload_in_parts(visitor: WebVisitor, size: int) -> tuple[float, int]:
    """(seconds, part size) of one upload in parts as the script sends it in `direct` mode."""
    started = time.perf_counter()
    start = visitor.start_in_parts("file", "large.bin", size, "benchmark upload in parts")
    ticket = start.json()
    if start.status_code != 200 or not ticket.get("ok"):
        raise RuntimeError(f"start in parts answered {start.status_code}: {start.text[:300]}")
    item_id, part_size = ticket["item_id"], int(ticket["part_size"])
    count = -(-size // part_size)
    reader = PatternReader(size)
    parts: list[tuple[int, str]] = []
    for first in range(1, count + 1, SIGN_BATCH):
        numbers = list(range(first, min(first + SIGN_BATCH, count + 1)))
        signed = visitor.sign_parts("file", item_id, numbers)
        if signed.status_code != 200 or not signed.json().get("ok"):
            raise RuntimeError(f"signing parts answered {signed.status_code}: {signed.text}")
        urls = signed.json()["urls"]
        for number in numbers:
            body = reader.read(part_size)
            put = BULK.request("PUT", urls[str(number)], body=body)
            if put.status != 200:
                raise RuntimeError(f"S3 refused part {number} ({put.status}): {put.data!r}")
            parts.append((number, put.headers["etag"].strip('"')))
    done = visitor.complete_in_parts("file", item_id, parts)
    elapsed = time.perf_counter() - started
    if done.status_code != 200 or not done.json().get("ok"):
        raise RuntimeError(f"completion answered {done.status_code}: {done.text[:300]}")
    return elapsed, part_size


def plain_multipart(env: BenchEnv, key: str, size: int, part_size: int) -> float:
    """A plain S3 multipart upload with presigned part PUTs: create, PUT each part through
    the same client as ours, complete. minio's own `put_object` would hash every part for
    its signature over plain HTTP (client CPU our presigned PUTs do not spend), so only its
    create and complete calls are used (private helpers of minio 7.2)."""
    s3, bucket = env.s3, env.bucket
    started = time.perf_counter()
    upload_id = s3._create_multipart_upload(bucket, key, {})
    reader = PatternReader(size)
    parts = []
    for number in range(1, -(-size // part_size) + 1):
        url = s3.get_presigned_url(
            "PUT",
            bucket,
            key,
            expires=timedelta(hours=1),
            extra_query_params={"partNumber": str(number), "uploadId": upload_id},
        )
        put = BULK.request("PUT", url, body=reader.read(part_size))
        if put.status != 200:
            raise RuntimeError(f"S3 refused plain part {number} ({put.status}): {put.data!r}")
        parts.append(Part(number, put.headers["etag"].strip('"')))
    s3._complete_multipart_upload(bucket, key, upload_id, parts)
    return time.perf_counter() - started


def upload_in_parts(env: BenchEnv, size: int, reps: int) -> dict[str, Any]:
    """Ours and the baseline interleaved (AB, BA, ...) after a warm-up at the smallest
    multipart size, which also tells the part size storage-api chooses."""
    visitor = visitor_on(env)
    ours: list[float] = []
    plain: list[float] = []
    try:
        _, part_size = browser_upload_in_parts(visitor, 2 * 5 * MIB)
        plain_multipart(env, "bench/large-warm", 2 * 5 * MIB, 5 * MIB)
        env.s3.remove_object(env.bucket, "bench/large-warm")
        _emptied(env, visitor)
        for rep in range(reps):
            # the side that goes first alternates: what one leaves behind (the S3 server's
            # garbage collection of deleted parts) does not always slow the same side
            for side in ("ours", "plain") if rep % 2 == 0 else ("plain", "ours"):
                if side == "ours":
                    seconds, part_size = browser_upload_in_parts(visitor, size)
                    ours.append(mib_per_s(size, seconds))
                    _emptied(env, visitor)
                else:
                    key = f"bench/large-{rep}"
                    plain.append(mib_per_s(size, plain_multipart(env, key, size, part_size)))
                    env.s3.remove_object(env.bucket, key)
    finally:
        visitor.close()
    return {
        "size_mib": size / MIB,
        "part_size_mib": part_size / MIB,
        "reps": reps,
        "ours_mib_s": Summary.of(ours).as_dict(),
        "plain_mib_s": Summary.of(plain).as_dict(),
        "ratio": Summary.of(ours).median / Summary.of(plain).median,
    }


def _emptied(env: BenchEnv, visitor: WebVisitor) -> None:
    """Delete all, and wait for the purge job to take the objects out of the bucket: its
    deletions must not run during the next measured upload."""
    delete_all(visitor, "file")
    poll(
        lambda: not any(env.s3.list_objects(env.bucket, prefix="objects/")),
        timeout=env.timeout,
    )
