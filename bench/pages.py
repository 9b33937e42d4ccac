"""Case 6: GET /images (3 thumbnails) under 16 concurrent clients vs a bare Litestar endpoint,
with the latency (p50, p95) of both at 1 client and at 16."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from bench.bare_app import bare_app_process
from bench.harness import BenchEnv, delete_all, visitor_on
from bench.stats import Summary, quantile
from s3tasks_testkit.images import png
from s3tasks_testkit.processes import bind_loopback
from s3tasks_testkit.web_visitor import WebVisitor

CLIENTS = 16
#: the latency is reported alone (1) and under the load of the ratio (CLIENTS)
CLIENT_COUNTS = (1, CLIENTS)
THUMBNAILS = 3


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

    requests_per_s: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p95_ms: list[float] = field(default_factory=list)

    def run(self, url: str, cookies: httpx.Cookies, seconds: float, clients: int) -> None:
        count, elapsed, latencies = asyncio.run(_load(url, cookies, seconds, clients))
        self.requests_per_s.append(count / elapsed)
        self.p50_ms.append(quantile(latencies, 0.50) * 1000)
        self.p95_ms.append(quantile(latencies, 0.95) * 1000)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            "requests_per_s": Summary.of(self.requests_per_s).as_dict(),
            "p50_ms": Summary.of(self.p50_ms).as_dict(),
            "p95_ms": Summary.of(self.p95_ms).as_dict(),
        }


def page_serving(env: BenchEnv, seconds: float, reps: int) -> dict[str, Any]:
    """Each repetition times web, then the bare endpoint, at 16 clients and at 1 (the latency
    a visitor sees when nothing else is queued); the ratio is the 16 clients' requests/s."""
    visitor = _visitor_with_images(env)
    sock = bind_loopback()
    bare = bare_app_process(sock, env.config.log_dir)
    sides = {side: {n: Side() for n in CLIENT_COUNTS} for side in ("web", "bare")}
    try:
        bare.start()
        urls = {"web": f"{env.web_url}/images", "bare": f"{bare.url}/images"}
        cookies = visitor.http.cookies
        for url in urls.values():  # warm-up
            asyncio.run(_load(url, cookies, min(1.0, seconds), CLIENTS))
        for _ in range(reps):
            for clients in sorted(CLIENT_COUNTS, reverse=True):
                for side, url in urls.items():
                    sides[side][clients].run(url, cookies, seconds, clients)
    finally:
        bare.stop()
        sock.close()
        delete_all(visitor, "image")
        visitor.close()
    result: dict[str, Any] = {
        "clients": CLIENTS,
        "client_counts": list(CLIENT_COUNTS),
        "seconds_per_run": seconds,
        "reps": reps,
    }
    for side, by_clients in sides.items():
        result[side] = {str(n): s.as_dict() for n, s in by_clients.items()}
    web = Summary.of(sides["web"][CLIENTS].requests_per_s)
    bare_rps = Summary.of(sides["bare"][CLIENTS].requests_per_s)
    result["ratio"] = web.median / bare_rps.median
    return result
