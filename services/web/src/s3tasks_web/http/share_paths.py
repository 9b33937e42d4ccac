"""Where share links live on the site, and how their paths may be written down.

A link's path holds its token, a capability: the access log names it by a short prefix of its
hash (as storage-api's logs do), and the HTTP metrics by the route template (`/s/{token}`).
"""

from __future__ import annotations

import hashlib

#: every path below it is a link's (its page, its download, its preview): no visitor session,
#: no referrer, not for search engines
SHARE_PREFIX = "/s/"


def is_share_path(path: str) -> bool:
    return path.startswith(SHARE_PREFIX)


def share_path(token: str) -> str:
    return f"{SHARE_PREFIX}{token}"


def loggable_path(path: str) -> str:
    """`path` as the access log may hold it: a link's token as `~` and 8 hex digits of its
    SHA-256, the same prefix storage-api logs, so the two can be matched up."""
    if not is_share_path(path):
        return path
    token, slash, rest = path.removeprefix(SHARE_PREFIX).partition("/")
    digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{SHARE_PREFIX}~{digest}{slash}{rest}"
