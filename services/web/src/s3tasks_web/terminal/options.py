"""A terminal upload's options, sent as headers (as transfer.sh's are): read before a byte of
the body is, and refused in words when out of range, so nothing is stored for a typo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from litestar.datastructures import Headers

from s3tasks_contracts import MAX_SHARE_DOWNLOADS, MAX_SHARE_PASSWORD_LENGTH, SiteConfiguration
from s3tasks_web.errors import UploadRejected
from s3tasks_web.pages.kinds import KindPage

MAX_DOWNLOADS_HEADER = "max-downloads"
PASSWORD_HEADER = "password"  # noqa: S105 - a header's name
EXPIRES_IN_HEADER = "expires-in"
#: a whole number of at most this many digits (a longer one is out of every range anyway)
_MAX_DIGITS = 9


@dataclass(frozen=True)
class TerminalOptions:
    """The share link a terminal upload answers with: its download limit, its password and
    how many minutes it lasts (None: the item's life)."""

    max_downloads: int | None
    password: str | None
    minutes: int | None

    def check_life(self, page: KindPage, limits: SiteConfiguration) -> None:
        """The link cannot outlive its item: `Expires-In` at most the kind's life."""
        most = page.ttl_seconds(limits) // 60
        if self.minutes is not None and self.minutes > most:
            # known once the body has begun (its first bytes say the kind): the rest is
            # drained, not hung up on, so the client reads the answer
            raise UploadRejected(
                400,
                f"Expires-In must be at most {most} minutes: {page.plural} are deleted "
                f"{most} minutes after their upload, and their link with them.",
            )

    def ends_at(self, now: datetime, item_expires_at: datetime) -> datetime | None:
        if self.minutes is None:
            return None
        return min(now + timedelta(minutes=self.minutes), item_expires_at)


def read_options(headers: Headers, limits: SiteConfiguration) -> TerminalOptions:
    longest_life = max(limits.image_ttl_seconds, limits.file_ttl_seconds) // 60
    max_downloads = _whole_number(
        headers.get(MAX_DOWNLOADS_HEADER),
        MAX_SHARE_DOWNLOADS,
        f"Max-Downloads must be a whole number from 1 to {MAX_SHARE_DOWNLOADS}.",
    )
    minutes = _whole_number(
        headers.get(EXPIRES_IN_HEADER),
        longest_life,
        f"Expires-In must be a whole number of minutes from 1 to {longest_life}.",
    )
    return TerminalOptions(
        max_downloads=max_downloads,
        password=_password(headers.get(PASSWORD_HEADER)),
        minutes=minutes,
    )


def _whole_number(sent: str | None, most: int, refusal: str) -> int | None:
    if sent is None:
        return None
    text = sent.strip()
    if (
        not text.isascii()
        or not text.isdigit()
        or len(text) > _MAX_DIGITS
        or not 1 <= int(text) <= most
    ):
        raise _refused(refusal)
    return int(text)


def _password(sent: str | None) -> str | None:
    """A header's bytes arrive as Latin-1 (ASGI): a password typed in UTF-8 is read as such."""
    if sent is None or sent == "":
        return None
    try:
        password = sent.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise _refused("The Password header must be UTF-8 text.") from None
    if len(password) > MAX_SHARE_PASSWORD_LENGTH:
        raise _refused(f"Password must be at most {MAX_SHARE_PASSWORD_LENGTH} characters long.")
    return password


def _refused(words: str) -> UploadRejected:
    # refused before the body is read: answer and hang up rather than read what is refused
    return UploadRejected(400, words, close_connection=True)
