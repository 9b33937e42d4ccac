"""`python -m bench.capacity [--visitors 10000,1000000,100000000] [--peak 3] [--actions ...]
[--sizes ...] [--ttl 15m] [--mode proxy]`: what an audience needs, from the measured costs.

Every cost comes from bench/results/costs.json (`python -m bench.costs`); only the load
profile (visits, actions, sizes, how long an item lives) and the sizing policy (target CPU
utilisation, a replica's cores, the limits of one PostgreSQL, Redis and bucket prefix) are
parameters here, each with a default stated in `--help` and in docs/capacity.md.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import REPO_ROOT

DAY = 86_400.0
MONTH_DAYS = 30
GB = 1e9
SERVICES = ("web", "storage-api", "worker")
#: the processes the replay loads enough to correct the model by (PostgreSQL's backends too:
#: their CPU per action is a few 10 ms clock ticks over 20 actions in the costs, where the
#: replay reads a minute of it)
REPLAYED = ("web", "storage-api", "postgresql")
#: Amazon S3's documented request rates per partitioned prefix (docs: "Best practices design
#: patterns: optimizing Amazon S3 performance"); other stores differ, hence a parameter
S3_WRITES_PER_PREFIX = 3500.0
S3_READS_PER_PREFIX = 5500.0
S3_WRITE_METHODS = ("PUT", "POST", "DELETE")
DEFAULT_ACTIONS = "pages=10,uploads=1,downloads=2,shares=0.1,grants=0.3"


@dataclass(frozen=True)
class Profile:
    peak: float
    pages: float
    uploads: float
    downloads: float
    shares: float
    grants: float
    #: (bytes, share of uploads and downloads)
    sizes: tuple[tuple[int, float], ...]
    ttl_seconds: float
    mode: str


@dataclass(frozen=True)
class Policy:
    target_utilisation: float = 0.6
    cores_per_replica: float = 1.0
    min_replicas: int = 2
    postgres_cores: float = 8.0
    redis_ops_per_s: float = 100_000.0
    #: per service, measured CPU in the replay over the model's (bench/results/replay.json):
    #: the costs are measured one action at a time, a replica serves them concurrently
    cpu_correction: tuple[tuple[str, float], ...] = ()
    #: bytes of a live row in the table and in its indexes once rows churn (the soak's end),
    #: else the densely COPYed rows of costs.json
    row_bytes: dict[str, float] | None = None


def _bytes(text: str) -> int:
    m = re.fullmatch(r"\s*([\d.]+)\s*(b|kib|mib|gib|kb|mb|gb)?\s*", text.lower())
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1MiB, 64MiB)")
    unit = {
        None: 1, "b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
        "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    }[m.group(2)]  # fmt: skip
    return int(float(m.group(1)) * unit)


def parse_sizes(text: str) -> tuple[tuple[int, float], ...]:
    """`1MiB:0.9,64MiB:0.1`: sizes of files and their shares (normalised to 1)."""
    pairs = []
    for part in text.split(","):
        size, _, share = part.partition(":")
        pairs.append((_bytes(size), float(share or 1)))
    total = sum(s for _, s in pairs)
    return tuple((b, s / total) for b, s in pairs)


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*([\d.]+)\s*([smhd]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 900s, 15m, 24h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": DAY}[m.group(2)]


def parse_actions(text: str) -> dict[str, float]:
    known = set(parse_actions_default())
    out = parse_actions_default()
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        if name not in known:
            raise argparse.ArgumentTypeError(f"unknown action {name!r}: one of {sorted(known)}")
        out[name] = float(value)
    return out


def parse_actions_default() -> dict[str, float]:
    return {k: float(v) for k, v in (p.split("=") for p in DEFAULT_ACTIONS.split(","))}


class Costs:
    """The measured costs of costs.json, per action, sizes interpolated between the two
    measured ones (linear in bytes: a fixed part and a part per byte)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.actions: dict[str, Any] = data["actions"]

    def _fixed(self, name: str) -> dict[str, float]:
        return _flat(self.actions[name])

    def sized(self, what: str, mode: str, size: int) -> dict[str, float]:
        small, large = self.actions[f"{what}_small_{mode}"], self.actions[f"{what}_large_{mode}"]
        a, b = _flat(small), _flat(large)
        span = large["bytes"] - small["bytes"]
        t = (size - small["bytes"]) / span
        return {k: max(0.0, a.get(k, 0.0) + t * (b.get(k, 0.0) - a.get(k, 0.0))) for k in a | b}

    def mixed(self, what: str, profile: Profile) -> dict[str, float]:
        total: dict[str, float] = {}
        for size, share in profile.sizes:
            for k, v in self.sized(what, profile.mode, size).items():
                total[k] = total.get(k, 0.0) + share * v
        return total

    def per_visitor_day(self, profile: Profile) -> dict[str, float]:
        """Everything one visitor causes in a day (deletion: every upload is swept once)."""
        parts = [
            (profile.pages, self._fixed("page_view")),
            (profile.uploads, self.mixed("upload", profile)),
            (profile.downloads, self.mixed("download", profile)),
            (profile.shares, self._fixed("share_create")),
            (profile.grants, self._fixed("share_grant")),
            (profile.uploads, self._fixed("deletion_sweep")),
        ]
        total: dict[str, float] = {}
        for count, cost in parts:
            for k, v in cost.items():
                total[k] = total.get(k, 0.0) + count * max(0.0, v)
        return total


def _flat(action: dict[str, Any]) -> dict[str, float]:
    """cpu.<service> (ms), pg_xact, pg.<rows>, s3.<method>, s3, redis."""
    flat = {f"cpu.{k}": float(v) for k, v in action["cpu_ms"].items()}
    flat["pg_xact"] = float(action["pg_transactions"])
    flat |= {f"pg.{k}": float(v) for k, v in action["pg_rows"].items()}
    flat |= {f"s3.{k}": float(v) for k, v in action["s3_by_method"].items()}
    flat["s3"] = float(action["s3_requests"])
    flat["redis"] = float(action["redis_commands"] or 0.0)
    return flat


def plan(costs: Costs, visitors: float, profile: Profile, policy: Policy) -> dict[str, Any]:
    per_day = costs.per_visitor_day(profile)
    peak = profile.peak * visitors / DAY  # visitors' days per second at the peak
    avg = visitors / DAY
    # what the deployment spends with nobody asking, beat's sweep tick included (once: one
    # beat, one worker takes each tick's job)
    fixed = costs.data["sweep_tick"]["idle_cpu_ms_per_s_with_beat"]
    replicas = {}
    correction = dict(policy.cpu_correction)
    for service in SERVICES:
        busy = per_day.get(f"cpu.{service}", 0.0) * correction.get(service, 1.0)
        cores = (busy * peak + max(0.0, fixed.get(service, 0.0))) / 1000
        needed = math.ceil(cores / (policy.target_utilisation * policy.cores_per_replica))
        replicas[service] = {
            "cores_at_peak": cores,
            "replicas": max(policy.min_replicas, needed),
        }
    rows_bytes = policy.row_bytes or costs.data["rows"]
    item_rows = visitors * profile.uploads * profile.ttl_seconds / DAY
    mean_size = sum(b * s for b, s in profile.sizes)
    s3_writes = sum(v for k, v in per_day.items() if k.removeprefix("s3.") in S3_WRITE_METHODS)
    s3_reads = per_day.get("s3", 0.0) - s3_writes
    return {
        "visitors_per_day": visitors,
        "replicas": replicas,
        "postgresql": {
            "rows_at_steady_state": item_rows,
            "table_bytes": item_rows * rows_bytes["table_bytes_per_row"],
            "index_bytes": item_rows * rows_bytes["index_bytes_per_row"],
            "transactions_per_s": per_day["pg_xact"] * avg,
            "transactions_per_s_peak": per_day["pg_xact"] * peak,
            "rows_written_per_s_peak": sum(
                per_day.get(f"pg.{k}", 0.0) for k in ("inserted", "updated", "deleted")
            )
            * peak,
            "cores_at_peak": per_day.get("cpu.postgresql", 0.0)
            * correction.get("postgresql", 1.0)
            / 1000
            * peak,
        },
        "redis_commands_per_s_peak": per_day["redis"] * peak,
        "s3": {
            "requests_per_s": per_day.get("s3", 0.0) * avg,
            "requests_per_s_peak": per_day.get("s3", 0.0) * peak,
            "writes_per_s_peak": s3_writes * peak,
            "reads_per_s_peak": s3_reads * peak,
            "requests_per_month": per_day.get("s3", 0.0) * visitors * MONTH_DAYS,
            "server_cores_at_peak": sum(
                per_day.get(f"cpu.{d}", 0.0) for d in ("radosgw", "ceph-osd")
            )
            / 1000
            * peak,
        },
        "stored_gb": visitors * profile.uploads * mean_size * profile.ttl_seconds / DAY / GB,
        "egress_gb_per_month": visitors * profile.downloads * mean_size * MONTH_DAYS / GB,
    }


def limits(costs: Costs, profile: Profile, policy: Policy) -> dict[str, float]:
    """Visitors a day at which one PostgreSQL, one Redis, one bucket prefix is full."""
    per_day = costs.per_visitor_day(profile)

    def at(load_per_visitor_per_s: float, capacity: float) -> float:
        return math.inf if load_per_visitor_per_s <= 0 else capacity / load_per_visitor_per_s

    peak_factor = profile.peak / DAY
    s3_writes = sum(v for k, v in per_day.items() if k.removeprefix("s3.") in S3_WRITE_METHODS)
    return {
        "postgresql": at(
            per_day.get("cpu.postgresql", 0.0)
            * dict(policy.cpu_correction).get("postgresql", 1.0)
            / 1000
            * peak_factor,
            policy.postgres_cores * policy.target_utilisation,
        ),
        "redis": at(per_day["redis"] * peak_factor, policy.redis_ops_per_s),
        "s3_prefix_writes": at(s3_writes * peak_factor, S3_WRITES_PER_PREFIX),
        "s3_prefix_reads": at(
            (per_day.get("s3", 0.0) - s3_writes) * peak_factor, S3_READS_PER_PREFIX
        ),
    }


def _num(x: float) -> str:
    if x >= 1e9:
        return f"{x / 1e9:.3g} G"
    if x >= 1e6:
        return f"{x / 1e6:.3g} M"
    if x >= 1e4:
        return f"{x / 1e3:.3g} k"
    return f"{x:.3g}"


def render(costs: Costs, audiences: Sequence[float], profile: Profile, policy: Policy) -> str:
    d = costs.data
    plans = [plan(costs, v, profile, policy) for v in audiences]
    sizes = ", ".join(f"{b / 1024**2:g} MiB x{s:.2f}" for b, s in profile.sizes)
    lines = [
        f"Costs: bench/results/costs.json ({d['mode']} run, commit {d['machine']['git_commit']},"
        f" {d['finished_at']}, S3 {d['s3_server']}, load average at start"
        f" {d['machine']['load_average_at_start'][0]:.1f} on {d['machine']['nproc']} cores)",
        f"Profile: peak x{profile.peak:g} the day's mean; per visitor a day {profile.pages:g}"
        f" pages, {profile.uploads:g} uploads, {profile.downloads:g} downloads,"
        f" {profile.shares:g} share links, {profile.grants:g} share downloads; files {sizes};"
        f" an item lives {profile.ttl_seconds:g} s; transfer mode {profile.mode}",
        f"Policy: replicas of {policy.cores_per_replica:g} core at"
        f" {policy.target_utilisation:.0%} CPU at the peak, at least {policy.min_replicas}",
        "Corrected by the replay (bench/results/replay.json, measured/model CPU under"
        " concurrent load): "
        + (", ".join(f"{k} x{v:.2f}" for k, v in policy.cpu_correction) or "none"),
        "Bytes of a row: "
        + (
            "the soak's churned table at its end (bench/results/soak.json)"
            if policy.row_bytes
            else "rows COPYed into a fresh table (costs.json; no soak.json)"
        ),
        "",
        "| visitors a day | " + " | ".join(_num(p["visitors_per_day"]) for p in plans) + " |",
        "|---|" + "---|" * len(plans),
    ]

    def row(label: str, values: Sequence[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    for service in SERVICES:
        at = [p["replicas"][service] for p in plans]
        row(
            f"{service} replicas (cores at peak)",
            [f"{r['replicas']} ({r['cores_at_peak']:.2g})" for r in at],
        )
    row(
        "PostgreSQL rows at steady state",
        [_num(p["postgresql"]["rows_at_steady_state"]) for p in plans],
    )
    row(
        "PostgreSQL table + indexes",
        [
            f"{_num(p['postgresql']['table_bytes'])}B + {_num(p['postgresql']['index_bytes'])}B"
            for p in plans
        ],
    )
    row(
        "PostgreSQL transactions/s (mean, peak)",
        [
            f"{pg['transactions_per_s']:.3g}, {pg['transactions_per_s_peak']:.3g}"
            for pg in (p["postgresql"] for p in plans)
        ],
    )
    row(
        "PostgreSQL rows written/s at peak",
        [f"{p['postgresql']['rows_written_per_s_peak']:.3g}" for p in plans],
    )
    row("PostgreSQL cores at peak", [f"{p['postgresql']['cores_at_peak']:.2g}" for p in plans])
    row("Redis commands/s at peak", [f"{p['redis_commands_per_s_peak']:.3g}" for p in plans])
    row(
        "S3 requests/s (mean, peak)",
        [f"{p['s3']['requests_per_s']:.3g}, {p['s3']['requests_per_s_peak']:.3g}" for p in plans],
    )
    row(
        "S3 writes/reads per s at peak",
        [f"{p['s3']['writes_per_s_peak']:.3g} / {p['s3']['reads_per_s_peak']:.3g}" for p in plans],
    )
    row("S3 requests a month", [_num(p["s3"]["requests_per_month"]) for p in plans])
    row(
        "S3 server cores at peak (radosgw+OSD)",
        [f"{p['s3']['server_cores_at_peak']:.2g}" for p in plans],
    )
    row("stored GB (steady state)", [f"{p['stored_gb']:.3g}" for p in plans])
    row("egress GB a month", [f"{p['egress_gb_per_month']:.3g}" for p in plans])
    lim = limits(costs, profile, policy)
    lines += [
        "",
        "Where one stops being enough (visitors a day, this profile):",
        f"- one PostgreSQL of {policy.postgres_cores:g} cores at"
        f" {policy.target_utilisation:.0%}: {_num(lim['postgresql'])}",
        f"- one Redis at {_num(policy.redis_ops_per_s)} commands/s: {_num(lim['redis'])}",
        f"- one bucket prefix at S3's {S3_WRITES_PER_PREFIX:g} writes/s:"
        f" {_num(lim['s3_prefix_writes'])}; at {S3_READS_PER_PREFIX:g} reads/s:"
        f" {_num(lim['s3_prefix_reads'])}",
    ]
    return "\n".join(lines)


def _audiences(text: str) -> list[float]:
    return [float(v.replace("_", "")) for v in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__)
    p.add_argument("--costs", type=Path, default=REPO_ROOT / "bench" / "results" / "costs.json")
    p.add_argument(
        "--visitors",
        type=_audiences,
        default="10000,1000000,100000000",
        help="visitors a day, comma-separated (default 10k, 1M, 100M)",
    )
    p.add_argument(
        "--peak",
        type=float,
        default=3.0,
        help="the peak hour's rate over the day's mean (default 3)",
    )
    p.add_argument(
        "--actions",
        type=parse_actions,
        default=DEFAULT_ACTIONS,
        help=f"per visitor a day (default {DEFAULT_ACTIONS})",
    )
    p.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="file sizes and shares, e.g. 1MiB:0.9,64MiB:0.1 (default: the two"
        " sizes costs.json measured, 0.9 and 0.1)",
    )
    p.add_argument(
        "--ttl",
        type=parse_duration,
        default="15m",
        help="how long an item lives (default 15m, storage-api's default)",
    )
    p.add_argument(
        "--mode",
        choices=("proxy", "direct"),
        default="proxy",
        help="transfer mode (default proxy, storage-api's default)",
    )
    p.add_argument("--target", type=float, default=Policy.target_utilisation)
    p.add_argument("--replica-cores", type=float, default=Policy.cores_per_replica)
    p.add_argument("--min-replicas", type=int, default=Policy.min_replicas)
    p.add_argument("--postgres-cores", type=float, default=Policy.postgres_cores)
    p.add_argument(
        "--redis-ops",
        type=float,
        default=Policy.redis_ops_per_s,
        help="commands/s one Redis takes (default 100k, Redis's own order of"
        " magnitude for a single instance without pipelining)",
    )
    p.add_argument(
        "--replay",
        type=Path,
        default=REPO_ROOT / "bench" / "results" / "replay.json",
        help="the replay whose measured/model CPU ratios correct web's, storage-api's and"
        " PostgreSQL's CPU (none when the file is missing)",
    )
    p.add_argument(
        "--soak",
        type=Path,
        default=REPO_ROOT / "bench" / "results" / "soak.json",
        help="the soak whose churned table gives the bytes of a row (else costs.json's)",
    )
    args = p.parse_args(argv)  # fmt: skip
    costs = Costs(json.loads(args.costs.read_text()))
    correction: tuple[tuple[str, float], ...] = ()
    if args.replay.exists():
        cpu = json.loads(args.replay.read_text())["cpu"]
        correction = tuple(
            (s, float(cpu[s]["ratio"])) for s in REPLAYED if cpu.get(s, {}).get("ratio")
        )
    sizes = args.sizes
    if sizes is None:
        measured = costs.data["sizes"]
        sizes = ((measured["small_bytes"], 0.9), (measured["large_bytes"], 0.1))
    a = args.actions
    profile = Profile(
        args.peak, a["pages"], a["uploads"], a["downloads"], a["shares"], a["grants"],
        sizes, args.ttl, args.mode,
    )  # fmt: skip
    row_bytes = None
    if args.soak.exists():
        end = json.loads(args.soak.read_text())["end"]
        row_bytes = {
            "table_bytes_per_row": end["table_bytes"] / end["live_tuples"],
            "index_bytes_per_row": end["index_bytes"] / end["live_tuples"],
        }
    policy = Policy(
        args.target,
        args.replica_cores,
        args.min_replicas,
        args.postgres_cores,
        args.redis_ops,
        correction,
        row_bytes,
    )
    print(render(costs, args.visitors, profile, policy))


if __name__ == "__main__":
    main()
