"""Running a coroutine from a synchronous test, whatever else the worker process holds."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` in a thread of its own.

    Playwright's sync API (the e2e suite's session-wide browser) keeps an event loop marked as
    running on the main thread until the session ends, and pytest-xdist hands a worker that ran
    browser tests any other test afterwards: `asyncio.run` there would refuse ("cannot be called
    from a running event loop"). A fresh thread has no running loop.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-asyncio") as pool:
        return pool.submit(asyncio.run, coroutine).result()
