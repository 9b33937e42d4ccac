"""docker-compose.yml: the wiring issue 6 asks for, asserted on the parsed file, and the file
validated by compose itself (podman-compose here, docker compose where a Docker engine runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO_ROOT, yaml_mapping

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
HOST_OVERRIDE = REPO_ROOT / "deploy" / "compose" / "host-services.yml"
ENV_EXAMPLE = REPO_ROOT / "deploy" / "compose.env.example"
ONE_SHOTS = {"minio-init", "migrate"}
APP_SERVICES = {"migrate", "storage-api", "worker", "beat", "web"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$", re.IGNORECASE)
REQUIRED_VAR = re.compile(r"\$\{(\w+):\?[^}]+\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml_mapping(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _default_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if not svc.get("profiles")}


def test_the_stack_has_every_part(services: dict[str, dict[str, Any]]) -> None:
    assert set(_default_services(services)) == {
        "minio",
        "minio-init",
        "postgres",
        "redis",
        *APP_SERVICES,
    }
    assert {n for n, s in services.items() if "observability" in s.get("profiles", [])} == {
        "prometheus",
        "grafana",
    }


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in services.items():
        if name in ONE_SHOTS:
            assert svc.get("restart") == "no", f"{name} is a one-shot: it must not restart"
            continue
        check = svc.get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name
        assert "curl" not in " ".join(check["test"]), f"{name}: no curl in the images"
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]


def test_web_serves_metrics_on_a_port_of_its_own(services: dict[str, dict[str, Any]]) -> None:
    web = services["web"]
    assert web["environment"]["WEB_METRICS_PORT"] == "9101"
    assert web["environment"]["WEB_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - inside the network
    assert "9101" in [str(p) for p in web["expose"]]


def test_only_web_publishes_a_port_beyond_loopback(services: dict[str, dict[str, Any]]) -> None:
    published = {n for n, s in _default_services(services).items() if s.get("ports")}
    assert published == {"web", "minio"}
    assert [p.split(":")[-1] for p in services["web"]["ports"]] == ["8080"]
    # MinIO (for the browser in direct mode) and the observability profile's Grafana are
    # published on loopback only.
    for name, svc in services.items():
        if name != "web":
            assert all(str(p).startswith("127.0.0.1:") for p in svc.get("ports", [])), name


def test_transfer_mode_is_chosen_by_one_variable_and_proxy_by_default(
    services: dict[str, dict[str, Any]],
) -> None:
    env = services["storage-api"]["environment"]
    assert env["STORAGE_API_TRANSFER_MODE"] == "${S3TASKS_TRANSFER_MODE:-proxy}"
    # web and the worker learn the mode from storage-api, never from a setting of their own
    for name in ("web", "worker", "beat"):
        assert "TRANSFER" not in " ".join(services[name]["environment"]), name


def test_direct_mode_reaches_minio_from_the_browser_on_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    env = services["storage-api"]["environment"]
    # storage-api talks to MinIO inside the network, and signs for the host the browser types
    assert env["STORAGE_API_S3_ENDPOINT"] == "http://minio:9000"
    public_url = env["STORAGE_API_S3_PUBLIC_URL"]
    assert public_url == "${S3TASKS_S3_PUBLIC_URL:-http://localhost:9000}"
    assert services["minio"]["ports"] == ["127.0.0.1:${S3TASKS_S3_PORT:-9000}:9000"]
    example = _env_example()
    assert example["S3TASKS_S3_PUBLIC_URL"] == f"http://localhost:{example['S3TASKS_S3_PORT']}"
    assert example["S3TASKS_TRANSFER_MODE"] == "proxy"


def test_the_pages_origins_may_send_and_fetch_bytes_from_minio(
    services: dict[str, dict[str, Any]],
) -> None:
    """MinIO ignores bucket CORS (its own global setting decides); storage-api still writes
    the bucket's rule, for an S3 that honours it (AWS, radosgw) put in MinIO's place."""
    origins = "${S3TASKS_SITE_ORIGINS:-http://localhost:8080,http://127.0.0.1:8080}"
    assert services["minio"]["environment"]["MINIO_API_CORS_ALLOW_ORIGIN"] == origins
    assert services["storage-api"]["environment"]["STORAGE_API_CORS_ORIGINS"] == origins
    example = _env_example()
    port = example["S3TASKS_HTTP_PORT"]
    assert example["S3TASKS_SITE_ORIGINS"].split(",") == [
        f"http://localhost:{port}",
        f"http://127.0.0.1:{port}",
    ]


def test_share_links_name_the_published_port(services: dict[str, dict[str, Any]]) -> None:
    """web's own socket is the container's address, which no browser reaches: the links it
    shows are made with the address the site is opened at."""
    public = "${S3TASKS_PUBLIC_URL:-http://localhost:8080}"
    assert services["web"]["environment"]["WEB_PUBLIC_URL"] == public
    example = _env_example()
    assert example["S3TASKS_PUBLIC_URL"] == f"http://localhost:{example['S3TASKS_HTTP_PORT']}"


def _condition(svc: dict[str, Any], dependency: str) -> str:
    return str(svc["depends_on"][dependency]["condition"])


def test_start_order_waits_for_health_and_one_shots(
    services: dict[str, dict[str, Any]],
) -> None:
    expected = {
        ("minio-init", "minio"): "service_healthy",
        ("migrate", "postgres"): "service_healthy",
        ("storage-api", "migrate"): "service_completed_successfully",
        ("storage-api", "minio-init"): "service_completed_successfully",
        ("storage-api", "redis"): "service_healthy",
        ("worker", "storage-api"): "service_healthy",
        ("worker", "redis"): "service_healthy",
        ("beat", "redis"): "service_healthy",
        ("web", "storage-api"): "service_healthy",
        ("grafana", "prometheus"): "service_healthy",
    }
    for (service, dependency), condition in expected.items():
        assert _condition(services[service], dependency) == condition, (service, dependency)
    for name, svc in services.items():
        assert isinstance(svc.get("depends_on", {}), dict), f"{name}: use the long form"


def test_app_containers_run_hardened(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        svc = services[name]
        assert svc["read_only"] is True, name
        assert svc["tmpfs"] == ["/tmp"], name
        assert svc["user"] == "10001:10001", name
        assert svc["cap_drop"] == ["ALL"], name
    assert services["beat"]["image"] == services["worker"]["image"]
    assert services["beat"]["command"] == ["beat"]
    assert services["migrate"]["image"] == services["storage-api"]["image"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["storage-api"]["environment"] == services["migrate"]["environment"]


def test_each_image_is_built_from_the_one_dockerfile_for_its_service(
    services: dict[str, dict[str, Any]],
) -> None:
    built_from = {"migrate": "storage-api", "storage-api": "storage-api", "web": "web"}
    built_from |= {"worker": "worker", "beat": "worker"}
    # one variable chooses the base (`make up BASE_IMAGE=...`), by default the Dockerfile's
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    assert default
    base_image = f"${{S3TASKS_BASE_IMAGE:-{default[1]}}}"
    for name, service in built_from.items():
        build = services[name]["build"]
        assert build["context"] == ".", name
        assert build["dockerfile"] == "Dockerfile", name
        assert build["args"] == {"SERVICE": service, "BASE_IMAGE": base_image}, name
        assert services[name]["image"].startswith(f"${{S3TASKS_IMAGE_PREFIX:-s3tasks}}-{service}:")


def test_only_storage_api_holds_database_and_s3_credentials(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("web", "worker", "beat"):
        env = " ".join(f"{k}={v}" for k, v in services[name]["environment"].items())
        for secret in ("POSTGRES_PASSWORD", "S3_SECRET_KEY", "MINIO_ROOT_PASSWORD"):
            assert secret not in env, (name, secret)


def test_each_storage_api_caller_presents_its_own_credential(
    services: dict[str, dict[str, Any]],
) -> None:
    web = services["web"]["environment"]["WEB_SERVICE_TOKEN"]
    worker = services["worker"]["environment"]["WORKER_SERVICE_TOKEN"]
    assert web != worker
    assert services["beat"]["environment"]["WORKER_SERVICE_TOKEN"] == worker
    accepted = services["storage-api"]["environment"]
    # the caller's current credential, then the previous one during a rotation (else empty)
    assert accepted["STORAGE_API_WEB_TOKENS"].startswith(f"{web},")
    assert accepted["STORAGE_API_WORKER_TOKENS"].startswith(f"{worker},")
    assert "PREVIOUS:-}" in accepted["STORAGE_API_WEB_TOKENS"]
    assert "PREVIOUS:-}" in accepted["STORAGE_API_WORKER_TOKENS"]
    assert worker not in " ".join(map(str, services["web"]["environment"].values()))
    assert web not in " ".join(map(str, services["worker"]["environment"].values()))


def test_no_secret_literal_in_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_NAME.search(key) and not key.endswith("ACCESS_KEY"):
                assert REQUIRED_VAR.search(str(value)), f"{name}.{key} must be ${{VAR:?}}"
        for value in (svc.get("environment") or {}).values():
            # a URL with a password carries it only through a required variable
            match = re.search(r"://[^:/@]+:([^@]+)@", str(value))
            if match:
                assert REQUIRED_VAR.fullmatch(match[1]), f"{name}: {value}"


def _env_example() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_env_example_documents_every_variable_with_dev_only_secrets() -> None:
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    used |= set(re.findall(r"\$\{(\w+)", HOST_OVERRIDE.read_text()))
    example = _env_example()
    assert used == set(example), used ^ set(example)
    required = set(REQUIRED_VAR.findall(COMPOSE_FILE.read_text()))
    assert required
    for name in required:
        assert example[name].startswith("dev-only-"), f"{name} must be marked dev-only"


def test_named_volumes_hold_the_state(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, mount in {
        "minio": "/data",
        "postgres": "/var/lib/postgresql/data",
        "redis": "/data",
    }.items():
        volume = next(v.split(":")[0] for v in services[name]["volumes"] if f":{mount}" in v)
        assert volume in compose["volumes"], name


def test_observability_uses_the_chart_files(services: dict[str, dict[str, Any]]) -> None:
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    for path in (
        "deploy/helm/s3tasks/files/prometheus-rules.yaml",
        "deploy/helm/s3tasks/files/grafana-dashboard.json",
        "deploy/compose/prometheus.yml",
    ):
        assert any(m.startswith(f"./{path}:") for m in mounts), path
        assert (REPO_ROOT / path).is_file(), path
    scrape = yaml.safe_load((REPO_ROOT / "deploy/compose/prometheus.yml").read_text())
    targets = {
        t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert {"storage-api:8000", "web:9101", "worker:9102"} <= targets
    assert "web:8080" not in targets  # the public port serves no metrics


def _compose_cli(podman: str) -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "info"], capture_output=True, timeout=60, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    podman_compose = Path(sys.executable).with_name("podman-compose")
    return [str(podman_compose)] if podman_compose.exists() else None


def test_compose_validates_the_file(podman: str, tmp_path: Path) -> None:
    cli = _compose_cli(podman)
    if cli is None:
        pytest.skip("neither docker compose (with an engine) nor podman-compose is available")
    env_file = tmp_path / "compose.env"
    subprocess.run(
        [str(REPO_ROOT / "deploy/compose/make-env.sh"), str(env_file)], check=True, timeout=30
    )
    base = [
        *cli,
        "--env-file",
        str(env_file),
        "-f",
        str(COMPOSE_FILE),
        "--profile",
        "observability",
    ]
    done = subprocess.run(
        [*base, "config"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert {"web", "worker", "beat", "grafana"} <= set(rendered["services"])
    assert "dev-only" not in done.stdout
    # A required secret left unset is refused.
    env_file.write_text(env_file.read_text().replace("S3TASKS_WEB_SERVICE_TOKEN=", "UNUSED="))
    done = subprocess.run(
        [*base, "config"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "S3TASKS_WEB_SERVICE_TOKEN" in done.stderr + done.stdout


# -- deploy/compose/host-services.yml: s3tasks' containers against this machine's services --


class _ComposeLoader(yaml.SafeLoader):
    """YAML with compose's `!reset` tag (the value it resets to)."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: loader.construct_sequence(node))


@pytest.fixture(scope="module")
def host_override() -> dict[str, dict[str, Any]]:
    data = yaml.load(HOST_OVERRIDE.read_text(), Loader=_ComposeLoader)  # noqa: S506 - SafeLoader
    assert isinstance(data, dict)
    return dict(data["services"])


def test_host_override_starts_no_official_image(
    host_override: dict[str, dict[str, Any]], services: dict[str, dict[str, Any]]
) -> None:
    backing = set(_default_services(services)) - APP_SERVICES
    assert backing == {"minio", "minio-init", "postgres", "redis"}
    for name in backing:
        assert host_override[name] == {"scale": 0}, name
    # what depended on them no longer waits for them (compose: `required: false`)
    for name in APP_SERVICES:
        for dependency, condition in host_override[name].get("depends_on", {}).items():
            assert dependency in backing, (name, dependency)
            assert condition["required"] is False, (name, dependency)


def test_host_override_runs_the_app_on_the_host_network_listening_on_loopback_only(
    host_override: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        assert host_override[name]["network_mode"] == "host", name
        env = host_override[name]["environment"]
        hosts = {k: v for k, v in env.items() if k.endswith("_HOST")}
        assert all(v == "127.0.0.1" for v in hosts.values()), (name, hosts)
        for key, value in env.items():
            if key.endswith("_URL") and "://" in str(value) and "S3TASKS_HOST" not in str(value):
                assert "://127.0.0.1:" in str(value), (name, key)
    # a listener of its own: no port to publish (host networking), listening on loopback
    assert host_override["web"]["ports"] == []
    assert host_override["web"]["environment"]["WEB_PORT"] == "${S3TASKS_HTTP_PORT:-8080}"
    assert {"storage-api", "web", "worker"} <= {
        n
        for n, s in host_override.items()
        if any(k.endswith("_HOST") for k in s.get("environment", {}))
    }


def test_host_override_gives_credentials_to_storage_api_only(
    host_override: dict[str, dict[str, Any]],
) -> None:
    assert host_override["migrate"]["environment"] == host_override["storage-api"]["environment"]
    assert "STORAGE_API_DATABASE_URL" in host_override["storage-api"]["environment"]
    for name in ("web", "worker", "beat"):
        env = " ".join(f"{k}={v}" for k, v in host_override[name]["environment"].items())
        for secret in ("DATABASE_URL", "S3_ENDPOINT", "S3_SECRET_KEY"):
            assert secret not in env, (name, secret)


def test_compose_merges_the_host_override(podman: str, tmp_path: Path) -> None:
    cli = _compose_cli(podman)
    if cli is None:
        pytest.skip("neither docker compose (with an engine) nor podman-compose is available")
    env_file = tmp_path / "compose.env"
    subprocess.run(
        [str(REPO_ROOT / "deploy/compose/make-env.sh"), str(env_file)], check=True, timeout=30
    )
    files = ["-f", str(COMPOSE_FILE), "-f", str(HOST_OVERRIDE)]
    done = subprocess.run(
        [*cli, "--env-file", str(env_file), *files, "config"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)["services"]
    assert not rendered["web"].get("ports")
    assert rendered["storage-api"]["environment"]["STORAGE_API_HOST"] == "127.0.0.1"
    # the base file's dependency that still holds: storage-api starts after the migration
    assert _condition(rendered["storage-api"], "migrate") == "service_completed_successfully"
    for name in APP_SERVICES:
        assert rendered[name]["network_mode"] == "host", name
