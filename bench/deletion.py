"""Cases 4, 5, 7: bulk deletion by the worker, expiry lag, and growth of the table."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx

from bench.harness import SWEEP_TICK_SECONDS, BenchEnv, poll
from bench.rows import (
    copy_rows,
    count_objects,
    new_ids,
    put_objects,
    remove_prefix,
    row_count,
    truncate,
    visitor_id,
)
from bench.stats import Summary, histogram_buckets, histogram_quantile, quantile

LAG_METRIC = "s3tasks_deletion_lag_seconds"


def _raw_delete(env: BenchEnv, keys: list[str]) -> float:
    from minio.deleteobjects import DeleteObject

    started = time.perf_counter()
    # minio sends DeleteObjects 1000 keys a request, as it is read
    errors = list(env.s3.remove_objects(env.bucket, (DeleteObject(k) for k in keys)))
    if errors:
        raise RuntimeError(f"DeleteObjects failed: {errors[0]}")
    return time.perf_counter() - started


def bulk_deletion(env: BenchEnv, count: int, reps: int) -> dict[str, Any]:
    """`count` expired items removed by the worker's sweep vs DeleteObjects over as many keys."""
    service_rate: list[float] = []
    raw_rate: list[float] = []
    service_seconds: list[float] = []
    for rep in range(reps):
        truncate(env)
        prefix = f"objects/bench-del-{rep}-"
        ids = new_ids(count)
        put_objects(env, (f"{prefix}{i}" for i in ids))
        copy_rows(env, count, key_prefix=prefix, ids=ids)
        with env.db() as conn:
            conn.execute("UPDATE items SET expires_at = now() - interval '1 second'")
        started = time.perf_counter()
        env.send_sweep()
        poll(lambda: row_count(env) == 0, timeout=600, interval=0.05)
        elapsed = time.perf_counter() - started
        left = count_objects(env, prefix)
        if left:
            raise RuntimeError(f"the sweep removed every row but {left} objects remain")
        service_seconds.append(elapsed)
        service_rate.append(count / elapsed)

        raw_keys = [f"bench/raw-del-{rep}/{n:06d}" for n in range(count)]
        put_objects(env, raw_keys)
        raw_rate.append(count / _raw_delete(env, raw_keys))
    service, raw = Summary.of(service_rate), Summary.of(raw_rate)
    return {
        "items": count,
        "reps": reps,
        "sweep_objects_per_s": service.as_dict(),
        "sweep_seconds": Summary.of(service_seconds).as_dict(),
        "raw_delete_objects_per_s": raw.as_dict(),
        "ratio": service.median / raw.median,
    }


def _lag_buckets(env: BenchEnv) -> dict[float, float]:
    return histogram_buckets(env.worker_metrics(), LAG_METRIC)


def expiry_lag(env: BenchEnv, count: int, spread_seconds: float) -> dict[str, Any]:
    """Items expiring evenly over `spread_seconds`, deleted by beat's sweeps (5 s tick)."""
    truncate(env)
    prefix = "objects/bench-lag-"
    ids = new_ids(count)
    put_objects(env, (f"{prefix}{i}" for i in ids))
    copy_rows(env, count, key_prefix=prefix, ids=ids)
    before = _lag_buckets(env)
    with env.db() as conn:
        start: datetime = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        first = start + timedelta(seconds=2)
        step = spread_seconds / count
        expiry = {item_id: first + timedelta(seconds=n * step) for n, item_id in enumerate(ids)}
        conn.execute(
            "UPDATE items SET expires_at = v.e"
            " FROM unnest(%s::uuid[], %s::timestamptz[]) AS v(id, e) WHERE items.id = v.id",
            (list(expiry), list(expiry.values())),
        )
        gone_at: dict[UUID, datetime] = {}
        deadline = time.monotonic() + spread_seconds + 60
        while len(gone_at) < count and time.monotonic() < deadline:
            now: datetime = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            present = {row[0] for row in conn.execute("SELECT id FROM items")}
            for item_id in expiry:
                if item_id not in present and item_id not in gone_at:
                    gone_at[item_id] = now
            time.sleep(0.1)
    db_lags = [(gone_at[i] - expiry[i]).total_seconds() for i in gone_at]

    def histogram_complete() -> bool:
        after = _lag_buckets(env)
        return after.get(float("inf"), 0) - before.get(float("inf"), 0) >= len(gone_at)

    with contextlib.suppress(TimeoutError):  # then report what the histogram has
        poll(histogram_complete, timeout=10, interval=0.2)
    after = _lag_buckets(env)
    observed = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    p99_db = quantile(db_lags, 0.99)
    return {
        "items": count,
        "spread_seconds": spread_seconds,
        "tick_seconds": SWEEP_TICK_SECONDS,
        "deleted": len(gone_at),
        "db_poll": {
            "p50": quantile(db_lags, 0.5),
            "p99": p99_db,
            "max": max(db_lags, default=float("nan")),
            "poll_interval_s": 0.1,
        },
        "histogram": {
            "observations": observed,
            "p50": histogram_quantile(before, after, 0.5),
            "p99": histogram_quantile(before, after, 0.99),
        },
        "ratio": p99_db / SWEEP_TICK_SECONDS,
    }


def _timed_listing(api: httpx.Client, visitor: str, requests: int) -> Summary:
    times: list[float] = []
    for n in range(requests + 20):
        started = time.perf_counter()
        response = api.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if n >= 20:  # the first 20 warm up
            times.append(elapsed * 1000)
    return Summary.of(times)


def _timed_sweep_batches(env: BenchEnv, batch: int, reps: int) -> Summary:
    times: list[float] = []
    with env.internal() as internal:
        for _ in range(reps + 1):
            with env.db() as conn:
                past: datetime = conn.execute(  # type: ignore[index]
                    "SELECT now() - interval '1 minute'"
                ).fetchone()[0]
            copy_rows(env, batch, key_prefix="objects/bench-growth-due-", expires_at=past)
            started = time.perf_counter()
            response = internal.post("/v1/internal/deletions", json={"limit": batch})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            deleted = sum(t["count"] for t in response.json()["tallies"])
            if deleted != batch:
                raise RuntimeError(f"a sweep batch deleted {deleted} of {batch} due rows")
            times.append(elapsed * 1000)
    return Summary.of(times[1:])  # the first warms up


def growth(
    env: BenchEnv, sizes: tuple[int, int], listing_requests: int, sweep_reps: int
) -> dict[str, Any]:
    """Listing one visitor's files and one sweep batch (500 due rows) at two table sizes.

    The worker and beat are stopped first, so the only sweep is the one timed here.
    """
    for proc in (env.stack.beat, env.stack.worker):
        if proc is not None:
            proc.stop()
    batch = 500
    per_size: dict[str, Any] = {}
    with env.client() as api:
        for size in sizes:
            truncate(env)
            target = visitor_id()
            crowd = [visitor_id() for _ in range(max(1, size // 10))]
            copy_rows(env, size - 10, key_prefix="objects/bench-growth-", visitors=crowd)
            copy_rows(env, 10, key_prefix="objects/bench-growth-own-", visitors=[target])
            with env.db() as conn:
                conn.execute("ANALYZE items")
            listing = _timed_listing(api, target, listing_requests)
            sweep = _timed_sweep_batches(env, batch, sweep_reps)
            per_size[str(size)] = {
                "rows": size,
                "listing_ms": listing.as_dict(),
                "sweep_batch_ms": sweep.as_dict(),
            }
    small, large = (per_size[str(s)] for s in sizes)
    listing_ratio = large["listing_ms"]["median"] / small["listing_ms"]["median"]
    sweep_ratio = large["sweep_batch_ms"]["median"] / small["sweep_batch_ms"]["median"]
    remove_prefix(env, "objects/bench-growth")
    return {
        "sizes": list(sizes),
        "sweep_batch": batch,
        "by_size": per_size,
        "listing_ratio": listing_ratio,
        "sweep_ratio": sweep_ratio,
        "ratio": max(listing_ratio, sweep_ratio),
    }
