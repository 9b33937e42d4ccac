"""`python -m bench.replay [--share 0.1] [--seconds 60]`: the capacity model checked on a
running stack (one replica of each service, loopback only).

The load is the model's default profile (bench/capacity.py: pages, uploads, downloads, share
links and share downloads per visitor, in that proportion; files of the small size costs.json
measured, proxy mode) at the rate the model says takes `--share` of one web replica's core.
The actions are sent open-loop on a schedule (a thread pool, several visitors); then the CPU
each service spent is compared with what the model predicts for the actions that were done,
from bench/results/costs.json. Deletions are left out on both sides: an item lives 15 minutes,
longer than the run. Written to bench/results/replay.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.capacity import Costs, parse_actions_default
from bench.harness import REPO_ROOT, BenchEnv, latest_file_id, patient_bench_env, visitor_on
from bench.meters import Meters, load_average, measure
from bench.run import machine
from bench.sharing import make_share_link
from bench.transfer import web_download, web_upload
from s3tasks_testkit.backing_services import embedded_redis
from s3tasks_testkit.s3servers import DEFAULT_S3_SERVER, parse_s3_server
from s3tasks_testkit.web_visitor import WebVisitor

#: the model's action -> costs.json's measurement of it (small files, proxy mode)
MEASURED_AS = {
    "pages": "page_view",
    "uploads": "upload_small_proxy",
    "downloads": "download_small_proxy",
    "shares": "share_create",
    "grants": "share_grant",
}
COMPARED = ("web", "storage-api")
TOLERANCE = 0.25


class Driver:
    """Visitors, each with a file, and share links made ahead for the grants."""

    def __init__(self, env: BenchEnv, visitors: int, size: int, grants: int) -> None:
        self.env = env
        self.size = size
        self.visitors: list[WebVisitor] = []
        self.files: list[str] = []
        for _ in range(visitors):
            v = visitor_on(self.env)
            web_upload(v, size)
            self.visitors.append(v)
            self.files.append(latest_file_id(v))
        # whoever was given a link: no session of a visitor
        self.anyone = httpx.Client(base_url=env.web_url, timeout=env.timeout)
        for n in range(grants):
            self._share(n % visitors)
        self.links = [path for v in self.visitors for path in v.share_paths_in(v.page("/files"))][
            :grants
        ]
        self._lock = threading.Lock()
        self._next = itertools.count()
        self.errors: list[str] = []

    def _share(self, n: int) -> None:
        make_share_link(self.visitors[n], self.files[n])

    def act(self, kind: str) -> None:
        with self._lock:
            n = next(self._next)
        i = n % len(self.visitors)
        v = self.visitors[i]
        try:
            if kind == "pages":
                status = v.get("/files").status_code
                if status != 200:
                    self.errors.append(f"pages: GET /files answered {status}")
            elif kind == "uploads":
                web_upload(v, self.size)
            elif kind == "downloads":
                web_download(v, self.files[i], self.size)
            elif kind == "shares":
                self._share(i)
            elif kind == "grants":  # the share page's Download button: web's 303
                pressed = self.anyone.post(self.links.pop(), data={"password": ""})
                if pressed.status_code != 303:
                    self.errors.append(f"grants: Download answered {pressed.status_code}")
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            self.errors.append(f"{kind}: {exc}")

    def close(self) -> None:
        self.anyone.close()
        for v in self.visitors:
            v.close()


def schedule(rates: dict[str, float], seconds: float) -> list[tuple[float, str]]:
    """Every action's times, evenly spaced at its rate, merged."""
    events = [
        (k / rate, kind)
        for kind, rate in rates.items()
        if rate > 0
        for k in range(int(rate * seconds))
    ]
    return sorted(events)


def run_schedule(driver: Driver, events: list[tuple[float, str]], threads: int) -> Counter[str]:
    done: Counter[str] = Counter()
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        futures = []
        for at, kind in events:
            delay = started + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the schedule's own pace, not a wait for a condition
            futures.append(pool.submit(driver.act, kind))
            done[kind] += 1
        for f in futures:
            f.result()
    return done


def replay(
    env: BenchEnv, meters: Meters, costs: Costs, share: float, seconds: float, threads: int
) -> dict[str, Any]:
    if env.stack.beat is not None:
        env.stack.beat.stop()
    per_visitor = parse_actions_default()
    actions = {k: costs.actions[MEASURED_AS[k]] for k in per_visitor}
    web_ms = sum(per_visitor[k] * actions[k]["cpu_ms"]["web"] for k in per_visitor)
    visitors_per_s = share * 1000 / web_ms  # a visitor's day of actions, per second
    rates = {k: visitors_per_s * n for k, n in per_visitor.items()}
    events = schedule(rates, seconds)
    size = int(costs.data["sizes"]["small_bytes"])
    driver = Driver(
        env, visitors=threads, size=size, grants=sum(1 for _, k in events if k == "grants")
    )
    try:
        idle = measure(meters, lambda: time.sleep(10))
        load = load_average()
        done: Counter[str] = Counter()
        window = measure(meters, lambda: done.update(run_schedule(driver, events, threads)))
    finally:
        driver.close()
    spent = window.minus_idle(idle)
    predicted = {
        service: sum(done[k] * max(0.0, actions[k]["cpu_ms"].get(service, 0.0)) for k in done)
        for service in spent.cpu_ms
    }
    comparison = {
        service: {
            "measured_cpu_ms": round(spent.cpu_ms[service], 1),
            "predicted_cpu_ms": round(predicted[service], 1),
            "ratio": spent.cpu_ms[service] / predicted[service] if predicted[service] else None,
            "share_of_one_core_measured": spent.cpu_ms[service] / 1000 / window.seconds,
            "share_of_one_core_predicted": predicted[service] / 1000 / window.seconds,
        }
        for service in spent.cpu_ms
    }
    predicted_xact = sum(done[k] * actions[k]["pg_transactions"] for k in done)
    pg_xact = spent.pg["xact_commit"] + spent.pg["xact_rollback"]
    return {
        "share_of_web_planned": share,
        "visitors_per_s": visitors_per_s,
        "rates_per_s": rates,
        "planned_seconds": seconds,
        "window_seconds": round(window.seconds, 1),
        "actions_done": dict(done),
        "errors": driver.errors[:20],
        "error_count": len(driver.errors),
        "load_average": load,
        "cpu": comparison,
        "pg_transactions": {"measured": pg_xact, "predicted": predicted_xact},
        "s3_requests": {
            "measured": sum(spent.s3_requests.values()),
            "predicted": sum(done[k] * actions[k]["s3_requests"] for k in done),
        },
        "within_tolerance": all(
            (r := comparison[s]["ratio"]) is not None and abs(r - 1) <= TOLERANCE for s in COMPARED
        ),
        "tolerance": TOLERANCE,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    p.add_argument("--share", type=float, default=0.1, help="of one web replica's core")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=8, help="senders, and as many visitors")
    p.add_argument("--costs", type=Path, default=REPO_ROOT / "bench" / "results" / "costs.json")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    p.add_argument("--logs", type=Path, default=REPO_ROOT / "build" / "bench-logs" / "replay")
    p.add_argument("--s3", default=DEFAULT_S3_SERVER)
    args = p.parse_args(argv)
    costs = Costs(json.loads(args.costs.read_text()))
    info = machine()
    server = parse_s3_server(args.s3, "--s3")
    (args.logs / "redis").mkdir(parents=True, exist_ok=True)
    with (
        embedded_redis(args.logs / "redis") as redis_url,
        patient_bench_env(args.logs, server, "memstore", redis_url=redis_url) as env,
    ):
        result = replay(env, Meters(env, redis_url), costs, args.share, args.seconds, args.threads)
        s3_server = env.s3_server
    info["load_average_at_end"] = load_average()
    result = {
        "what": "the capacity model against a replay (bench/replay.py)",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "s3_server": s3_server,
        "costs_from": {"mode": costs.data["mode"], "finished_at": costs.data["finished_at"]},
        **result,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replay.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"replay: within ±25%: {result['within_tolerance']}", file=sys.stderr)


if __name__ == "__main__":
    main()
