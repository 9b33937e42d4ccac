"""`python -m bench [--quick | --smoke] [--cases 6] [--out DIR]`: run the 12 cases (or some),
write JSON, Markdown, PNG.

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
from functools import partial
from pathlib import Path
from typing import Any

from bench import deletion, direct_mode, large_uploads, pages, sharing, transfer
from bench.harness import REPO_ROOT, SWEEP_TICK_SECONDS, BenchEnv, bench_env
from bench.profiles import profiled
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
    large_mib: int = 16
    """case 10's file, sent in parts"""
    large_reps: int = 1
    cpu_transfers: int = 20
    """1 MiB uploads and downloads in a row, for their CPU per transfer"""


MODES = {
    "full": Mode("full", (1, 16, 256), 3, 1024, 10_000, 2, 1000, 60.0, 10.0, 3,
                 (1000, 100_000), 200, 5, "bluestore", 2048, 3),
    "quick": Mode("quick", (1, 16, 64), 3, 256, 2000, 1, 200, 20.0, 2.0, 2,
                  (1000, 20_000), 50, 2, "memstore", 256, 3),
    "smoke": Mode("smoke", (1,), 1, 4, 100, 1, 20, 2.0, 0.5, 1, (200, 1000), 10, 1, "memstore",
                  cpu_transfers=2),
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


def _pages(pages_result: dict[str, Any], side: str) -> str:
    at = pages_result[side]
    many, one = at[str(pages.CLIENTS)], at["1"]

    def latency(by: dict[str, dict[str, float]]) -> str:
        return f"{by['p50_ms']['median']:.1f}/{by['p95_ms']['median']:.1f} ms"

    return (
        f"{many['requests_per_s']['median']:.0f} req/s; p50/p95 {latency(many)}"
        f" at {pages.CLIENTS} clients, {latency(one)} at 1"
    )


def _timed(label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"bench: {label} ...", flush=True)
    started = time.monotonic()
    result = fn()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    print(f"bench: {label} done in {result['wall_seconds']} s", flush=True)
    return result


Measure = Callable[[BenchEnv, Mode], dict[str, Any]]


def _shared_size(mode: Mode) -> int:
    """Case 12's file: 16 MiB, as the issue's goal says (the smoke run's one size else)."""
    return (16 if 16 in mode.sizes_mib else mode.sizes_mib[0]) * MIB


#: what is measured, for which cases; cases 1 and 2 share one measurement.
MEASUREMENTS: tuple[tuple[str, frozenset[int], Measure], ...] = (
    ("1-2 throughput", frozenset({1, 2}),
     lambda env, m: transfer.throughput(env, [s * MIB for s in m.sizes_mib], m.transfer_reps,
                                        cpu_transfers=m.cpu_transfers)),
    ("3 memory", frozenset({3}), lambda env, m: transfer.memory(env, m.memory_mib * MIB)),
    ("4 bulk deletion", frozenset({4}),
     lambda env, m: deletion.bulk_deletion(env, m.deletion_items, m.deletion_reps)),
    ("5 expiry lag", frozenset({5}),
     lambda env, m: deletion.expiry_lag(env, m.lag_items, m.lag_spread_seconds)),
    ("6 page serving", frozenset({6}),
     lambda env, m: pages.page_serving(env, m.page_seconds, m.page_reps)),
    ("7 growth", frozenset({7}),
     lambda env, m: deletion.growth(env, m.growth_sizes, m.listing_requests, m.sweep_reps)),
    ("11 share grants", frozenset({11}),
     lambda env, m: sharing.grants(env, m.page_seconds, m.page_reps)),
)  # fmt: skip
#: measured on a second stack, in `direct` mode
DIRECT_MEASUREMENTS: tuple[tuple[str, frozenset[int], Measure], ...] = (
    ("8-9 direct throughput", frozenset({8, 9}),
     lambda env, m: direct_mode.with_upload_steps(transfer.throughput(
         env, [s * MIB for s in m.sizes_mib], m.transfer_reps,
         upload=direct_mode.browser_upload, download=direct_mode.browser_download,
         cpu_transfers=m.cpu_transfers))),
    ("10 upload in parts", frozenset({10}),
     lambda env, m: large_uploads.upload_in_parts(env, m.large_mib * MIB, m.large_reps)),
    ("12 shared download", frozenset({12}),
     lambda env, m: sharing.shared_download(env, _shared_size(m), m.transfer_reps)),
)  # fmt: skip
ALL_CASES = frozenset().union(*(numbers for _, numbers, _ in MEASUREMENTS + DIRECT_MEASUREMENTS))


def _cases(mode: Mode, measured: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the cases that were measured."""
    cases: list[dict[str, Any]] = []
    if (tp := measured.get("1-2 throughput")) is not None:
        cases += _throughput_cases(
            tp, (1, 2), ("Upload through web (proxy mode: one hop to S3)",
                         "Download through web (proxy mode: one hop from S3)"), bound=0.85,
        )  # fmt: skip
    if (tp := measured.get("8-9 direct throughput")) is not None:
        cases += _throughput_cases(
            tp, (8, 9), ("Upload in direct mode (start, POST policy to S3, complete)",
                         "Download in direct mode (the page's presigned link, GET from S3)"),
            bound=0.9, small_bound=0.7,
        )  # fmt: skip
    if (mem := measured.get("3 memory")) is not None:
        peak = max(mem["peak_growth_mib"].values())
        moved_note = (
            "" if mode.memory_mib >= 1024 else f" (this run moved {mode.memory_mib} MiB, not 1 GiB)"
        )
        cases.append(
            case(
                3, f"Peak RSS growth, {mode.memory_mib} MiB up and down through web",
                measured=", ".join(f"{k} {v:.1f} MiB" for k, v in mem["peak_growth_mib"].items()),
                baseline=f"{MEMORY_BUDGET_MIB:.0f} MiB budget",
                ratio=peak / MEMORY_BUDGET_MIB, op="<=", bound=1.0, details=mem,
                note="ratio = largest growth / 64 MiB" + moved_note,
            )
        )  # fmt: skip
    if (dele := measured.get("4 bulk deletion")) is not None:
        cases.append(
            case(
                4, f"Bulk deletion of {mode.deletion_items} expired items by the worker's sweep",
                measured=f"{dele['sweep_objects_per_s']['median']:.0f} objects/s",
                baseline=f"{dele['raw_delete_objects_per_s']['median']:.0f} objects/s"
                " (DeleteObjects loop)",
                ratio=dele["ratio"], op=">=", bound=0.5, details=dele,
            )
        )  # fmt: skip
    if (lag := measured.get("5 expiry lag")) is not None:
        tick = SWEEP_TICK_SECONDS
        db, hist = lag["db_poll"], lag["histogram"]
        cases.append(
            case(
                5, f"Expiry lag, {mode.lag_items} items over {mode.lag_spread_seconds:g} s,"
                f" {tick:g} s tick",
                measured=f"p50 {db['p50']:.2f} s, p99 {db['p99']:.2f} s (DB);"
                f" p50 {hist['p50']:.2f} s, p99 {hist['p99']:.2f} s (histogram)",
                baseline=f"{tick:g} s tick",
                ratio=lag["ratio"], op="<=", bound=(tick + 2) / tick, details=lag,
                note="ratio = DB p99 / tick; goal p99 <= tick + 2 s",
            )
        )  # fmt: skip
    if (pg := measured.get("6 page serving")) is not None:
        cpu = pg["cpu_ms_per_page"]
        cases.append(
            case(
                6, f"GET /images (3 thumbnails), {pages.CLIENTS} clients vs the same work in one"
                f" process ({pg['baseline_workers']} uvicorn workers)",
                measured=_pages(pg, "web") + "; CPU/page "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items()),
                baseline=_pages(pg, "same-work"),
                ratio=pg["ratio"], op=">=", bound=0.6, details=pg,
                note=f"ratio of req/s at {pages.CLIENTS} clients; goals p50 <= 3 ms at 1 client,"
                f" CPU <= 1.5 ms/page in web and in storage-api; vs the bare endpoint"
                f" {pg['ratio_vs_bare']:.2f} ({_pages(pg, 'bare')}); the same work on"
                f" asyncio+h11: {_pages(pg, 'same-work-asyncio-h11')}, uvloop+httptools"
                f" x{pg['uvloop_httptools_speedup']:.2f}",
            )
        )  # fmt: skip
    if (lp := measured.get("10 upload in parts")) is not None:
        cases.append(
            case(
                10, f"Upload in parts, direct mode, {lp['size_mib']:g} MiB in"
                f" {lp['part_size_mib']:g} MiB parts (start, sign, PUT to S3, complete) vs a"
                " plain S3 multipart upload with the same part size",
                measured=f"{lp['ours_mib_s']['median']:.0f} MiB/s",
                baseline=f"{lp['plain_mib_s']['median']:.0f} MiB/s",
                ratio=lp["ratio"], op=">=", bound=0.8, details=lp,
                note="one part at a time on both sides",
            )
        )  # fmt: skip
    if (sg := measured.get("11 share grants")) is not None:
        hot, spread = sg["hot_grants_per_s"]["median"], sg["spread_grants_per_s"]["median"]
        met = "met" if sg["hot_link_goal_met"] else "not met"
        cases.append(
            case(
                11, f"Share-link grants through web, {sharing.CLIENTS} clients on one hot link"
                f" vs {sharing.CLIENTS} links (one each)",
                measured=f"{hot:.0f} grants/s", baseline=f"{spread:.0f} grants/s",
                ratio=sg["ratio"], op=">=", bound=0.8, details=sg,
                note=f"the row's contention; the hot link's own goal, at least"
                f" {sharing.HOT_LINK_GOAL:.0f} grants/s: {met}",
            )
        )  # fmt: skip
    if (sd := measured.get("12 shared download")) is not None:
        cases.append(
            case(
                12, f"Shared download, direct mode, {sd['size_mib']:g} MiB (Download's POST,"
                " web's 303, GET from S3) vs get_object of the same object",
                measured=f"{sd['shared_mib_s']['median']:.0f} MiB/s",
                baseline=f"{sd['direct_mib_s']['median']:.0f} MiB/s",
                ratio=sd["ratio"], op=">=", bound=0.9, details=sd,
            )
        )  # fmt: skip
    if (gr := measured.get("7 growth")) is not None:
        small, large = mode.growth_sizes
        cases.append(
            case(
                7, f"Growth: listing and one sweep batch, {large} vs {small} rows",
                measured=f"list {gr['by_size'][str(large)]['listing_ms']['median']:.1f} ms,"
                f" sweep {gr['by_size'][str(large)]['sweep_batch_ms']['median']:.0f} ms",
                baseline=f"list {gr['by_size'][str(small)]['listing_ms']['median']:.1f} ms,"
                f" sweep {gr['by_size'][str(small)]['sweep_batch_ms']['median']:.0f} ms",
                ratio=gr["ratio"], op="<=", bound=1.5, details=gr,
                note=f"listing x{gr['listing_ratio']:.2f}, sweep batch x{gr['sweep_ratio']:.2f}",
            )
        )  # fmt: skip
    return cases


def _throughput_cases(
    tp: dict[str, Any],
    numbers: tuple[int, int],
    titles: tuple[str, str],
    *,
    bound: float,
    small_bound: float | None = None,
) -> list[dict[str, Any]]:
    """Upload and download rows against direct put_object/get_object. The ratio is the lowest
    over the sizes of 16 MiB and up; below, the control calls weigh more (`small_bound`)."""
    rows = []
    for number, title, way in zip(numbers, titles, ("upload", "download"), strict=True):
        sizes = tp["sizes"]
        large = [s for s in sizes if s["size_mib"] >= 16] or sizes
        worst = min(large, key=lambda s: s[f"{way}_ratio"])
        small = [f"{s[f'{way}_ratio']:.2f} at {s['size_mib']:g} MiB" for s in sizes
                 if s not in large]  # fmt: skip
        note = f"lowest ratio from 16 MiB, at {worst['size_mib']:g} MiB"
        if small:
            goal = f" (goal {small_bound:g})" if small_bound is not None else ""
            note += "; " + ", ".join(small) + goal
        if (small_cpu := tp.get("small_cpu_ms")) is not None:
            note += f"; CPU per {way} of {small_cpu['size_mib']:g} MiB: " + ", ".join(
                f"{name} {ms:.1f} ms" for name, ms in small_cpu[way].items()
            )
        verb = "put_object" if way == "upload" else "get_object of the same object"
        rows.append(
            case(
                number, f"{title} vs direct {verb}",
                measured=", ".join(
                    f"{s['size_mib']:g} MiB {s[f'{way}_web_mib_s']['median']:.0f} MiB/s"
                    for s in sizes
                ),
                baseline=", ".join(f"{s[f'{way}_direct_mib_s']['median']:.0f}" for s in sizes)
                + " MiB/s",
                ratio=worst[f"{way}_ratio"], op=">=", bound=bound, details=tp, note=note,
            )
        )  # fmt: skip
    return rows


def _merged(result: dict[str, Any], previous_path: Path) -> dict[str, Any]:
    """A run of some cases only, written over those cases of the previous results of the same
    mode and S3 server (the other rows stay, and a note says which run each part comes from);
    alone when there is nothing to merge with."""
    try:
        previous: dict[str, Any] = json.loads(previous_path.read_text())
    except (OSError, ValueError):
        return result
    if (previous.get("mode"), previous.get("s3_server")) != (result["mode"], result["s3_server"]):
        return result
    rerun = {c["case"] for c in result["cases"]}
    m = result["machine"]
    for c in result["cases"]:
        c["details"]["run"] = {
            "git_commit": m["git_commit"],
            "finished_at": result["finished_at"],
            "load_average_at_start": m["load_average_at_start"],
        }
    cases = [c for c in previous["cases"] if c["case"] not in rerun] + result["cases"]
    numbers = ", ".join(str(n) for n in sorted(rerun))
    previous["cases"] = sorted(cases, key=lambda c: c["case"])
    previous["notes"] = [
        *(n for n in previous.get("notes", []) if not n.startswith(f"case {numbers} re-run")),
        f"case {numbers} re-run alone: commit {m['git_commit']}, finished"
        f" {result['finished_at']}, {result['wall_seconds']:.0f} s, load average at start"
        f" {m['load_average_at_start'][0]:.2f}",
    ]
    return previous


def run(
    mode: Mode, out_dir: Path, log_dir: Path, server: S3Server, only: frozenset[int] = ALL_CASES
) -> dict[str, Any]:
    """Measure the cases in `only` (all by default) and write the results to `out_dir`."""
    started = time.monotonic()
    info = machine()
    measured: dict[str, dict[str, Any]] = {}
    with bench_env(log_dir, server, mode.ceph_store) as env:
        s3_server = env.s3_server
        for label, numbers, measure in MEASUREMENTS:
            if numbers & only:
                with profiled(env, label):
                    measured[label] = _timed(label, partial(measure, env, mode))
        notes = env.notes
    for label, numbers, measure in DIRECT_MEASUREMENTS:
        if numbers & only:
            # a stack of its own: the transfer mode is storage-api's setting, read at start
            with (
                bench_env(log_dir, server, mode.ceph_store, transfer_mode="direct") as direct,
                profiled(direct, label),
            ):
                measured[label] = _timed(label, partial(measure, direct, mode))
    cases = sorted(
        (c for c in _cases(mode, measured) if c["case"] in only), key=lambda c: c["case"]
    )
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
    if only != ALL_CASES:
        result = _merged(result, out_dir / "latest.json")
    (out_dir / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    write_markdown(result, out_dir / "latest.md")
    write_chart(result, out_dir / "latest.png")
    return result


def _case_numbers(text: str) -> frozenset[int]:
    try:
        numbers = frozenset(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not case numbers: {text!r}") from None
    if not numbers or not numbers <= ALL_CASES:
        raise argparse.ArgumentTypeError(f"cases are {min(ALL_CASES)}-{max(ALL_CASES)}")
    return numbers


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
    parser.add_argument(
        "--cases",
        type=_case_numbers,
        default=ALL_CASES,
        help="only these cases, comma-separated (e.g. 6); their rows replace those of the"
        " previous results in --out when mode and S3 server match",
    )
    args = parser.parse_args(argv)
    mode = MODES["quick" if args.quick else "smoke" if args.smoke else "full"]
    server = parse_s3_server(args.s3, "--s3")
    result = run(mode, args.out, args.logs / mode.name, server, args.cases)
    print((args.out / "latest.md").read_text())
    print(f"bench: {mode.name} run took {result['wall_seconds']} s", file=sys.stderr)
