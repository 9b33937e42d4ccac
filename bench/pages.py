"""Case 6: GET /images (3 thumbnails) under 16 concurrent clients vs a bare Litestar endpoint."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.bare_app import bare_app_process
from bench.harness import BenchEnv, delete_all, visitor_on
from bench.stats import Summary, quantile
from s3tasks_testkit.images import png
from s3tasks_testkit.processes import bind_loopback
from s3tasks_testkit.web_visitor import WebVisitor

CLIENTS = 16
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
    url: str, cookies: httpx.Cookies, seconds: float, max_requests: int
) -> tuple[int, float, list[float]]:
    """CLIENTS tasks GET `url` in a loop until `seconds` pass or `max_requests` are made."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(cookies=cookies, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        stop_at = started + seconds

        async def one_client() -> None:
            while time.perf_counter() < stop_at and len(latencies) < max_requests:
                t0 = time.perf_counter()
                response = await client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url} answered {response.status_code}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    return len(latencies), elapsed, latencies


def _run(url: str, cookies: httpx.Cookies, seconds: float) -> tuple[float, float]:
    """(requests/s, p95 ms) of one timed run."""
    count, elapsed, latencies = asyncio.run(_load(url, cookies, seconds, 100_000))
    return count / elapsed, quantile(latencies, 0.95) * 1000


def page_serving(env: BenchEnv, seconds: float, reps: int) -> dict[str, Any]:
    visitor = _visitor_with_images(env)
    sock = bind_loopback()
    bare = bare_app_process(sock, env.config.log_dir)
    web_rps: list[float] = []
    web_p95: list[float] = []
    bare_rps: list[float] = []
    bare_p95: list[float] = []
    try:
        bare.start()
        web_page = f"{env.web_url}/images"
        bare_page = f"{bare.url}/images"
        cookies = visitor.http.cookies
        _run(web_page, cookies, min(1.0, seconds))  # warm-up
        _run(bare_page, cookies, min(1.0, seconds))
        for _ in range(reps):
            rps, p95 = _run(web_page, cookies, seconds)
            web_rps.append(rps)
            web_p95.append(p95)
            rps, p95 = _run(bare_page, cookies, seconds)
            bare_rps.append(rps)
            bare_p95.append(p95)
    finally:
        bare.stop()
        sock.close()
        delete_all(visitor, "image")
        visitor.close()
    web, baseline = Summary.of(web_rps), Summary.of(bare_rps)
    return {
        "clients": CLIENTS,
        "seconds_per_run": seconds,
        "reps": reps,
        "web_requests_per_s": web.as_dict(),
        "web_p95_ms": Summary.of(web_p95).as_dict(),
        "bare_requests_per_s": baseline.as_dict(),
        "bare_p95_ms": Summary.of(bare_p95).as_dict(),
        "ratio": web.median / baseline.median,
    }
