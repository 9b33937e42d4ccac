"""The owner's share links as My Images and My Files show them: each with its downloads and
time left, its URL to copy and its QR code, from the page's one listing (no call). Creating
and stopping them is `shares/owner.py`'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

from s3tasks_contracts import ItemList, ShareOut, ShareState
from s3tasks_web.pages.qr import qr_svg
from s3tasks_web.pages.views import human_duration

_STATE_WORDS = {
    ShareState.ACTIVE: "active",
    ShareState.USED_UP: "used up",
    ShareState.STOPPED: "stopped",
    ShareState.ENDED: "ended",
}


@dataclass(frozen=True)
class ShareRow:
    """One link as its owner's page shows it."""

    id: str
    url: str
    state: str
    active: bool
    used: str
    left: str
    time_left: str
    password: bool
    qr: Markup | None


def share_row(share: ShareOut, site: str, server_time: datetime) -> ShareRow:
    url = f"{site}{share.path}"
    active = share.state is ShareState.ACTIVE
    if share.max_downloads is None:
        used = f"{share.downloads} used"
        left = "no limit"
    else:
        used = f"{share.downloads} of {share.max_downloads} used"
        left = f"{share.downloads_left} left"
    seconds_left = int((share.ends_at - server_time).total_seconds())
    return ShareRow(
        id=str(share.id),
        url=url,
        state=_STATE_WORDS[share.state],
        active=active,
        used=used,
        left=left,
        time_left=human_duration(seconds_left) if active else "—",
        password=share.password_required,
        qr=qr_svg(url, "QR code of the link") if active else None,
    )


def share_rows(listing: ItemList, shown: set[str], site: str) -> dict[str, list[ShareRow]]:
    """The links of each shown item, newest first, from the page's listing (no call)."""
    return {
        str(item.id): [share_row(share, site, listing.server_time) for share in item.shares]
        for item in listing.items
        if str(item.id) in shown
    }
