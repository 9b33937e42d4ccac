"""Who sent a request: the peer, or, behind proxies the operator trusts, the address they
say they received it from (`X-Forwarded-For`)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

TrustedProxies = Sequence[IPv4Network | IPv6Network]


def client_address(peer: str | None, forwarded_for: str | None, trusted: TrustedProxies) -> str:
    """The client's address. Each proxy appends the address it received from, so the list is
    read from the right, skipping the proxies we trust: the first address that is not one is
    the client (whatever a client writes into the header itself lies to the left of it). An
    untrusted peer is the client, whatever its headers say."""
    hops = [peer or ""]
    if forwarded_for and _is_trusted(peer, trusted):
        hops = [peer or ""] + [hop.strip() for hop in reversed(forwarded_for.split(","))]
    for hop in hops:
        if not _is_trusted(hop, trusted):
            return _address(hop)
    return _address(hops[-1])


def _is_trusted(address: str | None, trusted: TrustedProxies) -> bool:
    try:
        parsed = ip_address(address or "")
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def _address(hop: str) -> str:
    """The hop as an address ("unknown" if it is none: storage-api keys limits on it)."""
    try:
        return str(ip_address(hop))
    except ValueError:
        return "unknown"
