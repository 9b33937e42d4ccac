"""`python -m bench.soak [--items 1000000] [--live 100000] [--batch 1000] [--max-seconds 3600]`:
churn through the deletion schedule, and whether the `items` table stays healthy.

Each round: `--batch` items are inserted (rows COPYed as stored files, their objects of 1 KiB
put on radosgw), the oldest batch once `--live` rows are in the table is updated to be due
(the one update a row gets in its life, as an upload's completion does), and storage-api's
sweep endpoint (`POST /v1/internal/deletions`, what the worker's `sweep_due` calls each tick,
in batches of the worker's size) deletes it, objects and rows; each batch is timed. The worker
and beat are stopped: the soak is the only sweeper, so the batch times are the sweep's own.

Read out: the table's and its indexes' sizes at the steady state (after one whole turnover of
`--live` rows) and at the end, sweep batch p99 in the first and the last tenth of the run,
and dead tuples against autovacuum's threshold for the table (pg_stat_user_tables, sampled
every round). The run stops at `--max-seconds` with what it did so far (`completed` false).
Written to bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.harness import REPO_ROOT, BenchEnv, patient_bench_env
from bench.meters import load_average
from bench.rows import copy_rows, new_ids, put_objects, truncate
from bench.run import machine
from bench.stats import quantile
from s3tasks_testkit.backing_services import embedded_postgres
from s3tasks_testkit.s3servers import DEFAULT_S3_SERVER, parse_s3_server

_TABLE_STATE = """
SELECT pg_relation_size('items'), pg_indexes_size('items'), s.n_live_tup, s.n_dead_tup,
       s.autovacuum_count, s.autoanalyze_count,
       current_setting('autovacuum_vacuum_threshold')::float8
         + current_setting('autovacuum_vacuum_scale_factor')::float8 * greatest(c.reltuples, 0),
       (SELECT count(*) FROM items)
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.relname = 'items'
"""


def table_state(env: BenchEnv) -> dict[str, float]:
    """Sizes (bytes), live and dead tuples as PostgreSQL's statistics have them (they lag by
    up to 10 s), autovacuum runs so far and the dead-tuple count that starts one (the table's
    own reloptions are not set: the server's settings apply)."""
    with env.db() as conn:
        row = conn.execute(_TABLE_STATE).fetchone()
    if row is None:
        raise RuntimeError("pg_stat_user_tables has no row of items")
    keys = (
        "table_bytes", "index_bytes", "live_tuples", "dead_tuples", "autovacuum_count",
        "autoanalyze_count", "autovacuum_threshold", "rows",
    )  # fmt: skip
    return dict(zip(keys, (float(v) for v in row), strict=True))


def _expire(env: BenchEnv, ids: list[UUID]) -> None:
    with env.db() as conn:
        conn.execute(
            "UPDATE items SET expires_at = now() - interval '1 second' WHERE id = ANY(%s)", (ids,)
        )


def soak(env: BenchEnv, items: int, live: int, batch: int, max_seconds: float) -> dict[str, Any]:
    for proc in (env.stack.beat, env.stack.worker):
        if proc is not None:
            proc.stop()
    truncate(env)
    with env.db() as conn:
        naptime_s = float(
            conn.execute(
                "SELECT setting::float8 FROM pg_settings WHERE name = 'autovacuum_naptime'"
            ).fetchone()[0]  # type: ignore[index]
        )
    rounds = max(1, items // batch)
    steady_round = min(rounds - 1, 2 * live // batch)
    waiting: deque[list[UUID]] = deque()
    batch_ms: list[float] = []
    samples: list[dict[str, float]] = []
    steady: dict[str, float] | None = None
    started = time.monotonic()
    done = 0
    with env.internal() as internal:
        for n in range(rounds):
            if time.monotonic() - started > max_seconds:
                break
            ids = new_ids(batch)
            put_objects(env, (f"objects/soak-{i}" for i in ids))
            copy_rows(env, batch, key_prefix="objects/soak-", ids=ids)
            waiting.append(ids)
            if len(waiting) * batch > live:
                _expire(env, waiting.popleft())
                t0 = time.perf_counter()
                response = internal.post("/v1/internal/deletions", json={"limit": batch})
                batch_ms.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
                deleted = sum(t["count"] for t in response.json()["tallies"])
                if deleted != batch:
                    raise RuntimeError(f"a sweep batch deleted {deleted} of {batch} due rows")
                done += batch
            state = table_state(env) | {"round": n, "seconds": time.monotonic() - started}
            samples.append(state)
            if n == steady_round:
                steady = state
            if n % 10 == 0:
                print(
                    f"soak: round {n + 1}/{rounds}, {done} swept, table"
                    f" {state['table_bytes'] / 1e6:.1f} MB, indexes"
                    f" {state['index_bytes'] / 1e6:.1f} MB, dead {state['dead_tuples']:.0f}"
                    f" (threshold {state['autovacuum_threshold']:.0f})",
                    flush=True,
                )
    elapsed = time.monotonic() - started
    end = samples[-1]
    tenth = max(1, len(batch_ms) // 10)
    first, last = batch_ms[:tenth], batch_ms[-tenth:]
    dead_ratio = [s["dead_tuples"] / s["autovacuum_threshold"] for s in samples]
    # what autovacuum's schedule lets pile up at most: its threshold, plus what the churn adds
    # (an update and a delete per item) before the launcher comes back, one naptime later
    churn_per_s = 2 * done / elapsed
    allowed = [s["autovacuum_threshold"] + churn_per_s * naptime_s for s in samples]
    over_allowed = [s["dead_tuples"] / a for s, a in zip(samples, allowed, strict=True)]
    # a build-up shows as more dead tuples in the second half of the churn than in the first
    churned = [s["dead_tuples"] for s in samples[steady_round + 1 :]] or [0.0]
    half = max(1, len(churned) // 2)
    dead_first, dead_last = churned[:half], churned[half:] or churned
    result: dict[str, Any] = {
        "items_planned": items,
        "items_inserted": len(samples) * batch,
        "items_swept": done,
        "completed": len(samples) == rounds,
        "live_rows": live,
        "batch": batch,
        "seconds": round(elapsed, 1),
        "items_per_s": round(len(samples) * batch / elapsed, 1),
        "steady_state": steady,
        "end": end,
        "sweep_batch_ms": {
            "first_tenth_p99": quantile(first, 0.99),
            "last_tenth_p99": quantile(last, 0.99),
            "first_tenth_p50": quantile(first, 0.5),
            "last_tenth_p50": quantile(last, 0.5),
            "batches": len(batch_ms),
            # every tenth's, to see a trend (or one disturbed tenth) rather than two points
            "p99_by_tenth": [
                quantile(batch_ms[i * tenth : (i + 1) * tenth], 0.99)
                for i in range(len(batch_ms) // tenth)
            ],
        },
        "dead_tuples_over_threshold": {
            "max": max(dead_ratio),
            "end": dead_ratio[-1],
            "samples_over_1": sum(1 for r in dead_ratio if r > 1),
            "samples": len(dead_ratio),
        },
        "dead_tuples_over_schedule": {
            "naptime_s": naptime_s,
            "churn_per_s": round(churn_per_s, 1),
            "max": max(over_allowed),
            "samples_over_1": sum(1 for r in over_allowed if r > 1),
            "mean_first_half_of_churn": sum(dead_first) / len(dead_first),
            "mean_second_half_of_churn": sum(dead_last) / len(dead_last),
        },
        "samples": samples,
    }
    if steady is not None:
        result["size_ratio_end_vs_steady"] = {
            "table": end["table_bytes"] / steady["table_bytes"],
            "indexes": end["index_bytes"] / steady["index_bytes"],
        }
    sw = result["sweep_batch_ms"]
    sw["p99_ratio_last_vs_first"] = sw["last_tenth_p99"] / sw["first_tenth_p99"]
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    p.add_argument("--items", type=int, default=1_000_000, help="items through the schedule")
    p.add_argument("--live", type=int, default=100_000, help="rows in the table at steady state")
    p.add_argument("--batch", type=int, default=1000, help="items a round; the sweep's batch")
    p.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this long")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    p.add_argument("--logs", type=Path, default=REPO_ROOT / "build" / "bench-logs" / "soak")
    p.add_argument("--s3", default=DEFAULT_S3_SERVER)
    p.add_argument(
        "--postgres",
        default="embedded",
        help="a PostgreSQL admin URL, or `embedded` (default): a server of the soak's own"
        " (pgserver) with PostgreSQL's default autovacuum settings, because this machine's"
        " shared test server runs with autovacuum off",
    )
    args = p.parse_args(argv)
    if args.live < args.batch or args.items < 2 * args.live:
        p.error("need --live >= --batch and --items >= 2 x --live (a steady state, then churn)")
    info = machine()
    with ExitStack() as es:
        postgres = args.postgres
        if postgres == "embedded":
            (args.logs / "pgdata").mkdir(parents=True, exist_ok=True)
            postgres = es.enter_context(embedded_postgres(args.logs / "pgdata"))
        env = es.enter_context(
            patient_bench_env(
                args.logs, parse_s3_server(args.s3, "--s3"), "memstore", postgres_url=postgres
            )
        )
        with env.db() as conn:
            autovacuum = str(conn.execute("SHOW autovacuum").fetchone()[0])  # type: ignore[index]
        result = soak(env, args.items, args.live, args.batch, args.max_seconds)
        result["postgres"] = {"server": args.postgres, "autovacuum": autovacuum}
        s3_server = env.s3_server
    info["load_average_at_end"] = load_average()
    result = {
        "what": "churn soak of the deletion schedule (bench/soak.py)",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "s3_server": s3_server,
        **result,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    brief = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(brief, indent=2))
    print(f"soak: {result['items_inserted']} items in {result['seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
