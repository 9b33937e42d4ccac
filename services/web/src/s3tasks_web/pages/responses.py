"""How a page answers a form: a redirect for plain forms, JSON for the upload script."""

from __future__ import annotations

from litestar import Response
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from s3tasks_web.http.connections import WebRequest

#: The upload script asks for JSON so the flash waits in the session for the next page view.
SCRIPT_ACCEPT = "application/json"


def wants_json(request: WebRequest) -> bool:
    return SCRIPT_ACCEPT in request.headers.get("accept", "")


def back_to(request: WebRequest, page: str, *, status_code: int = 200) -> Response[object]:
    """Plain forms: 303 to the page. The script: 200 with the outcome in the body, because the
    browser logs every 4xx/5xx answer to a script as a console error, and the refusal is
    already told to the visitor as a flash message on the page the script goes to next."""
    if wants_json(request):
        body = {"ok": status_code < 400, "status": status_code, "redirect": page}
        return Response(body, status_code=200)
    return Redirect(page, status_code=HTTP_303_SEE_OTHER)
