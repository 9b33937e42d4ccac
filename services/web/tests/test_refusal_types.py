"""In process: web maps each of storage-api's problem types to the page's words and the
upload metric's reason, by the `type` (never the title).

`create_app(settings)` runs under Litestar's test client; its storage-api client is swapped,
through the typed dependencies' state, for one whose answers are canned problem bodies, so
web's real mapping (`storage_api_client.py`, `pages/errors.py`, `shares/public.py`) reads
them. No process, no network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from s3tasks_contracts import REFUSALS, ItemKind, ProblemType, ShareView, SiteConfiguration
from s3tasks_web.app import create_app
from s3tasks_web.dependencies import Connections, connect, provide_objects, services_of
from s3tasks_web.settings import WebSettings
from s3tasks_web.storage_api_client import SiteConfigurationCache, StorageApiClient

pytestmark = pytest.mark.inprocess

TOKEN = "A" * 43
_CSRF = re.compile(r"\?csrf=([A-Za-z0-9_-]+)")
#: what a browser's fetch from the page sends with the upload script's steps
_SCRIPT = {"accept": "application/json", "sec-fetch-site": "same-origin"}
_CONFIGURATION = SiteConfiguration(
    max_image_bytes=1024 * 1024,
    max_file_bytes=1024 * 1024,
    max_description_length=1000,
    max_filename_length=255,
    image_ttl_seconds=900,
    file_ttl_seconds=900,
    images_kept=3,
)


def problem(problem_type: str, status: int, detail: str = "", title: str = "") -> bytes:
    words = detail
    if not words and problem_type != "about:blank":
        words = REFUSALS[ProblemType(problem_type)].words
    return json.dumps(
        {"type": problem_type, "title": title or "Refused", "status": status, "detail": words}
    ).encode()


@dataclass
class CannedStorageApi(StorageApiClient):
    """web's storage-api client with canned answers by (method, path pattern) instead of HTTP:
    everything above `_send` (the refusal mapping) is web's real code."""

    answers: dict[tuple[str, str], tuple[int, bytes, int | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(None, "http://storage-api.invalid", SiteConfigurationCache(0))  # type: ignore[arg-type]
        self.answer("POST", "/v1/sessions", 204, b"")
        self.answer("GET", "/v1/limits", 200, _CONFIGURATION.model_dump_json().encode())
        listing = {"items": [], "server_time": datetime.now(UTC).isoformat()}
        self.answer("GET", r"/v1/visitors/[^/]+/items", 200, json.dumps(listing).encode())
        # My Files lists the visitor's upload requests too
        requests = {"requests": [], "server_time": datetime.now(UTC).isoformat()}
        self.answer(
            "GET", r"/v1/visitors/[^/]+/upload-requests", 200, json.dumps(requests).encode()
        )

    def answer(
        self, method: str, path: str, status: int, body: bytes, retry_after: int | None = None
    ) -> None:
        self.answers[(method, path)] = (status, body, retry_after)

    async def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, json: object
    ) -> tuple[int, bytes, int | None]:
        for (answer_method, pattern), answer in self.answers.items():
            if answer_method == method and re.fullmatch(pattern, path):
                return answer
        raise AssertionError(f"no canned answer for {method} {path}")


@pytest.fixture
def app() -> Litestar:
    return create_app(WebSettings(_env_file=None))


@pytest.fixture
def storage() -> CannedStorageApi:
    return CannedStorageApi()


@pytest.fixture
def client(app: Litestar, storage: CannedStorageApi) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as client:
        # the lifespan made the pooled clients; storage-api's is swapped for the canned one
        objects = provide_objects(app.state)
        connect(app.state, Connections(storage=storage, objects=objects))
        yield client


def uploads_counted(app: Litestar, outcome: str) -> float:
    registry = services_of(app.state).metrics.registry
    value = registry.get_sample_value(
        "s3tasks_uploads_total", {"kind": ItemKind.FILE.value, "outcome": outcome}
    )
    return value or 0.0


def refused_start(
    client: TestClient[Litestar], storage: CannedStorageApi, status: int, body: bytes
) -> dict[str, Any]:
    """The upload script's first step on My Files, refused by storage-api as given."""
    storage.answer("POST", r"/v1/visitors/[^/]+/uploads", status, body, retry_after=30)
    page = client.get("/files")
    assert page.status_code == 200, page.text
    match = _CSRF.search(page.text)
    assert match is not None
    answer = client.post(
        "/files/uploads",
        json={"filename": "notes.txt", "size": 10, "in_parts": True},
        headers={**_SCRIPT, "x-csrf-token": match.group(1)},
    )
    assert answer.status_code == 200, answer.text
    outcome: dict[str, Any] = answer.json()
    return outcome


QUOTA_WORDS = "You keep 1.0 MiB already: the most one visitor may. Please try again in 30 s."
RATE_WORDS = "Too many uploads came from your address in a short time (at most 5)."


@pytest.mark.parametrize(
    ("status", "body", "words", "reason"),
    [
        (409, problem(ProblemType.QUOTA_REACHED, 409, QUOTA_WORDS), QUOTA_WORDS, "quota"),
        (
            409,
            problem(ProblemType.DELETED_WHILE_UPLOADING, 409),
            REFUSALS[ProblemType.DELETED_WHILE_UPLOADING].words,
            "deleted",
        ),
        (429, problem(ProblemType.RATE_LIMITED, 429, RATE_WORDS), RATE_WORDS, "rate_limited"),
        (
            413,
            problem(ProblemType.TOO_LARGE, 413, "The file is larger than 1.0 MiB."),
            "The file is larger than 1.0 MiB.",
            "too_large",
        ),
        # a title is words, not a type: a problem that is none of storage-api's refusals is
        # not read as the quota's, and its detail (a developer's) is not shown
        (
            409,
            problem("about:blank", 409, "quota row 12 locked", title="Quota reached"),
            "That request was refused.",
            "deleted",
        ),
    ],
    ids=["quota", "deleted-while-uploading", "rate-limited", "too-large", "title-only"],
)
def test_an_upload_refusal_is_told_and_counted_by_its_problem_type(
    app: Litestar,
    client: TestClient[Litestar],
    storage: CannedStorageApi,
    status: int,
    body: bytes,
    words: str,
    reason: str,
) -> None:
    outcome = refused_start(client, storage, status, body)
    assert outcome == {"ok": False, "status": status, "redirect": "/files"}
    assert uploads_counted(app, reason) == 1
    # the refusal waits as a flash message for the page the script goes to next
    page = client.get("/files")
    assert words in page.text


def share_view() -> bytes:
    now = datetime.now(UTC)
    view = ShareView(
        kind=ItemKind.FILE,
        password_required=True,
        ends_at=now + timedelta(minutes=10),
        downloads_left=3,
        server_time=now,
    )
    return view.model_dump_json().encode()


@pytest.mark.parametrize(
    ("problem_type", "status", "detail", "title"),
    [
        (ProblemType.SHARE_GONE, 404, "", "Link not found"),
        (ProblemType.SHARE_USED_UP, 410, "", "Link used up"),
        (
            ProblemType.RATE_LIMITED,
            429,
            "Too many password attempts. Please wait a minute and try again.",
            "Too many attempts",
        ),
    ],
    ids=["gone", "used-up", "rate-limited"],
)
def test_a_link_s_page_says_storage_api_s_refusal_by_its_type(
    client: TestClient[Litestar],
    storage: CannedStorageApi,
    problem_type: ProblemType,
    status: int,
    detail: str,
    title: str,
) -> None:
    storage.answer("POST", "/v1/shares/lookup", status, problem(problem_type, status, detail), 60)
    page = client.get(f"/s/{TOKEN}")
    assert page.status_code == status
    assert (detail or REFUSALS[problem_type].words) in page.text
    assert title in page.text
    if status == 429:
        assert page.headers["retry-after"] == "60"
    assert "set-cookie" not in page.headers


@pytest.mark.parametrize(
    ("problem_type", "status", "detail"),
    [
        (ProblemType.REQUEST_GONE, 404, ""),
        (ProblemType.REQUEST_WRONG_PASSWORD, 403, ""),
        (
            ProblemType.RATE_LIMITED,
            429,
            "Too many password attempts. Please wait a minute and try again.",
        ),
    ],
    ids=["gone", "wrong-password", "rate-limited"],
)
def test_an_upload_request_s_page_says_storage_api_s_refusal_by_its_type(
    client: TestClient[Litestar],
    storage: CannedStorageApi,
    problem_type: ProblemType,
    status: int,
    detail: str,
) -> None:
    storage.answer(
        "POST", "/v1/upload-requests/lookup", status, problem(problem_type, status, detail), 60
    )
    page = client.get(f"/r/{TOKEN}")
    assert page.status_code == status
    assert (detail or REFUSALS[problem_type].words) in page.text
    if status == 429:
        assert page.headers["retry-after"] == "60"
    assert "set-cookie" not in page.headers


def test_an_upload_request_s_refusal_in_other_words_is_not_the_sender_s(
    client: TestClient[Litestar], storage: CannedStorageApi
) -> None:
    """A problem that is none of a link's refusals (a title alone, say) is not read as the
    link's: the sender sees web's own words, not the detail."""
    body = problem("about:blank", 404, "row 12 gone", title="Not found")
    storage.answer("POST", "/v1/upload-requests/lookup", 404, body)
    page = client.get(f"/r/{TOKEN}")
    assert "row 12 gone" not in page.text


def test_a_wrong_password_shows_the_link_s_form_again_in_the_contract_s_words(
    client: TestClient[Litestar], storage: CannedStorageApi
) -> None:
    storage.answer("POST", "/v1/shares/lookup", 200, share_view())
    storage.answer("POST", "/v1/shares/grants", 403, problem(ProblemType.WRONG_PASSWORD, 403))
    page = client.post(
        f"/s/{TOKEN}", data={"password": "guess"}, headers={"sec-fetch-site": "same-origin"}
    )
    assert page.status_code == 403
    assert "Wrong password." in page.text
    assert "<form" in page.text


def test_an_ended_grant_is_its_own_page(
    client: TestClient[Litestar], storage: CannedStorageApi
) -> None:
    storage.answer("GET", "/v1/limits", 200, _CONFIGURATION.model_dump_json().encode())
    storage.answer("POST", "/v1/shares/redeem", 403, problem(ProblemType.GRANT_ENDED, 403))
    page = client.get(f"/s/{TOKEN}/download", params={"grant": "a.b.1.c"})
    assert page.status_code == 403
    assert REFUSALS[ProblemType.GRANT_ENDED].words in page.text
    assert "Download no longer valid" in page.text


def test_a_refused_credential_on_a_link_is_storage_unavailable_not_the_link_s_refusal(
    client: TestClient[Litestar], storage: CannedStorageApi
) -> None:
    """A 403 of another type than the link's own (web's credential refused) is no word for
    whoever holds the link: the page says storage is unavailable."""
    forbidden = problem(ProblemType.FORBIDDEN, 403, "This endpoint is for web, not worker.")
    storage.answer("POST", "/v1/shares/lookup", 403, forbidden)
    page = client.get(f"/s/{TOKEN}")
    assert page.status_code == 503
    assert "This endpoint is for" not in page.text
    assert "Storage is unavailable" in page.text
