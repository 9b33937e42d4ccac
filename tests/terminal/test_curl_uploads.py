"""`curl -T` and `curl -F` to the site, with the real curl binary: the answer is a share link
on one line (or JSON), `X-Manage-Url` lists and deletes what the upload made, header options
shape the link and are refused in words when out of range, and a refused body leaves nothing
behind. In the stack's transfer mode (S3TASKS_TEST_TRANSFER; `make test-direct`)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

from PIL import Image

from s3tasks_testkit.metrics import scrape
from s3tasks_testkit.patience import sweep_patience
from s3tasks_testkit.processes import wait_until
from s3tasks_testkit.stack import Stack

from .conftest import (
    MAX_FILE_BYTES,
    MIB,
    PART_BYTES,
    SWEEP_INTERVAL_SECONDS,
    TTL_SECONDS,
    Answer,
    Curl,
    bucket_keys,
    database_now,
    items_since,
    open_uploads,
)

JSON = ("--header", "Accept: application/json")
GPS_LATITUDE = (51.0, 30.0, 12.0)


def _content(size: int, seed: str) -> bytes:
    block = hashlib.sha256(seed.encode()).digest() * 2048
    return (block * (size // len(block) + 1))[:size]


def _jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x010F] = "SecretCam"  # Make
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def _download(curl: Curl, link: str, password: str = "") -> Answer:
    """The link's Download button as curl presses it: a POST (with the password, if any),
    then its 303 to the bytes (in direct mode on to S3)."""
    return curl("--location", "--data-urlencode", f"password={password}", link)


def _delete_all(curl: Curl, manage_url: str) -> None:
    deleted = curl("--request", "DELETE", manage_url)
    assert deleted.status == 200, deleted.text


def test_put_answers_a_link_on_one_line_that_downloads_the_file_identical(
    curl: Curl, stack: Stack
) -> None:
    content = _content(2 * PART_BYTES + 12345, "put")  # three parts through web's hop
    path = curl.file("report.bin", content)
    answer = curl("--upload-file", str(path), f"{curl.site}/")
    assert answer.status == 201, answer.text
    link = answer.text
    assert link.endswith("\n")
    assert link.count("\n") == 1
    link = link.strip()
    assert link.startswith(f"{curl.site}/s/")
    manage_url = answer.header("x-manage-url")
    assert manage_url is not None
    assert manage_url.startswith(f"{curl.site}/m/")
    assert answer.header("set-cookie") is None, "no cookie is set"
    assert answer.header("content-type") == "text/plain; charset=utf-8"

    got = _download(curl, link)
    assert got.status == 200
    assert hashlib.sha256(got.body).digest() == hashlib.sha256(content).digest()
    listed = curl(manage_url)
    assert listed.status == 200
    assert listed.text.count("\n") == 1
    assert "report.bin" in listed.text
    assert link in listed.text

    keys_before = bucket_keys(stack)
    assert keys_before, "the upload is in the bucket"
    deleted = curl("--request", "DELETE", manage_url)
    assert (deleted.status, deleted.text) == (200, "Deleted 1 item.\n")
    assert curl(manage_url).status == 404, "deleted: nothing to manage"
    assert _download(curl, link).status == 404, "the link ended with its item"
    wait_until(
        lambda: not bucket_keys(stack) & keys_before,
        timeout=sweep_patience(SWEEP_INTERVAL_SECONDS),
        message="the upload's objects deleted from the bucket",
    )


def test_a_form_post_of_an_image_stores_it_decoded_without_its_metadata(curl: Curl) -> None:
    sent = _jpeg_with_exif()
    path = curl.file("holiday.jpg", sent)
    answer = curl("--form", f"file=@{path}", *JSON, f"{curl.site}/")
    assert answer.status == 201, answer.text
    body = json.loads(answer.body)
    assert body["item"]["kind"] == "image"
    assert body["item"]["filename"] == "holiday.jpg"
    assert body["manage_url"] == answer.header("x-manage-url")
    got = _download(curl, body["link"])
    assert got.status == 200
    with Image.open(io.BytesIO(got.body)) as image:
        assert image.format == "JPEG"
        assert image.size == (64, 48)
        exif = image.getexif()
        assert not exif.get_ifd(0x8825), "GPS position kept"
        assert 0x010F not in exif, "camera make kept"
    _delete_all(curl, body["manage_url"])


def test_header_options_shape_the_link(curl: Curl) -> None:
    path = curl.file("notes.txt", b"the minutes of the meeting\n")
    answer = curl(
        "--upload-file",
        str(path),
        "--header",
        "Max-Downloads: 1",
        "--header",
        "Password: open sesame",
        "--header",
        "Expires-In: 5",
        *JSON,
        f"{curl.site}/",
    )
    assert answer.status == 201, answer.text
    body = json.loads(answer.body)
    share = body["share"]
    assert share["max_downloads"] == 1
    assert share["password_required"] is True
    ends_at = datetime.fromisoformat(share["ends_at"])
    assert abs(ends_at - (datetime.now(UTC) + timedelta(minutes=5))) < timedelta(seconds=60)

    assert _download(curl, body["link"], "wrong").status == 403
    got = _download(curl, body["link"], "open sesame")
    assert (got.status, got.body) == (200, b"the minutes of the meeting\n")
    assert _download(curl, body["link"], "open sesame").status == 410, "one download only"
    _delete_all(curl, body["manage_url"])


def test_options_out_of_range_are_refused_in_words_and_nothing_is_stored(
    curl: Curl, stack: Stack
) -> None:
    path = curl.file("a.txt", b"some text\n")
    since = database_now(stack)
    minutes = TTL_SECONDS // 60
    cases = [
        ("Max-Downloads: 0", "Max-Downloads must be a whole number from 1 to 1000.\n"),
        ("Max-Downloads: lots", "Max-Downloads must be a whole number from 1 to 1000.\n"),
        (
            f"Expires-In: {minutes + 1}",
            f"Expires-In must be a whole number of minutes from 1 to {minutes}.\n",
        ),
        ("Password: " + "p" * 257, "Password must be at most 256 characters long.\n"),
    ]
    for header, words in cases:
        refused = curl("--upload-file", str(path), "--header", header, f"{curl.site}/")
        assert (refused.status, refused.text) == (400, words), header
        assert refused.header("x-manage-url") is None
    problem = curl(
        "--upload-file", str(path), "--header", "Max-Downloads: 0", *JSON, f"{curl.site}/"
    )
    assert problem.status == 400
    assert problem.header("content-type") == "application/problem+json"
    assert json.loads(problem.body) == {
        "type": "urn:s3tasks:problem:invalid-input",
        "title": "Invalid input",
        "status": 400,
        "detail": "Max-Downloads must be a whole number from 1 to 1000.",
    }
    assert items_since(stack, since) == 0, "nothing stored"


def test_a_management_url_reaches_only_what_its_own_upload_made(curl: Curl) -> None:
    first = json.loads(
        curl("--upload-file", str(curl.file("a.txt", b"a\n")), *JSON, f"{curl.site}/").body
    )
    second = json.loads(
        curl("--upload-file", str(curl.file("b.txt", b"b\n")), *JSON, f"{curl.site}/").body
    )
    assert first["manage_url"] != second["manage_url"]
    # the second client, with its own token, names the first one's item: not there
    theirs = f"{second['manage_url']}/{first['item']['id']}"
    assert curl("--request", "DELETE", theirs).status == 404
    # a token one character off, and one that is no token at all
    token = first["manage_url"].rsplit("/", 1)[1]
    forged = first["manage_url"][: -len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
    for url in (forged, f"{curl.site}/m/not-a-token"):
        assert curl(url).status == 404
        missing = curl("--request", "DELETE", url)
        assert (missing.status, missing.text) == (
            404,
            "Nothing to manage here: deleted, expired, or never made.\n",
        )
    # the first upload is untouched, and its own URL deletes it by its id
    assert _download(curl, first["link"]).body == b"a\n"
    own = curl("--request", "DELETE", f"{first['manage_url']}/{first['item']['id']}")
    assert own.status == 200, own.text
    assert curl(first["manage_url"]).status == 404, "its only item deleted"
    _delete_all(curl, second["manage_url"])


def _refused_uploads(stack: Stack, kind: str) -> float:
    assert stack.web is not None
    return scrape(stack.web.metrics_url).value(
        "s3tasks_uploads_total", kind=kind, outcome="too_large"
    )


def test_a_body_over_the_limit_is_refused_and_nothing_is_stored(curl: Curl, stack: Stack) -> None:
    since, keys, still_open = database_now(stack), bucket_keys(stack), open_uploads(stack)
    files, images = _refused_uploads(stack, "file"), _refused_uploads(stack, "image")
    big = curl.file("big.bin", _content(MAX_FILE_BYTES + MIB, "big"))
    announced = curl("--upload-file", str(big), f"{curl.site}/")
    assert (announced.status, announced.text) == (
        413,
        "That upload is too large: the limit is 12 MiB.\n",
    )
    # piped: no length announced (chunked), cut where it passes the limit
    piped = curl("--upload-file", "-", f"{curl.site}/", stdin=big.read_bytes())
    assert (piped.status, piped.text) == (413, "That file is too large: the limit is 12 MiB.\n")
    # an image over the image limit (a file of that size would be accepted)
    image = curl.file("huge.png", b"\x89PNG\r\n\x1a\n" + _content(2 * MIB, "png"))
    too_big = curl("--form", f"file=@{image}", f"{curl.site}/")
    assert (too_big.status, too_big.text) == (413, "That image is too large: the limit is 1 MiB.\n")
    put = curl("--upload-file", str(image), f"{curl.site}/")  # its length says too large
    assert (put.status, put.text) == (413, "That image is too large: the limit is 1 MiB.\n")
    assert items_since(stack, since) == 0, "no row was written"
    assert bucket_keys(stack) <= keys, "no object was written"
    assert open_uploads(stack) == still_open, "every refused upload's parts aborted"
    # counted where the kind was known: the piped file and the images (the first was refused
    # by its announced length, before its kind was read)
    assert _refused_uploads(stack, "file") == files + 1
    assert _refused_uploads(stack, "image") == images + 2
