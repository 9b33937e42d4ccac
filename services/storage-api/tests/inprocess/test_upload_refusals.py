"""Uploads in process: every refusal of start, parts and complete says why in the visitor's
words and leaves no row, no object and no open multipart upload behind; another visitor's
upload or item is a 404."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from s3tasks_testkit.images import png

pytestmark = pytest.mark.inprocess


def _nothing_kept(api: Any, visitor: str, item_id: object) -> None:
    assert api.rows(visitor) == []
    assert api.object_keys(item_id) == set()


# -- start ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"kind": "video"}, "kind"),
        ({"via": "carrier-pigeon"}, "via"),
        ({"filename": ""}, "filename"),
        ({"size_bytes": -1}, "size_bytes"),
        ({"description": "x" * 100_001}, "description"),
        ({"client": ""}, "client"),
    ],
    ids=["kind", "via", "empty filename", "negative size", "huge description", "empty client"],
)
def test_a_malformed_start_is_a_400_naming_the_field(
    api: Any, visitor: str, body: dict[str, Any], words: str
) -> None:
    answer = api.start(visitor, **body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["detail"]
    assert api.rows(visitor) == []


@pytest.mark.parametrize(
    "visitor_id", ["not-hex", "0123456789ABCDEF0123456789ABCDEF", "0" * 31, "0" * 33, "g" * 32]
)
def test_a_visitor_id_that_is_not_32_lowercase_hex_is_a_400(api: Any, visitor_id: str) -> None:
    answer = api.start(visitor_id)
    assert answer.status_code == 400, answer.text
    listed = api.call("GET", f"/v1/visitors/{visitor_id}/items", params={"kind": "file"})
    assert listed.status_code == 400, listed.text


@pytest.mark.parametrize(
    ("filename", "description", "words"),
    [
        ("...", "", "name"),
        ("\u200b\u200b", "", "name"),
        ("a.txt", "x" * 501, "longer than 500 characters"),
    ],
    ids=["dots", "invisible", "description"],
)
def test_an_unusable_name_or_a_long_description_is_refused_in_words(
    api: Any, visitor: str, filename: str, description: str, words: str
) -> None:
    answer = api.start(visitor, filename=filename, description=description)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["detail"]
    assert api.rows(visitor) == []


@pytest.mark.parametrize(("kind", "limit"), [("image", "2 MiB"), ("file", "20 MiB")])
@pytest.mark.parametrize("via", ["proxy", "direct"])
def test_an_announced_size_over_the_limit_is_413_before_anything_is_written(
    api: Any, visitor: str, kind: str, limit: str, via: str
) -> None:
    size = api.settings.max_bytes(kind) + 1
    answer = api.start(visitor, kind=kind, via=via, size_bytes=size)
    assert answer.status_code == 413, answer.text
    assert answer.json()["detail"] == f"The {kind} is larger than {limit}."
    assert api.rows(visitor) == []


def test_an_announced_empty_upload_is_refused(api: Any, visitor: str) -> None:
    answer = api.start(visitor, size_bytes=0)
    assert answer.status_code == 400, answer.text
    assert "empty" in answer.json()["detail"]
    assert api.rows(visitor) == []


def test_a_start_writes_the_row_first_and_a_direct_start_signs_a_staging_post_policy(
    api: Any, visitor: str
) -> None:
    proxy = api.start(visitor)
    direct = api.start(visitor, via="direct")
    assert proxy.status_code == direct.status_code == 201
    assert proxy.json()["part_size"] == 5 * 1024 * 1024
    assert proxy.json()["post_url"] is None
    assert direct.json()["post_url"].endswith(api.settings.s3_bucket)
    # the POST writes a staging key nothing serves; completion copies it (one-shot uploads)
    assert direct.json()["post_fields"]["key"] == f"uploads/{direct.json()['item_id']}"
    rows = api.rows(visitor)
    assert {r["status"] for r in rows} == {"uploading"}
    assert {str(r["id"]) for r in rows} == {proxy.json()["item_id"], direct.json()["item_id"]}


# -- parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numbers", "status", "words"),
    [
        ([], 400, "part_numbers"),
        (list(range(1, 102)), 400, "part_numbers"),
        ([0], 400, "Part numbers go from 1 to 10000."),
        ([10_001], 400, "Part numbers go from 1 to 10000."),
    ],
    ids=["none", "101", "zero", "10001"],
)
def test_part_links_out_of_range_are_refused(
    api: Any, visitor: str, numbers: list[int], status: int, words: str
) -> None:
    item_id = api.start(visitor).json()["item_id"]
    answer = api.call(
        "POST", f"/v1/visitors/{visitor}/uploads/{item_id}/parts", json={"part_numbers": numbers}
    )
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_a_direct_upload_has_no_parts(api: Any, visitor: str) -> None:
    item_id = api.start(visitor, via="direct").json()["item_id"]
    base = f"/v1/visitors/{visitor}/uploads/{item_id}/parts"
    for answer in (api.call("POST", base, json={"part_numbers": [1]}), api.call("GET", base)):
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"] == "This upload is not sent in parts."


def test_the_parts_s3_holds_are_listed_for_a_sender_that_resumes(api: Any, visitor: str) -> None:
    item_id = api.start(visitor).json()["item_id"]
    base = f"/v1/visitors/{visitor}/uploads/{item_id}/parts"
    url = api.call("POST", base, json={"part_numbers": [1]}).json()["urls"]["1"]
    assert httpx.put(url, content=b"abc", timeout=30).is_success
    parts = api.call("GET", base)
    assert parts.status_code == 200, parts.text
    assert [(p["part_number"], p["size"]) for p in parts.json()["parts"]] == [(1, 3)]


# -- another visitor --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "kwargs"),
    [
        ("POST", "/parts", {"json": {"part_numbers": [1]}}),
        ("GET", "/parts", {}),
        ("POST", "/complete", {"json": {"parts": [{"part_number": 1, "etag": "x"}]}}),
    ],
    ids=["part links", "stored parts", "complete"],
)
def test_another_visitors_upload_is_a_404_and_stays_as_it_was(
    api: Any, visitor: str, method: str, suffix: str, kwargs: dict[str, Any]
) -> None:
    item_id = api.start(visitor).json()["item_id"]
    stranger = uuid.uuid4().hex
    answer = api.call(method, f"/v1/visitors/{stranger}/uploads/{item_id}{suffix}", **kwargs)
    assert answer.status_code == 404, answer.text
    assert "No such upload" in answer.json()["detail"]
    assert [r["status"] for r in api.rows(visitor)] == ["uploading"]


def test_aborting_another_visitors_upload_does_nothing(api: Any, visitor: str) -> None:
    item_id = api.start(visitor).json()["item_id"]
    stranger = uuid.uuid4().hex
    answer = api.call("DELETE", f"/v1/visitors/{stranger}/uploads/{item_id}")
    assert answer.status_code == 204
    assert [str(r["id"]) for r in api.rows(visitor)] == [item_id]


@pytest.mark.parametrize("variant", ["content", "thumbnail"])
def test_another_visitors_stored_item_has_no_link(api: Any, visitor: str, variant: str) -> None:
    done = api.upload(visitor, png(8, 8), kind="image", filename="dot.png")
    assert done.status_code == 200, done.text
    item_id = done.json()["id"]
    path = f"/items/{item_id}/link"
    mine = api.call(
        "GET", f"/v1/visitors/{visitor}{path}", params={"via": "proxy", "variant": variant}
    )
    assert mine.status_code == 200, mine.text
    theirs = api.call(
        "GET", f"/v1/visitors/{uuid.uuid4().hex}{path}", params={"via": "proxy", "variant": variant}
    )
    assert theirs.status_code == 404, theirs.text
    assert theirs.json()["detail"] == "No such item."


def test_a_file_has_no_thumbnail(api: Any, visitor: str) -> None:
    item_id = api.stored_file(visitor)
    answer = api.call(
        "GET",
        f"/v1/visitors/{visitor}/items/{item_id}/link",
        params={"via": "proxy", "variant": "thumbnail"},
    )
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == "This item has no thumbnail."


def test_a_malformed_item_id_is_a_404(api: Any, visitor: str) -> None:
    answer = api.call(
        "GET", f"/v1/visitors/{visitor}/items/not-a-uuid/link", params={"via": "proxy"}
    )
    assert answer.status_code == 404


# -- complete ---------------------------------------------------------------------------------


def _started_with_one_part(api: Any, visitor: str, data: bytes, **body: Any) -> tuple[str, str]:
    item_id = api.start(visitor, **body).json()["item_id"]
    base = f"/v1/visitors/{visitor}/uploads/{item_id}"
    url = api.call("POST", f"{base}/parts", json={"part_numbers": [1]}).json()["urls"]["1"]
    put = httpx.put(url, content=data, timeout=30)
    assert put.is_success, put.text
    return item_id, put.headers["etag"]


def _complete(api: Any, visitor: str, item_id: str, parts: list[dict[str, Any]]) -> httpx.Response:
    return api.call(
        "POST", f"/v1/visitors/{visitor}/uploads/{item_id}/complete", json={"parts": parts}
    )


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([], "The upload names no parts."),
        (
            [{"part_number": 2, "etag": "b"}, {"part_number": 1, "etag": "a"}],
            "The parts must be listed once each, in ascending order.",
        ),
        (
            [{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "a"}],
            "The parts must be listed once each, in ascending order.",
        ),
        ([{"part_number": 1, "etag": '"0123456789abcdef"'}], "some parts are missing or wrong"),
        ([{"part_number": 2, "etag": "whatever"}], "some parts are missing or wrong"),
    ],
    ids=["no parts", "descending", "twice", "wrong etag", "missing part"],
)
def test_a_completion_that_does_not_match_the_parts_removes_the_upload(
    api: Any, visitor: str, parts: list[dict[str, Any]], words: str
) -> None:
    item_id, _etag = _started_with_one_part(api, visitor, b"hello")
    answer = _complete(api, visitor, item_id, parts)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["detail"]
    _nothing_kept(api, visitor, item_id)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "The upload is empty (0 bytes); there is nothing to keep."),
        (b"just text, no pixels", 415, "This is not a JPEG, PNG, GIF or WebP image."),
        (png(64, 64)[:80], 422, ""),
    ],
    ids=["empty", "not an image", "truncated png"],
)
def test_an_image_that_is_refused_at_completion_leaves_nothing(
    api: Any, visitor: str, data: bytes, status: int, words: str
) -> None:
    item_id, etag = _started_with_one_part(api, visitor, data, kind="image", filename="a.png")
    answer = _complete(api, visitor, item_id, [{"part_number": 1, "etag": etag}])
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]
    _nothing_kept(api, visitor, item_id)
    assert api.open_multipart_uploads() == 0 or _no_upload_of(api, item_id)


def _no_upload_of(api: Any, item_id: str) -> bool:
    uploads = api.s3._list_multipart_uploads(api.settings.s3_bucket).uploads
    return all(str(item_id) not in u.object_name for u in uploads)


def test_an_image_over_the_pixel_limit_is_refused_as_unusable(make_api: Any, visitor: str) -> None:
    small = make_api(max_image_pixels=100)
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(buffer, "PNG")
    item_id, etag = _started_with_one_part(
        small, visitor, buffer.getvalue(), kind="image", filename="big.png"
    )
    answer = _complete(small, visitor, item_id, [{"part_number": 1, "etag": etag}])
    assert answer.status_code == 422, answer.text
    _nothing_kept(small, visitor, item_id)


def test_what_arrived_over_the_limit_is_413_and_removed(make_api: Any, visitor: str) -> None:
    small = make_api(max_file_bytes=10)
    item_id, etag = _started_with_one_part(small, visitor, b"eleven byte")
    answer = _complete(small, visitor, item_id, [{"part_number": 1, "etag": etag}])
    assert answer.status_code == 413, answer.text
    assert answer.json()["detail"] == "The file is larger than 10 bytes."
    _nothing_kept(small, visitor, item_id)


def test_a_direct_upload_that_never_arrived_is_refused(api: Any, visitor: str) -> None:
    item_id = api.start(visitor, via="direct").json()["item_id"]
    answer = _complete(api, visitor, item_id, [])
    assert answer.status_code == 400, answer.text
    assert (
        answer.json()["detail"]
        == "The upload did not arrive: nothing was stored. Please try again."
    )
    _nothing_kept(api, visitor, item_id)


def test_an_upload_past_its_deadline_is_refused_and_removed(api: Any, visitor: str) -> None:
    item_id, etag = _started_with_one_part(api, visitor, b"late")
    api.execute("UPDATE items SET expires_at = now() - interval '1 second' WHERE id = %s", item_id)
    answer = _complete(api, visitor, item_id, [{"part_number": 1, "etag": etag}])
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == "The upload took longer than allowed and was discarded."
    _nothing_kept(api, visitor, item_id)


def test_an_upload_deleted_by_delete_all_is_refused_on_every_step(api: Any, visitor: str) -> None:
    item_id, etag = _started_with_one_part(api, visitor, b"gone")
    purged = api.call("DELETE", f"/v1/visitors/{visitor}/items", params={"kind": "file"})
    assert purged.status_code == 202, purged.text
    base = f"/v1/visitors/{visitor}/uploads/{item_id}"
    for answer in (
        api.call("POST", f"{base}/parts", json={"part_numbers": [2]}),
        api.call("GET", f"{base}/parts"),
        _complete(api, visitor, item_id, [{"part_number": 1, "etag": etag}]),
    ):
        assert answer.status_code == 409, answer.text
        assert "deleted by Delete all" in answer.json()["detail"]
    assert api.object_keys(item_id) == set()


def test_a_second_completion_answers_the_same_item(api: Any, visitor: str) -> None:
    item_id, etag = _started_with_one_part(api, visitor, b"twice")
    first = _complete(api, visitor, item_id, [{"part_number": 1, "etag": etag}])
    second = _complete(api, visitor, item_id, [{"part_number": 1, "etag": etag}])
    assert first.status_code == second.status_code == 200, second.text
    assert first.json() == second.json()
    assert first.json()["size_bytes"] == 5
    assert [r["status"] for r in api.rows(visitor)] == ["stored"]
    assert api.object_keys(item_id) == {f"objects/{item_id}"}
    after = api.call("GET", f"/v1/visitors/{visitor}/uploads/{item_id}/parts")
    assert after.status_code == 404, after.text


def test_abort_removes_row_object_and_upload(api: Any, visitor: str) -> None:
    item_id, _etag = _started_with_one_part(api, visitor, b"cancelled")
    answer = api.call("DELETE", f"/v1/visitors/{visitor}/uploads/{item_id}")
    assert answer.status_code == 204
    _nothing_kept(api, visitor, item_id)
    assert _no_upload_of(api, item_id)


def test_a_stored_image_gets_a_thumbnail_and_loses_no_row(api: Any, visitor: str) -> None:
    done = api.upload(visitor, png(40, 30), kind="image", filename="photo.png")
    assert done.status_code == 200, done.text
    item = done.json()
    assert item["has_thumbnail"] is True
    assert item["content_type"] == "image/png"
    assert api.object_keys(item["id"]) == {
        f"objects/{item['id']}",
        f"thumbnails/{item['id']}.webp",
    }
    expires = datetime.fromisoformat(item["expires_at"])
    assert expires - datetime.now(UTC) <= timedelta(seconds=api.settings.image_ttl_seconds)
