"""`/api/v1` as one router, and its OpenAPI document (served at `/api/v1/openapi.json`,
published in docs/api/openapi.json)."""

from __future__ import annotations

from litestar import Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from s3tasks_web.api.controllers import (
    API_PATH,
    ItemsController,
    LimitsController,
    RequestsController,
    UploadsController,
    VisitorsController,
)
from s3tasks_web.api.errors import API_ERRORS
from s3tasks_web.visitors.csrf import NO_SESSION

API_VERSION = "1"


def api_router() -> Router:
    """No cookie is read or set here and no CSRF token is asked for: the visitor is the
    bearer token's. A browser's cross-site request is still refused by its Origin
    (`visitors/csrf.py`), and no CORS header is sent, so other sites' pages cannot read an
    answer (CORS closed)."""
    return Router(
        path=API_PATH,
        opt={NO_SESSION: True},
        exception_handlers=API_ERRORS,
        route_handlers=[
            VisitorsController,
            LimitsController,
            ItemsController,
            UploadsController,
            RequestsController,
        ],
    )


def api_openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="s3tasks",
        version=API_VERSION,
        description=(
            "Short-lived images and files, from a program: what the pages do. Create a visitor "
            "(POST /visitors), keep its token, send it as `Authorization: Bearer <token>`. "
            "Errors are RFC 9457 problems (application/problem+json) whose `type` is one of "
            "the contract's `urn:s3tasks:problem:*`."
        ),
        path=API_PATH,
        render_plugins=[JsonRenderPlugin(path="/openapi.json")],
        components=Components(
            security_schemes={
                "visitorToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="the token POST /api/v1/visitors answered with",
                )
            }
        ),
        use_handler_docstrings=True,
    )
