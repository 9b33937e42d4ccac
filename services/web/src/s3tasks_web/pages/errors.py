"""The one place web's exceptions become what a visitor sees.

A refused form (upload, delete all) goes back to its page with a flash message; a page or a
download that cannot be served shows a friendly page with the right status; never a bare 500.
"""

from __future__ import annotations

import logging

from litestar import Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Template
from litestar.types import ExceptionHandlersMap

from s3tasks_contracts import REFUSALS, ProblemType
from s3tasks_web.errors import CsrfRejected, StorageUnavailable, WebError
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.http.share_paths import is_capability_path
from s3tasks_web.observability.metrics import WebMetrics
from s3tasks_web.pages.responses import back_to, wants_json
from s3tasks_web.pages.routes import route_role
from s3tasks_web.visitors.session import SessionCookie

log = logging.getLogger(__name__)

#: what every link that does not open answers, whatever ended it, as storage-api says it
_SHARE_GONE = REFUSALS[ProblemType.SHARE_GONE].words

#: the title of an error page, by status
_TITLES = {
    403: "Not allowed",
    404: "Not found",
    416: "Not in the file",
    429: "Too many requests",
    503: "Storage unavailable",
}
#: the `outcome` of a refused upload, by status, where the error names none of its own.
_OUTCOMES = {
    400: "bad_request",
    403: "forbidden",
    408: "timeout",
    409: "deleted",
    429: "rate_limited",
    413: "too_large",
    415: "unsupported_type",
    422: "invalid_image",
    500: "error",
    503: "storage_unavailable",
}


def refused_outcome(status: int, reason: str | None) -> str:
    """The `outcome` a refused upload is counted under: its error's reason, else its status's."""
    return reason or _OUTCOMES.get(status, "refused")


def _form_page(request: WebRequest) -> str | None:
    """The page a refused form goes back to, if the request was one of its forms (the parts
    of an upload in parts are not: the script shows their refusal itself)."""
    role = route_role(request)
    return role.page.path if role is not None and role.form else None


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


class ErrorPages:
    """web's exception handlers, given the metrics they count refused uploads in and the
    session cookie a refused form's flash message goes into."""

    def __init__(self, metrics: WebMetrics, session_cookie: SessionCookie) -> None:
        self._metrics = metrics
        self._session_cookie = session_cookie

    def handlers(self) -> ExceptionHandlersMap:
        return {
            WebError: self.web_error,
            HTTPException: self.http_exception,
            Exception: self.unexpected,
        }

    def _count_refused_upload(self, request: WebRequest, status: int, reason: str | None) -> None:
        """Every refused upload is counted here, whatever refused it (the CSRF guard, the form
        reader, storage-api, an unexpected error), so an operator sees each one with its
        reason."""
        role = route_role(request)
        if role is not None and role.upload_step:
            outcome = refused_outcome(status, reason)
            self._metrics.record_upload(role.page.kind, outcome)

    def web_error(self, request: WebRequest, exc: WebError) -> Response[object]:
        if isinstance(exc, StorageUnavailable):
            log.warning("storage-api unavailable: %s", exc.__cause__ or exc)
        self._count_refused_upload(request, exc.status_code, exc.reason)
        page = _form_page(request)
        if page is not None and not isinstance(exc, CsrfRejected):
            visitor = self._session_cookie.load(request)
            visitor.flash("error", exc.user_message)
            response = back_to(request, page, status_code=exc.status_code)
        else:
            title = _TITLES.get(exc.status_code, "Sorry")
            response = _error_page(request, exc.status_code, exc.user_message, title)
        response.headers.update(exc.response_headers())
        if exc.close_connection:
            # the server closes the connection after this answer instead of reading the rest
            response.headers["Connection"] = "close"
        return response

    def http_exception(self, request: WebRequest, exc: HTTPException) -> Response[object]:
        self._count_refused_upload(request, exc.status_code, None)
        if isinstance(exc, NotFoundException):
            if is_capability_path(request.url.path):
                # below /s/ and /r/ every miss is the ended link's page: nothing to tell tokens
                # apart by
                return _error_page(request, 404, _SHARE_GONE, "Link not found")
            return _error_page(request, 404, "There is no page at this address.", "Not found")
        return _error_page(request, exc.status_code, str(exc.detail), "Sorry")

    def unexpected(self, request: WebRequest, exc: Exception) -> Response[object]:
        log.exception("unexpected error", exc_info=exc)
        self._count_refused_upload(request, 500, "error")
        return _error_page(request, 500, WebError.user_message, "Sorry")
