"""Large uploads from Chromium through nginx as an ingress (`client_max_body_size 100m`), in
the stack's transfer mode (S3TASKS_TEST_TRANSFER): the upload script sends the file in parts,
each below the ingress's limit; a cut connection (the ingress stopped, `proxy`) or a reload
(`direct`, where the parts go to S3 and not through the ingress) resumes from the parts S3
holds; Cancel and "delete all" during an upload leave no open multipart upload and no object.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

from s3tasks_testkit import backing_services
from s3tasks_testkit.balancer import Balancer, nginx_available, nginx_ingress
from s3tasks_testkit.memory import PeakRss
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import TRANSFER_ENV

from .conftest import Target, _external_target, _OwnStack, ask_for_files

#: slow: 2 GiB written, sent, resumed and read back (about 3 minutes here, both modes alike)
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.heavy, pytest.mark.timeout(900)]

MIB = 1024 * 1024
#: the file sent: 2 GiB, the acceptance's size (300 MB is enough to develop with)
FILE_BYTES = 2048 * MIB
#: storage-api's default part size: the file goes in FILE_BYTES / PART_BYTES parts
PART_BYTES = 8 * MIB
#: a generous floor for the upload's rate on this loaded 2-core machine (bytes per second)
SLOWEST_BYTES_PER_SECOND = 10 * MIB
#: web's and storage-api's memory budget while the file passes (as in their memory tests)
MAX_GROWTH_MIB = 64
#: the upload deadline of the stack whose uploads expire while they arrive
UPLOAD_DEADLINE_SECONDS = 15
#: over the ingress's 100 MB: one request of it is refused by nginx (413)
OVER_THE_LIMIT = 150 * 1000 * 1000
_PART_IN_URL = re.compile(r"/parts/(\d+)$")


def _seconds_for(size: int) -> float:
    return patience(30 + size / SLOWEST_BYTES_PER_SECOND)


@dataclass
class IngressSite:
    """A stack of our own with nginx in front of web; the ingress can be stopped and started
    again on the same port (the same origin for the browser)."""

    target: Target
    web_port: int
    log_dir: Path
    transfer: str
    _ingress: ExitStack = field(default_factory=ExitStack)
    balancer: Balancer | None = None

    @property
    def url(self) -> str:
        assert self.balancer is not None
        return self.balancer.urls["web"]

    def start_ingress(self) -> None:
        port = urlsplit(self.url).port if self.balancer is not None else None
        self.balancer = self._ingress.enter_context(
            nginx_ingress(self.web_port, self.log_dir, port=port)
        )

    def stop_ingress(self) -> None:
        self._ingress.close()

    def open_uploads(self) -> int:
        return backing_services.open_multipart_uploads(self.target.s3, self.target.bucket)

    def objects(self) -> set[str]:
        return backing_services.object_keys(self.target.s3, self.target.bucket, "objects/")


@contextmanager
def _ingress_site(
    request: pytest.FixtureRequest, log_dir: Path, name: str, **env: str
) -> Iterator[IngressSite]:
    if _external_target() is not None:
        pytest.skip("puts nginx in front of a web of its own: runs on the tests' own stack")
    if not nginx_available():
        pytest.fail("nginx is not installed: `make install` installs it (Debian's nginx)")
    own: _OwnStack = request.getfixturevalue("_own_stacks")
    # the file limit (STORAGE_API_MAX_FILE_BYTES) raised to take the file, as an operator does
    extra_env = {"STORAGE_API_MAX_FILE_BYTES": str(2 * FILE_BYTES), **env}
    with contextmanager(own.start)(name, extra_env=extra_env, sweep_interval_seconds=1.0) as target:
        port = urlsplit(target.base_url).port
        assert port is not None
        found = IngressSite(
            target=target, web_port=port, log_dir=log_dir, transfer=_transfer_mode()
        )
        found.start_ingress()
        try:
            yield found
        finally:
            found.stop_ingress()


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, artifacts_dir: Path) -> Iterator[IngressSite]:
    with _ingress_site(request, artifacts_dir / "logs" / "ingress", "large-uploads") as found:
        yield found


@pytest.fixture(scope="module")
def short_deadline_site(
    request: pytest.FixtureRequest, artifacts_dir: Path
) -> Iterator[IngressSite]:
    """Uploads must finish within UPLOAD_DEADLINE_SECONDS; beat sweeps every second."""
    with _ingress_site(
        request,
        artifacts_dir / "logs" / "ingress-short-deadline",
        "large-uploads-short-deadline",
        STORAGE_API_UPLOAD_DEADLINE_SECONDS=str(UPLOAD_DEADLINE_SECONDS),
    ) as found:
        yield found


def _transfer_mode() -> str:
    return os.environ.get(TRANSFER_ENV, "proxy")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """FILE_BYTES of bytes that differ in every MiB, written once; (path, sha256)."""
    path = tmp_path_factory.mktemp("large") / "big.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for mib in range(FILE_BYTES // MIB):
            block = hashlib.sha256(mib.to_bytes(8, "big")).digest() * (MIB // 32)
            digest.update(block)
            out.write(block)
    return path, digest.hexdigest()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    made = chromium.new_context(viewport={"width": 1100, "height": 900})
    made.set_default_timeout(20_000)
    yield made
    made.close()


def _progress(page: Page) -> int:
    return int(page.eval_on_selector("#progress-file", "(bar) => bar.value"))


def _wait_for_progress(page: Page, percent: int) -> None:
    wait_until(
        lambda: _progress(page) >= percent,
        timeout=_seconds_for(FILE_BYTES),
        interval=0.1,
        message=f"the upload's progress to reach {percent}%",
    )


def _stored_parts(page: Page) -> list[int]:
    """Part numbers whose PUT (to S3 or to web) was answered 200, as the page sends them."""
    stored: list[int] = []

    def on_response(response: Response) -> None:
        request = response.request
        if request.method != "PUT" or response.status != 200:
            return
        if found := _PART_IN_URL.search(urlsplit(request.url).path):  # proxy: web's own URL
            stored.append(int(found.group(1)))
        elif numbers := parse_qs(urlsplit(request.url).query).get("partNumber"):  # direct: S3
            stored.append(int(numbers[0]))

    page.on("response", on_response)
    return stored


def _choose_and_send(page: Page, file: Path) -> None:
    page.locator("#file").set_input_files(str(file))
    page.get_by_role("button", name="Upload").click()


def _downloaded_digest(context: BrowserContext, site: IngressSite, page: Page) -> str:
    href = page.locator("a.download").get_attribute("href")
    assert href is not None
    cookies = {c["name"]: c["value"] for c in context.cookies() if "name" in c and "value" in c}
    digest = hashlib.sha256()
    with httpx.stream(
        "GET",
        # web's route (proxy mode) or S3's presigned GET (direct mode)
        urljoin(site.url, href),
        cookies=cookies,
        follow_redirects=True,
        timeout=_seconds_for(FILE_BYTES),
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def test_a_large_file_cut_off_midway_resumes_and_downloads_identical(
    site: IngressSite, context: BrowserContext, big_file: tuple[Path, str], screenshots: Path
) -> None:
    path, sent_digest = big_file
    page = context.new_page()
    stored = _stored_parts(page)
    page.goto(f"{site.url}/files")
    with PeakRss(site.target.pids) as rss:
        _choose_and_send(page, path)
        _wait_for_progress(page, 30)
        before_cut = set(stored)
        _cut_and_resume(site, page, path, screenshots)
        expect(page.get_by_role("status")).to_contain_text(
            "Uploaded big.bin", timeout=_seconds_for(FILE_BYTES) * 1000
        )
    page.screenshot(path=screenshots / "large-upload-done.png", full_page=True)
    parts = set(range(1, -(-FILE_BYTES // PART_BYTES) + 1))
    twice = [n for n, times in Counter(stored).items() if times > 1]
    assert twice == [], f"parts S3 held were sent again after resuming: {twice}"
    assert before_cut, "some parts arrived before the cut"
    assert set(stored) <= parts
    # a part S3 stored whose answer the cut lost is not sent again either: S3 lists it
    assert len(set(stored)) >= len(parts) - 4 * 2, "at most the parts in flight went unanswered"
    assert site.open_uploads() == 0
    for service in ("web", "storage-api"):
        growth = rss.growth_mib(service)
        print(f"{service} RSS growth during the {FILE_BYTES // MIB} MiB upload: {growth:.1f} MiB")
        assert growth < MAX_GROWTH_MIB, f"{service} grew {growth:.1f} MiB"
    assert _downloaded_digest(context, site, page) == sent_digest


def _cut_and_resume(site: IngressSite, page: Page, path: Path, screenshots: Path) -> None:
    if site.transfer == "proxy":
        # the parts come through the ingress: stopping it cuts the connection mid-part
        site.stop_ingress()
        expect(page.locator(".upload-error")).to_contain_text(
            "Press Upload to resume", timeout=_seconds_for(0) * 1000
        )
        page.screenshot(path=screenshots / "large-upload-connection-lost.png", full_page=True)
        site.start_ingress()
        page.get_by_role("button", name="Upload").click()
    else:
        # the parts go to S3 straight: the page is reloaded instead, and the file chosen again
        page.reload()
        expect(page.locator(".resume-hint")).to_be_visible()
        page.screenshot(path=screenshots / "large-upload-resume-hint.png", full_page=True)
        _choose_and_send(page, path)


def test_cancel_during_a_large_upload_aborts_it_at_once(
    site: IngressSite, context: BrowserContext, big_file: tuple[Path, str]
) -> None:
    path, _ = big_file
    before = site.objects()
    page = context.new_page()
    page.goto(f"{site.url}/files")
    _choose_and_send(page, path)
    _wait_for_progress(page, 10)
    assert site.open_uploads() == 1
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status")).to_contain_text("The upload was cancelled.")
    # at once: no settling needed, no job to wait for
    assert site.open_uploads() == 0
    assert site.objects() == before


def test_delete_all_during_a_large_upload_leaves_no_parts_and_no_object(
    site: IngressSite, context: BrowserContext, big_file: tuple[Path, str], screenshots: Path
) -> None:
    path, _ = big_file
    before = site.objects()
    page = context.new_page()
    page.goto(f"{site.url}/files")
    # a file kept already, so the page offers "delete all"
    small = path.with_name("small.txt")
    small.write_bytes(b"kept until deleted")
    with page.expect_navigation():
        _choose_and_send(page, small)
    expect(page.get_by_role("status")).to_contain_text("Uploaded small.txt")
    _choose_and_send(page, path)
    _wait_for_progress(page, 10)
    other_tab = context.new_page()
    other_tab.goto(f"{site.url}/files")
    other_tab.get_by_label("Yes, delete all my files").check()
    with other_tab.expect_navigation():
        other_tab.get_by_role("button", name="Delete all files").click()
    expect(other_tab.get_by_role("status")).to_contain_text("Deleted")
    # the uploading page learns it is gone (its next part is refused), and says so once
    # ("... was deleted by Delete all before it finished arriving" while its row is hidden,
    # "... no longer exists: it was deleted by Delete all, ..." once the purge removed it)
    expect(page.locator(".upload-error")).to_contain_text(
        "deleted by Delete all", timeout=_seconds_for(FILE_BYTES) * 1000
    )
    page.screenshot(path=screenshots / "large-upload-deleted.png", full_page=True)
    wait_until(
        lambda: site.open_uploads() == 0 and site.objects() == before,
        timeout=patience(30),
        interval=0.2,
        message="the deleted upload's parts and object to be gone",
    )
    expect(other_tab.get_by_text("No files yet")).to_be_visible()


def test_one_request_over_the_ingress_limit_without_javascript_is_explained(
    site: IngressSite, chromium: Browser, tmp_path: Path, screenshots: Path
) -> None:
    """The form without the script is one request: over the ingress's limit, nginx refuses it
    (413) and the visitor reads web's page saying why and what to do."""
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as out:
        out.truncate(OVER_THE_LIMIT)  # sparse: its size is what the ingress judges
    no_script = chromium.new_context(java_script_enabled=False)
    try:
        page = no_script.new_page()
        page.goto(f"{site.url}/files")
        page.locator("#file").set_input_files(str(huge))
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Upload").click()
        response = navigation.value
        assert response is not None
        assert response.status == 413
        expect(page.get_by_role("heading", name="Too large for one request")).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("sends large files in parts")
        page.screenshot(path=screenshots / "ingress-413.png", full_page=True)
    finally:
        no_script.close()


def test_an_upload_abandoned_past_its_deadline_is_swept_and_cannot_be_resumed(
    short_deadline_site: IngressSite,
    context: BrowserContext,
    big_file: tuple[Path, str],
    screenshots: Path,
) -> None:
    """The visitor leaves mid-upload: at the deadline the sweep aborts the multipart upload
    and removes the row, so S3 keeps no parts; coming back, the page says it cannot resume."""
    site = short_deadline_site
    path, _ = big_file
    before = site.objects()
    page = context.new_page()
    page.goto(f"{site.url}/files")
    _choose_and_send(page, path)
    _wait_for_progress(page, 2)
    assert site.open_uploads() == 1
    page.goto(f"{site.url}/images")  # gone: the page's requests are dropped mid-part
    wait_until(
        lambda: site.open_uploads() == 0 and site.objects() == before,
        timeout=patience(UPLOAD_DEADLINE_SECONDS + 30),
        interval=0.2,
        message="the expired upload's parts and object to be gone",
    )
    page.goto(f"{site.url}/files")
    expect(page.locator(".resume-hint")).to_be_visible()
    _choose_and_send(page, path)
    expect(page.locator(".upload-error")).to_have_text(
        "That upload can no longer be resumed. Press Upload to send the file again."
    )
    page.screenshot(path=screenshots / "large-upload-expired.png", full_page=True)
    assert site.open_uploads() == 0


#: a sender's file through an upload request: the issue's 300 MiB, cut and resumed
SENT_BYTES = 300 * MIB


@pytest.fixture(scope="module")
def sent_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """SENT_BYTES that differ in every MiB; (path, sha256)."""
    path = tmp_path_factory.mktemp("sent") / "sent.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for mib in range(SENT_BYTES // MIB):
            block = hashlib.sha256(b"sent" + mib.to_bytes(8, "big")).digest() * (MIB // 32)
            digest.update(block)
            out.write(block)
    return path, digest.hexdigest()


def test_a_sender_cut_off_midway_resumes_and_the_owner_downloads_it_identical(
    site: IngressSite,
    chromium: Browser,
    context: BrowserContext,
    sent_file: tuple[Path, str],
    screenshots: Path,
) -> None:
    """An upload request's page (no cookie) sends a large file in parts through the ingress;
    cut (`proxy`) or reloaded (`direct`) midway, it resumes from the parts S3 holds."""
    path, sent_digest = sent_file
    owner = context.new_page()
    owner.goto(f"{site.url}/files")
    link = ask_for_files(owner, files="3")
    sender_context = chromium.new_context(viewport={"width": 1100, "height": 900})
    sender_context.set_default_timeout(20_000)
    try:
        sender = sender_context.new_page()
        stored = _stored_parts(sender)
        # through the ingress, as the link's site is reached
        sender.goto(f"{site.url}{urlsplit(link).path}")
        _choose_and_send(sender, path)
        _wait_for_progress(sender, 30)
        _cut_and_resume(site, sender, path, screenshots)
        expect(sender.locator(".queue li").first).to_contain_text(
            "Sent sent.bin", timeout=_seconds_for(SENT_BYTES) * 1000
        )
        twice = [n for n, times in Counter(stored).items() if times > 1]
        assert twice == [], f"parts S3 held were sent again after resuming: {twice}"
        assert sender_context.cookies() == []
    finally:
        sender_context.close()
    assert site.open_uploads() == 0
    owner.goto(f"{site.url}/files")
    expect(owner.locator("p.received")).to_have_count(1)
    assert _downloaded_digest(context, site, owner) == sent_digest
