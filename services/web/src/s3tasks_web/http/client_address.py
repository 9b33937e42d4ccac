"""Which client a request comes from: what the per-client limits count by (new visitors,
uploads, share-link grants and password attempts).

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
        if not peer:
            return "0.0.0.0"  # noqa: S104 - no peer at all (a test client): one shared key
        client = peer
        if not self._header:
            return client
        # each proxy appends the address it received from, so the list is read from the right,
        # past the proxies we trust (a CDN before the ingress): the first address that is not
        # one is the client; whatever a client writes itself lies to the left of it
        hops = connection.headers.get(self._header, "").split(",")
        while self._is_trusted(client) and hops:
            hop = hops.pop().strip()
            if not _is_address(hop):
                break  # a trusted proxy that names no usable address: that proxy is the client
            client = hop
        return client

    def _is_trusted(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self._trusted)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
