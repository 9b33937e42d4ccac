"""Named rate limits, counted in Redis so that every replica shares them.

Each limit is a moving window (`limits`' own, an atomic Lua script on Redis): no fixed window
that lets twice the rate through across its edge, no counter in one process that a second
replica would not see. A new limit is one member of `Limit` and one `rate_limit_<name>`
setting of type `RateLimit` (which validates it; `make generated` then documents it in
`.env.example` and, once `templates/_data.tpl` passes it on, in the chart). Every refusal is
counted in `s3tasks_rate_limited_total{reason}` (the limit's name; the per-visitor quota of
bytes stored counts there too, as `stored_bytes_per_visitor`).

Why storage-api and not web: web stays without state of its own (any replica serves any
request, nothing to share between them) and already passes the client's address here; this
is the one service that already talks to Redis and to the items table, where the per-visitor
quota is counted.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import NoReturn

from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError

from s3tasks_storage_api.errors import DependencyUnavailable, InvalidInput, TooManyAttempts
from s3tasks_storage_api.settings import StorageApiSettings

logger = logging.getLogger(__name__)


class Limit(StrEnum):
    """Each name reads its rate from the setting `rate_limit_<name>`."""

    SHARE_ATTEMPTS_PER_CLIENT = "share_attempts_per_client"
    SHARE_ATTEMPTS_PER_LINK = "share_attempts_per_link"
    SHARE_GRANTS_PER_CLIENT = "share_grants_per_client"
    SHARE_LINKS_PER_CLIENT = "share_links_per_client"
    SESSIONS_PER_CLIENT = "sessions_per_client"
    UPLOAD_REQUESTS_PER_CLIENT = "upload_requests_per_client"
    UPLOADS_PER_CLIENT = "uploads_per_client"
    UPLOADS_PER_VISITOR = "uploads_per_visitor"


#: limits that refuse (503) while Redis is unreachable: a password check let through
#: unlimited would let a guesser try at will. The others let the request through then (and
#: say so in the log): uploads, new visitors and grants must not stop with Redis, which the
#: site otherwise only needs for deletion jobs (and the bytes quota is PostgreSQL's).
_FAIL_CLOSED = frozenset({Limit.SHARE_ATTEMPTS_PER_CLIENT, Limit.SHARE_ATTEMPTS_PER_LINK})

#: the reason the per-visitor quota of bytes stored is counted under
STORED_BYTES_PER_VISITOR = "stored_bytes_per_visitor"


class RateLimitMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "s3tasks_rate_limited",
            "Requests refused by a rate limit or quota, by the limit's name.",
            ["reason"],
            registry=registry,
        )
        for reason in (*Limit, STORED_BYTES_PER_VISITOR):
            self.refused.labels(reason)


class RateLimits:
    def __init__(self, settings: StorageApiSettings, metrics: RateLimitMetrics) -> None:
        self.metrics = metrics
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
        is allowed again) if the window is full: `{wait}` in `refusal` says when in words,
        `{limit}` the rate. Redis unreachable: 503 for the limits of `_FAIL_CLOSED`, the
        others let it through."""
        with self._redis_for(name):
            for rate in self._rates[name]:
                if not self._window.hit(rate, name, key):
                    self._refuse(name, key, rate, refusal)

    def refuse_if_full(self, name: Limit, key: str, refusal: str) -> None:
        """As `take`, without counting: for a limit counted afterwards with `count`, only for
        the events that should use it up."""
        with self._redis_for(name):
            for rate in self._rates[name]:
                if not self._window.test(rate, name, key):
                    self._refuse(name, key, rate, refusal)

    def count(self, name: Limit, key: str) -> None:
        """Count one event of `key` under `name`, refusing nothing now (see
        `refuse_if_full`)."""
        with self._redis_for(name):
            for rate in self._rates[name]:
                self._window.hit(rate, name, key)

    def _refuse(self, name: Limit, key: str, rate: RateLimitItem, refusal: str) -> NoReturn:
        reset = self._window.get_window_stats(rate, name, key).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        self.metrics.refused.labels(name).inc()
        raise TooManyAttempts(
            refusal.replace("{wait}", wait_words(retry_after)).replace("{limit}", str(rate)),
            retry_after=retry_after,
        )

    @contextmanager
    def _redis_for(self, name: Limit) -> Iterator[None]:
        try:
            yield
        except RedisError as exc:
            if name in _FAIL_CLOSED:
                raise DependencyUnavailable("The service is busy; try again shortly.") from exc
            logger.warning("rate limit %s not checked: Redis is unreachable (%s)", name, exc)


def wait_words(seconds: int) -> str:
    """When to try again, as a visitor reads it."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{math.ceil(minutes / 60)} hours"


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
