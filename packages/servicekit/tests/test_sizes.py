from __future__ import annotations

from s3tasks_servicekit.sizes import human_size


def test_sizes_are_in_binary_units_as_the_limits_are_set() -> None:
    assert human_size(999) == "999 bytes"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(20 * 1024 * 1024) == "20 MiB"
    assert human_size(5 * 1024**4) == "5120 GiB"
