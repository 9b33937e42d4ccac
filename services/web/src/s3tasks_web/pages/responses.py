"""How a page answers a form: a redirect for plain forms, JSON for the upload script."""

from __future__ import annotations

from litestar import Request, Response
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

#: The upload script asks for JSON so the flash waits in the session for the next page view.
SCRIPT_ACCEPT = "application/json"


def wants_json(request: Request) -> bool:  # type: ignore[type-arg]
    return SCRIPT_ACCEPT in request.headers.get("accept", "")


def back_to(
    request: Request,  # type: ignore[type-arg]
    page: str,
    *,
    ok: bool = True,
    status_code: int = 200,
) -> Response[object]:
    if wants_json(request):
        return Response({"ok": ok, "redirect": page}, status_code=status_code)
    return Redirect(page, status_code=HTTP_303_SEE_OTHER)
