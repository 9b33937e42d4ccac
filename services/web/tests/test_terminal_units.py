"""The terminal's pure parts: the token a visitor id is hashed from, the kind a body's first
bytes say, the options its headers carry."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest
from litestar.datastructures import Headers

from s3tasks_contracts import ItemKind, SiteConfiguration, is_valid_visitor_id
from s3tasks_testkit import aio
from s3tasks_web.api.tokens import VisitorTokens
from s3tasks_web.errors import UploadRejected
from s3tasks_web.http.share_paths import loggable_path
from s3tasks_web.terminal.options import read_options
from s3tasks_web.terminal.tokens import MANAGE_TOKENS, TokenVisitors
from s3tasks_web.terminal.uploads import kind_of, peeked

LIMITS = SiteConfiguration(
    max_image_bytes=1,
    max_file_bytes=1,
    max_description_length=1,
    max_filename_length=1,
    image_ttl_seconds=600,
    file_ttl_seconds=900,
    images_kept=3,
)


def test_sha_256_meets_its_published_test_vectors() -> None:
    # FIPS 180-4 examples (NIST CSRC, "SHA256.pdf"): "abc" and the 448-bit message
    assert hashlib.sha256(b"abc").hexdigest() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert hashlib.sha256(
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    ).hexdigest() == ("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")


def test_a_token_stands_for_a_visitor_id_of_its_hash_alone() -> None:
    token = MANAGE_TOKENS.new_token()
    assert len(token) == 43
    visitor_id = MANAGE_TOKENS.visitor_of(token)
    assert visitor_id is not None
    assert is_valid_visitor_id(visitor_id)
    assert (
        visitor_id
        == hashlib.sha256(b"s3tasks manage token v1\x00" + token.encode()).hexdigest()[:32]
    )
    assert token not in visitor_id
    assert MANAGE_TOKENS.visitor_of(token) == visitor_id, "the same token, the same visitor"
    assert MANAGE_TOKENS.visitor_of(MANAGE_TOKENS.new_token()) != visitor_id
    assert TokenVisitors(b"another purpose").visitor_of(token) != visitor_id


@pytest.mark.parametrize("token", ["", "short", "A" * 42, "A" * 44, "A" * 42 + "=", "é" * 43])
def test_what_is_no_token_stands_for_no_visitor(token: str) -> None:
    assert MANAGE_TOKENS.visitor_of(token) is None


def test_a_management_path_is_logged_by_a_prefix_of_its_hash() -> None:
    token = MANAGE_TOKENS.new_token()
    logged = loggable_path(f"/m/{token}/some-item")
    assert token not in logged
    assert logged == f"/m/~{hashlib.sha256(token.encode()).hexdigest()[:8]}/some-item"


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", ItemKind.IMAGE),
        (b"\x89PNG\r\n\x1a\n\x00\x00", ItemKind.IMAGE),
        (b"GIF89a\x01\x00", ItemKind.IMAGE),
        (b"RIFF\x00\x00\x00\x00WEBP", ItemKind.IMAGE),
        (b"RIFF\x00\x00\x00\x00WAVE", ItemKind.FILE),
        (b"%PDF-1.7", ItemKind.FILE),
        (b"", ItemKind.FILE),
    ],
)
def test_the_first_bytes_say_the_kind(first: bytes, kind: ItemKind) -> None:
    assert kind_of(first) is kind


def test_peeking_loses_no_byte() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"GI", b"F8", b"9a-rest", b"-more"):
            yield chunk

    async def run() -> tuple[bytes, bytes]:
        first, whole = await peeked(chunks())
        return first, b"".join([chunk async for chunk in whole])

    first, whole = aio.run(run())
    assert first == b"GIF89a-rest-"
    assert whole == b"GIF89a-rest-more"


def test_options_in_range_are_read() -> None:
    options = read_options(
        Headers(
            {
                "Max-Downloads": " 7 ",
                "Password": "pässword".encode().decode("latin-1"),
                "Expires-In": "15",
            }
        ),
        LIMITS,
    )
    assert (options.max_downloads, options.password, options.minutes) == (7, "pässword", 15)
    assert read_options(Headers({}), LIMITS) == read_options(Headers({"Password": ""}), LIMITS)


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("Max-Downloads", "0", "Max-Downloads must be a whole number from 1 to 1000."),
        ("Max-Downloads", "1001", "Max-Downloads must be a whole number from 1 to 1000."),
        ("Max-Downloads", "-1", "Max-Downloads must be a whole number from 1 to 1000."),
        ("Max-Downloads", "\u00b2", "Max-Downloads must be a whole number from 1 to 1000."),
        ("Expires-In", "16", "Expires-In must be a whole number of minutes from 1 to 15."),
        ("Expires-In", "1.5", "Expires-In must be a whole number of minutes from 1 to 15."),
        ("Password", "x" * 257, "Password must be at most 256 characters long."),
        ("Password", "\xff", "The Password header must be UTF-8 text."),
    ],
)
def test_options_out_of_range_are_refused_in_words(name: str, value: str, words: str) -> None:
    with pytest.raises(UploadRejected) as refused:
        read_options(Headers({name: value}), LIMITS)
    assert (refused.value.status_code, refused.value.user_message) == (400, words)
    assert refused.value.close_connection, "refused before the body: nothing of it is read"


def test_hmac_sha_256_meets_rfc_4231() -> None:
    # RFC 4231, test case 2
    digest = hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.sha256).hexdigest()
    assert digest == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_only_a_token_web_made_stands_for_a_visitor() -> None:
    tokens = VisitorTokens("a key of at least thirty-two characters")
    token = tokens.new_token()
    visitor_id = tokens.visitor_of(token)
    assert visitor_id is not None
    assert is_valid_visitor_id(visitor_id)
    assert tokens.visitor_of(token) == visitor_id
    nonce, _, mac = token.partition(".")
    altered = nonce + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    assert tokens.visitor_of(altered) is None
    assert VisitorTokens("another key of thirty-two characters!").visitor_of(token) is None
    assert tokens.visitor_of(nonce) is None
    assert MANAGE_TOKENS.visitor_of(nonce) != visitor_id, "a token of one purpose is not another's"
