"""The committed scripts (the upload script, the decrypting service worker) are the build of
their sources (`make assets`), so running the site, its image and CI need no node; checked
wherever node and npm are installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
STATIC = Path(__file__).resolve().parents[1] / "src" / "s3tasks_web" / "static"
BUNDLES = ("upload.js", "decrypt-worker.js")


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
    built = tmp_path / "built"
    subprocess.run(
        [npm, "run", "--silent", "build"],
        cwd=work,
        check=True,
        timeout=120,
        env={**os.environ, "OUTDIR": str(built)},
    )
    for name in BUNDLES:
        assert (built / name).read_bytes() == (STATIC / name).read_bytes(), (
            f"services/web/src/s3tasks_web/static/{name} is not the build of"
            " services/web/frontend: run `make assets` and commit the result"
        )
