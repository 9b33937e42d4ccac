"""The service's exception hierarchy and its one mapping to RFC 9457 problem responses.

Litestar's problem-details plugin renders every answer; this module only says which problem
each exception is. A refusal that is said in more than one place is a class of its own with
its one message, so the same words cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from s3tasks_contracts.problems import USER_SAFE_PROBLEM
from s3tasks_servicekit.sizes import human_size

logger = logging.getLogger(__name__)


class StorageApiError(Exception):
    """An error with a status and a message that is safe to show to a visitor."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    headers: ClassVar[Mapping[str, str]] = {}
    #: the message of a refusal class that always says the same
    message: ClassVar[str] = ""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail if detail is not None else self.message
        super().__init__(self.detail)

    def problem_headers(self) -> Mapping[str, str]:
        """Headers the answer carries besides the problem body."""
        return self.headers


class InvalidInput(StorageApiError):
    status = 400
    title = "Invalid input"


class EmptyUpload(InvalidInput):
    message = "The upload is empty (0 bytes); there is nothing to keep."


class UploadNotArrived(InvalidInput):
    message = "The upload did not arrive: nothing was stored. Please try again."


class UploadTookTooLong(InvalidInput):
    message = "The upload took longer than allowed and was discarded."


class NotSentInParts(InvalidInput):
    message = "This upload is not sent in parts."


class Unauthorized(StorageApiError):
    status = 401
    title = "Unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}
    message = "A valid service credential is required."


class Forbidden(StorageApiError):
    status = 403
    title = "Forbidden"


class NotFound(StorageApiError):
    status = 404
    title = "Not found"


class TooLarge(StorageApiError):
    status = 413
    title = "Too large"

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"The {what} is larger than {human_size(limit)}.")


class UnsupportedImage(StorageApiError):
    status = 415
    title = "Not a supported image"
    message = "This is not a JPEG, PNG, GIF or WebP image."


class BadImage(StorageApiError):
    status = 422
    title = "Unusable image"


class DeletedWhileUploading(StorageApiError):
    status = 409
    title = "Deleted"
    message = "The upload was deleted by Delete all before it finished arriving."


class UsedUp(StorageApiError):
    status = 410
    title = "Used up"


class RequestFilled(StorageApiError):
    """An upload request has no room for this file: its files or its bytes are taken."""

    status = 409
    title = "Request filled"

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        #: which bound: `files` or `bytes` (the refusal's metric label)
        self.reason = reason


class TooManyAttempts(StorageApiError):
    status = 429
    title = "Too many attempts"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def problem_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class QuotaReached(StorageApiError):
    """The visitor stores as much as one visitor may: the upload is refused until some of it
    expires (`retry_after`) or is deleted."""

    status = 409
    title = "Quota reached"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def problem_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class DependencyUnavailable(StorageApiError):
    status = 503
    title = "Storage unavailable"


def _service_problem(exc: StorageApiError) -> ProblemDetailsException:
    # our own wording, written for the visitor: web may show it as it is
    return ProblemDetailsException(
        type_=USER_SAFE_PROBLEM,
        title=exc.title,
        status_code=exc.status,
        detail=exc.detail,
        headers=dict(exc.problem_headers()),
    )


def _framework_problem(exc: HTTPException) -> ProblemDetailsException:
    """Litestar's own errors (validation, 404 route, 405): for developers, not visitors."""
    detail = exc.detail
    if exc.status_code == 400 and exc.extra:
        detail = f"{detail}: {exc.extra}"
    return ProblemDetailsException(
        type_="about:blank",
        title=_title_for(exc.status_code),
        status_code=exc.status_code,
        detail=str(detail),
    )


def _title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything else: logged with the request it broke, answered without internals."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return ProblemDetailsException(
        type_="about:blank",
        title="Internal error",
        status_code=500,
        detail="An unexpected error occurred; it has been logged.",
    ).to_response(request)


def problem_details() -> ProblemDetailsPlugin:
    """The plugin that answers the service's errors and Litestar's own as problem details."""
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                StorageApiError: _service_problem,
                HTTPException: _framework_problem,
            }
        )
    )
