"""axe-core (Deque's accessibility engine, from the frontend's devDependencies) on every page a
visitor can reach, in each state worth seeing, at a desktop's width and a phone's: no serious
or critical violation. A new page is one more entry in PAGES."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from s3tasks_testkit.images import png

from .conftest import BrowserVisitor, Visitors, ask_for_files, share
from .test_encrypted_uploads import shared_link, upload_encrypted

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "services/web/frontend/node_modules/axe-core/axe.min.js"
WIDTHS = (1280, 390)
#: the impacts that fail the test (axe's others: minor, moderate)
FAILING = ("serious", "critical")
SHARE_PASSWORD = "correct horse"

# axe's WCAG 2.0-2.2 A and AA rules and its best practices, with the target-size rule (2.2 AA:
# 24 px targets) that axe leaves off by default.
_RUN_AXE = """
() => axe.run(document, {
  resultTypes: ["violations"],
  rules: { "target-size": { enabled: true } },
}).then((results) => results.violations.map((v) => ({
  id: v.id, impact: v.impact, help: v.help,
  targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
})))
"""


@dataclass(frozen=True)
class PageState:
    """A page as a visitor sees it: `open` brings the visitor's browser there."""

    name: str
    open: Callable[[BrowserVisitor, Path], Page]


def _empty(path: str) -> Callable[[BrowserVisitor, Path], Page]:
    return lambda visitor, _: visitor.open(path)


def _error_page(path: str, status: int) -> Callable[[BrowserVisitor, Path], Page]:
    def open_error(visitor: BrowserVisitor, _: Path) -> Page:
        page = visitor.open(path)
        expect(page.get_by_role("alert")).to_be_visible()
        _expect_refused(visitor, status)
        return page

    return open_error


def _expect_refused(visitor: BrowserVisitor, status: int) -> None:
    """The browser logs the page's status as a console error: expected here, and only it."""
    said = f"the server responded with a status of {status}"
    assert any(said in error for error in visitor.console_errors), visitor.console_errors
    visitor.console_errors[:] = [e for e in visitor.console_errors if said not in e]


def _uploaded(path: str, names: list[str]) -> Callable[[BrowserVisitor, Path], Page]:
    """The page after an upload with the script: items, and the queue's outcome above them."""

    def open_full(visitor: BrowserVisitor, tmp_path: Path) -> Page:
        page = visitor.open(path)
        files = []
        for n, name in enumerate(names):
            file = tmp_path / name
            file.write_bytes(png(90, 60, (60 * n, 90, 160)))
            files.append(str(file))
        page.locator("#file").set_input_files(files)
        with page.expect_navigation():
            page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator(".upload-report")).to_be_visible()
        return page

    return open_full


def _queued(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    """Files chosen, waiting with their previews, the note on the images kept, one refused."""
    page = visitor.open("/images")
    limit = int(page.locator("form.upload").get_attribute("data-max-bytes") or "0")
    big = tmp_path / "too-big.png"
    with big.open("wb") as out:
        out.truncate(limit + 1)
    files = [big]
    for n in range(4):
        file = tmp_path / f"queued-{n}.png"
        file.write_bytes(png(90, 60, (200, 40 * n, 90)))
        files.append(file)
    page.locator("#file").set_input_files([str(f) for f in files])
    expect(page.locator(".keep-note")).to_be_visible()
    return page


def _csrf_refused(visitor: BrowserVisitor, _: Path) -> Page:
    """A form sent without the page's token: the error page web shows."""
    page = visitor.open("/images")
    with page.expect_navigation():
        page.evaluate(
            """() => {
              const form = document.createElement("form");
              form.method = "post";
              form.action = "/images/delete";
              document.body.append(form);
              form.submit();
            }"""
        )
    expect(page.get_by_role("alert")).to_be_visible()
    _expect_refused(visitor, 403)
    return page


def _shared(
    visitor: BrowserVisitor, tmp_path: Path, password: str = SHARE_PASSWORD
) -> tuple[Page, str]:
    """An image uploaded and shared with a limit of one download (and a password)."""
    page = _uploaded("/images", ["shared.png"])(visitor, tmp_path)
    return page, share(page, limit="1", password=password)


def _owner_with_link(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    """The owner's page with the link's row open: its counts, URL, copy button and QR code."""
    page, _ = _shared(visitor, tmp_path)
    panel = page.locator("details.shares").first
    if panel.get_attribute("open") is None:  # the page may come back with it open
        panel.locator("summary").click()
    expect(page.locator("input.share-url").first).to_be_visible()
    return page


def _link_page(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    """The link's own page as whoever was given it sees it: the image's preview."""
    page, url = _shared(visitor, tmp_path, password="")
    page.goto(url)
    expect(page.get_by_role("img", name="Preview of shared.png")).to_be_visible()
    return page


def _link_password_page(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    """A link with a password: its form first (no preview before the password)."""
    page, url = _shared(visitor, tmp_path)
    page.goto(url)
    expect(page.get_by_label("Password")).to_be_visible()
    return page


def _link_wrong_password(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    page = _link_password_page(visitor, tmp_path)
    page.get_by_label("Password").fill("not the password")
    with page.expect_navigation():
        page.get_by_role("button", name="Download").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    _expect_refused(visitor, 403)
    return page


def _link_used_up(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    """A link without a password after its one download (no password attempt spent: the
    sharing tests of the same stack need the per-client attempts)."""
    page = _link_page(visitor, tmp_path)
    with page.expect_download():
        page.get_by_role("button", name="Download").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Download").click()
    expect(page.get_by_role("alert")).to_contain_text("used up")
    _expect_refused(visitor, 410)
    return page


def _request_page(visitor: BrowserVisitor, _: Path) -> Page:
    """An upload request's page as its sender sees it: the owner's message, what is left, the
    upload form (a request made by an owner of its own, opened in the same browser: the page
    reads no cookie, so it is the sender's page all the same)."""
    page = visitor.open("/files")
    url = ask_for_files(page, files="5", message="The slides from Monday, please.")
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Send files")
    return page


def _request_password_page(visitor: BrowserVisitor, _: Path) -> Page:
    page = visitor.open("/files")
    url = ask_for_files(page, files="2", password=SHARE_PASSWORD)
    page.goto(url)
    expect(page.get_by_label("Password")).to_be_visible()
    return page


def _owner_with_request(visitor: BrowserVisitor, _: Path) -> Page:
    """My Files with its "Ask for files" panel open: a request's link, counts and QR code."""
    page = visitor.open("/files")
    ask_for_files(page, files="3")
    expect(page.locator("details#upload-requests input.share-url").first).to_be_visible()
    return page


def _encrypted_owner(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    """My Files with a file encrypted in the browser: its decrypted name, the link's key note."""
    source = tmp_path / "sealed-notes.txt"
    source.write_bytes(b"notes only the recipient reads\n" * 100)
    page = upload_encrypted(visitor, source, password="")
    shared_link(page)
    expect(page.locator(".key-note").first).to_be_visible()
    expect(page.locator(".encrypted-name").first).to_have_text("sealed-notes.txt")
    return page


def _encrypted_link(visitor: BrowserVisitor, tmp_path: Path) -> Page:
    """An encrypted file's link page with a key password asked for, as a recipient sees it."""
    source = tmp_path / "sealed-plan.txt"
    source.write_bytes(b"the plan\n" * 100)
    url = shared_link(upload_encrypted(visitor, source, password="key words"))
    page = visitor.open("/s/" + url.split("/s/", 1)[1])
    expect(page.get_by_label("Key password")).to_be_visible()
    return page


PAGES = [
    PageState("images-empty", _empty("/images")),
    PageState("images-queued", _queued),
    PageState("images-full", _uploaded("/images", ["a.png", "b.png", "c.png", "d.png"])),
    PageState("files-empty", _empty("/files")),
    PageState("files-full", _uploaded("/files", ["report.png"])),
    PageState("not-found", _error_page("/no-such-page", 404)),
    PageState("not-allowed", _csrf_refused),
    PageState("images-shared", _owner_with_link),
    PageState("link", _link_page),
    PageState("link-password", _link_password_page),
    PageState("link-wrong-password", _link_wrong_password),
    PageState("link-used-up", _link_used_up),
    PageState("files-asking", _owner_with_request),
    PageState("request", _request_page),
    PageState("request-password", _request_password_page),
    PageState("files-encrypted", _encrypted_owner),
    PageState("link-encrypted", _encrypted_link),
]


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is not installed: `make assets` installs the frontend's packages")
    return AXE.read_text()


@pytest.mark.parametrize("state", PAGES, ids=[state.name for state in PAGES])
def test_no_serious_or_critical_accessibility_violation(
    state: PageState, axe_source: str, visitors: Visitors, tmp_path: Path, screenshots: Path
) -> None:
    visitor = visitors.new()
    page = state.open(visitor, tmp_path)
    page.evaluate(axe_source)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        violations = page.evaluate(_RUN_AXE)
        failing = [v for v in violations if v["impact"] in FAILING]
        page.screenshot(path=screenshots / f"axe-{state.name}-{width}.png", full_page=True)
        assert failing == [], f"{state.name} at {width} px: {failing}"
