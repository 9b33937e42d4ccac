"""The committed upload script is the build of its sources (`make assets`), so running the
site, its image and CI need no node; checked wherever node and npm are installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
BUNDLE = Path(__file__).resolve().parents[1] / "src" / "s3tasks_web" / "static" / "upload.js"


def test_the_committed_upload_script_is_the_build_of_its_sources(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are not installed: the committed bundle is not rebuilt here")
    work = tmp_path / "frontend"
    shutil.copytree(FRONTEND, work, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work,
        check=True,
        timeout=240,
    )
    built = tmp_path / "upload.js"
    subprocess.run(
        [npm, "run", "--silent", "build"],
        cwd=work,
        check=True,
        timeout=120,
        env={**os.environ, "OUTFILE": str(built)},
    )
    assert built.read_bytes() == BUNDLE.read_bytes(), (
        "services/web/src/s3tasks_web/static/upload.js is not the build of"
        " services/web/frontend: run `make assets` and commit the result"
    )
