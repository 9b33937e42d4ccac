"""Each terminal upload is a new visitor of its client: past the client's new visitors a
minute it is refused with 429 and `Retry-After` before its body is read, and nothing is
stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from s3tasks_testkit.stack import Dependencies, Stack, isolated_config

from .conftest import Curl, database_now, items_since

NEW_VISITORS_A_MINUTE = 2


@pytest.fixture(scope="module")
def limited(dependencies: Dependencies) -> Iterator[Stack]:
    """storage-api and web only (nothing here is deleted by a job)."""
    with isolated_config(
        dependencies,
        "terminal-limits",
        extra_env={"STORAGE_API_RATE_LIMIT_SESSIONS_PER_CLIENT": f"{NEW_VISITORS_A_MINUTE}/minute"},
    ) as config:
        stack = Stack(config)
        try:
            stack.migrate()
            stack.start_storage_api()
            stack.start_web()
            yield stack
        finally:
            stack.stop_all()


@pytest.mark.mode_independent
def test_uploads_past_the_clients_new_visitors_are_refused_with_retry_after(
    limited: Stack, tmp_path: Path
) -> None:
    assert limited.web is not None
    curl = Curl(limited.web.url, tmp_path)
    path = curl.file("a.txt", b"a\n")
    for _ in range(NEW_VISITORS_A_MINUTE):
        assert curl("--upload-file", str(path), f"{curl.site}/").status == 201
    since = database_now(limited)
    refused = curl("--upload-file", str(path), f"{curl.site}/")
    assert refused.status == 429
    assert refused.text.startswith("Too many new visitors came from your address")
    assert refused.text.count("\n") == 1, "one line"
    retry_after = refused.header("retry-after")
    assert retry_after is not None
    assert 0 < int(retry_after) <= 60
    assert refused.header("x-manage-url") is None
    problem = curl("--upload-file", str(path), "--header", "Accept: application/json", curl.site)
    assert problem.status == 429
    assert problem.header("content-type") == "application/problem+json"
    assert problem.body.startswith(b'{"type":"urn:s3tasks:problem:rate-limited"')
    assert items_since(limited, since) == 0, "nothing stored"
