"""The owner's forms that make a capability link, a share link (`shares/owner.py`) and an
upload request (`upload_requests/owner.py`), read alike: their fields as text, whole numbers
in a range, a password and an end in minutes from now, each refused in words before anything
is sent (a refusal goes back to the page as a flash message, `pages/errors.py`), and the ids
in their paths."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from s3tasks_contracts import MAX_SHARE_PASSWORD_LENGTH
from s3tasks_web.errors import ItemNotFound, UploadRejected
from s3tasks_web.http.connections import WebRequest

PASSWORD_FIELD = "password"  # noqa: S105 - a field's name
MINUTES_FIELD = "minutes"


async def form_fields(request: WebRequest) -> dict[str, str]:
    """The form's text fields (a file field has no place in these forms)."""
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


def whole_number(text: str, low: int, high: int, refusal: str) -> int | None:
    """A field's whole number from `low` to `high`, None when it is left empty."""
    text = text.strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9 or not low <= int(text) <= high:
        raise UploadRejected(400, refusal)
    return int(text)


def password(form: dict[str, str]) -> str | None:
    """The password the link is made with, None for none (storage-api checks it further)."""
    value = form.get(PASSWORD_FIELD, "")
    if len(value) > MAX_SHARE_PASSWORD_LENGTH:
        raise UploadRejected(
            400, f"The password must be at most {MAX_SHARE_PASSWORD_LENGTH} characters long."
        )
    return value or None


def ends_at(form: dict[str, str], now: datetime, most: int, refusal: str) -> datetime | None:
    """The end the form asks for, 1 to `most` minutes from `now`; None: the longest."""
    minutes = whole_number(form.get(MINUTES_FIELD, ""), 1, most, refusal)
    return None if minutes is None else now + timedelta(minutes=minutes)


def path_id(value: str) -> str:
    """An id from the URL: a UUID, or no such thing (404)."""
    try:
        return str(UUID(value))
    except ValueError:
        raise ItemNotFound from None
