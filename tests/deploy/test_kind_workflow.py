"""The kind workflow cannot run here; assert it is valid YAML that installs the chart as the
chart tests render it and runs the e2e suite against the cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT, SERVICES, yaml_mapping

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "kind.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return yaml_mapping(WORKFLOW)


@pytest.fixture(scope="module")
def script(workflow: dict[Any, Any]) -> str:
    (job,) = workflow["jobs"].values()
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_is_a_workflow_with_one_timed_job(workflow: dict[Any, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    assert 0 < job["timeout-minutes"] <= 60
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert "@" in step["uses"], f"pin {step['uses']}"


def test_builds_loads_and_installs_every_image(script: str, workflow: dict[Any, Any]) -> None:
    assert "for service in storage-api web worker" in script
    assert set(SERVICES) == {"storage-api", "web", "worker"}
    assert 'docker build --build-arg SERVICE="$service"' in script
    assert "kind load docker-image" in script
    for values_key in ("web", "storageApi", "worker", "beat"):
        assert f'--set {values_key}.image.tag="$IMAGE_TAG"' in script
        assert f"--set {values_key}.image.pullPolicy=Never" in script
    assert "-f deploy/helm/s3tasks/ci/dev-values.yaml" in script
    assert (REPO_ROOT / "deploy/helm/s3tasks/ci/dev-values.yaml").is_file()
    assert workflow["env"]["HELM_VERSION"] == "v4.1.4", "the helm the chart tests use here"


def test_runs_helm_test_and_the_e2e_suite_against_the_cluster(workflow: dict[Any, Any]) -> None:
    (job,) = workflow["jobs"].values()
    steps = {step["name"]: step for step in job["steps"] if "name" in step}
    assert "helm test" in steps["helm test (web /readyz)"]["run"]
    e2e = steps["Browser e2e against the cluster"]
    assert e2e["env"]["S3TASKS_E2E_BASE_URL"] == "http://127.0.0.1:8080"
    # the share links the suite follows are made with the address it reaches web at
    install = steps["Install the chart (dev mode)"]["run"]
    assert "--set web.publicUrl=http://127.0.0.1:8080" in install
    assert "port-forward" in steps["Port-forward web"]["run"]
    assert "8080:80" in steps["Port-forward web"]["run"]
    assert "pytest tests/e2e" in e2e["run"]
    assert "port-forward" in steps["Port-forward web"]["run"]
    assert "$RELEASE-web" in steps["Port-forward web"]["run"]
    assert steps["Cluster state on failure"]["if"] == "failure()"


def test_names_no_registry_host() -> None:
    text = WORKFLOW.read_text()
    for host in ("docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "gcr.io"):
        assert host not in text
    assert Path(WORKFLOW).suffix == ".yml"
