"""The owner's upload requests, on My Files: ask for files (how many, how much in all, until
when, a message, a password), see each with what arrived, its URL to copy and its QR code,
stop asking. Built as the share links' panel is (`shares/owner.py`): a refusal goes back to the
page as a flash message and nothing is made.
"""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Controller, post
from litestar.params import FromPath
from litestar.response import Response

from s3tasks_contracts import (
    MAX_REQUEST_MESSAGE_LENGTH,
    MAX_REQUESTED_FILES,
    RequestCreate,
    SiteConfiguration,
)
from s3tasks_web.dependencies import CLIENT, STORAGE, VISITOR, ClientDep, StorageDep, VisitorDep
from s3tasks_web.errors import UploadRejected
from s3tasks_web.http.connections import WebRequest
from s3tasks_web.pages.kinds import FILES
from s3tasks_web.pages.owner_forms import ends_at, form_fields, password, path_id, whole_number
from s3tasks_web.pages.requests import MIB, request_quota
from s3tasks_web.pages.responses import back_to
from s3tasks_web.pages.routes import FORM_ROUTE

#: the owner's form fields of a request's own (the others: `pages/owner_forms.py`)
FILES_FIELD = "max_files"
MEBIBYTES_FIELD = "max_mib"
MESSAGE_FIELD = "message"


def parse_request_form(
    form: dict[str, str], limits: SiteConfiguration, quota: int, now: datetime, client: str
) -> RequestCreate:
    """The owner's form as a request to storage-api, or a refusal in words (nothing sent)."""
    files = whole_number(
        form.get(FILES_FIELD, ""),
        1,
        MAX_REQUESTED_FILES,
        f"The number of files must be a whole number from 1 to {MAX_REQUESTED_FILES}.",
    )
    if files is None:
        raise UploadRejected(400, "Say how many files you ask for (1 to 100).")
    most = max(1, quota // MIB)
    mebibytes = whole_number(
        form.get(MEBIBYTES_FIELD, ""),
        1,
        most,
        f"The total size must be a whole number of MiB from 1 to {most}.",
    )
    ttl_minutes = max(1, limits.file_ttl_seconds // 60)
    ends = ends_at(
        form,
        now,
        ttl_minutes,
        f"The request's end must be a whole number of minutes from 1 to {ttl_minutes}.",
    )
    message = form.get(MESSAGE_FIELD, "")
    if len(message) > MAX_REQUEST_MESSAGE_LENGTH:
        raise UploadRejected(
            400, f"The message must be at most {MAX_REQUEST_MESSAGE_LENGTH} characters long."
        )
    return RequestCreate(
        max_files=files,
        max_bytes=min(quota, (mebibytes or most) * MIB),
        ends_at=ends,
        message=message.strip(),
        password=password(form),
        client=client,
    )


class OwnerRequestsController(Controller):
    """Below My Files' router (app.py): `/files/requests`."""

    path = "/requests"
    tags = ["upload requests"]
    dependencies = {**STORAGE, **VISITOR, **CLIENT}

    @post("/", status_code=303, opt=FORM_ROUTE)
    async def create(
        self,
        request: WebRequest,
        storage: StorageDep,
        visitor: VisitorDep,
        client: ClientDep,
    ) -> Response[object]:
        fields = await form_fields(request)
        limits = await storage.site_configuration()
        asked = parse_request_form(fields, limits, request_quota(limits), datetime.now(UTC), client)
        await storage.create_request(visitor.visitor_id, asked)
        visitor.flash("success", "Upload request made: send its link to whoever has the files.")
        return back_to(request, FILES.path)

    @post("/{request_id:str}/stop", status_code=303, opt=FORM_ROUTE)
    async def stop(
        self,
        request: WebRequest,
        storage: StorageDep,
        visitor: VisitorDep,
        request_id: FromPath[str],
    ) -> Response[object]:
        # no field, but a body that is not text is refused (http/forms.py) before it stops
        await request.form()
        await storage.stop_request(visitor.visitor_id, path_id(request_id))
        visitor.flash("success", "Stopped asking: that link no longer opens.")
        return back_to(request, FILES.path)
