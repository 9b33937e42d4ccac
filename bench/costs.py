"""`python -m bench.costs [--quick | --smoke]`: what one action costs, measured on the whole
stack started as the other cases start it (bench/harness.py), written to
bench/results/costs.json for the capacity model (bench/capacity.py, docs/capacity.md).

Each action is repeated in a window of its own (bench/meters.py says what is read and how);
the idle stack's own cost over as long a window is taken off. Beat is stopped after the idle
windows, so the only sweep is the one measured (its tick's own cost is reported apart).

Actions: a page view (`GET /files` listing 3 files), an upload started and completed and a
download, small and large, in both transfer modes (a second stack in `direct` mode), a share
link created on My Files and a share download granted (the share page's Download button,
pressed without a session: web's 303, the bytes being a download's own cost), and a deletion
by the worker's sweep (per item, in batches of the worker's size). Besides: the bytes one row
of `items` takes in the table and its indexes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.direct_mode import browser_download, browser_upload, page_download_link
from bench.harness import REPO_ROOT, BenchEnv, latest_file_id, patient_bench_env, poll, visitor_on
from bench.large_uploads import browser_upload_in_parts
from bench.meters import Meters, Window, load_average, measure
from bench.rows import copy_rows, new_ids, put_objects
from bench.run import machine
from bench.sharing import make_share_link
from bench.transfer import web_download, web_upload
from s3tasks_testkit.backing_services import embedded_redis
from s3tasks_testkit.s3servers import DEFAULT_S3_SERVER, parse_s3_server
from s3tasks_testkit.web_visitor import WebVisitor

KIB = 1024
MIB = 1024 * KIB
IDLE_SECONDS = 10.0
#: storage-api's default `share_links_per_item`: the most links one item may have
SHARE_LINKS_PER_ITEM = 20


@dataclass(frozen=True)
class Sizes:
    name: str
    small_bytes: int
    large_bytes: int
    #: how many times each small action (page, upload, download, share) is repeated
    repeats: int
    large_repeats: int
    sweep_items: int
    idle_seconds: float = IDLE_SECONDS
    settle: bool = True


SIZES = {
    "full": Sizes("full", 1 * MIB, 64 * MIB, 40, 4, 5000),
    "quick": Sizes("quick", 1 * MIB, 16 * MIB, 20, 3, 2000),
    "smoke": Sizes("smoke", 64 * KIB, 1 * MIB, 2, 1, 50, idle_seconds=1.0, settle=False),
}


@dataclass
class Recorder:
    meters: Meters
    sizes: Sizes
    actions: dict[str, Any]
    idle: Window | None = None

    def idle_window(self) -> Window:
        return measure(
            self.meters, lambda: time.sleep(self.sizes.idle_seconds), settle=self.sizes.settle
        )

    def cost(self, name: str, count: int, act: Callable[[], None], **extra: Any) -> None:
        if self.idle is None:
            raise RuntimeError("an idle window is measured first: it is taken off every cost")
        print(f"costs: {name} x{count} ...", flush=True)
        load = load_average()
        window = measure(self.meters, act, settle=self.sizes.settle)
        per = window.minus_idle(self.idle).per(count)
        self.actions[name] = {
            "count": count,
            "seconds": round(window.seconds, 2),
            "load_average": load,
            **per,
            **extra,
        }


def _uploads(visitor: WebVisitor, size: int, count: int, upload: Callable[..., Any]) -> None:
    for _ in range(count):
        upload(visitor, size)


def _downloads(
    visitor: WebVisitor, item_id: str, size: int, count: int, download: Callable[..., Any]
) -> None:
    for _ in range(count):
        download(visitor, item_id, size)


def _page_views(visitor: WebVisitor, count: int) -> None:
    for _ in range(count):
        response = visitor.get("/files")
        if response.status_code != 200:
            raise RuntimeError(f"GET /files answered {response.status_code}")


def _share_actions(rec: Recorder, env: BenchEnv, visitor: WebVisitor, item_id: str) -> None:
    """Links made by the owner on My Files (the form's POST, web then storage-api), then one
    counted download granted per link: the share page's Download button pressed by someone
    without a session (web's 303 to the bytes; the bytes themselves are a download's cost)."""
    count = min(rec.sizes.repeats, SHARE_LINKS_PER_ITEM)

    def create() -> None:
        for _ in range(count):
            make_share_link(visitor, item_id)

    rec.cost("share_create", count, create, via="web")
    paths = visitor.share_paths_in(visitor.page("/files"))[:count]
    if len(paths) != count:
        raise RuntimeError(f"My Files shows {len(paths)} share links, not {count}")

    def grant() -> None:
        with httpx.Client(base_url=env.web_url) as anyone:  # no session, as a link's receiver
            for path in paths:
                pressed = anyone.post(path, data={"password": ""}, follow_redirects=False)
                if pressed.status_code != 303:
                    raise RuntimeError(f"a share's Download answered {pressed.status_code}")

    rec.cost("share_grant", count, grant, via="web")


def _rows_bytes(env: BenchEnv) -> tuple[int, int, int]:
    with env.db() as conn:
        row = conn.execute(
            "SELECT pg_relation_size('items'), pg_indexes_size('items'),"
            " (SELECT count(*) FROM items)"
        ).fetchone()
    if row is None:
        raise RuntimeError("no sizes of items")
    return int(row[0]), int(row[1]), int(row[2])


def _sweep(rec: Recorder, env: BenchEnv) -> dict[str, float]:
    """Expired items (rows COPYed, objects put: setup, not measured) removed by one sweep
    the worker runs; the database's size of a row from the same COPY."""
    count = rec.sizes.sweep_items
    ids = new_ids(count)
    prefix = "objects/costs-sweep-"
    put_objects(env, (f"{prefix}{i}" for i in ids))
    table0, index0, rows0 = _rows_bytes(env)
    with env.db() as conn:
        past = conn.execute("SELECT now() - interval '1 minute'").fetchone()[0]  # type: ignore[index]
    copy_rows(env, count, key_prefix=prefix, ids=ids, expires_at=past)
    table1, index1, rows1 = _rows_bytes(env)
    polls = 0

    def left() -> bool:
        nonlocal polls
        polls += 1
        with env.db() as conn:
            row = conn.execute("SELECT count(*) FROM items WHERE id = ANY(%s)", (ids,)).fetchone()
        return row is not None and row[0] == 0

    def sweep() -> None:
        env.send_sweep()
        poll(left, timeout=600, interval=0.5)

    rec.cost("deletion_sweep", count, sweep)
    # each poll is one transaction of our own: not the sweep's
    rec.actions["deletion_sweep"]["pg_transactions"] -= round(polls / count, 3)
    rec.actions["deletion_sweep"]["bench_polls"] = polls
    added = rows1 - rows0
    return {
        "rows_copied": added,
        "table_bytes_per_row": (table1 - table0) / added,
        "index_bytes_per_row": (index1 - index0) / added,
    }


def _proxy_stack(rec: Recorder, env: BenchEnv) -> dict[str, Any]:
    sizes = rec.sizes
    rec.idle = rec.idle_window()  # beat running: its tick is part of idle here
    idle_with_beat = rec.idle
    beat = env.stack.beat
    if beat is not None:
        beat.stop()
    idle = rec.idle = rec.idle_window()
    tick: dict[str, Any] = {
        "tick_seconds": env.config.sweep_interval_seconds,
        "idle_cpu_ms_per_s_with_beat": {
            k: round(v / idle_with_beat.seconds, 3) for k, v in idle_with_beat.cpu_ms.items()
        },
        "idle_cpu_ms_per_s": {
            k: round(v / rec.idle.seconds, 3) for k, v in rec.idle.cpu_ms.items()
        },
        "idle_pg_transactions_per_s_with_beat": round(
            (idle_with_beat.pg["xact_commit"] - rec.idle.pg["xact_commit"])
            / idle_with_beat.seconds,
            3,
        ),
    }
    visitor = visitor_on(env)
    try:
        _uploads(visitor, sizes.small_bytes, 3, web_upload)  # the page lists 3 files
        rec.cost("page_view", sizes.repeats, lambda: _page_views(visitor, sizes.repeats))
        rec.cost(
            "upload_small_proxy", sizes.repeats,
            lambda: _uploads(visitor, sizes.small_bytes, sizes.repeats, web_upload),
            bytes=sizes.small_bytes,
        )  # fmt: skip
        small = latest_file_id(visitor)
        rec.cost(
            "download_small_proxy", sizes.repeats,
            lambda: _downloads(visitor, small, sizes.small_bytes, sizes.repeats, web_download),
            bytes=sizes.small_bytes,
        )  # fmt: skip
        _share_actions(rec, env, visitor, small)
        rec.cost(
            "upload_large_proxy", sizes.large_repeats,
            lambda: _uploads(visitor, sizes.large_bytes, sizes.large_repeats, web_upload),
            bytes=sizes.large_bytes,
        )  # fmt: skip
        large = latest_file_id(visitor)
        rec.cost(
            "download_large_proxy", sizes.large_repeats,
            lambda: _downloads(
                visitor, large, sizes.large_bytes, sizes.large_repeats, web_download
            ),
            bytes=sizes.large_bytes,
        )  # fmt: skip
    finally:
        visitor.close()
    rows = _sweep(rec, env)
    return {
        "idle_window": {
            "seconds": round(idle.seconds, 2),
            "cpu_ms": {k: round(v, 2) for k, v in idle.cpu_ms.items()},
            "redis_commands": idle.redis_commands,
        },
        "sweep_tick": tick,
        "rows": rows,
    }


def _direct_stack(rec: Recorder, env: BenchEnv) -> None:
    sizes = rec.sizes
    if env.stack.beat is not None:
        env.stack.beat.stop()
    rec.idle = rec.idle_window()
    visitor = visitor_on(env)

    def in_parts(v: WebVisitor, size: int) -> None:
        browser_upload_in_parts(v, size)

    try:
        rec.cost(
            "upload_small_direct", sizes.repeats,
            lambda: _uploads(visitor, sizes.small_bytes, sizes.repeats, browser_upload),
            bytes=sizes.small_bytes,
        )  # fmt: skip
        small = latest_file_id(visitor)
        page_download_link(visitor, small)  # the page view before the clicks, not metered
        rec.cost(
            "download_small_direct", sizes.repeats,
            lambda: _downloads(
                visitor, small, sizes.small_bytes, sizes.repeats, browser_download
            ),
            bytes=sizes.small_bytes,
        )  # fmt: skip
        rec.cost(
            "upload_large_direct", sizes.large_repeats,
            lambda: _uploads(visitor, sizes.large_bytes, sizes.large_repeats, in_parts),
            bytes=sizes.large_bytes, how="in parts, as the upload script sends a large file",
        )  # fmt: skip
        large = latest_file_id(visitor)
        page_download_link(visitor, large)
        rec.cost(
            "download_large_direct", sizes.large_repeats,
            lambda: _downloads(
                visitor, large, sizes.large_bytes, sizes.large_repeats, browser_download
            ),
            bytes=sizes.large_bytes,
        )  # fmt: skip
    finally:
        visitor.close()


def run(sizes: Sizes, out: Path, log_dir: Path, s3: str) -> dict[str, Any]:
    started = time.monotonic()
    info = machine()
    server = parse_s3_server(s3, "--s3")
    actions: dict[str, Any] = {}
    (log_dir / "redis").mkdir(parents=True, exist_ok=True)
    with embedded_redis(log_dir / "redis") as redis_url:
        with patient_bench_env(log_dir, server, "memstore", redis_url=redis_url) as env:
            rec = Recorder(Meters(env, redis_url), sizes, actions=actions)
            proxy = _proxy_stack(rec, env)
            s3_server = env.s3_server
        with patient_bench_env(
            log_dir, server, "memstore", transfer_mode="direct", redis_url=redis_url
        ) as env:
            rec = Recorder(Meters(env, redis_url), sizes, actions=actions)
            _direct_stack(rec, env)
    info["load_average_at_end"] = load_average()
    result = {
        "what": "cost per action (bench/costs.py; bench/meters.py says how each figure is read)",
        "mode": sizes.name,
        "sizes": asdict(sizes),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "machine": info,
        "s3_server": s3_server,
        **proxy,
        "actions": actions,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "costs.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.costs", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer repetitions, 16 MiB large")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, no settle: a check")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--logs", type=Path, default=REPO_ROOT / "build" / "bench-logs")
    parser.add_argument("--s3", default=DEFAULT_S3_SERVER)
    args = parser.parse_args(argv)
    sizes = SIZES["quick" if args.quick else "smoke" if args.smoke else "full"]
    result = run(sizes, args.out, args.logs / f"costs-{sizes.name}", args.s3)
    for name, a in result["actions"].items():
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in a["cpu_ms"].items())
        print(
            f"{name}: CPU ms {cpu}; PG xact {a['pg_transactions']}; S3 {a['s3_requests']};"
            f" Redis {a['redis_commands']}"
        )
    print(f"costs: {sizes.name} run took {result['wall_seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
