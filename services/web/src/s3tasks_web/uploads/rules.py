"""The rules every upload keeps, whichever way it comes (the plain form, streamed through web,
or the upload script, which starts and completes it here), in the words a visitor reads; and
what a stored upload leaves behind: its count, its log line and its flash.

The rest (an empty file, the type, an image's pixels) is storage-api's to check.
"""

from __future__ import annotations

import logging
from uuid import UUID

from s3tasks_contracts import MAX_SENT_FILENAME_LENGTH, ItemOut, SiteConfiguration
from s3tasks_servicekit.sizes import human_size
from s3tasks_web.errors import ItemNotFound, UploadRejected
from s3tasks_web.observability.metrics import WebMetrics
from s3tasks_web.pages.kinds import KindPage
from s3tasks_web.visitors.session import VisitorSession

log = logging.getLogger(__name__)

NO_FILE = "Please choose a file to upload."
NAME_TOO_LONG = f"The file name is too long: at most {MAX_SENT_FILENAME_LENGTH} characters."
DESCRIPTION_TOO_LONG = "The description is too long."


def basename(filename: str) -> str:
    """Old browsers send a whole client path; keep only the last component."""
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()


def filename_to_store(sent: str) -> str:
    """The name the item keeps: the last component of what the browser sent, not empty (no
    file was chosen) and not longer than storage-api accepts."""
    filename = basename(sent)
    if not filename:
        raise UploadRejected(400, NO_FILE)
    if len(filename) > MAX_SENT_FILENAME_LENGTH:
        raise UploadRejected(400, NAME_TOO_LONG)
    return filename


def description_max_bytes(limits: SiteConfiguration) -> int:
    """The most a description may take as sent (UTF-8, before storage-api shortens it)."""
    return limits.max_description_length * 4 + 64


def check_description(description: str, limits: SiteConfiguration) -> None:
    """A description sent whole (the form's is bounded while it streams, by the same limit)."""
    if len(description.encode()) > description_max_bytes(limits):
        raise UploadRejected(400, DESCRIPTION_TOO_LONG)


def description_to_store(page: KindPage, description: str) -> str:
    """Passed on only where the page asks for one (My Files)."""
    return description if page.described else ""


def too_large(page: KindPage, limit: int, *, close_connection: bool = False) -> UploadRejected:
    return UploadRejected(
        413,
        f"That {page.singular} is too large: the limit is {human_size(limit)}.",
        close_connection=close_connection,
    )


def upload_id(item_id: str) -> str:
    """An upload's id from the URL: a UUID, or no such upload."""
    try:
        return str(UUID(item_id))
    except ValueError:
        raise ItemNotFound from None


def stored(page: KindPage, item: ItemOut, metrics: WebMetrics, visitor: VisitorSession) -> None:
    """A stored upload, counted, logged and told to the visitor (a refused one is counted
    where every error becomes an answer, `pages/errors.py`)."""
    kind = page.kind
    metrics.record_upload(kind, "stored", item.size_bytes)
    log.info("upload stored", extra={"kind": kind.value, "size_bytes": item.size_bytes})
    # an encrypted file's name is in its encrypted metadata: the server has only a placeholder
    name = "an encrypted file" if item.encrypted_metadata is not None else item.filename
    visitor.flash("success", f"Uploaded {name} ({human_size(item.size_bytes)}).")
