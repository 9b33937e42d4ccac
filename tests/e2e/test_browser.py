"""What a visitor sees and does, in Chromium, against the whole stack."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from s3tasks_testkit.images import png
from s3tasks_testkit.patience import patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import TRANSFER_ENV

from .conftest import BrowserVisitor, Target, Visitors, wait_loaded

pytestmark = pytest.mark.e2e


ACCESSIBILITY_CHECK = """
() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("page has no title");
  if (document.querySelectorAll("h1").length !== 1) problems.push("expected exactly one h1");
  if (!document.querySelector("main")) problems.push("no main landmark");
  if (!document.querySelector("nav[aria-label]")) problems.push("no labelled navigation");
  for (const img of document.querySelectorAll("img")) {
    if (!(img.getAttribute("alt") || "").trim()) problems.push("img without alt: " + img.src);
  }
  for (const el of document.querySelectorAll("input, select, textarea, progress")) {
    if (el.type === "hidden") continue;
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`))
      || el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!labelled) problems.push("unlabelled " + el.tagName.toLowerCase() + "#" + el.id);
  }
  for (const el of document.querySelectorAll("a, button")) {
    const named = el.textContent.trim() || el.getAttribute("aria-label")
      || el.querySelector("img[alt]:not([alt=''])");
    if (!named) problems.push("unnamed " + el.tagName.toLowerCase());
  }
  const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
  for (const id of new Set(ids)) {
    if (ids.filter((other) => other === id).length > 1) problems.push("duplicate id " + id);
  }
  return problems;
}
"""


def png_file(directory: Path, name: str, colour: tuple[int, int, int]) -> Path:
    path = directory / name
    path.write_bytes(png(120, 90, colour))
    return path


def upload(visitor: BrowserVisitor, kind: str, file: Path, description: str | None = None) -> Page:
    page = visitor.open(f"/{kind}s")
    if description is not None:
        page.get_by_label("Description").fill(description)
    page.locator("#file").set_input_files(str(file))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    return page


def item_ids(page: Page) -> list[str]:
    ids: list[str] = page.locator(".gallery-item, .card.file").evaluate_all(
        "(items) => items.map((item) => item.dataset.itemId)"
    )
    return ids


def assert_accessible(page: Page) -> None:
    problems = page.evaluate(ACCESSIBILITY_CHECK)
    assert problems == [], f"{page.url}: {problems}"


def test_four_images_keep_the_three_newest(
    visitors: Visitors, target: Target, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new()
    page = visitor.open("/images")
    expect(page.get_by_text("No images yet")).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=screenshots / "images-empty.png", full_page=True)

    colours = [(220, 40, 40), (40, 160, 60), (40, 80, 200), (230, 170, 20)]
    first_ids: list[str] = []
    for n, colour in enumerate(colours):
        page = upload(visitor, "image", png_file(tmp_path, f"photo-{n}.png", colour))
        expect(page.get_by_role("status")).to_contain_text(f"Uploaded photo-{n}.png")
        if n == 0:
            first_ids = item_ids(page)

    thumbnails = page.locator(".gallery img")
    expect(thumbnails).to_have_count(3)
    alts = thumbnails.evaluate_all("(imgs) => imgs.map((img) => img.alt)")
    assert alts == [f"Thumbnail of photo-{n}.png" for n in (3, 2, 1)]
    wait_loaded(thumbnails)  # in direct mode each is a 303 and a GET from S3
    expect(page.locator(".gallery .meta").first).to_contain_text("left")
    assert_accessible(page)
    page.screenshot(path=screenshots / "images.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "images-mobile.png", full_page=True)

    kept = item_ids(page)
    assert len(kept) == 3
    assert first_ids[0] not in kept
    target.wait_for_keys_gone(first_ids)
    assert {f"objects/{item_id}" for item_id in kept} <= target.keys()


def test_file_with_description_downloads_byte_identical(
    visitors: Visitors, target: Target, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new()
    page = visitor.open("/files")
    expect(page.get_by_text("No files yet")).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=screenshots / "files-empty.png", full_page=True)

    content = bytes(range(256)) * 4096 + b"the end"
    source = tmp_path / "report.bin"
    source.write_bytes(content)
    page = upload(visitor, "file", source, description="quarterly numbers")
    expect(page.get_by_role("status")).to_contain_text("Uploaded report.bin")
    expect(page.locator("dd.description")).to_have_text("quarterly numbers")
    expect(page.locator("dd.size")).to_have_text("1 MiB")
    link = page.get_by_role("link", name="Download report.bin")
    expect(link).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=screenshots / "files.png", full_page=True)

    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "report.bin"
    saved = tmp_path / "downloaded.bin"
    download.save_as(saved)
    assert saved.read_bytes() == content
    assert any(key.startswith("objects/") for key in target.keys_of(item_ids(page)))


def test_delete_all_empties_the_pages_and_the_bucket(
    visitors: Visitors, target: Target, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new()
    upload(visitor, "image", png_file(tmp_path, "a.png", (10, 10, 10)))
    page = upload(visitor, "image", png_file(tmp_path, "b.png", (90, 90, 90)))
    image_ids = item_ids(page)
    assert len(image_ids) == 2
    note = tmp_path / "note.txt"
    note.write_text("delete me")
    page = upload(visitor, "file", note, description="temporary")
    file_ids = item_ids(page)
    assert len(file_ids) == 1
    assert target.keys_of(image_ids + file_ids)

    for kind, ids in (("image", image_ids), ("file", file_ids)):
        page = visitor.open(f"/{kind}s")
        page.get_by_label(f"Yes, delete all my {kind}s").check()
        page.screenshot(path=screenshots / f"{kind}s-delete-confirm.png", full_page=True)
        with page.expect_navigation():
            page.get_by_role("button", name=f"Delete all {kind}s").click()
        expect(page.get_by_role("status")).to_contain_text("Deleted")
        expect(page.get_by_text(f"No {kind}s yet")).to_be_visible()
        target.wait_for_keys_gone(ids)


def test_items_are_deleted_automatically(
    short_ttl_visitors: Visitors, short_ttl_target: Target, tmp_path: Path
) -> None:
    visitor = short_ttl_visitors.new()
    upload(visitor, "image", png_file(tmp_path, "brief.png", (200, 0, 200)))
    image_page_ids = item_ids(visitor.page)
    note = tmp_path / "brief.txt"
    note.write_text("gone soon")
    page = upload(visitor, "file", note, description="short-lived")
    ids = image_page_ids + item_ids(page)
    assert len(ids) == 2, "both uploads were shown before they expired"

    def pages_empty() -> bool:
        # the pages' HTML with the visitor's cookie, without loading their images: a thumbnail
        # listed a moment before its item expired answers 404 by the time a browser asks for it
        images = visitor.context.request.get(f"{visitor.base_url}/images").text()
        files = visitor.context.request.get(f"{visitor.base_url}/files").text()
        return "No images yet" in images and "No files yet" in files

    ttl = short_ttl_target.ttl_seconds or 5
    # pages hide an expired item at once; the sweep deletes it within an interval and a job
    wait_until(
        pages_empty, timeout=patience(ttl), interval=0.5, message="items to expire from the pages"
    )
    expect(visitor.open("/images").get_by_text("No images yet")).to_be_visible()
    expect(visitor.open("/files").get_by_text("No files yet")).to_be_visible()
    short_ttl_target.wait_for_keys_gone(ids)


def test_another_visitor_sees_nothing(visitors: Visitors, tmp_path: Path) -> None:
    first = visitors.new()
    page = upload(first, "image", png_file(tmp_path, "private.png", (1, 2, 3)))
    (image_id,) = item_ids(page)
    note = tmp_path / "private.txt"
    note.write_text("mine only")
    page = upload(first, "file", note, description="secret")
    (file_id,) = item_ids(page)

    second = visitors.new()
    assert second.open("/images").locator(".gallery img").count() == 0
    expect(second.page.get_by_text("No images yet")).to_be_visible()
    expect(second.open("/files").get_by_text("No files yet")).to_be_visible()
    assert second.visitor_id != first.visitor_id
    # web's routes of the first visitor's items (the pages' links in proxy mode, bookmarks in
    # direct mode, where the pages carry S3's links: tests/security covers those)
    for path in (
        f"/images/{image_id}/thumbnail",
        f"/images/{image_id}",
        f"/files/{file_id}/download",
    ):
        response = second.context.request.get(f"{second.base_url}{path}")
        assert response.status == 404


def test_a_non_image_renamed_jpg_is_refused(
    visitors: Visitors, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new()
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is a text file pretending to be a photo\n" * 20)
    page = upload(visitor, "image", fake)
    alert = page.locator(".flash-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(re.compile(r"not .*image|JPEG|PNG", re.IGNORECASE))
    expect(page.get_by_text("No images yet")).to_be_visible()
    page.screenshot(path=screenshots / "images-refused.png", full_page=True)


def test_too_large_is_caught_before_sending(visitors: Visitors, tmp_path: Path) -> None:
    visitor = visitors.new()
    page = visitor.open("/images")
    limit = int(page.locator("form.upload").get_attribute("data-max-bytes") or "0")
    big = tmp_path / "huge.png"
    with big.open("wb") as handle:
        handle.truncate(limit + 1)
    page.locator("#file").set_input_files(str(big))
    expect(page.locator(".upload-error")).to_contain_text("too large")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".upload-error")).to_contain_text("too large")
    expect(page.get_by_text("No images yet")).to_be_visible()


def test_upload_works_without_javascript(
    visitors: Visitors, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new(javascript=False)
    page = upload(visitor, "image", png_file(tmp_path, "nojs.png", (0, 120, 120)))
    expect(page.get_by_role("status")).to_contain_text("Uploaded nojs.png")
    expect(page.locator(".gallery img")).to_have_count(1)
    page = visitor.open("/images")
    page.get_by_label("Yes, delete all my images").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Delete all images").click()
    expect(page.get_by_text("No images yet")).to_be_visible()
    page.screenshot(path=screenshots / "images-nojs.png", full_page=True)


def test_every_page_is_accessible_and_quiet(visitors: Visitors, screenshots: Path) -> None:
    visitor = visitors.new()
    for path, name in (("/", "home"), ("/images", "images-page"), ("/files", "files-page")):
        page = visitor.open(path)
        expect(page.locator("h1")).to_be_visible()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        logo = page.get_by_role("img", name="s3tasks logo")
        expect(logo).to_be_visible()
        wait_loaded(logo)
        assert_accessible(page)
        page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    assert visitor.console_errors == []


def test_too_large_without_javascript_is_refused_by_the_server(
    visitors: Visitors, tmp_path: Path
) -> None:
    visitor = visitors.new(javascript=False)
    page = visitor.open("/images")
    limit = int(page.locator("form.upload").get_attribute("data-max-bytes") or "0")
    big = tmp_path / "huge.png"
    with big.open("wb") as handle:
        handle.truncate(limit + 1024 * 1024)
    page.locator("#file").set_input_files(str(big))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash-error")).to_contain_text("too large")
    expect(page.get_by_text("No images yet")).to_be_visible()


def test_an_uploaded_html_page_is_downloaded_never_rendered(
    visitors: Visitors, target: Target, tmp_path: Path
) -> None:
    """Uploaded bytes are data: a page with a script comes back as a download (attachment,
    a fixed content type), from the bucket's origin in `direct` mode, never rendered."""
    visitor = visitors.new()
    content = b"<html><body><script>document.title='ran'</script>rendered</body></html>"
    source = tmp_path / "page.html"
    source.write_bytes(content)
    page = upload(visitor, "file", source, description="a page")
    link = page.get_by_role("link", name="Download page.html")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    saved = tmp_path / "saved.html"
    download.save_as(saved)
    assert saved.read_bytes() == content
    assert download.suggested_filename == "page.html"
    assert page.title() != "ran"
    if os.environ.get(TRANSFER_ENV) == "direct":
        # the browser fetched it from S3 itself, with the link storage-api signed
        assert download.url.startswith(target.s3_url), download.url
    else:
        assert download.url.startswith(target.base_url), download.url


@pytest.mark.skipif(
    os.environ.get(TRANSFER_ENV) != "direct", reason="only in direct mode does the browser reach S3"
)
def test_s3_unreachable_from_the_browser_is_told_and_undone(
    visitors: Visitors, target: Target, tmp_path: Path
) -> None:
    """The browser cannot reach S3 (its network, not the site's): the script has web undo the
    upload, and the visitor reads the same words as when web itself cannot reach S3."""
    visitor = visitors.new()
    visitor.context.route(f"{target.s3_url}/**", lambda route: route.abort("connectionrefused"))
    source = tmp_path / "lost.bin"
    source.write_bytes(os.urandom(100_000))
    page = visitor.open("/files")
    page.locator("#file").set_input_files(str(source))
    with (
        page.expect_response(re.compile(r"/files/uploads/[0-9a-f-]{36}/abort\b")) as aborted,
        page.expect_navigation(),
    ):
        page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash-error")).to_contain_text("Storage is unavailable")
    expect(page.get_by_text("No files yet")).to_be_visible()
    item_id = re.search(r"/uploads/([0-9a-f-]{36})/", aborted.value.url)
    assert item_id is not None
    assert target.keys_of([item_id.group(1)]) == set()
    # the refused connection is the browser's own console error; nothing else is
    assert all("ERR_CONNECTION_REFUSED" in error for error in visitor.console_errors)
    visitor.console_errors.clear()
