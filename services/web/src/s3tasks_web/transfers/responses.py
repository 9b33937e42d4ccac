"""An object read from S3 (`proxy` mode) as web's answer to the browser: the one path every
download web answers takes (an owner's items, their thumbnails, share links), so that a Range,
a refusal and the headers are answered alike whichever page the bytes belong to.

Two ways to carry the bytes, one answer: with WEB_ACCEL_REDIRECT web names the presigned GET
in an `X-Accel-Redirect` and its front nginx (deploy/web-front/nginx.conf.template) fetches
it from S3 and passes it on, no byte through Python; without, web relays it itself. When S3
refuses the front's fetch (a Range past the end, an object gone, S3 down), the front hands
the request back to web with ACCEL_FAILED_HEADER, and web answers it as it always did.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from litestar.background_tasks import BackgroundTask
from litestar.response import Response, Stream

from s3tasks_web.errors import RangeNotSatisfiable
from s3tasks_web.transfers.objects import ObjectClient

log = logging.getLogger(__name__)

#: the policy storage-api sets on content; kept when web passes the bytes on.
CONTENT_CSP = "default-src 'none'; sandbox"
#: an owner's items and a link's preview may be kept a minute by the visitor's own browser,
#: never by a shared cache (share downloads say more: `shares/public.py`)
PRIVATE_CACHE_CONTROL = "private, max-age=60"
#: the front's internal location that fetches `<path>?<query>` of a presigned GET from S3
ACCEL_LOCATION = "/_s3tasks/object"
#: the front's header on a request it hands back (S3's statuses to its fetch): relay it here.
#: The front sets it itself on every request it passes, so no client can (the template).
ACCEL_FAILED_HEADER = "x-s3tasks-accel-failed"
#: web's Cache-Control under a name nginx does not copy onto the final answer by itself
#: (it does Cache-Control's, which would stay beside web's own should the front hand back)
ACCEL_CACHE_CONTROL_HEADER = "x-s3tasks-cache-control"
#: S3 statuses to the front's fetch that web answers in its own words (not worth a warning)
_EXPECTED_REFUSALS = ("404", "416")


async def relay_object(
    objects: ObjectClient, url: str, request_headers: Mapping[str, str], cache_control: str
) -> Response[object]:
    """S3's status and headers as S3 sent them (a Range answered 206, a resumed download's
    validators), the bytes streamed as they come, except:
    - a Range past the end is the site's 416 with the size to ask again by (RFC 9110:
      `Content-Range: bytes */<size>`), not S3's XML that names none;
    - `cache_control` is web's to say, whatever the signed GET asked S3 to answer;
    - uploaded bytes are data, never a page of ours: no scripts, no same-origin access."""
    failed = request_headers.get(ACCEL_FAILED_HEADER)
    if objects.accel_redirect and failed is None:
        objects.count_download("front")
        return _accel_redirect(url, cache_control)
    if failed is not None and not failed.rstrip().endswith(_EXPECTED_REFUSALS):
        log.warning("the front's fetch from S3 failed (%s); relaying it here", failed)
    objects.count_download("web")
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


def _accel_redirect(url: str, cache_control: str) -> Response[object]:
    """An empty answer the front replaces with S3's: the presigned GET's path and query (the
    front knows S3's address and the Host it was signed for), and web's own headers, which the
    front puts on S3's answer (every header web adds below, its security headers included)."""
    signed = urlsplit(url)
    target = f"{ACCEL_LOCATION}{signed.path}" + (f"?{signed.query}" if signed.query else "")
    return Response(
        b"",
        headers={
            "x-accel-redirect": target,
            ACCEL_CACHE_CONTROL_HEADER: cache_control,
            "content-security-policy": CONTENT_CSP,
        },
        media_type="application/octet-stream",
    )
