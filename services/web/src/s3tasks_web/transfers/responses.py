"""An object read from S3 (`proxy` mode) as web's answer to the browser: the one path every
download web relays takes (an owner's items, their thumbnails, share links), so that a Range,
a refusal and the headers are answered alike whichever page the bytes belong to."""

from __future__ import annotations

from collections.abc import Mapping

from litestar.background_tasks import BackgroundTask
from litestar.response import Response, Stream

from s3tasks_web.errors import RangeNotSatisfiable
from s3tasks_web.transfers.objects import ObjectClient

#: the policy storage-api sets on content; kept when web passes the bytes on.
CONTENT_CSP = "default-src 'none'; sandbox"
#: an owner's items and a link's preview may be kept a minute by the visitor's own browser,
#: never by a shared cache (share downloads say more: `shares/public.py`)
PRIVATE_CACHE_CONTROL = "private, max-age=60"


async def relay_object(
    objects: ObjectClient, url: str, request_headers: Mapping[str, str], cache_control: str
) -> Response[object]:
    """S3's status and headers as S3 sent them (a Range answered 206, a resumed download's
    validators), the bytes streamed as they come, except:
    - a Range past the end is the site's 416 with the size to ask again by (RFC 9110:
      `Content-Range: bytes */<size>`), not S3's XML that names none;
    - `cache_control` is web's to say, whatever the signed GET asked S3 to answer;
    - uploaded bytes are data, never a page of ours: no scripts, no same-origin access."""
    content = await objects.open(url, request_headers)
    if content.status_code == 416:
        await content.aclose()
        raise RangeNotSatisfiable(await objects.size_of(url))
    headers = dict(content.headers)
    media_type = headers.pop("content-type", "application/octet-stream")
    headers["cache-control"] = cache_control
    headers["content-security-policy"] = CONTENT_CSP
    stream: Response[object] = Stream(  # type: ignore[assignment]
        content.chunks(),
        status_code=content.status_code,
        headers=headers,
        media_type=media_type,
        background=BackgroundTask(content.aclose),
    )
    return stream
