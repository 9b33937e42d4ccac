"""`python -m bench [--quick | --smoke] [--out DIR]`: run the 7 cases, write JSON, Markdown, PNG.

Benchmarks never fail on a time: every case is recorded as a ratio against a baseline
measured in the same run on the same endpoint, next to its goal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import deletion, pages, transfer
from bench.harness import REPO_ROOT, SWEEP_TICK_SECONDS, bench_env
from bench.report import write_chart, write_markdown
from s3tasks_testkit.radosgw import Store
from s3tasks_testkit.s3servers import DEFAULT_S3_SERVER, S3_SERVERS, S3Server, parse_s3_server

MIB = 1024 * 1024
MEMORY_BUDGET_MIB = 64.0


@dataclass(frozen=True)
class Mode:
    name: str
    sizes_mib: tuple[int, ...]
    transfer_reps: int
    memory_mib: int
    deletion_items: int
    deletion_reps: int
    lag_items: int
    lag_spread_seconds: float
    page_seconds: float
    page_reps: int
    growth_sizes: tuple[int, int]
    listing_requests: int
    sweep_reps: int
    ceph_store: Store
    """radosgw's OSD store: memory for the small runs, a file on disk for gigabytes."""


MODES = {
    "full": Mode("full", (1, 16, 256), 3, 1024, 10_000, 2, 1000, 60.0, 10.0, 3,
                 (1000, 100_000), 200, 5, "bluestore"),
    "quick": Mode("quick", (1, 16, 64), 3, 256, 2000, 1, 200, 20.0, 2.0, 2,
                  (1000, 20_000), 50, 2, "memstore"),
    "smoke": Mode("smoke", (1,), 1, 4, 100, 1, 20, 2.0, 0.5, 1, (200, 1000), 10, 1, "memstore"),
}  # fmt: skip


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": list(os.getloadavg()),
        "git_commit": commit,
    }


def case(
    number: int,
    title: str,
    *,
    measured: str,
    baseline: str,
    ratio: float,
    op: str,
    bound: float,
    details: dict[str, Any],
    note: str = "",
) -> dict[str, Any]:
    met = ratio >= bound if op == ">=" else ratio <= bound
    return {
        "case": number,
        "title": title,
        "measured": measured,
        "baseline": baseline,
        "ratio": ratio,
        "goal": {"op": op, "bound": bound},
        "met": met,
        "note": note,
        "details": details,
    }


def _rps(pages_result: dict[str, Any], side: str) -> str:
    rps = pages_result[f"{side}_requests_per_s"]["median"]
    p95 = pages_result[f"{side}_p95_ms"]["median"]
    return f"{rps:.0f} req/s, p95 {p95:.1f} ms"


def _timed(label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"bench: {label} ...", flush=True)
    started = time.monotonic()
    result = fn()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    print(f"bench: {label} done in {result['wall_seconds']} s", flush=True)
    return result


def run(mode: Mode, out_dir: Path, log_dir: Path, server: S3Server) -> dict[str, Any]:
    started = time.monotonic()
    info = machine()
    with bench_env(log_dir, server, mode.ceph_store) as env:
        s3_server = env.s3_server
        tp = _timed(
            "1-2 throughput",
            lambda: transfer.throughput(env, [s * MIB for s in mode.sizes_mib], mode.transfer_reps),
        )
        mem = _timed("3 memory", lambda: transfer.memory(env, mode.memory_mib * MIB))
        dele = _timed(
            "4 bulk deletion",
            lambda: deletion.bulk_deletion(env, mode.deletion_items, mode.deletion_reps),
        )
        lag = _timed(
            "5 expiry lag",
            lambda: deletion.expiry_lag(env, mode.lag_items, mode.lag_spread_seconds),
        )
        pg = _timed(
            "6 page serving", lambda: pages.page_serving(env, mode.page_seconds, mode.page_reps)
        )
        gr = _timed(
            "7 growth",
            lambda: deletion.growth(env, mode.growth_sizes, mode.listing_requests, mode.sweep_reps),
        )
        notes = env.notes
    sizes = tp["sizes"]
    worst_up = min(sizes, key=lambda s: s["upload_ratio"])
    worst_down = min(sizes, key=lambda s: s["download_ratio"])
    peak = max(mem["peak_growth_mib"].values())
    tick = SWEEP_TICK_SECONDS
    small, large = mode.growth_sizes
    db, hist = lag["db_poll"], lag["histogram"]
    moved_note = (
        "" if mode.memory_mib >= 1024 else f" (this run moved {mode.memory_mib} MiB, not 1 GiB)"
    )
    cases = [
        case(
            1, "Upload through web (multipart form) vs direct put_object",
            measured=", ".join(
                f"{s['size_mib']:g} MiB {s['upload_web_mib_s']['median']:.0f} MiB/s" for s in sizes
            ),
            baseline=", ".join(f"{s['upload_direct_mib_s']['median']:.0f}" for s in sizes)
            + " MiB/s",
            ratio=worst_up["upload_ratio"], op=">=", bound=0.85, details=tp,
            note=f"lowest ratio, at {worst_up['size_mib']:g} MiB",
        ),
        case(
            2, "Download through web vs direct get_object",
            measured=", ".join(
                f"{s['size_mib']:g} MiB {s['download_web_mib_s']['median']:.0f} MiB/s"
                for s in sizes
            ),
            baseline=", ".join(f"{s['download_direct_mib_s']['median']:.0f}" for s in sizes)
            + " MiB/s",
            ratio=worst_down["download_ratio"], op=">=", bound=0.85, details=tp,
            note=f"lowest ratio, at {worst_down['size_mib']:g} MiB",
        ),
        case(
            3, f"Peak RSS growth, {mode.memory_mib} MiB up and down through web",
            measured=", ".join(f"{k} {v:.1f} MiB" for k, v in mem["peak_growth_mib"].items()),
            baseline=f"{MEMORY_BUDGET_MIB:.0f} MiB budget",
            ratio=peak / MEMORY_BUDGET_MIB, op="<=", bound=1.0, details=mem,
            note="ratio = largest growth / 64 MiB" + moved_note,
        ),
        case(
            4, f"Bulk deletion of {mode.deletion_items} expired items by the worker's sweep",
            measured=f"{dele['sweep_objects_per_s']['median']:.0f} objects/s",
            baseline=f"{dele['raw_delete_objects_per_s']['median']:.0f} objects/s"
            " (DeleteObjects loop)",
            ratio=dele["ratio"], op=">=", bound=0.5, details=dele,
        ),
        case(
            5, f"Expiry lag, {mode.lag_items} items over {mode.lag_spread_seconds:g} s,"
            f" {tick:g} s tick",
            measured=f"p50 {db['p50']:.2f} s, p99 {db['p99']:.2f} s (DB);"
            f" p50 {hist['p50']:.2f} s, p99 {hist['p99']:.2f} s (histogram)",
            baseline=f"{tick:g} s tick",
            ratio=lag["ratio"], op="<=", bound=(tick + 2) / tick, details=lag,
            note="ratio = DB p99 / tick; goal p99 <= tick + 2 s",
        ),
        case(
            6, "GET /images (3 thumbnails), 16 clients vs bare Litestar on uvicorn",
            measured=_rps(pg, "web"),
            baseline=_rps(pg, "bare"),
            ratio=pg["ratio"], op=">=", bound=0.5, details=pg,
        ),
        case(
            7, f"Growth: listing and one sweep batch, {large} vs {small} rows",
            measured=f"list {gr['by_size'][str(large)]['listing_ms']['median']:.1f} ms,"
            f" sweep {gr['by_size'][str(large)]['sweep_batch_ms']['median']:.0f} ms",
            baseline=f"list {gr['by_size'][str(small)]['listing_ms']['median']:.1f} ms,"
            f" sweep {gr['by_size'][str(small)]['sweep_batch_ms']['median']:.0f} ms",
            ratio=gr["ratio"], op="<=", bound=1.5, details=gr,
            note=f"listing x{gr['listing_ratio']:.2f}, sweep batch x{gr['sweep_ratio']:.2f}",
        ),
    ]  # fmt: skip
    info["load_average_at_end"] = list(os.getloadavg())
    result = {
        "mode": mode.name,
        "mode_settings": mode.__dict__,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "machine": info,
        "s3_server": s3_server,
        "notes": notes,
        "cases": cases,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_markdown(result, out_dir / "latest.md")
    write_chart(result, out_dir / "latest.png")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, under 3 minutes")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument(
        "--logs", type=Path, default=REPO_ROOT / "build" / "bench-logs", help="service logs"
    )
    parser.add_argument(
        "--s3",
        choices=S3_SERVERS,
        default=os.environ.get("S3TASKS_BENCH_S3") or DEFAULT_S3_SERVER,
        help="the S3 server to start: radosgw (default, a real S3) or moto (S3TASKS_BENCH_S3)",
    )
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "smoke" if args.smoke else "full"]
    server = parse_s3_server(args.s3, "--s3")
    result = run(mode, args.out, args.logs / mode.name, server)
    print((args.out / "latest.md").read_text())
    print(f"bench: {mode.name} run took {result['wall_seconds']} s", file=sys.stderr)
