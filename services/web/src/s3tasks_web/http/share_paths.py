"""Where share links and upload-request links live on the site, and how their paths may be
written down.

A link's path holds its token, a capability: the access log names it by a short prefix of its
hash (as storage-api's logs do), and the HTTP metrics by the route template (`/s/{token}`,
`/r/{token}`).
"""

from __future__ import annotations

import hashlib

#: every path below it is a link's (its page, its download, its preview): no visitor session,
#: no referrer, not for search engines
SHARE_PREFIX = "/s/"
#: an upload request's pages (its sender's page, its uploads): as a share link's, no visitor
#: session, no referrer, not for search engines
REQUEST_PREFIX = "/r/"
#: a terminal upload's management URL (`terminal/manage.py`): its token is a capability too
MANAGE_PREFIX = "/m/"
_CAPABILITY_PREFIXES = (SHARE_PREFIX, REQUEST_PREFIX, MANAGE_PREFIX)


def is_share_path(path: str) -> bool:
    return path.startswith(SHARE_PREFIX)


def is_capability_path(path: str) -> bool:
    """A share link's or an upload request's path: its URL is a capability."""
    return path.startswith(_CAPABILITY_PREFIXES)


def share_path(token: str) -> str:
    return f"{SHARE_PREFIX}{token}"


def loggable_path(path: str) -> str:
    """`path` as the access log may hold it: a link's token as `~` and 8 hex digits of its
    SHA-256, the same prefix storage-api logs, so the two can be matched up."""
    prefix = next((p for p in _CAPABILITY_PREFIXES if path.startswith(p)), None)
    if prefix is None:
        return path
    token, slash, rest = path.removeprefix(prefix).partition("/")
    digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{prefix}~{digest}{slash}{rest}"
