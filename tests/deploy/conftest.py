"""Shared helpers of the deployment tests: paths, and the tools they drive."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("storage-api", "web", "worker")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
