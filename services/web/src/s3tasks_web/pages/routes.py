"""What a route is, said where it is declared (Litestar's `opt`) and read off the route handler,
never worked out again from the URL's text.

- the page it belongs to: on each page's router (`page_router` in app.py), so on every route
  below `/images` and `/files`;
- whether it is one of that page's forms (or a step of the upload script standing in for
  one): a refusal goes back to the page with a flash message (`pages/errors.py`);
- whether it is a step of an upload: a refusal is counted in `s3tasks_uploads_total`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.di import NamedDependency

from s3tasks_web.http.connections import WebConnection, WebRequest
from s3tasks_web.pages.kinds import KindPage

PAGE = "page"
FORM = "form"
UPLOAD_STEP = "upload_step"

#: `opt` of a form of the page (delete all)
FORM_ROUTE: dict[str, Any] = {FORM: True}
#: `opt` of a step of an upload (the form's upload, the script's start, complete and abort)
UPLOAD_ROUTE: dict[str, Any] = {FORM: True, UPLOAD_STEP: True}


def page_opt(page: KindPage) -> dict[str, Any]:
    """`opt` of a page's router: every route below it belongs to the page."""
    return {PAGE: page}


@dataclass(frozen=True)
class RouteRole:
    page: KindPage
    form: bool
    upload_step: bool


def route_role(connection: WebConnection) -> RouteRole | None:
    """The role of the route that took the request; None outside the pages (the probes, the
    static files) and for a request no route took (an unrouted 404 or 405)."""
    handler = connection.scope.get("route_handler")
    page = handler.opt.get(PAGE) if handler is not None else None
    if handler is None or not isinstance(page, KindPage):
        return None
    return RouteRole(
        page=page,
        form=bool(handler.opt.get(FORM)),
        upload_step=bool(handler.opt.get(UPLOAD_STEP)),
    )


def provide_page(request: WebRequest) -> KindPage:
    """The page of the route a handler serves (only routes below a page's router ask)."""
    page: KindPage = request.route_handler.opt[PAGE]
    return page


#: a handler's page (`provide_page`, declared on each page's router)
PageDep = NamedDependency[KindPage]
