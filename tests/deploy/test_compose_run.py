"""docker-compose.yml started for real (issue 27): `make up` with the committed override
deploy/compose/host-services.yml runs migrate, storage-api, worker, beat and web in containers
built from the Dockerfile, against this run's PostgreSQL database, Redis key prefix and S3
bucket on the host; Chromium uploads, downloads and deletes through web's port; `make down`
removes every container.

No registry answers here: the images build on the debootstrap base (BASE_IMAGE) with the
host's CA bundle mounted for the TLS-intercepting proxy (BUILD_CA), and MinIO, PostgreSQL and
Redis (official images) are not started. podman-compose drives podman; where podman cannot run
at all the `podman` fixture skips with its reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from s3tasks_testkit import backing_services
from s3tasks_testkit.patience import JOB_SECONDS, patience
from s3tasks_testkit.ports import start_on_free_ports
from s3tasks_testkit.processes import http_ok, wait_until

from .conftest import HOST_CA_BUNDLE, REPO_ROOT, container_listens

pytestmark = [pytest.mark.containers, pytest.mark.e2e, pytest.mark.heavy, pytest.mark.timeout(3600)]

OVERRIDE = "deploy/compose/host-services.yml"
APP_SERVICES = {"migrate", "storage-api", "worker", "beat", "web"}
LONG_RUNNING = APP_SERVICES - {"migrate"}
NOT_STARTED = {"minio", "minio-init", "postgres", "redis"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


@dataclass(frozen=True)
class Compose:
    """One compose project of this test: its env file, its name, and the make arguments."""

    env_file: Path
    project: str
    make_args: tuple[str, ...]
    #: what `make up` said, once the fixture ran it
    up_output: str = ""

    def make(
        self, target: str, *extra: str, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "make",
                "--no-print-directory",
                target,
                f"COMPOSE_ENV={self.env_file}",
                *self.make_args,
                *extra,
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "COMPOSE_PROJECT_NAME": self.project},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def containers(self, podman: str) -> dict[str, dict[str, str]]:
        """This project's containers by compose service: state and exit code."""
        listed = subprocess.run(
            [podman, "ps", "--all", "--format", "json", "--filter",
             f"label=io.podman.compose.project={self.project}"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        found = {}
        for c in json.loads(listed.stdout or "[]"):
            service = c["Labels"]["io.podman.compose.service"]
            found[service] = {
                "name": c["Names"][0],
                "state": c["State"],
                "exit": str(c["ExitCode"]),
            }
        return found


def write_env(path: Path, values: dict[str, str]) -> None:
    """make-env.sh's file (random secrets), with `values` in place of the example's."""
    subprocess.run(
        [str(REPO_ROOT / "deploy/compose/make-env.sh"), str(path)], check=True, timeout=30
    )
    lines = [line for line in path.read_text().splitlines() if line.split("=", 1)[0] not in values]
    path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")


def listening_addresses(port: int) -> set[str]:
    """The local IPv4/IPv6 addresses a TCP socket listens on at `port` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 as /proc shows them


def png(path: Path) -> Path:
    Image.new("RGB", (64, 48), (40, 120, 200)).save(path, "PNG")
    return path


def upload(page: Page, base_url: str, kind: str, file: Path, description: str | None) -> None:
    page.goto(f"{base_url}/{kind}s")
    if description is not None:
        page.get_by_label("Description").fill(description)
    page.locator("#file").set_input_files(str(file))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text(f"Uploaded {file.name}")


def delete_all(page: Page, base_url: str, kind: str) -> None:
    page.goto(f"{base_url}/{kind}s")
    page.get_by_label(f"Yes, delete all my {kind}s").check()
    with page.expect_navigation():
        page.get_by_role("button", name=f"Delete all {kind}s").click()
    expect(page.get_by_text(f"No {kind}s yet")).to_be_visible()


@pytest.fixture
def compose(
    podman: str,
    base_image: str,
    database_url: str,
    redis_ns: backing_services.RedisNamespace,
    s3_endpoint: backing_services.S3Endpoint,
    s3_bucket: str,
    artifacts_dir: Path,
    tmp_path: Path,
) -> Iterator[Compose]:
    make_args = [f"COMPOSE_OVERRIDE={OVERRIDE}", f"BASE_IMAGE={base_image}"]
    if HOST_CA_BUNDLE.exists():
        make_args.append(f"BUILD_CA={HOST_CA_BUNDLE}")

    def up(free: tuple[int, ...]) -> Compose:
        """`make up` of a new project on `free` ports, once every container listens on its
        own; PortTaken (the project down again) if another process bound one first."""
        web, storage_api, web_metrics, worker_metrics = free
        project = Compose(
            tmp_path / f"compose-{web}.env",
            f"s3t-compose-{uuid.uuid4().hex[:6]}",
            tuple(make_args),
        )
        write_env(
            project.env_file,
            {
                "S3TASKS_IMAGE_TAG": "compose",
                "S3TASKS_HTTP_PORT": str(web),
                "S3TASKS_SITE_ORIGINS": f"http://127.0.0.1:{web}",
                "S3TASKS_PUBLIC_URL": f"http://127.0.0.1:{web}",
                "S3TASKS_HOST_DATABASE_URL": backing_services.sqlalchemy_url(database_url),
                "S3TASKS_HOST_REDIS_URL": redis_ns.url,
                "S3TASKS_HOST_REDIS_KEY_PREFIX": redis_ns.prefix,
                "S3TASKS_HOST_S3_ENDPOINT": s3_endpoint.url,
                "S3TASKS_S3_ACCESS_KEY": s3_endpoint.access_key,
                "S3TASKS_S3_SECRET_KEY": s3_endpoint.secret_key,
                "S3TASKS_S3_REGION": s3_endpoint.region,
                "S3TASKS_S3_BUCKET": s3_bucket,
                "S3TASKS_HOST_STORAGE_API_PORT": str(storage_api),
                "S3TASKS_HOST_WEB_METRICS_PORT": str(web_metrics),
                "S3TASKS_HOST_WORKER_METRICS_PORT": str(worker_metrics),
            },
        )
        try:
            done = project.make("up")
            said = done.stdout + done.stderr
            (artifacts_dir / f"make-up-{project.project}.log").write_text(said)
            assert done.returncode == 0, said[-8000:]
            listening = {
                "storage-api": [storage_api],
                "web": [web, web_metrics],
                "worker": [worker_metrics],
            }

            def all_listen() -> bool:
                containers = project.containers(podman)
                return all(
                    service in containers
                    and container_listens(podman, containers[service]["name"], ports)
                    for service, ports in listening.items()
                )

            wait_until(
                all_listen,
                timeout=patience(starts=3),
                interval=1,
                message="the compose containers listening",
            )
        except BaseException:
            down(project)  # a start on new ports begins from nothing
            raise
        return dataclasses.replace(project, up_output=done.stdout)

    def down(project: Compose) -> None:
        logs = artifacts_dir / "logs" / f"compose-{project.project}"
        logs.mkdir(parents=True, exist_ok=True)
        for service, c in project.containers(podman).items():
            done = subprocess.run(
                [podman, "logs", c["name"]], capture_output=True, text=True, timeout=60, check=False
            )
            (logs / f"{service}.log").write_text(done.stdout + done.stderr)
        project.make("down", timeout=600)
        for c in project.containers(podman).values():  # only if `make down` left any
            subprocess.run(
                [podman, "rm", "--force", c["name"]], capture_output=True, timeout=120, check=False
            )

    project = start_on_free_ports(4, up)
    try:
        yield project
    finally:
        down(project)


def test_make_up_runs_the_app_containers_that_a_browser_uses_and_make_down_removes_them(
    compose: Compose,
    podman: str,
    s3_endpoint: backing_services.S3Endpoint,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    # the fixture ran `make up` (again, on other ports, if a port was taken meanwhile)
    values = dict(
        line.split("=", 1) for line in compose.env_file.read_text().splitlines() if "=" in line
    )
    base_url = f"http://127.0.0.1:{values['S3TASKS_HTTP_PORT']}"
    assert base_url.removeprefix("http://") in compose.up_output.replace("localhost", "127.0.0.1")
    wait_until(
        lambda: http_ok(f"{base_url}/readyz"),
        timeout=patience(starts=3),
        message="web (compose) ready",
    )

    # what runs: the five services of s3tasks, on loopback only; none of the official images
    containers = compose.containers(podman)
    assert set(containers) == APP_SERVICES, containers
    # podman starts a container's dependencies with it (podman-compose creates them with
    # --requires), so the one-shot migrate runs again, finding nothing to do, as each later
    # container starts: it ends, and ends well
    wait_until(
        lambda: compose.containers(podman)["migrate"]["state"] == "exited",
        timeout=patience(starts=1),
        message="migrate done",
    )
    assert compose.containers(podman)["migrate"]["exit"] == "0"
    for service in LONG_RUNNING:
        assert containers[service]["state"] == "running", (service, containers[service])
    for key in (
        "S3TASKS_HTTP_PORT",
        "S3TASKS_HOST_STORAGE_API_PORT",
        "S3TASKS_HOST_WORKER_METRICS_PORT",
    ):
        assert listening_addresses(int(values[key])) <= LOOPBACK, key
        assert listening_addresses(int(values[key])), f"nothing listens on {key}"

    bucket = s3_endpoint.client()
    content = bytes(range(256)) * 512 + b"through compose"
    source = tmp_path / "report.bin"
    source.write_bytes(content)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(30_000)
            page = context.new_page()
            upload(page, base_url, "file", source, "through compose")
            expect(page.locator("dd.description")).to_have_text("through compose")
            with page.expect_download() as download_info:
                page.get_by_role("link", name="Download report.bin").click()
            saved = tmp_path / "downloaded.bin"
            download_info.value.save_as(saved)
            assert saved.read_bytes() == content
            upload(page, base_url, "image", png(tmp_path / "photo.png"), None)
            thumbnail = page.locator(".gallery img")
            expect(thumbnail).to_have_count(1)
            assert thumbnail.evaluate("(img) => img.complete && img.naturalWidth > 0")
            assert (
                len(backing_services.object_keys(bucket, s3_bucket)) >= 2
            )  # the file, the image (+ thumbnail)
            delete_all(page, base_url, "file")
            delete_all(page, base_url, "image")
        finally:
            browser.close()
    # the worker container deleted the objects (storage-api queued the purges on Redis)
    wait_until(
        lambda: not backing_services.object_keys(bucket, s3_bucket),
        timeout=patience(2 * JOB_SECONDS),
        interval=0.5,
        message="the worker deleted every object",
    )

    down = compose.make("down", timeout=600)
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert compose.containers(podman) == {}
    assert not http_ok(f"{base_url}/readyz")


def test_make_up_without_a_registry_says_how_to_build_on_another_base(
    podman: str, tmp_path: Path
) -> None:
    """A newcomer's `make up` where no registry answers: the base image cannot be pulled, and
    the error says how to build on another one (a base that can never be pulled stands in for
    python:3.11-slim-bookworm, so the test does not depend on the network)."""
    env_file = tmp_path / "compose.env"
    write_env(env_file, {"S3TASKS_IMAGE_TAG": "no-registry"})
    unpullable = "localhost/s3tasks-no-such-base:missing"
    project = Compose(env_file, f"s3t-noreg-{uuid.uuid4().hex[:6]}", (f"BASE_IMAGE={unpullable}",))
    up = project.make("up", timeout=900)
    said = up.stdout + up.stderr
    assert up.returncode != 0
    assert f"FROM {unpullable}" in said, said[-3000:]
    assert "could not be" in said
    assert "make up BASE_IMAGE=localhost/bookworm-min" in said
    assert "debootstrap" in said
    assert "COMPOSE_OVERRIDE=deploy/compose/host-services.yml" in said
    assert project.containers(podman) == {}
