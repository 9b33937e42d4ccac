"""web's outbound HTTP: one way to build a pooled aiohttp session with web's limits.

aiohttp rather than httpx on web's hops: under 16 concurrent pages httpx's connection pool
cost about ten times aiohttp's CPU per request here (bench/README.md, case 6), and every
256 KiB a download passes on costs less too (case 2).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from s3tasks_web.settings import WebSettings


def pooled_session(
    settings: WebSettings, headers: dict[str, str], **options: Any
) -> aiohttp.ClientSession:
    """web's connection cap and timeouts: `connect` bounds waiting for a pooled connection
    plus connecting, `sock_read` each wait for the peer's next bytes. Statuses are the
    caller's to read (no exceptions for 4xx/5xx)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.max_connections),
        timeout=aiohttp.ClientTimeout(
            connect=settings.pool_timeout_seconds + settings.connect_timeout_seconds,
            sock_connect=settings.connect_timeout_seconds,
            sock_read=settings.read_timeout_seconds,
        ),
        headers={"Accept-Encoding": "identity", "User-Agent": "s3tasks-web", **headers},
        raise_for_status=False,
        **options,
    )
