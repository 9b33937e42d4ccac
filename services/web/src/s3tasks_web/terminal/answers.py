"""How the terminal's routes answer: one plain-text line by default, JSON when the client
accepts it (`Accept: application/json`); a refusal as its words on one line, or as an RFC 9457
problem (`application/problem+json`) with the contract's type for it."""

from __future__ import annotations

import logging
from http import HTTPStatus

from litestar import Response
from litestar.exceptions import HTTPException, NotFoundException

from s3tasks_contracts import REFUSALS, ProblemType
from s3tasks_web.errors import ShareRefused, StorageUnavailable, WebError
from s3tasks_web.http.connections import WebRequest

log = logging.getLogger(__name__)

#: Litestar adds `; charset=utf-8`
PLAIN = "text/plain"
PROBLEM = "application/problem+json"
_JSON_TYPES = ("application/json", PROBLEM)
#: a terminal's answers are one client's, once: no cache keeps them
NO_STORE = {"cache-control": "no-store"}
#: the problem type of a refusal that names none, by status
_TYPES = {
    400: ProblemType.INVALID_INPUT,
    403: ProblemType.FORBIDDEN,
    404: ProblemType.NOT_FOUND,
    413: ProblemType.TOO_LARGE,
    415: ProblemType.UNSUPPORTED_IMAGE,
    422: ProblemType.UNUSABLE_IMAGE,
    429: ProblemType.RATE_LIMITED,
    503: ProblemType.STORAGE_UNAVAILABLE,
}


def wants_json(request: WebRequest) -> bool:
    accept = request.headers.get("accept", "")
    return any(kind in accept for kind in _JSON_TYPES)


def answer(
    request: WebRequest,
    line: str,
    body: object,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[object]:
    """`line` as one line of plain text, or `body` as JSON."""
    sent = {**NO_STORE, **(headers or {})}
    if wants_json(request):
        return Response(body, status_code=status_code, headers=sent)
    return Response(f"{line}\n", status_code=status_code, media_type=PLAIN, headers=sent)


def _one_line(words: str) -> str:
    return " ".join(words.split())


def problem_type_of(exc: WebError) -> str:
    known = exc.problem_type or _TYPES.get(exc.status_code)
    return known.value if known is not None else "about:blank"


def problem(
    status: int, words: str, problem_type: str, headers: dict[str, str]
) -> Response[object]:
    """An RFC 9457 problem with the contract's title for its type."""
    known = REFUSALS.get(ProblemType(problem_type)) if problem_type != "about:blank" else None
    title = known.title if known is not None else HTTPStatus(status).phrase
    body = {"type": problem_type, "title": title, "status": status, "detail": words}
    return Response(body, status_code=status, media_type=PROBLEM, headers={**NO_STORE, **headers})


def refusal(
    request: WebRequest, status: int, words: str, problem_type: str, headers: dict[str, str]
) -> Response[object]:
    if wants_json(request):
        return problem(status, words, problem_type, headers)
    return Response(
        f"{_one_line(words)}\n",
        status_code=status,
        media_type=PLAIN,
        headers={**NO_STORE, **headers},
    )


def refused(request: WebRequest, exc: WebError, *, json: bool = False) -> Response[object]:
    """A refusal of web's (its own, storage-api's or a link's) in the terminal's words
    (`json`: as a problem, whatever the client accepts)."""
    if isinstance(exc, StorageUnavailable):
        log.warning("storage-api unavailable: %s", exc.__cause__ or exc)
    headers = exc.response_headers()
    if isinstance(exc, ShareRefused) and exc.retry_after is not None:
        headers["retry-after"] = str(exc.retry_after)
    if exc.close_connection:
        headers["connection"] = "close"
    if json:
        return problem(exc.status_code, exc.user_message, problem_type_of(exc), headers)
    return refusal(request, exc.status_code, exc.user_message, problem_type_of(exc), headers)


def refused_by_framework(
    request: WebRequest, exc: HTTPException, *, json: bool = False
) -> Response[object]:
    """Litestar's own refusals (a method not allowed, a malformed request) in the same form."""
    if isinstance(exc, NotFoundException):
        words = "There is nothing at this address."
    else:
        words = str(exc.detail) or HTTPStatus(exc.status_code).phrase
    known = _TYPES.get(exc.status_code)
    problem_type = known.value if known is not None else "about:blank"
    headers = dict(exc.headers or {})
    if json:
        return problem(exc.status_code, words, problem_type, headers)
    return refusal(request, exc.status_code, words, problem_type, headers)
