"""Web against a real storage-api (and real PostgreSQL, Redis and S3) on loopback."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from s3tasks_testkit import deps
from s3tasks_testkit.stack import Stack, StackConfig

#: small, so "too large" is cheap to provoke; files keep storage-api's large default.
MAX_IMAGE_BYTES = 2 * 1024 * 1024
_CSRF_IN_ACTION = re.compile(r'action="/(images|files)/upload\?csrf=([A-Za-z0-9_-]+)"')


def png_bytes(
    width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


class Visitor:
    """One browser's worth of state: a cookie jar, talking to web like a form-posting browser."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def page(self, path: str) -> str:
        response = self.http.get(path)
        assert response.status_code == 200, response.text
        return response.text

    def csrf_token(self, path: str = "/images") -> str:
        match = _CSRF_IN_ACTION.search(self.page(path))
        assert match is not None, "the upload form carries a CSRF token"
        return match.group(2)

    def upload(
        self,
        kind: str,
        filename: str,
        content: bytes,
        *,
        description: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> httpx.Response:
        token = self.csrf_token(f"/{kind}s")
        data = {} if description is None else {"description": description}
        return self.http.post(
            f"/{kind}s/upload",
            params={"csrf": token},
            data=data,
            files={"file": (filename, content, content_type)},
        )

    def delete_all(self, kind: str, *, confirm: bool = True) -> httpx.Response:
        token = self.csrf_token(f"/{kind}s")
        data = {"confirm": "yes"} if confirm else {}
        return self.http.post(f"/{kind}s/delete", params={"csrf": token}, data=data)


@pytest.fixture(scope="module")
def web_stack(
    s3_endpoint: deps.S3Endpoint,
    postgres_admin_url: str,
    redis_base_url: str,
    artifacts_dir: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Stack]:
    """storage-api and web, shared by a module's tests (each test uses its own visitors)."""
    with (
        deps.postgres_database(postgres_admin_url) as database_url,
        deps.redis_namespace(redis_base_url) as redis_ns,
        deps.bucket(s3_endpoint) as bucket_name,
    ):
        config = StackConfig(
            database_url=database_url,
            redis_url=redis_ns.url,
            redis_prefix=redis_ns.prefix,
            s3=s3_endpoint,
            bucket=bucket_name,
            log_dir=artifacts_dir / "logs" / f"web-{request.module.__name__.rsplit('.', 1)[-1]}",
            task_queue=f"{redis_ns.prefix}s3tasks",
            extra_env={"STORAGE_API_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES)},
        )
        stack = Stack(config)
        try:
            stack.migrate()
            stack.start_storage_api()
            stack.start_web()
            yield stack
        finally:
            stack.stop_all()


@pytest.fixture
def web_url(web_stack: Stack) -> str:
    assert web_stack.web is not None
    return web_stack.web.url


@pytest.fixture
def visitor(web_url: str) -> Iterator[Visitor]:
    v = Visitor(web_url)
    yield v
    v.close()


@pytest.fixture
def other_visitor(web_url: str) -> Iterator[Visitor]:
    v = Visitor(web_url)
    yield v
    v.close()
