"""Cases 11-12: share links.

11. Grants per second through web's Download button (`POST /s/<token>`, answered 303) at 16
    clients, for one hot link (every grant is a conditional UPDATE of the same row in
    PostgreSQL) against 16 links of the same item, one per client (the same work without the
    row's contention), interleaved in the same run. The issue's own goal is absolute: at least
    200 grants/s for the hot link on this machine; the note says whether it was met.
12. A shared download in `direct` mode as whoever was given the link makes it: the Download
    button's POST, web's 303 to its grant's URL, web's 303 from there to a presigned GET (web
    checks the client the grant was made for: S3 cannot), the GET from S3; against minio's
    `get_object` of an object of the same size.

Redirects are never followed by the load generator (aiohttp follows them by default: a
grant's 303 would turn every request into a download).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urljoin

import aiohttp
import urllib3

from bench.direct_mode import browser_upload
from bench.harness import BenchEnv, delete_all, latest_file_id, visitor_on
from bench.stats import Summary
from bench.transfer import BULK, direct_get, fetch, mib_per_s, object_key_of
from s3tasks_testkit.web_visitor import WebVisitor

CLIENTS = 16
#: the issue's goal for one hot link at 16 clients, in grants per second
HOT_LINK_GOAL = 200.0
#: the Download button's form of a link without a password
_DOWNLOAD_FORM = {"password": ""}


def make_share_link(visitor: WebVisitor, item_id: str) -> None:
    """A new link (no limit, no password) of the visitor's file, made on My Files as its
    owner does (the form's POST)."""
    created = visitor.http.post(
        f"/files/{item_id}/shares", params={"csrf": visitor.csrf_token()}, data={}
    )
    if created.status_code != 303:
        raise RuntimeError(f"creating a share link answered {created.status_code}")


def share_links(visitor: WebVisitor, count: int) -> list[str]:
    """`count` new links (no limit, no password) of the visitor's latest file: their paths."""
    item_id = latest_file_id(visitor)
    for _ in range(count):
        make_share_link(visitor, item_id)
    links = visitor.share_paths_in(visitor.page("/files"))
    if len(links) < count:
        raise RuntimeError(f"the page shows {len(links)} share links, not {count}")
    return list(links[:count])


async def _grants(urls: list[str], seconds: float) -> tuple[int, float]:
    """One client per URL, each POSTing the Download button in a loop on its own kept-alive
    connection until `seconds` pass; the grants (303s) and the elapsed time."""
    granted = 0
    connector = aiohttp.TCPConnector(limit=len(urls))
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        cookie_jar=aiohttp.DummyCookieJar(),  # whoever was given a link has no session
    ) as client:
        started = time.perf_counter()
        stop_at = started + seconds

        async def one_client(url: str) -> None:
            nonlocal granted
            while time.perf_counter() < stop_at:
                async with client.post(url, data=_DOWNLOAD_FORM, allow_redirects=False) as response:
                    await response.read()
                    if response.status != 303:
                        raise RuntimeError(f"POST {url} answered {response.status}, not 303")
                granted += 1

        await asyncio.gather(*(one_client(url) for url in urls))
        elapsed = time.perf_counter() - started
    return granted, elapsed


def grants(env: BenchEnv, seconds: float, reps: int) -> dict[str, Any]:
    """Case 11: the hot link and the 16 links, alternating, after a warm-up of each."""
    visitor = visitor_on(env)
    try:
        visitor.upload("file", "shared.bin", b"shared" * 1000, description="hot", script=False)
        links = [f"{env.web_url}{path}" for path in share_links(visitor, CLIENTS)]
        sides = {"hot": [links[0]] * CLIENTS, "spread": links}
        rates: dict[str, list[float]] = {side: [] for side in sides}
        for urls in sides.values():  # warm-up
            asyncio.run(_grants(urls, min(1.0, seconds)))
        for _ in range(reps):
            for side, urls in sides.items():
                count, elapsed = asyncio.run(_grants(urls, seconds))
                rates[side].append(count / elapsed)
    finally:
        delete_all(visitor, "file")
        visitor.close()
    hot, spread = Summary.of(rates["hot"]), Summary.of(rates["spread"])
    return {
        "clients": CLIENTS,
        "seconds_per_run": seconds,
        "reps": reps,
        "hot_grants_per_s": hot.as_dict(),
        "spread_grants_per_s": spread.as_dict(),
        "hot_link_goal_per_s": HOT_LINK_GOAL,
        "hot_link_goal_met": hot.median >= HOT_LINK_GOAL,
        "ratio": hot.median / spread.median,
    }


def _shared_download(link: str, size: int) -> float:
    """Seconds for the Download button's POST, web's two 303s and the GET from S3."""
    started = time.perf_counter()
    fetch(_press_download(link), size, "the shared link's presigned GET")
    return time.perf_counter() - started


def _press_download(url: str) -> str:
    """The Download button's POST and the GET of web's grant URL it leads to, with the client
    the GETs go through (urllib3, minio's): the presigned GET web hands out last."""
    pressed = BULK.request(
        "POST", url, fields=_DOWNLOAD_FORM, redirect=False, encode_multipart=False
    )
    grant_url = urljoin(url, _see_other(pressed, "the shared link's Download"))
    return _see_other(BULK.request("GET", grant_url, redirect=False), "its grant URL")


def _see_other(response: urllib3.BaseHTTPResponse, what: str) -> str:
    if response.status != 303:
        raise RuntimeError(f"{what} answered {response.status}, not 303")
    return str(response.headers["location"])


def shared_download(env: BenchEnv, size: int, reps: int) -> dict[str, Any]:
    """Case 12 (a `direct` mode stack): ours and the direct GET alternate after a warm-up."""
    visitor = visitor_on(env)
    try:
        browser_upload(visitor, size)
        (path,) = share_links(visitor, 1)
        link = f"{env.web_url}{path}"
        # the shared object itself, read straight from S3 (as in cases 2 and 9)
        key = object_key_of(env, latest_file_id(visitor))
        _shared_download(link, size)  # warm-up of both
        direct_get(env, key, size)
        ours: list[float] = []
        direct: list[float] = []
        for _ in range(reps):
            ours.append(mib_per_s(size, _shared_download(link, size)))
            direct.append(mib_per_s(size, direct_get(env, key, size)))
    finally:
        delete_all(visitor, "file")
        visitor.close()
    return {
        "size_mib": size / (1024 * 1024),
        "reps": reps,
        "shared_mib_s": Summary.of(ours).as_dict(),
        "direct_mib_s": Summary.of(direct).as_dict(),
        "ratio": Summary.of(ours).median / Summary.of(direct).median,
    }
