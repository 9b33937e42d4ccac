"""RFC 9457 problem details, the error body of every s3tasks HTTP API, and the refusals both
sides speak of: each has its own problem `type` (a URI), its status and its title, and those
that always say the same also their words. storage-api answers with them; web matches on the
`type`, never on a title or on words.

A problem whose `type` is one of `ProblemType`'s was written for the visitor (the `detail` is
the service's own wording); any other (`about:blank`: a framework's validation message, say)
is for developers, and callers must not show its detail to a visitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ProblemType(StrEnum):
    """Every refusal of storage-api's, by the URI its problem carries as `type`."""

    INVALID_INPUT = "urn:s3tasks:problem:invalid-input"
    UNAUTHORIZED = "urn:s3tasks:problem:unauthorized"
    FORBIDDEN = "urn:s3tasks:problem:forbidden"
    NOT_FOUND = "urn:s3tasks:problem:not-found"
    TOO_LARGE = "urn:s3tasks:problem:too-large"
    UNSUPPORTED_IMAGE = "urn:s3tasks:problem:unsupported-image"
    UNUSABLE_IMAGE = "urn:s3tasks:problem:unusable-image"
    DELETED_WHILE_UPLOADING = "urn:s3tasks:problem:deleted-while-uploading"
    QUOTA_REACHED = "urn:s3tasks:problem:quota-reached"
    RATE_LIMITED = "urn:s3tasks:problem:rate-limited"
    STORAGE_UNAVAILABLE = "urn:s3tasks:problem:storage-unavailable"
    #: a share link that does not open, whatever ended it (or one that never existed)
    SHARE_GONE = "urn:s3tasks:problem:share-gone"
    SHARE_USED_UP = "urn:s3tasks:problem:share-used-up"
    WRONG_PASSWORD = "urn:s3tasks:problem:wrong-password"  # noqa: S105 - a problem's name
    #: a download grant that is not (any more) this client's, this link's or in its window
    GRANT_ENDED = "urn:s3tasks:problem:grant-ended"
    #: an upload request that does not open, whatever ended it (or one that never existed)
    REQUEST_GONE = "urn:s3tasks:problem:request-gone"
    #: an upload request that has received all the files it asked for
    REQUEST_FULL = "urn:s3tasks:problem:request-full"
    #: a file that does not fit in the bytes an upload request has left
    REQUEST_BYTES = "urn:s3tasks:problem:request-bytes"
    REQUEST_WRONG_PASSWORD = "urn:s3tasks:problem:request-wrong-password"  # noqa: S105 - a name

    @property
    def label(self) -> str:
        """The refusal as a metric label says it: `invalid_input`, `quota_reached`..."""
        return self.name.lower()


@dataclass(frozen=True)
class Refusal:
    """What a problem type always is: its status, its title and, for a refusal that always
    says the same, its words (empty: the words are the occasion's, in the problem's
    `detail`)."""

    status: int
    title: str
    words: str = ""


REFUSALS: dict[ProblemType, Refusal] = {
    ProblemType.INVALID_INPUT: Refusal(400, "Invalid input"),
    ProblemType.UNAUTHORIZED: Refusal(
        401, "Unauthorized", "A valid service credential is required."
    ),
    ProblemType.FORBIDDEN: Refusal(403, "Forbidden"),
    ProblemType.NOT_FOUND: Refusal(404, "Not found"),
    ProblemType.TOO_LARGE: Refusal(413, "Too large"),
    ProblemType.UNSUPPORTED_IMAGE: Refusal(
        415, "Not a supported image", "This is not a JPEG, PNG, GIF or WebP image."
    ),
    ProblemType.UNUSABLE_IMAGE: Refusal(422, "Unusable image"),
    ProblemType.DELETED_WHILE_UPLOADING: Refusal(
        409, "Deleted", "The upload was deleted by Delete all before it finished arriving."
    ),
    ProblemType.QUOTA_REACHED: Refusal(409, "Quota reached"),
    ProblemType.RATE_LIMITED: Refusal(429, "Too many attempts"),
    ProblemType.STORAGE_UNAVAILABLE: Refusal(503, "Storage unavailable"),
    ProblemType.SHARE_GONE: Refusal(404, "Not found", "This link does not exist or has expired."),
    ProblemType.SHARE_USED_UP: Refusal(
        410, "Used up", "This link has been used up: it allowed no more downloads."
    ),
    ProblemType.WRONG_PASSWORD: Refusal(403, "Forbidden", "Wrong password."),
    ProblemType.GRANT_ENDED: Refusal(
        403, "Forbidden", "This download is no longer valid. Please open the link again."
    ),
    ProblemType.REQUEST_GONE: Refusal(404, "Not found", "This link does not exist or has expired."),
    ProblemType.REQUEST_FULL: Refusal(
        409, "Request filled", "This request has received all the files it asked for."
    ),
    ProblemType.REQUEST_BYTES: Refusal(409, "Request filled"),
    ProblemType.REQUEST_WRONG_PASSWORD: Refusal(403, "Forbidden", "Wrong password."),
}

#: the refusals of a share link, said to whoever holds the link (not to a visitor's page)
SHARE_REFUSALS = frozenset(
    {
        ProblemType.SHARE_GONE,
        ProblemType.SHARE_USED_UP,
        ProblemType.WRONG_PASSWORD,
        ProblemType.GRANT_ENDED,
        ProblemType.RATE_LIMITED,
    }
)


#: the refusals of an upload request's link, said to whoever holds the link (its sender);
#: a request that has no room for a file is the sender's upload refused, not the link
REQUEST_REFUSALS = frozenset(
    {
        ProblemType.REQUEST_GONE,
        ProblemType.REQUEST_WRONG_PASSWORD,
        ProblemType.RATE_LIMITED,
    }
)


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""

    @property
    def refusal(self) -> ProblemType | None:
        """The s3tasks refusal this problem is (its `detail` then written for the visitor),
        or None for any other problem."""
        try:
            return ProblemType(self.type)
        except ValueError:
            return None
