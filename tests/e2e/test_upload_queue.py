"""Several files at once, in Chromium against the whole stack (in the stack's transfer mode,
S3TASKS_TEST_TRANSFER): dropped anywhere on the page, pasted, chosen with the keyboard; each
with its own row, progress, Cancel and outcome."""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from pathlib import Path

import pytest
from playwright.sync_api import FileChooser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from s3tasks_testkit import backing_services
from s3tasks_testkit.images import png

from .conftest import Target, Visitors, wait_loaded
from .test_browser import item_ids

pytestmark = pytest.mark.e2e

#: a file sent in parts (over storage-api's 8 MiB part size): long enough to cancel midway
LARGE_BYTES = 192 * 1024 * 1024
#: the most presses of Tab to reach any control of the pages
MOST_TABS = 40
#: the keys that open a focused file input's chooser, tried in turn, each waited for this long
CHOOSER_KEYS = ("Space", "Enter", "Space")
CHOOSER_WAIT_MS = 10_000

# A drop or a paste as the browser makes them: a DataTransfer carrying Files (built in the
# page from the bytes the test passes), dispatched where a visitor's would land.
_TRANSFER = """
({ event, files }) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, { type: f.type, lastModified: Date.now() }));
  }
  if (event === "paste") {
    document.dispatchEvent(
      new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true })
    );
    return;
  }
  const over = document.querySelector("main");
  for (const type of ["dragenter", "dragover", "drop"]) {
    over.dispatchEvent(
      new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true })
    );
  }
}
"""

# Every value each row's progress bar takes, told to the test as it happens (the rows are
# gone once the page is shown again after the queue).
_WATCH_PROGRESS = """
() => new MutationObserver((changes) => {
  for (const change of changes) {
    const bar = change.target;
    if (bar.tagName === "PROGRESS" && bar.closest(".queue-item")) {
      window.progressSeen(bar.getAttribute("aria-label"), bar.value);
    }
  }
}).observe(document.querySelector("form.upload"), {
  attributes: true, subtree: true, attributeFilter: ["value"],
})
"""


def _send(page: Page, event: str, files: list[tuple[str, str, bytes]]) -> None:
    payload = [
        {"name": name, "type": kind, "base64": base64.b64encode(data).decode("ascii")}
        for name, kind, data in files
    ]
    page.evaluate(_TRANSFER, {"event": event, "files": payload})


def _report_row(page: Page, name: str) -> Locator:
    return page.locator(".upload-report .queue-item").filter(has_text=name)


def _watch_progress(page: Page) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    page.expose_function(
        "progressSeen", lambda label, value: seen[label.removeprefix("Upload of ")].append(value)
    )
    page.evaluate(_WATCH_PROGRESS)
    return seen


def _colour(n: int) -> tuple[int, int, int]:
    return (40 * n % 256, 200 - 30 * n, 90 + 25 * n)


def test_five_images_dropped_at_once_upload_and_the_three_newest_stay(
    visitors: Visitors, target: Target, screenshots: Path
) -> None:
    visitor = visitors.new()
    page = visitor.open("/images")
    page.set_viewport_size({"width": 1280, "height": 900})
    names = [f"dropped-{n}.png" for n in range(5)]
    _send(
        page,
        "drop",
        [(name, "image/png", png(160, 120, _colour(n))) for n, name in enumerate(names)],
    )

    rows = page.locator("form.upload .queue-item")
    expect(rows).to_have_count(5)
    previews = page.locator("form.upload img.preview")
    expect(previews).to_have_count(5)
    # each image shows its preview, made in the page
    wait_loaded(previews, "img.src.startsWith('blob:') && img.naturalWidth === 160")
    # said before sending: which of them will not stay
    expect(page.locator("form.upload .keep-note")).to_have_text(
        "Only your 3 newest images are kept: of the 5 to send, dropped-0.png, dropped-1.png"
        " will be replaced by the 3 sent after them."
    )
    page.screenshot(path=screenshots / "queue-images-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "queue-images-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    progress = _watch_progress(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Upload", exact=True).click()

    assert sorted(progress) == sorted(names)
    assert all(values[-1] == 100 for values in progress.values()), progress
    report = page.get_by_role("status")
    for name in names:
        expect(_report_row(page, name)).to_contain_text(re.compile(rf"Uploaded {name} \("))
    expect(report).to_contain_text(
        "Only your 3 newest images are kept: dropped-0.png, dropped-1.png were replaced by"
        " the 3 uploaded after them."
    )
    thumbnails = page.locator(".gallery img")
    expect(thumbnails).to_have_count(3)
    assert thumbnails.evaluate_all("(imgs) => imgs.map((img) => img.alt)") == [
        f"Thumbnail of dropped-{n}.png" for n in (4, 3, 2)
    ]
    kept = item_ids(page)
    assert {f"objects/{item_id}" for item_id in kept} <= target.keys()
    page.screenshot(path=screenshots / "my-images-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "my-images-390.png", full_page=True)


def test_a_pasted_png_uploads(visitors: Visitors, target: Target) -> None:
    visitor = visitors.new()
    page = visitor.open("/images")
    _send(page, "paste", [("pasted.png", "image/png", png(64, 64, (0, 128, 255)))])
    expect(page.locator("form.upload .queue-item")).to_have_count(1)
    expect(page.get_by_role("img", name="Preview of pasted.png")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Uploaded pasted.png")
    expect(page.get_by_role("img", name="Thumbnail of pasted.png")).to_be_visible()
    assert {f"objects/{item_id}" for item_id in item_ids(page)} <= target.keys()


def test_one_file_of_a_queue_cancelled_while_the_others_finish(
    visitors: Visitors, target: Target, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new()
    page = visitor.open("/files")
    first, last = tmp_path / "first.txt", tmp_path / "last.txt"
    first.write_text("sent before the large one")
    last.write_text("sent after it was cancelled")
    large = tmp_path / "large.bin"
    with large.open("wb") as out:
        out.truncate(LARGE_BYTES)
    page.locator("#file").set_input_files([str(first), str(large), str(last)])
    expect(page.locator("form.upload .queue-item")).to_have_count(3)

    page.get_by_role("button", name="Upload", exact=True).click()
    large_row = page.locator("form.upload .queue-item").filter(has_text="large.bin")
    expect(large_row.get_by_role("progressbar")).not_to_have_js_property("value", 0)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=screenshots / "my-files-1280.png", full_page=True)
    abort = re.compile(r"/files/uploads/[0-9a-f-]{36}/abort\b")
    with page.expect_response(abort) as aborted, page.expect_navigation():
        large_row.get_by_role("button", name="Cancel").click()
    found = re.search(r"/uploads/([0-9a-f-]{36})/", aborted.value.url)
    assert found is not None
    cancelled_id = found.group(1)

    expect(_report_row(page, "first.txt")).to_contain_text("Uploaded first.txt")
    expect(_report_row(page, "large.bin")).to_contain_text("The upload was cancelled.")
    expect(_report_row(page, "last.txt")).to_contain_text("Uploaded last.txt")
    expect(page.get_by_role("link", name="Download last.txt")).to_be_visible()
    # nothing of the cancelled one is left: no object, no open multipart upload
    assert target.keys_of([cancelled_id]) == set()
    assert backing_services.open_multipart_uploads(target.s3, target.bucket) == 0
    assert {f"objects/{item_id}" for item_id in item_ids(page)} <= target.keys()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "my-files-390.png", full_page=True)


def test_one_refused_file_in_a_queue_of_three_says_why_and_the_others_are_stored(
    visitors: Visitors, target: Target, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new()
    page = visitor.open("/images")
    fake = tmp_path / "notes.jpg"
    fake.write_text("a text file that calls itself a photo\n" * 20)
    good = []
    for n in (1, 2):
        path = tmp_path / f"good-{n}.png"
        path.write_bytes(png(80, 60, _colour(n)))
        good.append(path)
    page.locator("#file").set_input_files([str(good[0]), str(fake), str(good[1])])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload", exact=True).click()

    refused = _report_row(page, "notes.jpg")
    # the words of the page without the script
    expect(refused.locator(".flash-error")).to_have_text(
        "This is not a JPEG, PNG, GIF or WebP image."
    )
    for n in (1, 2):
        expect(_report_row(page, f"good-{n}.png")).to_contain_text(f"Uploaded good-{n}.png")
    thumbnails = page.locator(".gallery img")
    expect(thumbnails).to_have_count(2)
    kept = item_ids(page)
    assert len(kept) == 2
    assert {f"objects/{item_id}" for item_id in kept} <= target.keys()
    page.screenshot(path=screenshots / "queue-refused.png", full_page=True)


def _tab_to(page: Page, selector: str) -> None:
    """Tab (only) until the control that `selector` names has the focus."""
    for _ in range(MOST_TABS):
        if page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached with {MOST_TABS} presses of Tab")


def _choose_with_the_keyboard(page: Page) -> FileChooser:
    """The focused file input's chooser, opened as a keyboard user does: Space, or Enter.

    Chromium opens it on Space's keyup only if the input is still "active" from the keydown, and
    only within the transient user activation that the keypress gave; on a loaded machine CI saw
    that one press open nothing (stop 31). Each attempt is one key; none is a click."""
    for key in CHOOSER_KEYS:
        try:
            with page.expect_file_chooser(timeout=CHOOSER_WAIT_MS) as chooser:
                page.keyboard.press(key)
        except PlaywrightTimeoutError:
            assert page.evaluate("() => document.activeElement.id") == "file", "focus left #file"
            continue
        return chooser.value
    raise AssertionError(f"no file chooser opened with any of {CHOOSER_KEYS} on #file")


def test_upload_cancel_and_delete_with_the_keyboard_only(
    visitors: Visitors, target: Target, tmp_path: Path
) -> None:
    visitor = visitors.new()
    page = visitor.open("/images")
    kept, dropped = tmp_path / "kept.png", tmp_path / "dropped.png"
    kept.write_bytes(png(50, 50, (10, 120, 10)))
    dropped.write_bytes(png(50, 50, (120, 10, 10)))

    _tab_to(page, "#file")
    _choose_with_the_keyboard(page).set_files([str(kept), str(dropped)])
    expect(page.locator("form.upload .queue-item")).to_have_count(2)

    _tab_to(page, ".queue-item:nth-child(2) button.cancel")
    page.keyboard.press("Enter")
    expect(page.locator("form.upload .queue-item")).to_have_count(1)
    expect(page.get_by_text("dropped.png removed from the queue.")).to_be_attached()
    # the focus went back to the file chooser, not to the top of the page
    assert page.evaluate("() => document.activeElement.id") == "file"

    _tab_to(page, "form.upload button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Uploaded kept.png")
    # the focus is on what happened
    assert page.evaluate("() => document.activeElement.classList.contains('upload-report')")
    expect(page.locator(".gallery img")).to_have_count(1)
    ids = item_ids(page)

    _tab_to(page, "#confirm-image")
    page.keyboard.press("Space")
    _tab_to(page, ".danger-button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Deleted")
    expect(page.get_by_text("No images yet")).to_be_visible()
    target.wait_for_keys_gone(ids)
