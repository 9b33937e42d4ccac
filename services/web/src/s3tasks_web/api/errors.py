"""Every refusal of `/api/v1` as an RFC 9457 problem (`application/problem+json`), with the
contract's problem type: a client matches on `type` and shows `detail`."""

from __future__ import annotations

from collections.abc import Callable

from litestar import Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from s3tasks_web.api.controllers import API_PATH
from s3tasks_web.errors import WebError
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.terminal.answers import problem, refused, refused_by_framework


def _web_error(request: WebRequest, exc: WebError) -> Response[object]:
    return refused(request, exc, json=True)


def _framework(request: WebRequest, exc: HTTPException) -> Response[object]:
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        # which field and why, in the validator's words (a developer reads these)
        reasons = "; ".join(
            _reason(entry.get("key", ""), entry.get("message", ""))
            for entry in exc.extra
            if isinstance(entry, dict)
        )
        return problem(400, f"Invalid request: {reasons}", "urn:s3tasks:problem:invalid-input", {})
    return refused_by_framework(request, exc, json=True)


API_ERRORS: ExceptionHandlersMap = {WebError: _web_error, HTTPException: _framework}


def _reason(key: object, message: object) -> str:
    if key == "data":
        return "the JSON body is missing or not the operation's object"
    return f"{key}: {message}".strip(": ")


def unrouted_below_the_api(
    site: Callable[[WebRequest, HTTPException], Response[object]],
) -> Callable[[WebRequest, HTTPException], Response[object]]:
    """The app's handler of Litestar's own refusals, but a problem for a path below the API
    that no route takes (an id that is no UUID, a method not allowed): its clients read
    problems, never the site's pages."""

    def handler(request: WebRequest, exc: HTTPException) -> Response[object]:
        if request.url.path.startswith(f"{API_PATH}/"):
            return _framework(request, exc)
        return site(request, exc)

    return handler
