"""The one place web's exceptions become what a visitor sees.

A refused form (upload, delete all) goes back to its page with a flash message; a page or a
download that cannot be served shows a friendly page with the right status; never a bare 500.
"""

from __future__ import annotations

import logging
import re

from litestar import Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Template
from litestar.types import ExceptionHandlersMap

from s3tasks_web.connections import WebRequest
from s3tasks_web.errors import CsrfRejected, StorageUnavailable, WebError
from s3tasks_web.pages.kinds import KIND_PAGES
from s3tasks_web.pages.responses import back_to, wants_json
from s3tasks_web.services import provide_services

log = logging.getLogger(__name__)

_KIND_OF_PATH = {page.path: kind for kind, page in KIND_PAGES.items()}
#: the form's upload, and the three steps of the upload script in `direct` mode
_UPLOAD_ROUTE = re.compile(r"(/[a-z]+)/(?:upload|uploads|uploads/[^/]+/(?:complete|abort))")
#: the `outcome` of a refused upload, by status, where the error names none of its own.
_OUTCOMES = {
    400: "bad_request",
    403: "forbidden",
    408: "timeout",
    409: "deleted",
    413: "too_large",
    415: "unsupported_type",
    422: "invalid_image",
    500: "error",
    503: "storage_unavailable",
}


def _count_refused_upload(request: WebRequest, status: int, reason: str | None) -> None:
    """Every refused upload is counted here, whatever refused it (the CSRF guard, the form
    reader, storage-api, an unexpected error), so an operator sees each one with its reason."""
    route = _UPLOAD_ROUTE.fullmatch(request.url.path) if request.method == "POST" else None
    kind = _KIND_OF_PATH.get(route.group(1)) if route else None
    if kind is not None:
        outcome = reason or _OUTCOMES.get(status, "refused")
        provide_services(request.app.state).metrics.record_upload(kind, outcome)


#: the parts of an upload in parts: the script shows a refusal itself, in the form, once
#: (several part requests are under way at a time; each would leave a flash)
_PART_ROUTE = re.compile(r"/[a-z]+/uploads/[^/]+/parts(?:/\d+)?")


def _form_page(request: WebRequest) -> str | None:
    """The page a refused form goes back to, if the request was one of its forms."""
    if request.method != "POST" or _PART_ROUTE.fullmatch(request.url.path):
        return None
    for page in KIND_PAGES.values():
        if request.url.path.startswith(page.path + "/"):
            return page.path
    return None


def _error_page(
    request: WebRequest, status_code: int, message: str, title: str
) -> Response[object]:
    if wants_json(request):
        return Response({"status": status_code, "detail": message}, status_code=status_code)
    page: Response[object] = Template(  # type: ignore[assignment]
        "error.html",
        context={"title": title, "message": message},
        status_code=status_code,
    )
    return page


def handle_web_error(request: WebRequest, exc: WebError) -> Response[object]:
    if isinstance(exc, StorageUnavailable):
        log.warning("storage-api unavailable: %s", exc.__cause__ or exc)
    _count_refused_upload(request, exc.status_code, exc.reason)
    page = _form_page(request)
    if page is not None and not isinstance(exc, CsrfRejected):
        visitor = provide_services(request.app.state).session_cookie.load(request)
        visitor.flash("error", exc.user_message)
        response = back_to(request, page, status_code=exc.status_code)
    else:
        titles = {
            403: "Not allowed",
            404: "Not found",
            503: "Storage unavailable",
        }
        title = titles.get(exc.status_code, "Sorry")
        response = _error_page(request, exc.status_code, exc.user_message, title)
    if exc.close_connection:
        # the server closes the connection after this answer instead of reading the rest
        response.headers["Connection"] = "close"
    return response


def handle_http_exception(request: WebRequest, exc: HTTPException) -> Response[object]:
    _count_refused_upload(request, exc.status_code, None)
    if isinstance(exc, NotFoundException):
        return _error_page(request, 404, "There is no page at this address.", "Not found")
    return _error_page(request, exc.status_code, str(exc.detail), "Sorry")


def handle_unexpected(request: WebRequest, exc: Exception) -> Response[object]:
    log.exception("unexpected error", exc_info=exc)
    _count_refused_upload(request, 500, "error")
    return _error_page(request, 500, WebError.user_message, "Sorry")


def exception_handlers() -> ExceptionHandlersMap:
    return {
        WebError: handle_web_error,
        HTTPException: handle_http_exception,
        Exception: handle_unexpected,
    }
