"""Parts sealed on their own: any order, retried, resumed give the same bytes as in order; the
negative cases modelled on age's and RFC 8188's are refused with words that say why."""

from __future__ import annotations

import io
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3tasks_ece import stream
from s3tasks_ece.aes128gcm import TAG_SIZE, DecryptError, Header, RecordCipher
from s3tasks_ece.files import file_keys
from s3tasks_ece.layout import (
    PART_PLAINTEXT,
    PART_SIZE,
    RECORD_PLAINTEXT,
    RECORD_SIZE,
    RECORDS_PER_PART,
    Layout,
    encrypt_part,
    layout_for,
    new_header,
)

SECRET = bytes(range(16))
KEY = file_keys(SECRET, b"", None).content


def sealed_parts(header: Header, plaintext: bytes, order: list[int]) -> dict[int, bytes]:
    layout = layout_for(header, len(plaintext))
    parts: dict[int, bytes] = {}
    for number in order:
        start, end = layout.part_plaintext(number)
        parts[number] = encrypt_part(KEY, header, len(plaintext), number, plaintext[start:end])
    return parts


def joined(parts: dict[int, bytes]) -> bytes:
    return b"".join(parts[number] for number in sorted(parts))


def test_the_layout_puts_whole_records_in_8_mib_parts_and_the_header_in_part_1() -> None:
    header = new_header()
    layout = layout_for(header, 3 * PART_PLAINTEXT + 5)
    assert RECORD_SIZE == 65536
    assert RECORD_PLAINTEXT == 65536 - TAG_SIZE - 1
    assert PART_SIZE == 8 * 1024 * 1024
    assert layout.parts == 4
    assert [layout.part_size(n) for n in range(1, 5)] == [
        21 + PART_SIZE,
        PART_SIZE,
        PART_SIZE,
        5 + TAG_SIZE + 1,
    ]
    assert sum(layout.part_size(n) for n in range(1, 5)) == layout.ciphertext_size
    empty = layout_for(header, 0)
    assert (empty.parts, empty.records, empty.ciphertext_size) == (1, 1, 21 + 17)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(min_value=0, max_value=3 * PART_PLAINTEXT), keyid=st.sampled_from([0, 31]))
def test_the_server_finds_the_layout_from_the_ciphertext_size_alone(size: int, keyid: int) -> None:
    layout = Layout(plaintext_size=size, header_size=21 + keyid)
    assert Layout.from_ciphertext(layout.ciphertext_size, 21 + keyid) == layout


@pytest.mark.parametrize("bad", [0, 21, 21 + 16, 21 + RECORD_SIZE + 1, 21 + RECORD_SIZE + 17 - 1])
def test_a_size_no_plaintext_encrypts_to_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="is no size of an encrypted file"):
        Layout.from_ciphertext(bad, 21)


# Sizes around the boundaries that matter: empty, one record, a record's exact fill, a part's
# exact fill and one byte either side, and a few parts.
BOUNDARIES = st.sampled_from(
    [
        0,
        1,
        RECORD_PLAINTEXT - 1,
        RECORD_PLAINTEXT,
        RECORD_PLAINTEXT + 1,
        PART_PLAINTEXT - 1,
        PART_PLAINTEXT,
        PART_PLAINTEXT + 1,
        2 * PART_PLAINTEXT + RECORD_PLAINTEXT,
    ]
)


@settings(max_examples=12, deadline=None)
@given(size=BOUNDARIES, seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_parts_sealed_shuffled_retried_and_resumed_equal_the_parts_in_order(
    size: int, seed: int
) -> None:
    rng = random.Random(seed)
    plaintext = rng.randbytes(size)
    header = new_header()
    numbers = list(range(1, layout_for(header, size).parts + 1))
    in_order = joined(sealed_parts(header, plaintext, numbers))

    shuffled = numbers[:]
    rng.shuffle(shuffled)
    retried = shuffled + rng.choices(numbers, k=2)  # a part sealed again replaces itself
    first_half = sealed_parts(header, plaintext, shuffled[: len(shuffled) // 2])
    resumed = first_half | sealed_parts(header, plaintext, shuffled[len(shuffled) // 2 :])

    assert joined(sealed_parts(header, plaintext, retried)) == in_order
    assert joined(resumed) == in_order
    assert len(in_order) == layout_for(header, size).ciphertext_size
    assert stream.decrypt(in_order, KEY) == plaintext


def three_parts() -> tuple[Header, bytes, dict[int, bytes]]:
    plaintext = os.urandom(2 * PART_PLAINTEXT + 1000)
    header = new_header()
    return header, plaintext, sealed_parts(header, plaintext, [1, 2, 3])


def refusal(data: bytes) -> str:
    with pytest.raises(DecryptError) as refused:
        stream.decrypt(data, KEY)
    return str(refused.value)


def test_the_whole_file_decrypts() -> None:
    _header, plaintext, parts = three_parts()
    assert stream.decrypt(joined(parts), KEY) == plaintext


def test_no_last_record_is_refused_as_cut_short() -> None:
    _header, _plaintext, parts = three_parts()
    assert "ends without its last record" in refusal(parts[1] + parts[2])


def test_a_file_cut_inside_a_record_is_refused() -> None:
    _header, _plaintext, parts = three_parts()
    cut = joined(parts)[: 21 + 3 * RECORD_SIZE + 100]
    assert "failed authentication" in refusal(cut)


def test_two_last_records_are_refused() -> None:
    header = new_header()
    cipher = RecordCipher(KEY, header.salt)
    full_record = os.urandom(RECORD_PLAINTEXT)
    data = (
        header.encode() + cipher.seal(0, full_record, last=True) + cipher.seal(1, b"b", last=True)
    )
    assert "two records are marked as the last" in refusal(data)


def test_a_flipped_bit_in_record_2_is_refused_and_named() -> None:
    _header, _plaintext, parts = three_parts()
    data = bytearray(joined(parts))
    data[21 + 2 * RECORD_SIZE + 7] ^= 0x10
    assert "record 2 (at byte" in refusal(bytes(data))
    assert "corrupted" in refusal(bytes(data))


def test_a_dropped_part_is_refused_and_named() -> None:
    _header, _plaintext, parts = three_parts()
    message = refusal(parts[1] + parts[3])
    assert f"record {RECORDS_PER_PART} " in message
    assert f"written as record {2 * RECORDS_PER_PART}" in message
    assert "dropped, repeated or put out of order" in message


def test_swapped_parts_are_refused_and_named() -> None:
    header = new_header()
    plaintext = os.urandom(3 * PART_PLAINTEXT)  # parts 2 and 3 the same size, so swappable
    parts = sealed_parts(header, plaintext, [1, 2, 3])
    assert "put out of order" in refusal(parts[1] + parts[3] + parts[2])


def test_trailing_bytes_after_a_full_last_record_are_refused_and_counted() -> None:
    header = new_header()
    plaintext = os.urandom(2 * RECORD_PLAINTEXT)
    whole = joined(sealed_parts(header, plaintext, [1]))
    assert "5 bytes of trailing data follow the last record (1)" in refusal(whole + b"extra")


def test_trailing_bytes_after_a_short_last_record_are_refused() -> None:
    _header, _plaintext, parts = three_parts()
    assert "has bytes appended after it" in refusal(joined(parts) + b"extra")


def test_a_wrong_key_is_refused_on_the_first_record() -> None:
    _header, _plaintext, parts = three_parts()
    with pytest.raises(DecryptError, match="wrong key or password"):
        stream.decrypt(joined(parts), bytes(16))


def test_a_header_alone_and_a_short_header_are_refused() -> None:
    header = new_header()
    assert "no records" in refusal(header.encode())
    assert "too short for the 21-byte header" in refusal(header.encode()[:10])


def test_decryption_holds_two_records_at_a_time() -> None:
    """The stream reads one record ahead, never the whole file."""
    _header, _plaintext, parts = three_parts()

    class Watched(io.BytesIO):
        largest = 0

        def read(self, size: int | None = -1) -> bytes:
            assert size is not None
            assert size >= 0
            Watched.largest = max(Watched.largest, size)
            return super().read(size)

    stream.decrypt_stream(Watched(joined(parts)), io.BytesIO(), lambda _h: KEY)
    assert Watched.largest <= RECORD_SIZE


def test_a_part_of_the_wrong_length_is_refused_before_sealing() -> None:
    header = new_header()
    with pytest.raises(ValueError, match=r"seals plaintext bytes 0\.\.10"):
        encrypt_part(KEY, header, 10, 1, b"short")
