"""The address in a share link shown to its owner (the field to copy, the QR code) is the
site's own, whatever the request that showed the page said about where it was sent.

`Host`, `X-Forwarded-Host`, `X-Forwarded-Proto` and `Forwarded` are written by whoever sends
the request: were the link made from them, a page fetched with `Host: evil.example` (an
ingress that routes any host to web, a cache in front of it) would hand the owner a link to
the attacker's site, and the token with it. With WEB_PUBLIC_URL (required in production) the
link is made with it; without (development), with the address of web's own socket.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from markupsafe import Markup

from s3tasks_testkit.stack import Dependencies, isolated_config, running_stack
from s3tasks_testkit.web_visitor import Site, WebVisitor
from s3tasks_web.pages.qr import qr_svg

PUBLIC_URL = "https://s3tasks.example.org"
_SHARE_URL = re.compile(r'class="share-url" type="text" value="([^"]*)"')
#: the QR code's title in the owner's panel (pages/share_rows.py)
QR_TITLE = "QR code of the link"

FORGED = {
    "host": {"Host": "evil.example"},
    "host-and-port": {"Host": "evil.example:443"},
    "x-forwarded": {
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        "X-Forwarded-For": "127.0.0.1",
    },
    "forwarded": {"Forwarded": "for=127.0.0.1;host=evil.example;proto=https"},
    "all-at-once": {
        "Host": "evil.example",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "Forwarded": "host=evil.example;proto=https",
    },
}


@pytest.fixture(scope="module")
def public_site(dependencies: Dependencies) -> Iterator[Site]:
    """storage-api and web with WEB_PUBLIC_URL, web trusting loopback as its proxy: even a
    trusted proxy's forwarded headers do not make the link."""
    with (
        isolated_config(
            dependencies,
            "security-share-link-address",
            extra_env={
                "WEB_PUBLIC_URL": PUBLIC_URL,
                "WEB_CLIENT_ADDRESS_HEADER": "X-Forwarded-For",
                "WEB_TRUSTED_PROXIES": "127.0.0.0/8,::1/128",
            },
        ) as config,
        running_stack(config) as stack,
    ):
        yield Site(stack, dependencies.s3.client())


def shown_links(owner: WebVisitor, headers: dict[str, str]) -> tuple[list[str], str]:
    """The links My Files shows when fetched with `headers`, and the page."""
    response = owner.http.get("/files", headers=headers)
    assert response.status_code == 200, response.text[:300]
    return [html.unescape(url) for url in _SHARE_URL.findall(response.text)], response.text


def owner_with_a_link(site: Site) -> tuple[WebVisitor, str]:
    owner = site.visitor()
    owner.page("/files")
    assert owner.upload("file", "shared.txt", b"shared", description="d").json()["ok"]
    item_id = owner.latest_file_id()
    assert item_id is not None
    created = owner.http.post(
        f"/files/{item_id}/shares",
        params={"csrf": owner.csrf_token()},
        data={},
        headers=FORGED["all-at-once"],
    )
    assert created.status_code == 303
    (path,) = owner.share_paths_in(owner.page("/files"))
    return owner, path


def assert_links_are(site_address: str, owner: WebVisitor, path: str) -> None:
    expected = f"{site_address}{path}"
    for name, headers in {"none": {}, **FORGED}.items():
        links, page = shown_links(owner, headers)
        assert links == [expected], name
        # the QR code is the link too (the same SVG the owner's page makes for it)
        code: Markup = qr_svg(expected, QR_TITLE)
        assert str(code) in page, name
        assert "evil.example" not in page, name


def test_without_a_public_url_the_link_names_webs_own_address(site: Site) -> None:
    owner, path = owner_with_a_link(site)
    with owner:
        assert_links_are(site.web_url, owner, path)


def test_with_a_public_url_the_link_names_it_whatever_the_headers(public_site: Site) -> None:
    owner, path = owner_with_a_link(public_site)
    with owner:
        assert path.startswith("/s/")
        assert_links_are(PUBLIC_URL, owner, path)
