"""RFC 9457 problem details, the error body of every s3tasks HTTP API."""

from pydantic import BaseModel, ConfigDict

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: The problem type of refusals whose `detail` was written for the visitor (the service's own
#: wording); any other problem (a framework's validation message, say) is for developers and
#: callers must not show its detail to a visitor.
USER_SAFE_PROBLEM = "urn:s3tasks:problem:user-safe"


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
