"""Case 6: GET /images (3 thumbnails) under 16 concurrent clients vs the same work in one
process (`bench/page_baseline.py`), with the latency (p50, p95) of each at 1 client and at 16
and the CPU each server process spent per page view.

Reference rows, measured in the same repetitions: the one-process baseline on asyncio and h11
(uvicorn's pure-Python loop and parser, against uvloop and httptools, which the services run)
and a bare Litestar endpoint returning a constant (what the stack cannot go beyond)."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.bare_app import bare_app_process
from bench.harness import BenchEnv, delete_all, started, visitor_on
from bench.meters import cpu_seconds
from bench.stats import Summary, quantile
from s3tasks_testkit.images import png
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import ServiceProcess, bind_loopback, python_module
from s3tasks_testkit.web_visitor import WebVisitor

CLIENTS = 16
#: the latency is reported alone (1) and under the load of the ratio (CLIENTS)
CLIENT_COUNTS = (1, CLIENTS)
THUMBNAILS = 3
#: web and storage-api serve the page with one process each: the one-process baseline gets
#: as many uvicorn workers
BASELINE_WORKERS = 2
#: the ratio's denominator first; the others are reference rows
SIDES = ("same-work", "web", "same-work-asyncio-h11", "bare")
REPO_ROOT = Path(__file__).resolve().parent.parent


def _visitor_with_images(env: BenchEnv) -> WebVisitor:
    visitor = visitor_on(env)
    for n in range(THUMBNAILS):
        image = png(640, 480, (60 * n, 120, 200))
        response = visitor.upload(
            "image", f"pic{n}.png", image, content_type="image/png", script=False
        )
        if response.status_code != 303:
            raise RuntimeError(f"image upload answered {response.status_code}")
    html = visitor.page("/images")
    if html.count("/thumbnail") < THUMBNAILS:
        raise RuntimeError("the page does not show 3 thumbnails")
    return visitor


async def _load(
    url: str, cookies: httpx.Cookies, seconds: float, clients: int
) -> tuple[int, float, list[float]]:
    """`clients` tasks GET `url` in a loop until `seconds` pass, each on its own kept-alive
    connection. aiohttp: a load generator must cost little CPU, as the client shares the two
    cores with the servers it measures (httpx's pool cost ~3 ms of CPU a request here)."""
    latencies: list[float] = []
    # the visitor's cookie as a header: nothing the servers answer changes it
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"Cookie": cookie},
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as client:
        started = time.perf_counter()
        stop_at = started + seconds

        async def one_client() -> None:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                async with client.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET {url} answered {response.status}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies), elapsed, latencies


@dataclass
class Side:
    """One server's timed runs at one number of clients: requests/s and latency quantiles."""

    url: str
    #: the server's processes (their workers counted with them), whose CPU is read
    pids: dict[str, int]
    requests_per_s: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p95_ms: list[float] = field(default_factory=list)
    #: CPU milliseconds per request, by process, one value per run
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)

    def run(self, cookies: httpx.Cookies, seconds: float, clients: int) -> None:
        before = cpu_seconds(self.pids)
        count, elapsed, latencies = asyncio.run(_load(self.url, cookies, seconds, clients))
        after = cpu_seconds(self.pids)
        self.requests_per_s.append(count / elapsed)
        self.p50_ms.append(quantile(latencies, 0.50) * 1000)
        self.p95_ms.append(quantile(latencies, 0.95) * 1000)
        for name in self.pids:
            per = (after[name] - before[name]) * 1000 / count
            self.cpu_ms.setdefault(name, []).append(per)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests_per_s": Summary.of(self.requests_per_s).as_dict(),
            "p50_ms": Summary.of(self.p50_ms).as_dict(),
            "p95_ms": Summary.of(self.p95_ms).as_dict(),
            "cpu_ms_per_request": {
                name: Summary.of(values).as_dict() for name, values in self.cpu_ms.items()
            },
        }


def page_baseline_process(
    sock: socket.socket,
    log_dir: Path,
    env: dict[str, str],
    *,
    workers: int,
    loop: str = "uvloop",
    http: str = "httptools",
    name: str = "page-baseline",
) -> ServiceProcess:
    """The baseline as a child process on `sock` (unstarted; `start()` does not wait: its
    /readyz says when it is up), on the loop and parser the services name (their cli.py).
    `env`: web's and storage-api's environment, so it reaches the same database."""
    return ServiceProcess(
        name=name,
        argv=[
            *python_module("bench.serve", "bench.page_baseline:create_app"),
            f"--workers={workers}",
            f"--loop={loop}",
            f"--http={http}",
        ],
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        log_dir=log_dir,
        sock=sock,
    )


def page_serving(env: BenchEnv, seconds: float, reps: int) -> dict[str, Any]:
    """Each repetition times every side in turn (web, the one-process baseline, the reference
    rows) at 16 clients, then at 1 (the latency a visitor sees when nothing else is queued);
    the ratio is web's requests/s at 16 clients over the baseline's."""
    visitor = _visitor_with_images(env)
    web, storage_api = started(env.stack.web, "web"), started(env.stack.storage_api, "storage-api")
    # the baseline reads the services' own settings: the same database, secret and limits
    service_env = {**storage_api.env, **web.env}
    log_dir = env.config.log_dir
    socks = {side: bind_loopback() for side in SIDES if side != "web"}
    servers = {
        "same-work": page_baseline_process(
            socks["same-work"], log_dir, service_env, workers=BASELINE_WORKERS
        ),
        "same-work-asyncio-h11": page_baseline_process(
            socks["same-work-asyncio-h11"], log_dir, service_env, workers=BASELINE_WORKERS,
            loop="asyncio", http="h11", name="page-baseline-asyncio-h11",
        ),
        "bare": bare_app_process(socks["bare"], log_dir),
    }  # fmt: skip
    sides: dict[str, dict[int, Side]] = {}
    try:
        # started side by side, then waited for: each imports both services' code, slow on
        # a busy machine
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready(f"{server.url}/readyz", timeout=patience(starts=4))
        targets = {
            "web": (f"{env.web_url}/images", {"web": web.pid, "storage-api": storage_api.pid}),
            **{
                side: (f"{server.url}/images", {side: server.pid})
                for side, server in servers.items()
            },
        }
        sides = {side: {n: Side(*targets[side]) for n in CLIENT_COUNTS} for side in SIDES}
        cookies = visitor.http.cookies
        for side in SIDES:  # warm-up
            asyncio.run(_load(targets[side][0], cookies, min(1.0, seconds), CLIENTS))
        for _ in range(reps):
            for clients in sorted(CLIENT_COUNTS, reverse=True):
                for side in SIDES:
                    sides[side][clients].run(cookies, seconds, clients)
    finally:
        for server in servers.values():
            server.stop()
        for sock in socks.values():
            sock.close()
        delete_all(visitor, "image")
        visitor.close()
    result: dict[str, Any] = {
        "clients": CLIENTS,
        "client_counts": list(CLIENT_COUNTS),
        "seconds_per_run": seconds,
        "reps": reps,
        "baseline_workers": BASELINE_WORKERS,
    }
    for side, by_clients in sides.items():
        result[side] = {str(n): s.as_dict() for n, s in by_clients.items()}

    def rps(side: str) -> float:
        return Summary.of(sides[side][CLIENTS].requests_per_s).median

    result["ratio"] = rps("web") / rps("same-work")
    result["ratio_vs_bare"] = rps("web") / rps("bare")
    # uvloop + httptools (what the services run) over asyncio + h11, the same work
    result["uvloop_httptools_speedup"] = rps("same-work") / rps("same-work-asyncio-h11")
    result["cpu_ms_per_page"] = {
        name: Summary.of(values).median for name, values in sides["web"][CLIENTS].cpu_ms.items()
    }
    return result
