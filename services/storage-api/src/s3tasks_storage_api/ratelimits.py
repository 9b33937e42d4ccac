"""Named rate limits, counted in Redis so that every replica shares them.

Each limit is a moving window (`limits`' own, an atomic Lua script on Redis): no fixed window
that lets twice the rate through across its edge, no counter in one process that a second
replica would not see. A new limit is one member of `Limit` and one `rate_limit_<name>`
setting.
"""

from __future__ import annotations

import ipaddress
import math
import time
from enum import StrEnum

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from s3tasks_storage_api.errors import DependencyUnavailable, InvalidInput, TooManyAttempts
from s3tasks_storage_api.settings import StorageApiSettings


class Limit(StrEnum):
    """Each name reads its rate from the setting `rate_limit_<name>`."""

    SHARE_ATTEMPTS_PER_CLIENT = "share_attempts_per_client"
    SHARE_ATTEMPTS_PER_LINK = "share_attempts_per_link"


class RateLimits:
    def __init__(self, settings: StorageApiSettings) -> None:
        # the broker's Redis, under the deployment's key prefix (tests isolate by it)
        self._storage = RedisStorage(
            settings.broker_url,
            key_prefix=f"{settings.broker_key_prefix}s3tasks-limits",
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        self._window = MovingWindowRateLimiter(self._storage)
        self._rates: dict[Limit, list[RateLimitItem]] = {
            name: parse_many(getattr(settings, f"rate_limit_{name}")) for name in Limit
        }

    def take(self, name: Limit, key: str, refusal: str) -> None:
        """Count one event of `key` under `name`; TooManyAttempts (with the seconds until one
        is allowed again) if the window is full. Redis unreachable: 503, never let through."""
        try:
            for rate in self._rates[name]:
                if not self._window.hit(rate, name, key):
                    reset = self._window.get_window_stats(rate, name, key).reset_time
                    raise TooManyAttempts(
                        refusal, retry_after=max(1, math.ceil(reset - time.time()))
                    )
        except RedisError as exc:
            raise DependencyUnavailable("The service is busy; try again shortly.") from exc


def client_key(address: str) -> str:
    """The key a client is limited by: its IPv4 address, or its IPv6 /64 (one host's usual
    share, which it can change addresses within at will)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise InvalidInput("The client address is not an IP address.") from None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client it names
            return str(ip.ipv4_mapped)
        # by its integer: a zone (fe80::1%eth0) names no other client
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)
