"""An object read from S3 (`proxy` mode) as web's answer to the browser."""

from __future__ import annotations

from litestar.background_tasks import BackgroundTask
from litestar.response import Response, Stream

from s3tasks_web.transfers.objects import ObjectStream

#: the policy storage-api sets on content; kept when web passes the bytes on.
CONTENT_CSP = "default-src 'none'; sandbox"


def object_response(content: ObjectStream, cache_control: str) -> Response[object]:
    """S3's status and headers as S3 sent them (a Range answered 206, a resumed download's
    validators), the bytes streamed as they come. Uploaded bytes are data, never a page of
    ours: no scripts, no same-origin access."""
    headers = dict(content.headers)
    media_type = headers.pop("content-type", "application/octet-stream")
    headers.setdefault("cache-control", cache_control)
    headers["content-security-policy"] = CONTENT_CSP
    stream: Response[object] = Stream(  # type: ignore[assignment]
        content.chunks(),
        status_code=content.status_code,
        headers=headers,
        media_type=media_type,
        background=BackgroundTask(content.aclose),
    )
    return stream
