"""Cases 11-12, share links, on the `direct` mode stack.

11: grants per second through web (the Download button's POST, answered 303 to a presigned
    GET; nothing is downloaded) by 16 clients, all on one hot link (its row is the contention:
    every grant is one conditional UPDATE of it) and spread over 16 links; goal 200/s hot.
12: a shared 16 MiB file downloaded as whoever holds the link does it (POST, 303, GET from S3)
    vs minio's get_object of as many bytes, interleaved in the same run; goal 0.9.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import aiohttp

from bench.harness import BenchEnv, delete_all, latest_file_id, visitor_on
from bench.stats import Summary
from bench.transfer import PatternReader, direct_get, direct_put, fetch
from s3tasks_testkit.web_visitor import WebVisitor

CLIENTS = 16
#: grants per second the hot link should reach on this machine (the issue's goal)
HOT_GOAL_PER_S = 200.0
_LINK = re.compile(r'class="share-url" type="text" value="[^"]*(/s/[A-Za-z0-9_-]{43})"')


def _shared(visitor: WebVisitor, size: int, name: str) -> tuple[str, str]:
    """(item id, link path) of a new file of `size` bytes, shared without a limit."""
    response = visitor.http.post(
        "/files/upload",
        params={"csrf": visitor.csrf_token()},
        data={"description": "shared"},
        files={"file": (name, PatternReader(size).read(size))},
    )
    if response.status_code != 303:
        raise RuntimeError(f"upload answered {response.status_code}")
    item_id = latest_file_id(visitor)
    created = visitor.http.post(
        f"/files/{item_id}/shares", params={"csrf": visitor.csrf_token()}, data={}
    )
    if created.status_code != 303:
        raise RuntimeError(f"sharing answered {created.status_code}")
    found = _LINK.search(visitor.page("/files"))
    if found is None:
        raise RuntimeError("the page shows no link")
    return item_id, found.group(1)


async def _grants(base_url: str, paths: list[str], seconds: float) -> float:
    """Grants per second: CLIENTS tasks POST their link (client n: paths[n % len(paths)])."""
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(
        base_url=base_url,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as client:
        granted = 0
        started = time.perf_counter()
        stop_at = started + seconds

        async def one_client(path: str) -> None:
            nonlocal granted
            while time.perf_counter() < stop_at:
                async with client.post(path, allow_redirects=False) as response:
                    await response.read()
                    if response.status != 303:
                        raise RuntimeError(f"a grant answered {response.status}")
                granted += 1

        await asyncio.gather(*(one_client(paths[n % len(paths)]) for n in range(CLIENTS)))
        return granted / (time.perf_counter() - started)


def _shared_download(visitor: WebVisitor, path: str, size: int) -> float:
    started = time.perf_counter()
    granted = visitor.http.post(path)
    if granted.status_code != 303:
        raise RuntimeError(f"the grant answered {granted.status_code}")
    fetch(granted.headers["location"], size, "the shared download's presigned GET")
    return time.perf_counter() - started


def sharing(env: BenchEnv, size: int, seconds: float, reps: int) -> dict[str, Any]:
    visitor = visitor_on(env)
    try:
        _, hot = _shared(visitor, 1024, "hot.bin")
        spread = [_shared(visitor, 1024, f"cool{n}.bin")[1] for n in range(CLIENTS)]
        _, big = _shared(visitor, size, "big.bin")
        key = "bench/share-baseline"
        direct_put(env, key, size)
        asyncio.run(_grants(env.web_url, [hot], 1.0))  # warm-up: connections, caches
        hot_rates, spread_rates, shared_mib_s, direct_mib_s = [], [], [], []
        for _ in range(reps):
            hot_rates.append(asyncio.run(_grants(env.web_url, [hot], seconds)))
            spread_rates.append(asyncio.run(_grants(env.web_url, spread, seconds)))
            shared_mib_s.append(size / 2**20 / _shared_download(visitor, big, size))
            direct_mib_s.append(size / 2**20 / direct_get(env, key, size))
        hot_summary = Summary.of(hot_rates)
        shared_summary, direct_summary = Summary.of(shared_mib_s), Summary.of(direct_mib_s)
        delete_all(visitor, "file")
    finally:
        visitor.close()
    return {
        "clients": CLIENTS,
        "seconds": seconds,
        "hot_grants_per_s": hot_summary.as_dict(),
        "spread_grants_per_s": Summary.of(spread_rates).as_dict(),
        "hot_ratio": hot_summary.median / HOT_GOAL_PER_S,
        "size_mib": size / 2**20,
        "shared_mib_s": shared_summary.as_dict(),
        "direct_mib_s": direct_summary.as_dict(),
        "download_ratio": shared_summary.median / direct_summary.median,
    }
