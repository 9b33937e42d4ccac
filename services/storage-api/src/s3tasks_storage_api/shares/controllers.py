"""Share links (web's credential only). Thin: parse, call ShareService.

The owner's endpoints name the visitor and the item; the public ones (for anyone web serves a
link's page to) carry the token in the request body, never in a path a log or a route
label could hold.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from s3tasks_contracts import (
    REFUSALS,
    ContentLink,
    GrantRequest,
    Problem,
    ProblemType,
    RedeemRequest,
    ShareCreate,
    ShareGrant,
    ShareList,
    ShareLookup,
    ShareOut,
    ShareView,
)
from s3tasks_storage_api.callers import Caller, VisitorId, only
from s3tasks_storage_api.capabilities import TOO_MANY_ATTEMPTS
from s3tasks_storage_api.shares.service import ShareService


def _problem(detail: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        generate_examples=False,
        description=detail,
        media_type="application/problem+json",
    )


def _refusal(problem_type: ProblemType) -> ResponseSpec:
    return _problem(REFUSALS[problem_type].words)


_ENDED = {404: _refusal(ProblemType.SHARE_GONE), 410: _refusal(ProblemType.SHARE_USED_UP)}


class OwnerSharesController(Controller):
    path = "/v1/visitors/{visitor_id:str}/items/{item_id:uuid}/shares"
    guards = [only(Caller.WEB)]
    tags = ["shares"]

    @post("/", status_code=201, sync_to_thread=True)
    def create(
        self,
        shares: NamedDependency[ShareService],
        visitor_id: VisitorId,
        item_id: FromPath[UUID],
        data: JSONBody[ShareCreate],
    ) -> ShareOut:
        """A new link of the visitor's own item: an optional download limit (1-1000), an
        optional password (1-256 characters) and an end no later than the item's deletion
        (default: the item's). 400 with words for a value out of range, nothing created."""
        return shares.create(visitor_id, item_id, data)

    @get("/", sync_to_thread=True)
    def list_shares(
        self, shares: NamedDependency[ShareService], visitor_id: VisitorId, item_id: FromPath[UUID]
    ) -> ShareList:
        """The item's links, newest first, each with its token (recomputed), its state and
        its downloads used and left."""
        return shares.list(visitor_id, item_id)

    @delete("/{share_id:uuid}", status_code=204, sync_to_thread=True)
    def stop(
        self,
        shares: NamedDependency[ShareService],
        visitor_id: VisitorId,
        item_id: FromPath[UUID],
        share_id: FromPath[UUID],
    ) -> None:
        """Stop sharing: the link answers 404 from now on (the row stays, for the owner's
        list, until the item is deleted)."""
        shares.stop(visitor_id, item_id, share_id)


class PublicSharesController(Controller):
    path = "/v1/shares"
    guards = [only(Caller.WEB)]
    tags = ["shares"]

    @post("/lookup", status_code=200, sync_to_thread=True, responses=_ENDED)
    def lookup(
        self, shares: NamedDependency[ShareService], data: JSONBody[ShareLookup]
    ) -> ShareView:
        """What a link's page shows (not counted). 404 "This link does not exist or has
        expired" for every ended link as for a token nobody made; 410 when used up."""
        return shares.lookup(data)

    @post(
        "/grants",
        status_code=201,
        sync_to_thread=True,
        responses={
            **_ENDED,
            403: _refusal(ProblemType.WRONG_PASSWORD),
            429: _problem(f"{TOO_MANY_ATTEMPTS} (with Retry-After)"),
        },
    )
    def grant(
        self, shares: NamedDependency[ShareService], data: JSONBody[GrantRequest]
    ) -> ShareGrant:
        """Count one download, atomically, and sign its grant: redeemable for presigned GETs
        without counting, by this client, under this token, for `share_grant_seconds`. 403
        wrong password, 429 (`Retry-After`) too many attempts, 410 used up, 404 ended."""
        return shares.grant(data)

    @post(
        "/redeem",
        status_code=200,
        sync_to_thread=True,
        responses={403: _refusal(ProblemType.GRANT_ENDED), 404: _refusal(ProblemType.SHARE_GONE)},
    )
    def redeem(
        self, shares: NamedDependency[ShareService], data: JSONBody[RedeemRequest]
    ) -> ContentLink:
        """A presigned GET within a grant (the download starting, resumed or ranged), not
        counted, expiring with the grant. 403 once the grant expired, was tampered with, or
        comes from another client or under another link's token; 404 once the link was
        stopped or the item deleted."""
        return shares.redeem(data)
