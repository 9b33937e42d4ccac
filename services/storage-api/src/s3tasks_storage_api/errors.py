"""The service's exception hierarchy and its one mapping to RFC 9457 problem responses."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import HTTPException

from s3tasks_contracts.problems import PROBLEM_MEDIA_TYPE, USER_SAFE_PROBLEM

logger = logging.getLogger(__name__)


class StorageApiError(Exception):
    """An error with a status and a message that is safe to show to a visitor."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(StorageApiError):
    status = 400
    title = "Invalid input"


class Unauthorized(StorageApiError):
    status = 401
    title = "Unauthorized"


class Forbidden(StorageApiError):
    status = 403
    title = "Forbidden"


class NotFound(StorageApiError):
    status = 404
    title = "Not found"


class TooLarge(StorageApiError):
    status = 413
    title = "Too large"


class UnsupportedImage(StorageApiError):
    status = 415
    title = "Not a supported image"


class BadImage(StorageApiError):
    status = 422
    title = "Unusable image"


class DeletedWhileUploading(StorageApiError):
    status = 409
    title = "Deleted"


class UploadsBusy(StorageApiError):
    status = 503
    title = "Too many uploads"


class RangeNotSatisfiable(StorageApiError):
    status = 416
    title = "Range not satisfiable"

    def __init__(self, detail: str, size: int) -> None:
        super().__init__(detail)
        self.size = size


class UsedUp(StorageApiError):
    status = 410
    title = "Used up"


class TooManyAttempts(StorageApiError):
    status = 429
    title = "Too many attempts"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DependencyUnavailable(StorageApiError):
    status = 503
    title = "Storage unavailable"


def problem(
    status: int, title: str, detail: str, *, problem_type: str = "about:blank"
) -> Response[dict[str, object]]:
    return Response(
        content={"type": problem_type, "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def handle_service_error(_: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    assert isinstance(exc, StorageApiError)  # noqa: S101 - registered for this class only
    # our own wording, written for the visitor: web may show it as it is
    response: Response[object] = problem(  # type: ignore[assignment]
        exc.status, exc.title, exc.detail, problem_type=USER_SAFE_PROBLEM
    )
    if isinstance(exc, RangeNotSatisfiable):
        response.headers["Content-Range"] = f"bytes */{exc.size}"
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def handle_http_exception(_: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    """Litestar's own errors (validation, 404 route, 405) as problem details."""
    assert isinstance(exc, HTTPException)  # noqa: S101
    detail = exc.detail
    extra = getattr(exc, "extra", None)
    if exc.status_code == 400 and extra:
        detail = f"{detail}: {extra}"
    return problem(exc.status_code, _title_for(exc.status_code), str(detail))  # type: ignore[return-value]


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal error", "An unexpected error occurred; it has been logged.")  # type: ignore[return-value]


def _title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


EXCEPTION_HANDLERS = {
    StorageApiError: handle_service_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
