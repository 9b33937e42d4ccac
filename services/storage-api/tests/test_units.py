"""Pure functions of storage-api, without a server: names, the reconcile merge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from s3tasks_storage_api.deletions.service import _merge
from s3tasks_storage_api.errors import InvalidInput
from s3tasks_storage_api.items.listing import MAX_PRESIGNED, link_window
from s3tasks_storage_api.items.naming import clean_description, clean_filename
from s3tasks_storage_api.storage.bucket import ListedObject
from s3tasks_storage_api.storage.signing import content_disposition

# -- names and descriptions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("photo\u202egpj.exe", "photogpj.exe"),  # a bidi override cannot disguise the extension
        ("  spaced \t  out  .txt  ", "spaced out .txt"),
        ("trailing dots...", "trailing dots"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
    ],
)
def test_clean_filename_keeps_the_last_segment_without_invisible_characters(
    raw: str, expected: str
) -> None:
    assert clean_filename(raw, max_length=255) == expected


def test_a_long_filename_is_shortened_keeping_its_extension() -> None:
    cleaned = clean_filename("a" * 300 + ".tar.gz", max_length=40)
    assert len(cleaned) == 40
    assert cleaned.endswith(".gz")


@pytest.mark.parametrize("raw", ["", "...", "/", "\u200b\u200b", "a\x00b"])
def test_unusable_filenames_are_refused_not_guessed(raw: str) -> None:
    with pytest.raises(InvalidInput):
        clean_filename(raw, max_length=255)


def test_descriptions_keep_lines_and_refuse_what_is_too_long() -> None:
    assert clean_description(" line one\nline\ttwo\u202e ", max_length=100) == "line one\nline\ttwo"
    with pytest.raises(InvalidInput, match="longer than 5 characters"):
        clean_description("x" * 6, max_length=5)


def test_content_disposition_has_an_ascii_fallback_and_the_exact_name() -> None:
    header = content_disposition("attachment", 'naïve "quote";.txt')
    assert header == (
        'attachment; filename="naive _quote__.txt"; '
        "filename*=UTF-8''na%C3%AFve%20%22quote%22%3B.txt"
    )
    # a name with no ASCII letters keeps its extension, not a hidden-file name like ".png"
    assert content_disposition("inline", "日本.png").startswith('inline; filename="download.png"')
    assert content_disposition("inline", "日本").startswith('inline; filename="download"')


# -- the reconcile merge ----------------------------------------------------------------------

_WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def test_merge_pairs_rows_and_objects_by_key_and_keeps_the_unmatched() -> None:
    a, c = uuid.uuid4(), uuid.uuid4()
    rows = [("objects/a", a, True), ("objects/c", c, False)]
    objects = [ListedObject("objects/b", _WHEN), ListedObject("objects/c", _WHEN)]
    merged = [
        (key, item, settled, obj is not None) for key, item, settled, obj in _merge(rows, objects)
    ]
    assert merged == [
        ("objects/a", a, True, False),  # a row without its object: dangling
        ("objects/b", None, False, True),  # an object without a row: orphan
        ("objects/c", c, False, True),  # both
    ]


def test_merge_of_empty_streams_is_empty_and_one_side_passes_through() -> None:
    assert list(_merge([], [])) == []
    only = [ListedObject(f"objects/{n}", None) for n in range(3)]
    assert [key for key, *_ in _merge([], only)] == ["objects/0", "objects/1", "objects/2"]


def test_merge_reads_each_stream_once_in_order() -> None:
    """Both sides are generators over S3 and SQL cursors: never materialised, never rewound."""
    rows = ((f"objects/{n:04d}", uuid.uuid4(), True) for n in range(0, 1000, 2))
    objects = (ListedObject(f"objects/{n:04d}", _WHEN) for n in range(0, 1000, 3))
    keys = [key for key, *_ in _merge(rows, objects)]
    assert keys == sorted(set(keys))
    assert len(keys) == len(set(range(0, 1000, 2)) | set(range(0, 1000, 3)))


def test_page_links_are_signed_when_stored_and_valid_until_deletion() -> None:
    stored = datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    signed_at, valid = link_window(stored, stored + timedelta(minutes=15), stored)
    assert (signed_at, valid) == (stored, timedelta(minutes=15))
    # the same at any moment of the item's life: one URL for every page view
    later = stored + timedelta(minutes=14)
    assert link_window(stored, stored + timedelta(minutes=15), later) == (signed_at, valid)


def test_page_links_of_items_living_past_s3s_limit_last_7_days_and_cover_now() -> None:
    stored = datetime(2026, 1, 1, tzinfo=UTC)
    expires = stored + timedelta(days=30)
    seen = set()
    for hours in range(0, 30 * 24, 7):
        now = stored + timedelta(hours=hours)
        signed_at, valid = link_window(stored, expires, now)
        assert valid <= MAX_PRESIGNED
        assert signed_at <= now
        # never handed out within half a window of its end
        assert signed_at + valid >= min(expires, now + MAX_PRESIGNED / 2)
        seen.add(signed_at)
    assert len(seen) == 9  # a new URL every 3.5 days, not every view
