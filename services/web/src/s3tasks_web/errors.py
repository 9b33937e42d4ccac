"""Web's one exception hierarchy. `pages/errors.py` maps it to pages, flashes and statuses."""

from __future__ import annotations

from s3tasks_contracts import REFUSALS, ProblemType


class WebError(Exception):
    """Something a visitor should be told about in plain words."""

    status_code = 500
    user_message = "Something went wrong. Please try again."
    #: the `outcome` an upload refused with this error is counted under (None: by status).
    reason: str | None = None
    #: answer and hang up instead of reading the rest of the request body (it is known to be
    #: too large, or it comes too slowly to be worth waiting for).
    close_connection = False
    #: the contract's problem type of this refusal, where it names one (the JSON answers of
    #: the terminal and the API carry it: `terminal/answers.py`)
    problem_type: ProblemType | None = None

    def __init__(self, user_message: str | None = None) -> None:
        super().__init__(user_message or self.user_message)
        if user_message is not None:
            self.user_message = user_message

    def response_headers(self) -> dict[str, str]:
        """Headers the answer must carry (a refusal that says when to come back, a range
        refusal that says the size)."""
        return {}


class StorageUnavailable(WebError):
    """storage-api could not be reached or answered with a server error."""

    status_code = 503
    user_message = "Storage is unavailable right now. Please try again in a moment."
    reason = "storage_unavailable"


class StorageRefused(WebError):
    """storage-api refused a request (4xx): the upload or the parameters were not acceptable.
    A limit's refusal (429, or the quota's 409) says when to try again (`retry_after`)."""

    def __init__(
        self,
        status_code: int,
        user_message: str,
        *,
        reason: str | None = None,
        retry_after: int | None = None,
        problem_type: ProblemType | None = None,
    ) -> None:
        super().__init__(user_message)
        self.status_code = status_code
        self.reason = reason
        self.retry_after = retry_after
        self.problem_type = problem_type

    def response_headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"retry-after": str(self.retry_after)}


class ItemNotFound(WebError):
    status_code = 404
    user_message = "That item does not exist (any more)."


class RangeNotSatisfiable(WebError):
    """A download asked for a range that starts beyond the end of the item."""

    status_code = 416
    user_message = "The part of the file you asked for starts beyond the end of the file."

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def response_headers(self) -> dict[str, str]:
        return {"content-range": f"bytes */{self.size}"}


class CsrfRejected(WebError):
    status_code = 403
    reason = "csrf"
    user_message = "This form has expired or came from another site. Reload the page and try again."


class FormNotText(WebError):
    """A form field's bytes are not UTF-8 text (or name a character set there is none of):
    refused whole, rather than stored with its characters silently replaced."""

    status_code = 400
    user_message = (
        "The form sent characters this site cannot read (text must be UTF-8). "
        "Please type it again and send the form once more."
    )


class UploadRejected(WebError):
    """web refused an upload itself, before or while streaming it."""

    def __init__(
        self,
        status_code: int,
        user_message: str,
        *,
        reason: str | None = None,
        close_connection: bool = False,
    ) -> None:
        super().__init__(user_message)
        self.status_code = status_code
        self.reason = reason
        self.close_connection = close_connection


class ShareRefused(WebError):
    """A share link's page, grant or redeem refused, in words for whoever holds the link:
    ended (404), used up (410), a wrong password or an expired grant (403), too many password
    attempts (429, with the seconds to wait). Its status and, unless storage-api said them,
    its words are the contract's for its problem type (`status_code`: an upload request's page
    that ended with the answer to an upload, said with that answer's status)."""

    def __init__(
        self,
        problem_type: ProblemType,
        user_message: str | None = None,
        retry_after: int | None = None,
        *,
        status_code: int | None = None,
    ) -> None:
        refusal = REFUSALS[problem_type]
        super().__init__(user_message or refusal.words)
        self.problem_type = problem_type
        self.status_code = status_code if status_code is not None else refusal.status
        self.retry_after = retry_after
