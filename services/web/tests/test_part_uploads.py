"""The upload script's uploads in parts, as the browser sends them, in the stack's transfer
mode (S3TASKS_TEST_TRANSFER): `direct` PUTs each part to S3 itself, `proxy` PUTs it to web,
which passes it on. Each part is a request of its own, so a file larger than any proxy's body
limit goes up, and a client that lost its connection sends only the parts S3 lacks."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from s3tasks_testkit import backing_services, database
from s3tasks_testkit.memory import PeakRss
from s3tasks_testkit.metrics import Growth
from s3tasks_testkit.stack import Stack
from s3tasks_testkit.web_visitor import WebVisitor

MIB = 1024 * 1024
#: storage-api's default part size (STORAGE_API_S3_PART_SIZE_BYTES)
PART = 8 * MIB
#: web's memory budget while a large upload passes (as in test_memory.py)
MAX_GROWTH_MIB = 64


def _content(size: int) -> bytes:
    block = hashlib.sha256(str(size).encode()).digest() * (MIB // 32)
    return (block * (size // len(block) + 1))[:size]


def _open_uploads(stack: Stack) -> int:
    return backing_services.open_multipart_uploads(stack.config.s3.client(), stack.config.bucket)


def _rows(stack: Stack, item_id: str) -> list[str]:
    """The statuses of the item's rows (none once it is gone)."""
    return database.column(
        stack.config.database_url, "SELECT status FROM items WHERE id = %s", item_id
    )


def _downloaded(visitor: WebVisitor) -> bytes:
    item_id = visitor.latest_file_id()
    assert item_id is not None, "the page offers the upload for download"
    response = visitor.get(f"/files/{item_id}/download")  # in direct mode: 303, then S3
    assert response.status_code == 200
    return response.content


def test_a_file_in_parts_resumes_from_the_parts_s3_holds_and_downloads_identical(
    visitor: WebVisitor, web_stack: Stack
) -> None:
    content = _content(2 * PART + 12345)
    start = visitor.start_in_parts("file", "big.bin", len(content), "in parts")
    ticket = start.json()
    assert ticket["ok"], ticket
    item_id, part_size = ticket["item_id"], ticket["part_size"]
    assert part_size == PART
    assert ticket["transfer"] == web_stack.config.transfer_mode
    signed = visitor.sign_parts("file", item_id, [1, 2, 3]).json()
    assert signed["ok"]
    assert signed["part_size"] == PART
    urls = signed["urls"]
    first = visitor.put_part(urls["1"], content[:PART])
    assert first.status_code == 200, first.text
    # ... the connection drops; after a reload the script asks what S3 holds
    held = visitor.stored_parts("file", item_id).json()
    assert [(p["part_number"], p["size"]) for p in held["parts"]] == [(1, PART)]
    assert held["parts"][0]["etag"].strip('"') == first.headers["etag"].strip('"')
    parts = [(1, held["parts"][0]["etag"])]
    # part links are signed again after the reload (the old page's are gone)
    urls = visitor.sign_parts("file", item_id, [2, 3]).json()["urls"]
    for number in (2, 3):
        put = visitor.put_part(urls[str(number)], content[(number - 1) * PART : number * PART])
        assert put.status_code == 200, put.text
        parts.append((number, put.headers["etag"]))
    done = visitor.complete_in_parts("file", item_id, parts)
    assert done.json()["ok"], done.text
    assert ("success", "Uploaded big.bin (16 MiB).") in visitor.flashes("/files")
    assert hashlib.sha256(_downloaded(visitor)).digest() == hashlib.sha256(content).digest()
    assert _open_uploads(web_stack) == 0


def test_another_visitor_can_neither_sign_list_send_nor_complete_my_parts(
    visitor: WebVisitor, other_visitor: WebVisitor, web_stack: Stack
) -> None:
    content = _content(PART + 1)
    item_id = visitor.start_in_parts("file", "mine.bin", len(content)).json()["item_id"]
    mine = visitor.sign_parts("file", item_id, [1]).json()["urls"]["1"]
    assert other_visitor.sign_parts("file", item_id, [1]).status_code == 404
    assert other_visitor.stored_parts("file", item_id).status_code == 404
    if mine.startswith("/"):  # proxy: the part URL is web's, and the session decides
        assert other_visitor.put_part(mine, content[:PART]).status_code == 404
    assert other_visitor.complete_in_parts("file", item_id, [(1, "x")]).json()["ok"] is False
    assert _rows(web_stack, item_id) == ["uploading"]
    visitor.abort_upload("file", item_id)


def test_cancel_during_an_upload_leaves_no_row_no_object_and_no_open_upload(
    visitor: WebVisitor, web_stack: Stack
) -> None:
    content = _content(PART + 1)
    item_id = visitor.start_in_parts("file", "cancelled.bin", len(content)).json()["item_id"]
    url = visitor.sign_parts("file", item_id, [1]).json()["urls"]["1"]
    assert visitor.put_part(url, content[:PART]).status_code == 200
    assert _open_uploads(web_stack) >= 1
    cancelled = visitor.abort_upload("file", item_id)
    assert cancelled.json()["ok"], cancelled.text
    assert ("success", "The upload was cancelled.") in visitor.flashes("/files")
    assert _rows(web_stack, item_id) == []
    assert _open_uploads(web_stack) == 0
    client = web_stack.config.s3.client()
    assert f"objects/{item_id}" not in backing_services.object_keys(client, web_stack.config.bucket)
    # the page's script resuming after this finds nothing to resume, and says so
    gone = visitor.stored_parts("file", item_id)
    assert gone.status_code == 404
    assert gone.json()["detail"].startswith("This upload no longer exists")


def test_a_part_larger_than_the_part_size_is_refused_by_web_before_s3_sees_it(
    visitor: WebVisitor, web_stack: Stack
) -> None:
    """`proxy` mode: web takes no more than the upload's part size in one request (and so
    holds, and sends on, no more); in `direct` mode parts never come to web at all."""
    content = _content(PART + 1)
    item_id = visitor.start_in_parts("file", "over.bin", len(content)).json()["item_id"]
    url = f"/files/uploads/{item_id}/parts/1"
    response = visitor.put_part(url, content)
    if web_stack.config.transfer_mode == "direct":
        assert response.status_code == 409
    else:
        assert response.status_code == 413
        assert "part size" in response.json()["detail"]
    assert visitor.stored_parts("file", item_id).json()["parts"] == []
    visitor.abort_upload("file", item_id)


def test_parts_are_signed_only_as_the_declared_size_needs_them_and_only_at_their_length(
    visitor: WebVisitor, web_stack: Stack
) -> None:
    """One-shot uploads (issue 33): a part beyond the declared size is not signed, and a part
    of another length than its own is refused: by web in words (`proxy`), by S3 (`direct`,
    the length is in the signature)."""
    content = _content(PART + 10)
    item_id = visitor.start_in_parts("file", "exact.bin", len(content)).json()["item_id"]
    beyond = visitor.sign_parts("file", item_id, [3])
    assert beyond.status_code == 400, beyond.text
    assert "part 3 is beyond its last part" in beyond.json()["detail"]
    url = visitor.sign_parts("file", item_id, [2]).json()["urls"]["2"]
    longer = visitor.put_part(url, content[PART:] + b"!")
    if web_stack.config.transfer_mode == "direct":
        assert longer.status_code == 403, longer.text
    else:
        assert longer.status_code == 400, longer.text
        assert longer.json()["detail"] == "Part 2 of this upload must hold exactly 10 bytes."
    assert visitor.stored_parts("file", item_id).json()["parts"] == []
    assert visitor.put_part(url, content[PART:]).status_code == 200
    visitor.abort_upload("file", item_id)


def test_a_file_of_one_small_part_and_an_image_in_parts_are_stored_like_any_upload(
    visitor: WebVisitor,
) -> None:
    small = b"one part only"
    assert visitor.upload_in_parts("file", "small.txt", small).json()["ok"]
    assert _downloaded(visitor) == small
    # an image in parts is checked at completion as every image is: not an image, refused
    refused = visitor.upload_in_parts("image", "fake.png", b"not an image at all")
    assert refused.json()["ok"] is False
    assert any(level == "error" for level, _ in visitor.flashes("/images"))


@pytest.mark.slow
def test_200_mb_in_parts_passes_web_in_bounded_memory(
    visitor: WebVisitor, web_stack: Stack
) -> None:
    """Each part streams through web (`proxy`) or past it (`direct`): web's memory stays flat
    whatever the file's size. The parts are made one at a time, never the whole file."""
    assert web_stack.web is not None
    assert visitor.upload_in_parts("file", "warm.bin", _content(PART + 1)).json()["ok"]
    size = 200 * MIB
    ticket = visitor.start_in_parts("file", "big.bin", size).json()
    item_id, part_size = ticket["item_id"], ticket["part_size"]
    count = -(-size // part_size)
    urls = visitor.sign_parts("file", item_id, list(range(1, count + 1))).json()["urls"]
    sent = hashlib.sha256()
    parts = []
    with PeakRss({"web": web_stack.web.pid}) as rss:
        for number in range(1, count + 1):
            data = _content(min(part_size, size - (number - 1) * part_size))
            sent.update(data)
            put = visitor.put_part(urls[str(number)], data)
            assert put.status_code == 200, put.text
            parts.append((number, put.headers["etag"]))
        assert visitor.complete_in_parts("file", item_id, parts).json()["ok"]
    growth = rss.growth_mib("web")
    print(f"web RSS growth during 200 MB in parts: {growth:.1f} MiB")
    assert growth < MAX_GROWTH_MIB
    assert hashlib.sha256(_downloaded(visitor)).digest() == sent.digest()


def test_parts_of_an_upload_deleted_by_delete_all_are_refused_with_why_and_no_flash(
    visitor: WebVisitor,
) -> None:
    """Several parts are under way at a time: each refusal says why (the script shows it once,
    in the form), and none leaves a flash on the next page."""
    visitor.upload("file", "kept.txt", b"kept", script=False)
    item_id = visitor.start_in_parts("file", "cut.bin", PART + 1).json()["item_id"]
    assert visitor.delete_all("file").status_code == 303
    visitor.flashes("/files")  # "Deleted 1 file." shown once
    refusals = [visitor.sign_parts("file", item_id, [1]), visitor.stored_parts("file", item_id)]
    if visitor.transfer == "proxy":
        refusals.append(visitor.put_part(f"/files/uploads/{item_id}/parts/1", b"x"))
    for refused in refusals:
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            "The upload was deleted by Delete all before it finished arriving."
        )
    assert visitor.flashes("/files") == []


def test_a_refused_step_of_the_script_is_counted_and_flashed_for_its_page_a_part_is_not(
    visitor: WebVisitor, web_stack: Stack
) -> None:
    """The page and the role of each route are on the route: a refused start on My Files is
    counted as a file's and flashed on My Files; a refused part is neither (the script shows
    it, once, in the form)."""
    assert web_stack.web is not None
    growth = Growth(web_stack.web.metrics_url)
    refused = visitor.start_in_parts("file", "x" * 2000 + ".bin", 10)
    assert refused.json() == {"ok": False, "status": 400, "redirect": "/files"}
    part = visitor.sign_parts("image", str(uuid.uuid4()), [1])
    assert part.status_code == 404, part.text
    growth.read()
    assert growth.grew("s3tasks_uploads_total", kind="file", outcome="bad_request") == 1
    assert growth.grew("s3tasks_uploads_total", kind="image") == 0
    assert visitor.flashes("/files") == [
        ("error", "The file name is too long: at most 1024 characters.")
    ]
    assert visitor.flashes("/images") == []
