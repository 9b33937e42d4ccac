"""Web's one exception hierarchy. `pages/errors.py` maps it to pages, flashes and statuses."""

from __future__ import annotations


class WebError(Exception):
    """Something a visitor should be told about in plain words."""

    status_code = 500
    user_message = "Something went wrong. Please try again."
    #: the `outcome` an upload refused with this error is counted under (None: by status).
    reason: str | None = None
    #: answer and hang up instead of reading the rest of the request body (it is known to be
    #: too large, or it comes too slowly to be worth waiting for).
    close_connection = False

    def __init__(self, user_message: str | None = None) -> None:
        super().__init__(user_message or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class StorageUnavailable(WebError):
    """storage-api could not be reached or answered with a server error."""

    status_code = 503
    user_message = "Storage is unavailable right now. Please try again in a moment."
    reason = "storage_unavailable"


class StorageRefused(WebError):
    """storage-api refused a request (4xx): the upload or the parameters were not acceptable."""

    def __init__(self, status_code: int, user_message: str) -> None:
        super().__init__(user_message)
        self.status_code = status_code


class ItemNotFound(WebError):
    status_code = 404
    user_message = "That item does not exist (any more)."


class CsrfRejected(WebError):
    status_code = 403
    reason = "csrf"
    user_message = "This form has expired or came from another site. Reload the page and try again."


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
    """storage-api refused a share link's page, grant or redeem, in words for whoever holds
    the link: ended (404), used up (410), a wrong password or an expired grant (403), too many
    password attempts (429, with the seconds to wait)."""

    def __init__(self, status_code: int, user_message: str, retry_after: int | None = None):
        super().__init__(user_message)
        self.status_code = status_code
        self.retry_after = retry_after
