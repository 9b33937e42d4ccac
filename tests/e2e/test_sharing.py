"""Share links in Chromium: the owner shares, someone else (a browser with none of the owner's
cookies) opens the link, is refused, downloads, and finds it used up; the QR code decodes to
the link. Run in both transfer modes (`make test-direct` sets S3TASKS_TEST_TRANSFER=direct).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, Response, expect

from s3tasks_testkit.images import png
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import wait_until

from .conftest import SHORT_TTL_SECONDS, BrowserVisitor, Visitors, share, wait_loaded

pytestmark = pytest.mark.e2e

GONE = "This link does not exist or has expired."
PASSWORD = "correct horse"


def upload(visitor: BrowserVisitor, kind: str, file: Path, description: str = "") -> Page:
    page = visitor.open(f"/{kind}s")
    if kind == "file":
        page.get_by_label("Description").fill(description)
    page.locator("#file").set_input_files(str(file))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    return page


def refused(visitor: BrowserVisitor, *statuses: int) -> None:
    """The refusals a test provoked on purpose are in the console as failed loads: drop them."""
    visitor.console_errors[:] = [
        error
        for error in visitor.console_errors
        if not any(f"status of {status}" in error for status in statuses)
    ]


def download_with(page: Page, password: str) -> bytes:
    page.get_by_label("Password").fill(password)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download").click()
    return Path(download_info.value.path()).read_bytes()


def test_a_file_shared_with_a_limit_and_a_password(visitors: Visitors, tmp_path: Path) -> None:
    owner = visitors.new()
    content = os.urandom(300 * 1024)
    source = tmp_path / "plans.bin"
    source.write_bytes(content)
    page = upload(owner, "file", source, "the plans")
    url = share(page, limit="2", password=PASSWORD)
    expect(page.locator(".share-used").first).to_have_text("0 of 2 used")

    # the QR code shown is the link
    qr = page.locator(".qr-code svg").first
    shot = Image.open(io.BytesIO(qr.screenshot()))
    found = zxingcpp.read_barcodes(shot, formats=zxingcpp.BarcodeFormat.QRCode)
    decoded = [result.text for result in found]
    assert decoded == [url]

    friend = visitors.new()
    response = friend.page.goto(url)
    assert response is not None
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in response.headers["x-robots-tag"]
    expect(friend.page.get_by_role("heading", level=1)).to_have_text("Shared file")
    assert friend.context.cookies() == []

    friend.page.get_by_label("Password").fill("wrong horse")
    with friend.page.expect_navigation():
        friend.page.get_by_role("button", name="Download").click()
    expect(friend.page.get_by_role("alert")).to_have_text("Wrong password.")
    refused(friend, 403)

    digest = hashlib.sha256(content).hexdigest()
    assert hashlib.sha256(download_with(friend.page, PASSWORD)).hexdigest() == digest
    assert hashlib.sha256(download_with(friend.page, PASSWORD)).hexdigest() == digest

    friend.page.get_by_label("Password").fill(PASSWORD)
    with friend.page.expect_navigation():
        friend.page.get_by_role("button", name="Download").click()
    expect(friend.page.get_by_role("alert")).to_contain_text("used up")
    refused(friend, 410)
    assert friend.context.cookies() == []

    page.reload()
    expect(page.locator(".share-used").first).to_have_text("2 of 2 used")
    expect(page.locator(".share-state").first).to_have_text("used up")


def test_a_stopped_link_answers_the_not_found_page(visitors: Visitors, tmp_path: Path) -> None:
    owner = visitors.new()
    source = tmp_path / "short-lived.txt"
    source.write_text("not for long")
    page = upload(owner, "file", source, "brief")
    url = share(page)
    friend = visitors.new()
    opened = friend.page.goto(url)
    assert opened is not None
    assert opened.status == 200

    with page.expect_navigation():
        page.get_by_role("button", name="Stop sharing").click()
    expect(page.locator(".share-state").first).to_have_text("stopped")
    _assert_gone(friend, url)


def test_a_link_of_an_expired_item_answers_the_not_found_page(
    short_ttl_visitors: Visitors, tmp_path: Path
) -> None:
    owner = short_ttl_visitors.new()
    source = tmp_path / "ephemeral.txt"
    source.write_text("gone soon")
    url = share(upload(owner, "file", source, "ephemeral"))
    friend = short_ttl_visitors.new()

    def gone() -> bool:
        response = friend.context.request.get(url)
        return response.status == 404

    wait_until(gone, timeout=patience(SHORT_TTL_SECONDS), interval=0.5, message="the link ended")
    _assert_gone(friend, url)


def test_an_image_link_shows_its_preview(visitors: Visitors, tmp_path: Path) -> None:
    owner = visitors.new()
    image = tmp_path / "sunset.png"
    image.write_bytes(png(160, 120, (250, 120, 30)))
    url = share(upload(owner, "image", image))
    friend = visitors.new()
    friend.page.goto(url)
    preview = friend.page.get_by_role("img", name="Preview of sunset.png")
    expect(preview).to_be_visible()
    wait_loaded(preview)
    expect(friend.page.locator("dd.share-name")).to_have_text("sunset.png")
    assert friend.context.cookies() == []


def _assert_gone(friend: BrowserVisitor, url: str) -> None:
    response: Response | None = friend.page.goto(url)
    assert response is not None
    assert response.status == 404
    expect(friend.page.get_by_role("alert")).to_have_text(GONE)
    refused(friend, 404)
