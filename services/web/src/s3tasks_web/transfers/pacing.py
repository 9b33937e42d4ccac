"""The pace a visitor's upload body must keep, or it is cut off (408): a slow or stalled
client must not hold a connection to S3 and an upload open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from litestar.exceptions import InternalServerException

from s3tasks_web.errors import UploadRejected
from s3tasks_web.settings import WebSettings


async def paced(body: AsyncIterator[bytes], settings: WebSettings) -> AsyncIterator[bytes]:
    """The request body, cut off (408) when the client stalls for the idle timeout, falls
    below the minimum average rate after the grace period, or passes the total deadline: a
    slow or stalled client must not hold a connection to storage-api and an upload open."""
    idle = settings.upload_idle_timeout_seconds
    ends_at = time.monotonic() + settings.upload_max_seconds
    received = 0
    # Only the time spent waiting for the client's bytes counts against its rate: while
    # storage-api (or S3) is slow, web does not ask for more, and that is not the client's doing.
    waited = 0.0
    while True:
        allowance = (
            settings.upload_rate_grace_seconds
            + received / settings.upload_min_bytes_per_second
            - waited
        )
        wait = max(0.0, min(idle, allowance, ends_at - time.monotonic()))
        asked = time.monotonic()
        try:
            chunk = await asyncio.wait_for(anext(body), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            ended = time.monotonic() >= ends_at
            raise _cut_off(settings, idle_expired=wait >= idle, ended=ended) from None
        except InternalServerException as exc:  # Litestar's word for "the client went away"
            raise UploadRejected(400, "The upload was interrupted before it finished.") from exc
        finally:
            waited += time.monotonic() - asked
        received += len(chunk)
        yield chunk


def _cut_off(settings: WebSettings, *, idle_expired: bool, ended: bool) -> UploadRejected:
    if ended:
        minutes = max(1, round(settings.upload_max_seconds / 60))
        message = f"The upload took too long (more than {minutes} minutes) and was stopped."
    elif idle_expired:
        message = "The upload stalled: nothing arrived for a while. Please try again."
    else:
        message = "The upload was too slow and was stopped. Please try again."
    return UploadRejected(408, message, close_connection=True)
