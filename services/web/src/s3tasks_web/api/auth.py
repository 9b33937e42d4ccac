"""Who calls: the visitor an `Authorization: Bearer <token>` header stands for."""

from __future__ import annotations

from litestar.di import NamedDependency, Provide

from s3tasks_contracts import ProblemType
from s3tasks_web.api.tokens import VisitorTokens
from s3tasks_web.dependencies import provide_settings
from s3tasks_web.errors import WebError
from s3tasks_web.http.connections import WebRequest

_BEARER = "bearer "


class NoVisitorToken(WebError):
    status_code = 401
    user_message = (
        "Send the token POST /api/v1/visitors answered with, as Authorization: Bearer <token>."
    )
    problem_type = ProblemType.UNAUTHORIZED

    def response_headers(self) -> dict[str, str]:
        return {"www-authenticate": 'Bearer realm="s3tasks"'}


def visitor_tokens(request: WebRequest) -> VisitorTokens:
    return VisitorTokens(provide_settings(request.app.state).secret_key.get_secret_value())


def provide_api_visitor(request: WebRequest) -> str:
    """The calling visitor's id, or a 401 before anything else happens."""
    header = request.headers.get("authorization", "")
    if not header[: len(_BEARER)].lower() == _BEARER:
        raise NoVisitorToken
    visitor_id = visitor_tokens(request).visitor_of(header[len(_BEARER) :].strip())
    if visitor_id is None:
        raise NoVisitorToken
    return visitor_id


#: the calling visitor's id
ApiVisitorDep = NamedDependency[str]
API_VISITOR = {"api_visitor": Provide(provide_api_visitor, sync_to_thread=False)}
