"""Which client a request comes from: what the per-client limits count by.

Behind a proxy every request comes from the proxy; its header names the client instead. The
header is read only from a peer in WEB_TRUSTED_PROXIES: from anyone else it is whatever the
client chose to write, and would let it be any address it likes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from s3tasks_web.http.connections import WebConnection

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddresses:
    def __init__(self, header: str, trusted_proxies: Sequence[IPNetwork]) -> None:
        self._header = header.lower()
        self._trusted = tuple(trusted_proxies)

    def of(self, connection: WebConnection) -> str:
        peer = connection.client.host if connection.client is not None else ""
        if self._header and self._is_trusted(peer):
            # the proxy appends the address it saw: the last entry is the one it vouches for
            # (any earlier ones were sent by the client)
            named = connection.headers.get(self._header, "").rpartition(",")[2].strip()
            if _is_address(named):
                return named
        return peer or "0.0.0.0"  # noqa: S104 - no peer at all (a test client): one shared key

    def _is_trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
