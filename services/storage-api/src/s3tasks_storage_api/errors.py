"""The service's exception hierarchy and its one mapping to RFC 9457 problem responses.

Litestar's problem-details plugin renders every answer; this module only says which problem
each exception is. Each refusal carries its own problem `type` from the contract, which
callers match on; a refusal that is said in more than one place is a class of its own with
its one message, so the same words cannot drift apart.

The classes below are written out, not generated from `REFUSALS`: each is already no more
than its problem type (status, title and fixed words are read from the table), and a class
made by `type()` at import would be one that `grep`, an editor and mypy cannot see, nor
subclass (`ShareGone` is a `NotFound`, `RequestBytesTaken` a `RequestFilled`).
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

from s3tasks_contracts.problems import REFUSALS, ProblemType, Refusal
from s3tasks_servicekit.sizes import human_size

logger = logging.getLogger(__name__)


class StorageApiError(Exception):
    """A refusal with a message that is safe to show to a visitor. Its problem `type`,
    status, title and (for a refusal that always says the same) its words are the contract's
    (`s3tasks_contracts.problems.REFUSALS`)."""

    problem_type: ClassVar[ProblemType] = ProblemType.INVALID_INPUT
    headers: ClassVar[Mapping[str, str]] = {}
    #: the message of a refusal class that always says the same, where the contract has none
    message: ClassVar[str] = ""

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail if detail is not None else self.message or self.refusal().words
        super().__init__(self.detail)

    @classmethod
    def refusal(cls) -> Refusal:
        return REFUSALS[cls.problem_type]

    @property
    def status(self) -> int:
        return self.refusal().status

    @property
    def title(self) -> str:
        return self.refusal().title

    def problem_headers(self) -> Mapping[str, str]:
        """Headers the answer carries besides the problem body."""
        return self.headers


class InvalidInput(StorageApiError):
    problem_type = ProblemType.INVALID_INPUT


class EmptyUpload(InvalidInput):
    message = "The upload is empty (0 bytes); there is nothing to keep."


class UploadNotArrived(InvalidInput):
    message = "The upload did not arrive: nothing was stored. Please try again."


class UploadTookTooLong(InvalidInput):
    message = "The upload took longer than allowed and was discarded."


class NotSentInParts(InvalidInput):
    message = "This upload is not sent in parts."


class Unauthorized(StorageApiError):
    problem_type = ProblemType.UNAUTHORIZED
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(StorageApiError):
    problem_type = ProblemType.FORBIDDEN


class NotFound(StorageApiError):
    problem_type = ProblemType.NOT_FOUND


class TooLarge(StorageApiError):
    problem_type = ProblemType.TOO_LARGE

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"The {what} is larger than {human_size(limit)}.")


class UnsupportedImage(StorageApiError):
    problem_type = ProblemType.UNSUPPORTED_IMAGE


class BadImage(StorageApiError):
    problem_type = ProblemType.UNUSABLE_IMAGE


class DeletedWhileUploading(StorageApiError):
    problem_type = ProblemType.DELETED_WHILE_UPLOADING


class ShareGone(NotFound):
    """A share link that does not open: one answer whatever ended it."""

    problem_type = ProblemType.SHARE_GONE


class ShareUsedUp(StorageApiError):
    problem_type = ProblemType.SHARE_USED_UP


class WrongPassword(Forbidden):
    problem_type = ProblemType.WRONG_PASSWORD


class GrantEnded(Forbidden):
    problem_type = ProblemType.GRANT_ENDED


class RequestGone(NotFound):
    """An upload request that does not open: one answer whatever ended it."""

    problem_type = ProblemType.REQUEST_GONE


class RequestWrongPassword(Forbidden):
    problem_type = ProblemType.REQUEST_WRONG_PASSWORD


class RequestFilled(StorageApiError):
    """An upload request has no room for this file: its files are taken (this class) or
    its bytes (`RequestBytesTaken`)."""

    problem_type = ProblemType.REQUEST_FULL


class RequestBytesTaken(RequestFilled):
    problem_type = ProblemType.REQUEST_BYTES


class TooManyAttempts(StorageApiError):
    problem_type = ProblemType.RATE_LIMITED

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def problem_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class QuotaReached(StorageApiError):
    """The visitor stores as much as one visitor may: the upload is refused until some of it
    expires (`retry_after`) or is deleted."""

    problem_type = ProblemType.QUOTA_REACHED

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def problem_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class DependencyUnavailable(StorageApiError):
    problem_type = ProblemType.STORAGE_UNAVAILABLE


def _service_problem(exc: StorageApiError) -> ProblemDetailsException:
    # our own wording, written for the visitor: web may show it as it is
    return ProblemDetailsException(
        type_=exc.problem_type.value,
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
