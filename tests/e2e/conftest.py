"""Browser tests: Debian's Chromium, driven by Playwright, against the whole s3tasks stack.

By default the tests start their own stack (storage-api, worker, beat, web on real PostgreSQL,
Redis and S3). To run them against a stack that already runs (containers, Helm), set
  S3TASKS_E2E_BASE_URL      web's URL (http://127.0.0.1:8080)
  S3TASKS_E2E_S3_ENDPOINT, S3TASKS_E2E_S3_ACCESS_KEY, S3TASKS_E2E_S3_SECRET_KEY,
  S3TASKS_E2E_S3_BUCKET (and S3TASKS_E2E_S3_REGION)   so the tests can look into the bucket
  S3TASKS_E2E_TTL_SECONDS   only if that stack's TTL is short (the automatic-deletion test)
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from minio import Minio
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from s3tasks_testkit import backing_services
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Dependencies, isolated_config, running_stack
from s3tasks_testkit.web_visitor import visitor_id_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SESSION_COOKIE = "s3tasks_session"
SHORT_TTL_SECONDS = 5
DEFAULT_SWEEP_INTERVAL_SECONDS = 5.0


@dataclass
class Target:
    """A running web and a look into its bucket."""

    base_url: str
    s3: Minio
    bucket: str
    ttl_seconds: int | None = None
    #: the S3 endpoint's URL (where `direct` mode's browser goes)
    s3_url: str = ""
    #: the process ids of web and storage-api, on a stack the tests started (memory checks)
    pids: dict[str, int] = field(default_factory=dict)
    #: on a stack the tests started: its database and the folder its services log to (the
    #: checks that the server holds no plaintext of an encrypted file)
    database_url: str | None = None
    log_dir: Path | None = None

    def keys(self) -> set[str]:
        return backing_services.object_keys(self.s3, self.bucket)

    def keys_of(self, item_ids: list[str]) -> set[str]:
        """The objects (content and thumbnails) of these items that are in the bucket now."""
        return {key for key in self.keys() if any(item_id in key for item_id in item_ids)}

    def wait_for_keys_gone(self, item_ids: list[str]) -> None:
        """After the pages stopped showing them: the next sweep (beat's default interval,
        the longest a target of this suite may use) and one job."""
        wait_until(
            lambda: not self.keys_of(item_ids),
            timeout=sweep_patience(DEFAULT_SWEEP_INTERVAL_SECONDS),
            interval=0.2,
            message=f"objects of {item_ids} to leave the bucket",
        )


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _external_target() -> Target | None:
    base_url = _env("S3TASKS_E2E_BASE_URL")
    if base_url is None:
        return None
    missing = [
        name
        for name in (
            "S3TASKS_E2E_S3_ENDPOINT",
            "S3TASKS_E2E_S3_ACCESS_KEY",
            "S3TASKS_E2E_S3_SECRET_KEY",
            "S3TASKS_E2E_S3_BUCKET",
        )
        if _env(name) is None
    ]
    if missing:
        raise pytest.UsageError(f"S3TASKS_E2E_BASE_URL is set, so set {', '.join(missing)} too")
    endpoint = backing_services.S3Endpoint(
        url=os.environ["S3TASKS_E2E_S3_ENDPOINT"].rstrip("/"),
        access_key=os.environ["S3TASKS_E2E_S3_ACCESS_KEY"],
        secret_key=os.environ["S3TASKS_E2E_S3_SECRET_KEY"],
        region=_env("S3TASKS_E2E_S3_REGION") or "us-east-1",
    )
    ttl = _env("S3TASKS_E2E_TTL_SECONDS")
    return Target(
        base_url=base_url.rstrip("/"),
        s3=endpoint.client(),
        bucket=os.environ["S3TASKS_E2E_S3_BUCKET"],
        ttl_seconds=int(ttl) if ttl else None,
        s3_url=endpoint.url,
    )


@dataclass
class _OwnStack:
    """Whole stacks started by the tests, each on dependencies of its own."""

    dependencies: Dependencies

    def start(self, name: str, **overrides: object) -> Iterator[Target]:
        with (
            isolated_config(self.dependencies, f"e2e/{name}", **overrides) as config,
            running_stack(config) as stack,
        ):
            assert stack.web is not None
            assert stack.storage_api is not None
            yield Target(
                base_url=stack.web.url,
                s3=config.s3.client(),
                bucket=config.bucket,
                ttl_seconds=config.image_ttl_seconds,
                s3_url=config.s3.url,
                pids={"web": stack.web.pid, "storage-api": stack.storage_api.pid},
                database_url=config.database_url,
                log_dir=config.log_dir,
            )


@pytest.fixture(scope="session")
def _own_stacks(request: pytest.FixtureRequest) -> _OwnStack:
    # asked for only when no external target is set: S3 starts only if a test needs it
    return _OwnStack(request.getfixturevalue("dependencies"))


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The stack most tests share (each test is a new visitor, so they do not see each other)."""
    external = _external_target()
    if external is not None:
        yield external
        return
    own: _OwnStack = request.getfixturevalue("_own_stacks")
    yield from own.start("shared")


@pytest.fixture(scope="session")
def short_ttl_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """A stack whose items expire within seconds, with beat sweeping every second."""
    external = _external_target()
    if external is not None:
        if external.ttl_seconds is None or external.ttl_seconds > 60:
            pytest.skip("the running stack's TTL is long: set S3TASKS_E2E_TTL_SECONDS (≤ 60)")
        yield external
        return
    own: _OwnStack = request.getfixturevalue("_own_stacks")
    yield from own.start(
        "short-ttl",
        image_ttl_seconds=SHORT_TTL_SECONDS,
        file_ttl_seconds=SHORT_TTL_SECONDS,
        sweep_interval_seconds=1.0,
    )


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class BrowserVisitor:
    """One visitor: a browser context of its own, with its console watched for errors."""

    context: BrowserContext
    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Page:
        self.page.goto(f"{self.base_url}{path}")
        return self.page

    @property
    def visitor_id(self) -> str:
        for cookie in self.context.cookies():
            if cookie.get("name") == SESSION_COOKIE:
                return visitor_id_of(cookie.get("value", ""))
        raise AssertionError("no session cookie")


class Visitors:
    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.made: list[BrowserVisitor] = []

    def new(self, *, javascript: bool = True, service_workers: bool = True) -> BrowserVisitor:
        context = self.browser.new_context(
            java_script_enabled=javascript,
            viewport={"width": 1100, "height": 900},
            service_workers="allow" if service_workers else "block",
        )
        context.set_default_timeout(20_000)
        page = context.new_page()
        visitor = BrowserVisitor(context, page, self.base_url)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                visitor.console_errors.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: visitor.console_errors.append(f"{page.url}: {exc}"))
        self.made.append(visitor)
        return visitor

    def close(self) -> list[str]:
        errors = [error for visitor in self.made for error in visitor.console_errors]
        for visitor in self.made:
            visitor.context.close()
        return errors


def _watched_visitors(chromium: Browser, target: Target) -> Iterator[Visitors]:
    """Visitors of `target`; the test fails if any browser console showed an error."""
    made = Visitors(chromium, target.base_url)
    yield made
    errors = made.close()
    assert not errors, f"console errors: {errors}"


@pytest.fixture
def visitors(chromium: Browser, target: Target) -> Iterator[Visitors]:
    yield from _watched_visitors(chromium, target)


@pytest.fixture
def short_ttl_visitors(chromium: Browser, short_ttl_target: Target) -> Iterator[Visitors]:
    yield from _watched_visitors(chromium, short_ttl_target)


@pytest.fixture(scope="session")
def screenshots(artifacts_dir: Path) -> Path:
    path = artifacts_dir / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def unique(name: str) -> str:
    return f"{uuid.uuid4().hex[:6]}-{name}"


def share(page: Page, *, limit: str = "", password: str = "") -> str:
    """Create a link of the page's (first) item with the form as the owner fills it; its URL."""
    panel = page.locator("details.shares").first
    panel.locator("summary").click()
    if limit:
        panel.get_by_label("Download limit").fill(limit)
    if password:
        panel.get_by_label("Password").fill(password)
    with page.expect_navigation():
        panel.get_by_role("button", name="Create share link").click()
    expect(page.get_by_role("status")).to_contain_text("Share link created")
    url = page.locator("input.share-url").first.input_value()
    assert "/s/" in url
    return url


def ask_for_files(page: Page, *, files: str, message: str = "", password: str = "") -> str:
    """Make an upload request on My Files with the form as the owner fills it; its URL."""
    page.goto(page.url.split("/files")[0] + "/files")
    panel = page.locator("details#upload-requests")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    panel.get_by_label("Number of files").fill(files)
    if message:
        panel.get_by_label("Message to the sender").fill(message)
    if password:
        panel.get_by_label("Password").fill(password)
    with page.expect_navigation():
        panel.get_by_role("button", name="Create upload request").click()
    expect(page.get_by_role("status")).to_contain_text("Upload request made")
    url = page.locator("details#upload-requests input.share-url").first.input_value()
    assert "/r/" in url
    return url


def wait_loaded(images: Locator, condition: str = "img.naturalWidth > 0") -> None:
    """Wait (the context's timeout) until every image of `images` has loaded and meets
    `condition` (on `img`): read once, an image still on its way would look broken."""
    images.page.wait_for_function(
        f"(imgs) => imgs.length > 0 && imgs.every((img) => img.complete && {condition})",
        arg=images.element_handles(),
    )
