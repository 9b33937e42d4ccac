"""Files encrypted in Chromium ("Encrypt in this browser" on My Files, docs/encryption.md):
the bucket holds ciphertext only, which the Python decrypter (`s3tasks-decrypt`'s code) opens
byte for byte with the key the browser kept, with and without a key password; the owner's page
shows the name it decrypted, and share links carry the key after '#'. Both transfer modes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from s3tasks_ece.layout import PART_PLAINTEXT

from .conftest import BrowserVisitor, Target, Visitors, share, unique

pytestmark = pytest.mark.e2e

DESCRIPTION = "minutes of the board, not for the server"


def upload_encrypted(visitor: BrowserVisitor, file: Path, password: str = "") -> Page:
    page = visitor.open("/files")
    page.get_by_label("Description").fill(DESCRIPTION)
    page.get_by_label("Encrypt in this browser").check()
    if password:
        page.get_by_label("Key password").fill(password)
    page.locator("#file").set_input_files(str(file))
    with page.expect_navigation(timeout=120_000):
        page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("Uploaded an encrypted file")
    return page


def stored_object(target: Target, item_id: str) -> bytes:
    keys = [key for key in target.keys_of([item_id]) if key.startswith("objects/")]
    assert len(keys) == 1, keys
    response = target.s3.get_object(target.bucket, keys[0])
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


@pytest.mark.parametrize("password", ["", "river stone 7"])
def test_a_file_encrypted_in_chromium_is_ciphertext_in_the_bucket_and_decrypts_in_python(
    visitors: Visitors, target: Target, tmp_path: Path, password: str
) -> None:
    owner = visitors.new()
    content = os.urandom(PART_PLAINTEXT + 70_000)  # two parts: the second one's records too
    name = unique("board-minutes.pdf")
    source = tmp_path / name
    source.write_bytes(content)

    page = upload_encrypted(owner, source, password)
    card = page.locator("[data-encrypted-metadata]").first
    item_id = card.get_attribute("data-item-id")
    assert item_id
    # the server rendered a placeholder; this browser decrypted the name and description
    expect(card.locator(".encrypted-name")).to_have_text(name)
    expect(card.locator(".encrypted-description")).to_have_text(DESCRIPTION)
    assert name not in page.content().split("data-encrypted-metadata")[0]

    stored = stored_object(target, item_id)
    assert content[:4096] not in stored
    assert name.encode() not in stored
    kept = json.loads(page.evaluate("window.localStorage.getItem('s3tasks.item-keys')"))
    secret = kept[item_id]["secret"]

    encrypted = tmp_path / "object.bin"
    encrypted.write_bytes(stored)
    out = tmp_path / "decrypted.bin"
    command = [sys.executable, "-m", "s3tasks_ece.cli", "--key", secret, encrypted, out]
    if password:
        command.insert(-2, "--password")
    done = subprocess.run(
        command, input=password + "\n", capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == content

    link = share(page)
    expect(page.locator("input.share-url").first).to_have_value(re.compile(r"#[A-Za-z0-9_-]{22}$"))
    assert page.locator("input.share-url").first.input_value() == f"{link.split('#')[0]}#{secret}"


def shared_link(page: Page) -> str:
    """A link with a download limit of 1, once the page added the key after '#'."""
    share(page, limit="1")
    field = page.locator("input.share-url").first
    expect(field).to_have_value(re.compile(r"#[A-Za-z0-9_-]{22}$"))
    return field.input_value()


@pytest.mark.parametrize("password", ["", "river stone 7"])
def test_the_recipient_decrypts_through_the_link_and_a_wrong_key_counts_no_download(
    visitors: Visitors, tmp_path: Path, password: str
) -> None:
    owner = visitors.new()
    content = os.urandom(300 * 1024)
    name = unique("holiday-plans.txt")
    source = tmp_path / name
    source.write_bytes(content)
    link = shared_link(upload_encrypted(owner, source, password))

    recipient = visitors.new()  # a browser of its own: none of the owner's cookies
    page = recipient.open(link.replace(link.split("#")[1], "A" * 22).split(recipient.base_url)[1])
    state = page.locator(".encrypted-state")
    if password:
        page.get_by_label("Key password").fill(password)
        page.get_by_role("button", name="Open").click()
    expect(state).to_contain_text("nothing was downloaded or counted")
    expect(page.locator(".share-left")).to_have_text("1")

    page = recipient.open(link.split(recipient.base_url)[1])
    if password:
        page.get_by_label("Key password").fill("not the password")
        page.get_by_role("button", name="Open").click()
        expect(state).to_contain_text("The key password is wrong")
        page.get_by_label("Key password").fill(password)
        page.get_by_role("button", name="Open").click()
    expect(page.locator("dd.share-name")).to_have_text(name)
    expect(page.locator("dd.description")).to_have_text(DESCRIPTION)
    page.reload()  # looking, and decrypting the name, counted nothing
    expect(page.locator(".share-left")).to_have_text("1")
    if password:
        page.get_by_label("Key password").fill(password)
        page.get_by_role("button", name="Open").click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == name
    assert Path(download.path()).read_bytes() == content
    expect(state).to_contain_text("Decrypted and saved")

    used_up = recipient.open(link.split(recipient.base_url)[1])
    expect(used_up.locator("body")).to_contain_text("does not exist or has expired")
    # the used-up link's page answered 404 on purpose
    recipient.console_errors[:] = [e for e in recipient.console_errors if "404" not in e]
