"""Upload requests in Chromium: the owner asks for files, a second browser without any cookie
sends three through the request's page (the page's script: several files at once, one of them
in parts), the owner's page shows them marked with the request and the notes, and each
downloads byte-identical. Run in both transfer modes (`make test-direct`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import Visitors, ask_for_files

pytestmark = pytest.mark.e2e

#: larger than a part (8 MiB here): sent in parts, to S3 (`direct`) or through web (`proxy`)
IN_PARTS_BYTES = 12 * 1024 * 1024


def test_a_sender_without_a_cookie_sends_three_files_the_owner_downloads_them(
    visitors: Visitors, tmp_path: Path
) -> None:
    owner = visitors.new()
    page = owner.open("/files")
    url = ask_for_files(page, files="3", message="The <b>slides</b>, please.")
    expect(page.locator(".request-received").first).to_contain_text("0 of 3 files, 0 bytes")

    sender = visitors.new()
    response = sender.page.goto(url)
    assert response is not None
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in response.headers["x-robots-tag"]
    expect(sender.page.locator(".request-message")).to_have_text("The <b>slides</b>, please.")
    expect(sender.page.locator(".request-left")).to_contain_text("0 of 3 files")
    contents = {
        "small.txt": b"a small one\n" * 100,
        "medium.bin": os.urandom(300 * 1024),
        "large.bin": os.urandom(IN_PARTS_BYTES),
    }
    paths = []
    for name, content in contents.items():
        (tmp_path / name).write_bytes(content)
        paths.append(str(tmp_path / name))
    sender.page.get_by_label("A note for them (optional)").fill("from Ann")
    sender.page.locator("#file").set_input_files(paths)
    sender.page.get_by_role("button", name="Upload", exact=True).click()
    queue = sender.page.locator(".queue li")
    expect(queue).to_have_count(3)
    for name in contents:
        expect(sender.page.locator(".queue li", has_text=name)).to_contain_text("Sent")
    assert sender.context.cookies() == []

    page = owner.open("/files")
    expect(page.locator(".request-received").first).to_contain_text("3 of 3 files")
    expect(page.locator("p.received")).to_have_count(3)
    expect(page.locator(".sender-note").first).to_have_text("from Ann")
    for name, content in contents.items():
        with page.expect_download() as download_info:
            page.get_by_role("link", name=f"Download {name}").click()
        got = Path(download_info.value.path()).read_bytes()
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(content).hexdigest(), name

    # used up: the sender's page is the one every ended link shows
    again = sender.page.goto(url)
    assert again is not None
    assert again.status == 404
    sender.console_errors[:] = [e for e in sender.console_errors if "status of 404" not in e]
