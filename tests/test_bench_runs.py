"""The benchmark entry point runs end to end in its tiny mode and writes what the README quotes.

Benchmarks never fail on a time: this checks the structure of the results, not the numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_smoke_writes_every_case(tmp_path: Path) -> None:
    out = tmp_path / "results"
    subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--logs", str(tmp_path)],
        cwd=REPO_ROOT,
        check=True,
        timeout=540,
    )
    result = json.loads((out / "latest.json").read_text())
    assert result["mode"] == "smoke"
    assert result["machine"]["nproc"] >= 1
    assert result["s3_server"].startswith(("radosgw", "moto"))  # which S3 the ratios are against
    cases = result["cases"]
    assert [c["case"] for c in cases] == list(range(1, 13))
    for c in cases:
        assert isinstance(c["ratio"], float)
        assert math.isfinite(c["ratio"]), c
        assert c["goal"]["op"] in (">=", "<=")
        assert isinstance(c["met"], bool)
    sizes = cases[0]["details"]["sizes"]
    assert sizes
    assert all("upload_ratio" in s and "download_ratio" in s for s in sizes)
    table = (out / "latest.md").read_text()
    assert "| # | case |" in table
    assert result["s3_server"] in table
    assert table.count("\n| ") >= 12 + 1
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_profile_records_where_each_service_spends_its_cpu(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--cases", "6", "--out", str(tmp_path / "r"),
         "--logs", str(tmp_path)],
        cwd=REPO_ROOT,
        check=True,
        timeout=540,
        env={**os.environ, "S3TASKS_BENCH_PROFILE": str(profiles)},
    )  # fmt: skip
    summary = (profiles / "6-page-serving.md").read_text()
    for service in ("web", "storage-api"):
        raw = (profiles / f"6-page-serving-{service}.txt").read_text()
        assert raw.strip(), f"py-spy took no sample of {service}"
        assert f"## {service}: " in summary
    # the page handlers were on the CPU while the case loaded them
    assert "s3tasks_web/" in summary
    assert "s3tasks_storage_api/" in summary
