"""Upload, list, read and delete all, for images and files, on the real bucket (the bytes go
through the transfer API: signed S3 requests, never storage-api)."""

from __future__ import annotations

import io
import uuid

from PIL import Image

from s3tasks_testkit.images import png
from s3tasks_testkit.storage_api import Api, fetch, run_deletions, upload


def test_image_upload_is_listed_with_a_thumbnail_and_stored_in_the_bucket(
    api: Api, visitor: str
) -> None:
    original = png(800, 600)
    with api.client() as client:
        resp = upload(client, visitor, original, filename="holiday.png")
        assert resp.status_code == 200, resp.text
        item = resp.json()
        assert item["kind"] == "image"
        assert item["content_type"] == "image/png"
        assert item["size_bytes"] == len(original)
        assert item["has_thumbnail"] is True

        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "image"}).json()
        assert [i["id"] for i in listed["items"]] == [item["id"]]

        content = fetch(client, visitor, item["id"])
        assert content.status_code == 200
        assert content.content == original
        assert content.headers["content-type"] == "image/png"
        assert content.headers["content-disposition"].startswith("inline;")
        assert content.headers["etag"].strip('"') == item["etag"]

        thumb = fetch(client, visitor, item["id"], variant="thumbnail")
        assert thumb.status_code == 200
        assert thumb.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(thumb.content)) as img:
            assert max(img.size) == 320
            assert img.size == (320, 240)

    row = api.rows("id = %s", item["id"])[0]
    assert row["status"] == "stored"
    assert {row["object_key"], row["thumbnail_key"]} <= api.object_keys()


def test_file_keeps_name_and_description_and_downloads_as_attachment(
    api: Api, visitor: str
) -> None:
    data = bytes(range(256)) * 400
    with api.client() as client:
        resp = upload(
            client, visitor, data, kind="file", filename="report 2026.pdf", description="Q3 numbers"
        )
        assert resp.status_code == 200, resp.text
        item = resp.json()
        assert (item["filename"], item["description"]) == ("report 2026.pdf", "Q3 numbers")
        assert item["has_thumbnail"] is False

        got = fetch(client, visitor, item["id"])
        assert got.content == data
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert "filename*=UTF-8''report%202026.pdf" in got.headers["content-disposition"]

        no_thumb = fetch(client, visitor, item["id"], variant="thumbnail")
        assert no_thumb.status_code == 404


def test_a_multipart_upload_keeps_the_objects_etag(api: Api, visitor: str) -> None:
    """radosgw answers CompleteMultipartUpload with an empty ETag: the row must still hold
    the object's real one, or conditional and resumed downloads (If-None-Match, If-Range) break.
    """
    data = bytes(range(256)) * (4096 * 9)  # 9 MiB: two parts of the module's 8 MiB
    with api.client() as client:
        item = upload(client, visitor, data, kind="file", filename="big.bin").json()
    stored = api.s3.stat_object(api.config.bucket, api.rows("id = %s", item["id"])[0]["object_key"])
    assert item["etag"] == stored.etag
    assert item["etag"].endswith("-2")  # S3's multipart ETag: md5 of the part md5s, -parts


def test_files_list_newest_first(api: Api, visitor: str) -> None:
    with api.client() as client:
        ids = [
            upload(client, visitor, f"n{i}".encode(), kind="file", filename=f"{i}.txt").json()["id"]
            for i in range(3)
        ]
        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).json()
    assert [i["id"] for i in listed["items"]] == ids[::-1]


def test_the_fourth_image_hides_the_oldest_and_the_job_deletes_it(api: Api, visitor: str) -> None:
    with api.client() as client:
        ids = [
            upload(client, visitor, png(colour=c), filename=f"{c}.png").json()["id"]
            for c in ("red", "green", "blue", "white")
        ]
        listed = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "image"}).json()
        assert [i["id"] for i in listed["items"]] == ids[:0:-1]  # the 3 newest, newest first
        assert fetch(client, visitor, ids[0]).status_code == 404

    hidden = api.rows("id = %s", ids[0])[0]
    assert hidden["deletion_reason"] == "cap"

    result = run_deletions(api, visitor_id=visitor)
    assert result["tallies"] == {("cap", "image"): 1}
    rows = api.rows("visitor_id = %s", visitor)
    assert sorted(str(r["id"]) for r in rows) == sorted(ids[1:])
    keys = api.object_keys()
    assert f"objects/{ids[0]}" not in keys
    assert f"thumbnails/{ids[0]}.webp" not in keys
    assert all(f"objects/{i}" in keys and f"thumbnails/{i}.webp" in keys for i in ids[1:])


def test_delete_all_hides_at_once_then_the_job_empties_bucket_and_table(
    api: Api, visitor: str
) -> None:
    with api.client() as client:
        images = [upload(client, visitor, png()).json()["id"] for _ in range(2)]
        files = [
            upload(client, visitor, b"x" * 100, kind="file", filename="a.txt").json()["id"]
            for _ in range(2)
        ]
        resp = client.delete(f"/v1/visitors/{visitor}/items", params={"kind": "image"})
        assert resp.status_code == 202
        assert resp.json() == {"kind": "image", "hidden": 2}
        assert (
            client.get(f"/v1/visitors/{visitor}/items", params={"kind": "image"}).json()["items"]
            == []
        )
        # files are untouched by deleting images
        assert (
            len(
                client.get(f"/v1/visitors/{visitor}/items", params={"kind": "file"}).json()["items"]
            )
            == 2
        )

    result = run_deletions(api, visitor_id=visitor)
    assert result["tallies"] == {("purge", "image"): 2}
    keys = api.object_keys()
    assert not any(i in k for i in images for k in keys)
    assert all(f"objects/{f}" in keys for f in files)
    assert {str(r["id"]) for r in api.rows("visitor_id = %s", visitor)} == set(files)

    with api.client() as client:
        resp = client.delete(f"/v1/visitors/{visitor}/items", params={"kind": "file"})
        assert resp.json() == {"kind": "file", "hidden": 2}
    assert run_deletions(api, visitor_id=visitor)["tallies"] == {("purge", "file"): 2}
    assert api.rows("visitor_id = %s", visitor) == []
    assert not any(f in k for f in files for k in api.object_keys())


def test_visitors_cannot_reach_each_others_items(api: Api, visitor: str) -> None:
    intruder = uuid.uuid4().hex
    with api.client() as client:
        item = upload(client, visitor, b"secret", kind="file", filename="s.txt").json()
        image = upload(client, visitor, png()).json()
        base = f"/v1/visitors/{intruder}/items"
        assert client.get(base, params={"kind": "file"}).json()["items"] == []
        assert fetch(client, intruder, item["id"]).status_code == 404
        assert fetch(client, intruder, image["id"], variant="thumbnail").status_code == 404
        assert client.delete(base, params={"kind": "file"}).json()["hidden"] == 0
        # still there for its owner
        assert fetch(client, visitor, item["id"]).content == b"secret"


def test_visitor_id_and_parameters_are_validated(api: Api, visitor: str) -> None:
    with api.client() as client:
        bad_visitor = client.get("/v1/visitors/not-a-visitor/items", params={"kind": "file"})
        assert bad_visitor.status_code == 400
        assert bad_visitor.headers["content-type"].startswith("application/problem+json")
        assert bad_visitor.json()["type"] == "about:blank"  # a framework's words: not for people
        bad_kind = client.get(f"/v1/visitors/{visitor}/items", params={"kind": "video"})
        assert bad_kind.status_code == 400
        missing_name = client.post(
            f"/v1/visitors/{visitor}/uploads", json={"kind": "file", "via": "proxy"}
        )
        assert missing_name.status_code == 400
        not_a_uuid = client.get(f"/v1/visitors/{visitor}/items/not-a-uuid/link?via=proxy")
        assert not_a_uuid.status_code in {400, 404}
    assert api.rows("visitor_id = %s", visitor) == []


def test_limits_and_openapi(api: Api) -> None:
    with api.client() as client:
        limits = client.get("/v1/limits").json()
        assert limits["images_kept"] == 3
        assert limits["max_image_bytes"] == 2 * 1024 * 1024
        schema = client.get("/schema/openapi.json").json()
        assert "/v1/visitors/{visitor_id}/items" in schema["paths"]
        assert "/v1/visitors/{visitor_id}/uploads" in schema["paths"]
        assert "/v1/internal/deletions" in schema["paths"]
