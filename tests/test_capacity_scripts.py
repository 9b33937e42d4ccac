"""The capacity scripts (costs, model, replay, soak: docs/capacity.md) still run, in tiny
forms. They never fail on a figure: the runs check structure, the model its arithmetic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from s3tasks_testkit.backing_services import DEFAULT_POSTGRES_ADMIN_URL

REPO_ROOT = Path(__file__).resolve().parent.parent
COSTS = REPO_ROOT / "bench" / "results" / "costs.json"
ACTIONS = (
    "page_view",
    "upload_small_proxy",
    "upload_large_proxy",
    "download_small_proxy",
    "download_large_proxy",
    "share_create",
    "share_grant",
    "deletion_sweep",
    "upload_small_direct",
    "upload_large_direct",
    "download_small_direct",
    "download_large_direct",
)


def _bench(tmp_path: Path, module: str, *args: str, timeout: float = 840) -> str:
    return subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--out", str(tmp_path / "results"),
         "--logs", str(tmp_path / "logs")],
        cwd=REPO_ROOT, check=True, timeout=timeout, capture_output=True, text=True,
    ).stdout  # fmt: skip


def _results(tmp_path: Path, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((tmp_path / "results" / f"{name}.json").read_text())
    return result


def _capacity(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "bench.capacity", *args],
        cwd=REPO_ROOT, check=True, timeout=60, capture_output=True, text=True,
    ).stdout  # fmt: skip


def test_model_prints_the_three_audiences_from_the_published_costs() -> None:
    out = _capacity("--costs", str(COSTS))
    assert "| visitors a day | 10 k | 1 M | 100 M |" in out
    for line in ("web replicas", "storage-api replicas", "worker replicas",
                 "PostgreSQL rows at steady state", "S3 requests a month", "egress GB a month",
                 "one PostgreSQL of 8 cores"):  # fmt: skip
        assert line in out


def test_model_scales_with_the_audience() -> None:
    """Ten times the visitors: ten times the rows, S3 requests and bytes."""
    small, large = (
        [line for line in _capacity("--visitors", v, "--costs", str(COSTS)).splitlines()
         if line.startswith(("| S3 requests a month", "| stored GB"))]
        for v in ("1000000", "10000000")
    )  # fmt: skip
    assert small != large
    assert len(small) == len(large) == 2


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_costs_smoke_measures_every_action(tmp_path: Path) -> None:
    _bench(tmp_path, "costs", "--smoke")
    costs = _results(tmp_path, "costs")
    assert set(costs["actions"]) == set(ACTIONS)
    for name, action in costs["actions"].items():
        assert {"web", "storage-api", "worker"} <= set(action["cpu_ms"]), name
        assert action["redis_commands"] is not None, name  # a Redis of the run's own
    # the bytes went to S3 and came back: radosgw's log counted the requests
    assert costs["actions"]["upload_small_proxy"]["s3_requests"] > 0
    assert costs["actions"]["download_small_direct"]["s3_by_method"].get("GET", 0) > 0
    out = _capacity("--costs", str(tmp_path / "results" / "costs.json"))
    assert "storage-api replicas" in out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_soak_smoke_churns_and_reports(tmp_path: Path) -> None:
    # the suite's PostgreSQL: an embedded one (the soak's default, for its autovacuum) cannot
    # run below pytest's root-only temporary directories
    _bench(tmp_path, "soak", "--items", "2000", "--live", "1000", "--batch", "500",
           "--postgres", DEFAULT_POSTGRES_ADMIN_URL)  # fmt: skip
    soak = _results(tmp_path, "soak")
    assert soak["completed"] is True
    assert soak["items_swept"] == 1000
    assert soak["end"]["rows"] == 1000  # the live rows of the steady state, no more
    assert soak["sweep_batch_ms"]["batches"] == 2
    assert soak["size_ratio_end_vs_steady"]["table"] > 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_replay_smoke_compares_with_the_model(tmp_path: Path) -> None:
    _bench(tmp_path, "replay", "--seconds", "4", "--share", "0.05", "--threads", "2",
           "--costs", str(COSTS))  # fmt: skip
    replay = _results(tmp_path, "replay")
    assert replay["error_count"] == 0, replay["errors"]
    assert replay["actions_done"]["pages"] > 0
    for service in ("web", "storage-api"):
        assert replay["cpu"][service]["predicted_cpu_ms"] > 0
