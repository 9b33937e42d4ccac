"""The site's public JSON API (`/api/v1`), as far as the command needs it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import httpx

from s3tasks_cli.config import Places, save_token, saved_token

API = "/api/v1"
#: connect quickly; a part of several MiB may take a while on a slow line
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ApiError(Exception):
    """The site refused (its problem's words) or could not be reached."""

    def __init__(self, words: str, status: int = 0, retry_after: str | None = None) -> None:
        super().__init__(words)
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} (try again in {self.retry_after} s)" if self.retry_after else text


def refusal(response: httpx.Response) -> ApiError:
    words = response.reason_phrase or f"HTTP {response.status_code}"
    if response.headers.get("content-type", "").startswith(
        ("application/problem+json", "application/json")
    ):
        with contextlib.suppress(ValueError):
            words = str(response.json().get("detail") or words)
    elif response.headers.get("content-type", "").startswith("text/plain"):
        words = response.text.strip() or words
    return ApiError(words, response.status_code, response.headers.get("retry-after"))


def checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise refusal(response)
    return response


@dataclass
class Site:
    """One site, as one visitor (its token made on first use and kept: `config.py`)."""

    url: str
    http: httpx.Client
    places: Places
    _token: str | None = None

    @classmethod
    def open(cls, url: str, places: Places) -> Site:
        return cls(url, httpx.Client(timeout=TIMEOUT, follow_redirects=False), places)

    def close(self) -> None:
        self.http.close()

    def token(self) -> str:
        if self._token is None:
            self._token = saved_token(self.places, self.url)
        if self._token is None:
            made = self.call("POST", "/visitors", auth=False)
            self._token = str(made["token"])
            save_token(self.places, self.url, self._token)
        return self._token

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        headers = self.auth() if auth else {}
        try:
            response = self.http.request(
                method, f"{self.url}{API}{path}", headers=headers, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ApiError(f"{self.url} could not be reached: {exc}") from exc
        checked(response)
        return response.json() if response.content else None
