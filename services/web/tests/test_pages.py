"""Web's pages, forms, cookies and headers against a real storage-api."""

from __future__ import annotations

import dataclasses
import html
import re
import uuid

import httpx
import pytest

from s3tasks_testkit import backing_services
from s3tasks_testkit.images import png
from s3tasks_testkit.metrics import Growth
from s3tasks_testkit.processes import bind_loopback
from s3tasks_testkit.stack import Stack, service_process
from s3tasks_testkit.web_visitor import WebVisitor

from .conftest import MAX_IMAGE_BYTES

PAGES = ["/images", "/files", "/static/style.css", "/static/logo.svg", "/healthz", "/nope"]


def _thumbnails(page: str) -> list[tuple[str, str]]:
    """(URL, filename) of each thumbnail: web's route in proxy mode, S3's link in direct mode."""
    found = re.findall(r'<img src="([^"]+)" alt="Thumbnail of ([^"]+)"', page)
    return [(html.unescape(url), name) for url, name in found]


def _download_path(visitor: WebVisitor, page: str) -> str:
    """web's download route of the page's file (it answers in both modes: 303 to S3 in direct)."""
    item_id = visitor.latest_file_id_in(page)
    assert item_id is not None, "the page offers the upload for download"
    return f"/files/{item_id}/download"


def test_root_redirects_to_my_images(visitor: WebVisitor) -> None:
    response = visitor.http.get("/")
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"] == "/images"


@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(visitor: WebVisitor, path: str) -> None:
    response = visitor.http.get(path)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # development


def test_blob_urls_are_admitted_for_images_only(visitor: WebVisitor) -> None:
    """The upload queue's previews are object URLs; no script, frame or fetch may use one."""
    csp = visitor.http.get("/images").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert "blob:" in directives["img-src"].split()
    assert [name for name, sources in directives.items() if "blob:" in sources] == ["img-src"]


def test_pages_have_no_inline_script_or_style(visitor: WebVisitor) -> None:
    for path in ("/images", "/files"):
        html = visitor.page(path)
        assert "<script>" not in html
        assert "<script " not in html.replace("<script src=", "")
        assert "style=" not in html
        assert "<style" not in html


def test_static_files_are_cached(visitor: WebVisitor) -> None:
    html = visitor.page("/images")
    css = re.search(r'href="(/static/style\.css\?v=[0-9a-f]+)"', html)
    assert css is not None
    response = visitor.http.get(css.group(1))
    assert response.status_code == 200
    assert "max-age=" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("text/css")


def test_session_cookie_flags(visitor: WebVisitor) -> None:
    response = visitor.http.get("/images")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("s3tasks_session=")
    flags = [flag.strip().lower() for flag in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # only with S3TASKS_ENV=production


def test_empty_states(visitor: WebVisitor) -> None:
    assert "No images yet" in visitor.page("/images")
    assert "No files yet" in visitor.page("/files")


def test_the_footer_says_who_else_may_see_an_item(visitor: WebVisitor) -> None:
    """Not "only you": whoever holds a link its owner made downloads the item too."""
    for path in ("/images", "/files"):
        (footer,) = re.findall(
            r'<footer class="site-footer">(.*?)</footer>', visitor.page(path), re.S
        )
        words = " ".join(re.sub(r"<[^>]+>", " ", footer).split())
        assert words == (
            "Everything you upload is deleted automatically. Only you can see your items, and "
            "whoever holds a share link you made can download the item it shares."
        )


@pytest.mark.parametrize(
    "path", ["/images/upload", "/files/upload", "/images/delete", "/files/delete"]
)
def test_post_without_csrf_token_is_refused(visitor: WebVisitor, path: str) -> None:
    visitor.page("/images")
    response = visitor.http.post(path, files={"file": ("a.png", png(), "image/png")})
    assert response.status_code == 403
    assert "Reload the page" in response.text


def test_post_with_another_visitors_token_is_refused(
    visitor: WebVisitor, other_visitor: WebVisitor
) -> None:
    token = other_visitor.csrf_token()
    visitor.page("/images")
    response = visitor.http.post(
        "/images/upload",
        params={"csrf": token},
        files={"file": ("a.png", png(), "image/png")},
    )
    assert response.status_code == 403


def test_cross_site_post_is_refused_even_with_a_token(visitor: WebVisitor) -> None:
    token = visitor.csrf_token()
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = visitor.http.post(
            "/images/delete", params={"csrf": token}, data={"confirm": "yes"}, headers=headers
        )
        assert response.status_code == 403


def test_header_token_is_accepted(visitor: WebVisitor) -> None:
    token = visitor.csrf_token()
    response = visitor.http.post(
        "/images/upload",
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
        files={"file": ("h.png", png(), "image/png")},
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": 200, "redirect": "/images"}
    assert "Uploaded h.png" in visitor.page("/images")


def test_four_images_keep_the_three_newest_as_thumbnails(visitor: WebVisitor) -> None:
    for n in range(4):
        response = visitor.upload(
            "image", f"pic{n}.png", png(colour=(n * 60, 10, 10)), script=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/images"
    html = visitor.page("/images")
    names = [name for _, name in _thumbnails(html)]
    assert names == ["pic3.png", "pic2.png", "pic1.png"]
    thumb = visitor.get(_thumbnails(html)[0][0])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert "left" in html


def test_file_round_trip_with_description_and_range(visitor: WebVisitor) -> None:
    content = bytes(range(256)) * 1000
    response = visitor.upload("file", "data.bin", content, description="my test data", script=False)
    assert response.status_code == 303
    html = visitor.page("/files")
    assert "Uploaded data.bin" in html
    assert "my test data" in html
    assert "250 KiB" in html
    link = _download_path(visitor, html)
    full = visitor.get(link)
    assert full.status_code == 200
    assert full.content == content
    assert "attachment" in full.headers["content-disposition"]
    assert full.headers["content-length"] == str(len(content))
    partial = visitor.get(link, headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206
    assert partial.content == content[10:20]
    assert partial.headers["content-range"] == f"bytes 10-19/{len(content)}"


def test_visitors_see_only_their_own_items(visitor: WebVisitor, other_visitor: WebVisitor) -> None:
    visitor.upload("image", "mine.png", png(), script=False)
    visitor.upload("file", "mine.txt", b"secret", description="private", script=False)
    (image_id,) = visitor.image_ids()
    assert "No images yet" in other_visitor.page("/images")
    assert "No files yet" in other_visitor.page("/files")
    # web's own routes for them (a page in direct mode links S3: tests/security/test_page_links)
    assert other_visitor.http.get(f"/images/{image_id}/thumbnail").status_code == 404
    download = _download_path(visitor, visitor.page("/files"))
    assert other_visitor.http.get(download).status_code == 404


def test_tampered_cookie_makes_a_new_visitor(visitor: WebVisitor) -> None:
    visitor.upload("image", "kept.png", png(), script=False)
    assert "kept.png" in visitor.page("/images")
    original = visitor.http.cookies["s3tasks_session"]
    payload, _, signature = original.partition(".")
    tampered = f"{payload[:-2]}AA.{signature}"
    visitor.http.cookies.clear()
    visitor.http.cookies.set("s3tasks_session", tampered)
    response = visitor.http.get("/images")
    assert response.status_code == 200
    assert "kept.png" not in response.text
    assert "No images yet" in response.text
    assert "s3tasks_session=" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    ("kind", "filename", "content", "expected"),
    [
        ("image", "fake.jpg", b"this is plain text, not a JPEG" * 10, "not"),
        ("image", "big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (MAX_IMAGE_BYTES + 1), "too large"),
        ("file", "", b"", "choose a file"),
    ],
)
def test_refusals_are_flashed(
    visitor: WebVisitor, kind: str, filename: str, content: bytes, expected: str
) -> None:
    response = visitor.upload(kind, filename, content, script=False)
    assert response.status_code == 303
    html = visitor.page(f"/{kind}s")
    flash = re.search(r'<p class="flash flash-error" role="alert">([^<]+)</p>', html)
    assert flash is not None, html
    assert expected in flash.group(1).lower()
    assert f"No {kind}s yet" in html  # nothing was stored


def test_not_an_image_flash_names_the_problem(visitor: WebVisitor) -> None:
    visitor.upload("image", "fake.jpg", b"GIF? no. just text" * 50, script=False)
    html = visitor.page("/images")
    flash = re.search(r'<p class="flash flash-error" role="alert">([^<]+)</p>', html)
    assert flash is not None, html
    assert flash.group(1) == "This is not a JPEG, PNG, GIF or WebP image."
    assert "No images yet" in html


def test_delete_all_needs_confirmation_then_empties(visitor: WebVisitor, web_stack: Stack) -> None:
    visitor.upload("image", "gone.png", png(), script=False)
    refused = visitor.delete_all("image", confirm=False)
    assert refused.status_code == 303
    assert "Tick the box" in visitor.page("/images")
    assert "gone.png" in visitor.page("/images")
    response = visitor.delete_all("image")
    assert response.status_code == 303
    html = visitor.page("/images")
    assert "Deleted 1 image" in html
    assert "No images yet" in html


def test_metrics_count_uploads_by_kind_and_outcome(visitor: WebVisitor, web_stack: Stack) -> None:
    assert web_stack.web is not None
    metrics_url = web_stack.web.metrics_url
    image = png()
    growth = Growth(metrics_url)
    for name, content in (("counted.png", image), ("fake.png", b"no image here" * 20)):
        visitor.page("/images")  # the form, as a browser shows it before each upload
        visitor.upload("image", name, content, script=False)
    grew = growth.read().grew
    # The module's web is shared by other tests: compare with the scrape before this test's uploads.
    assert grew("s3tasks_uploads_total", kind="image", outcome="stored") == 1
    assert grew("s3tasks_uploads_total", kind="image", outcome="unsupported_type") == 1
    assert grew("s3tasks_upload_bytes_total", kind="image") >= len(image)
    assert grew("s3tasks_http_requests_total", route="/images/upload", status="303") == 2
    assert grew("s3tasks_http_requests_total", route="/images", status="200") == 2


def test_metrics_are_not_on_the_public_port(visitor: WebVisitor, web_stack: Stack) -> None:
    """The ingress publishes web's port: /metrics there is a 404 page; Prometheus scrapes the
    metrics port, which serves nothing else."""
    assert web_stack.web is not None
    public = visitor.http.get("/metrics")
    assert public.status_code == 404
    assert "s3tasks_" not in public.text
    metrics_url = web_stack.web.metrics_url
    assert metrics_url != web_stack.web.url
    scraped = httpx.get(f"{metrics_url}/metrics", timeout=10)
    assert scraped.status_code == 200
    assert "s3tasks_http_requests_total" in scraped.text
    assert httpx.get(f"{metrics_url}/images", timeout=10).status_code == 404


def test_metrics_count_every_answer_404s_and_405s_included(
    visitor: WebVisitor, web_stack: Stack
) -> None:
    assert web_stack.web is not None
    metrics_url = web_stack.web.metrics_url
    growth = Growth(metrics_url)
    answers = [
        ("GET", "/no-such-page"),  # no route: 404
        ("GET", "/no-such-page"),
        ("DELETE", "/images"),  # a route without that method: 405
        ("PATCH", "/healthz"),  # (a PUT to a one-segment path is a terminal's upload)
        ("GET", "/images/not-an-item/thumbnail"),  # routed, then not found: 404
        ("GET", "/healthz"),
    ]
    statuses = [visitor.http.request(method, path).status_code for method, path in answers]
    assert statuses == [404, 404, 405, 405, 404, 200]
    growth.read()

    def counted(method: str, route: str, status: str) -> float:
        labels = {"method": method, "route": route, "status": status}
        return growth.grew("s3tasks_http_requests_total", **labels)

    assert counted("GET", "unmatched", "404") == 2
    assert counted("DELETE", "unmatched", "405") == 1
    assert counted("PATCH", "unmatched", "405") == 1
    assert counted("GET", "/images/{item_id}/thumbnail", "404") == 1
    assert counted("GET", "/healthz", "200") == 1

    # every answer counted, once (the scrapes go to the metrics port: not counted here)
    assert growth.grew("s3tasks_http_requests_total") == len(answers)
    # unrouted answers carry the request id too (it binds before routing)
    assert visitor.http.get("/no-such-page").headers["x-request-id"]


def test_request_id_is_echoed(visitor: WebVisitor) -> None:
    response = visitor.http.get("/images", headers={"X-Request-ID": "test-req-1"})
    assert response.headers["x-request-id"] == "test-req-1"


def test_storage_down_is_a_friendly_503(stack: Stack) -> None:
    stack.migrate()
    stack.start_storage_api()
    web = stack.start_web()
    assert stack.storage_api is not None
    visitor = WebVisitor(web.url)
    token = visitor.csrf_token()
    # Down means nobody listens any more: stop the process and close its socket too.
    stack.storage_api.stop()
    assert stack.storage_api.sock is not None
    stack.storage_api.sock.close()
    try:
        ready = httpx.get(f"{web.url}/readyz")
        assert ready.status_code == 503
        page = visitor.http.get("/images")
        assert page.status_code == 503
        assert "Storage is unavailable" in page.text
        assert '<nav aria-label="Main">' in page.text
        upload = visitor.http.post(
            "/images/upload",
            params={"csrf": token},
            files={"file": ("a.png", png(), "image/png")},
        )
        assert upload.status_code == 303
        assert "Storage is unavailable" in visitor.http.get("/files").text
    finally:
        visitor.close()


def test_bucket_holds_what_the_page_shows(visitor: WebVisitor, web_stack: Stack) -> None:
    content = f"hello bucket {uuid.uuid4()}".encode()
    visitor.upload("file", "inbucket.txt", content, description="d", script=False)
    item_id = visitor.latest_file_id()
    assert item_id is not None, "the page offers the upload for download"
    client = web_stack.config.s3.client()
    # The page's own item is in the bucket, with the bytes the visitor sent.
    assert f"objects/{item_id}" in backing_services.object_keys(
        client, web_stack.config.bucket, "objects/"
    )
    stored = client.get_object(web_stack.config.bucket, f"objects/{item_id}")
    try:
        assert stored.read() == content
    finally:
        stored.close()
        stored.release_conn()


def test_images_kept_is_a_setting_the_page_follows(stack: Stack) -> None:
    stack.config = dataclasses.replace(
        stack.config, extra_env={"STORAGE_API_IMAGES_KEPT": "5", "WEB_LIMITS_CACHE_SECONDS": "0"}
    )
    stack.migrate()
    stack.start_storage_api()
    web = stack.start_web()
    visitor = WebVisitor(web.url)
    try:
        for n in range(6):
            assert (
                visitor.upload(
                    "image", f"kept{n}.png", png(colour=(n, 0, 0)), script=False
                ).status_code
                == 303
            )
        html = visitor.page("/images")
    finally:
        visitor.close()
    assert "Your last 5 images are kept" in html
    # the 5 newest, newest first; the 6th upload capped the oldest
    assert [name for _, name in _thumbnails(html)] == [f"kept{n}.png" for n in range(5, 0, -1)]


def test_a_wrong_service_credential_is_an_unavailable_page_and_an_operator_log_line(
    web_stack: Stack,
) -> None:
    """storage-api refuses web's credential: the visitor gets the friendly 503 (not their
    fault), the operator a log line naming the setting, and the credential is not in it."""
    assert web_stack.storage_api is not None
    wrong = f"a-wrong-web-credential-{uuid.uuid4().hex}"
    sock = bind_loopback()
    web = service_process(
        web_stack.config,
        "web",
        web_stack.storage_api.url,
        name="web-wrong-credential",
        sock=sock,
        env={"WEB_SERVICE_TOKEN": wrong},
    )
    try:
        web.start()
        visitor = WebVisitor(web.url)
        page = visitor.http.get("/images")
        assert page.status_code == 503
        assert "Storage is unavailable" in page.text
        visitor.close()
    finally:
        web.stop()
        sock.close()
    log = web.log_path.read_text(errors="replace")
    assert "WEB_SERVICE_TOKEN" in log
    assert wrong not in log
