"""Visitor admission: new visitor sessions, counted per client address (web's credential only).

web mints a visitor (a signed cookie) without storage-api; it asks here first, so that a
client that drops its cookie to start afresh is bounded too.
"""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from s3tasks_contracts import NewSession
from s3tasks_storage_api.callers import Caller, only
from s3tasks_storage_api.ratelimits import Limit, RateLimits, client_key

TOO_MANY_SESSIONS = (
    "Too many new visitors came from your address in a short time (at most {limit}). "
    "Please try again in {wait} (or allow this site's cookie)."
)


class AdmissionController(Controller):
    path = "/v1/sessions"
    guards = [only(Caller.WEB)]
    tags = ["limits"]

    @post("/", status_code=204, sync_to_thread=True)
    def admit(self, rate_limits: NamedDependency[RateLimits], data: JSONBody[NewSession]) -> None:
        """Count one new visitor session of the client; 429 with Retry-After once it has
        started too many."""
        rate_limits.take(Limit.SESSIONS_PER_CLIENT, client_key(data.client), TOO_MANY_SESSIONS)
