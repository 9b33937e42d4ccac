"""The Helm chart: lint, schema, Kubernetes OpenAPI validation and policy over its renderings.

helm comes from the npm package environment.md names (fixture `helm`); nothing here needs a
cluster. Renderings are made once per values file and shared by the policy tests.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from s3tasks_testkit.balancer import INGRESS_MAX_BODY, TOO_LARGE_PAGE, nginx_conf

from .conftest import REPO_ROOT

CHART = REPO_ROOT / "deploy" / "helm" / "s3tasks"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
VALUES_IDS = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
APP_COMPONENTS = {"web", "storage-api", "worker", "beat"}

Manifest = dict[str, Any]


def render(helm: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, "template", "s3t", str(CHART), "--namespace", "s3tasks", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def refusal(helm: str, *args: str) -> str:
    """What helm says when it refuses to render with these arguments (it must refuse)."""
    done = render(helm, *args, check=False)
    assert done.returncode != 0
    return done.stderr


def manifests(helm: str, *args: str) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(render(helm, *args).stdout) if d]


@pytest.fixture(scope="module")
def renderings(helm: str) -> dict[str, list[Manifest]]:
    return {
        name: manifests(helm, "-f", str(p)) for name, p in zip(VALUES_IDS, CI_VALUES, strict=True)
    }


def test_ci_values_cover_the_required_cases() -> None:
    assert {"defaults", "dev", "all-features", "existing-secret"} <= set(VALUES_IDS)


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=["chart-defaults", *VALUES_IDS])
def test_helm_lint_strict(helm: str, values: Path | None) -> None:
    args = ["-f", str(values)] if values else []
    done = subprocess.run(
        [helm, "lint", "--strict", str(CHART), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_values_yaml_matches_its_schema() -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--schemafile",
            str(CHART / "values.schema.json"),
            str(CHART / "values.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _objects_without_additional_properties(node: Any, path: str = "") -> Iterator[str]:
    """Chart-defined objects of the schema that would accept unknown keys. Kubernetes objects
    passed through as they are (security contexts, env vars) are not the chart's to close."""
    if not isinstance(node, dict) or "SecurityContext" in path or "extraEnvVars" in path:
        return
    if "properties" in node and node.get("additionalProperties") is not False:
        yield path or "/"
    for key, child in node.items():
        yield from _objects_without_additional_properties(child, f"{path}/{key}")


def test_schema_refuses_unknown_keys_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert list(_objects_without_additional_properties(schema)) == []


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--set", "web.replicas=2"], "additional properties 'replicas' not allowed"),
        (["--set-string", "web.replicaCount=two"], "want integer"),
        (["--set", "beat.replicaCount=0"], "/beat/replicaCount"),
        (["--set", "beat.updateStrategy.type=OnDelete"], "/beat/updateStrategy/type"),
        (["--set", "worker.image.pullPolicy=Sometimes"], "/worker/image/pullPolicy"),
        (["--set", "environment=staging"], "/environment"),
        (
            ["--set", "storageApi.containerSecurityContext.readOnlyRootFilesystem=false"],
            "must be true",
        ),
        (["--set", "web.podSecurityContext.runAsNonRoot=false"], "/web/podSecurityContext"),
        (["--set", "networkPolicy.enabled=yes"], "want boolean"),
        (["--set", "unknownTopLevel=1"], "additional properties 'unknownTopLevel'"),
        (["--set", "transfer.mode=sideways"], "/transfer/mode"),
        (["--set", "transfer.s3PublicUrl=https://s3.example.com/bucket"], "/transfer/s3PublicUrl"),
        (["--set", "transfer.s3PublicUrl=s3.example.com"], "/transfer/s3PublicUrl"),
        (["--set", "transfer.corsOrigins={https://a.example/path}"], "/transfer/corsOrigins/0"),
        (["--set", "transfer.linkSeconds=1"], "/transfer/linkSeconds"),
        # the grace period follows from the shutdown bounds; it is not set on its own
        (
            ["--set", "web.terminationGracePeriodSeconds=30"],
            "additional properties 'terminationGracePeriodSeconds' not allowed",
        ),
        (["--set", "web.shutdown.preStopSleepSeconds=-1"], "/web/shutdown/preStopSleepSeconds"),
        (["--set", "worker.shutdown.drainSeconds=5"], "/worker/shutdown/drainSeconds"),
        (
            ["--set", "storageApi.updateStrategy.rollingUpdate.maxSurge=lots"],
            "/storageApi/updateStrategy/rollingUpdate/maxSurge",
        ),
        (["--set", "web.ingress.tooLargePage.on=true"], "additional properties 'on'"),
    ],
)
def test_bad_values_are_refused(helm: str, args: list[str], complaint: str) -> None:
    assert complaint in refusal(helm, "-f", str(CHART / "ci/dev-values.yaml"), *args)


def test_external_services_are_required_outside_dev_mode(helm: str) -> None:
    assert "is required (or dev.enabled" in refusal(helm)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("values", VALUES_IDS)
def test_renderings_validate_against_kubernetes_schemas(
    renderings: dict[str, list[Manifest]], values: str, version: str
) -> None:
    for doc in renderings[values]:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] in {"monitoring.coreos.com/v1", "keda.sh/v1alpha1"}
            continue
        kubernetes_validate.validate(doc, version, strict=True)


# -- policy over rendered manifests --------------------------------------------------------


def pod_specs(docs: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(owner manifest, pod spec) for every workload and bare Pod."""
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield doc, doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield doc, doc["spec"]


def containers(spec: Manifest) -> list[Manifest]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def pod_labels(doc: Manifest) -> dict[str, str]:
    if doc["kind"] == "Pod":
        return dict(doc["metadata"]["labels"])
    return dict(doc["spec"]["template"]["metadata"]["labels"])


def _component(doc: Manifest) -> str:
    return str(pod_labels(doc)["app.kubernetes.io/component"])


@pytest.mark.parametrize("values", VALUES_IDS)
def test_every_pod_and_container_meets_restricted_pod_security(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    for owner, spec in pod_specs(renderings[values]):
        name = owner["metadata"]["name"]
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(field), (name, field)
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for c in containers(spec):
            sc = c["securityContext"]
            where = f"{name}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc.get("runAsNonRoot", pod_sc["runAsNonRoot"]) is True, where
            assert sc.get("privileged", False) is False, where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 0)) != 0, where
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp, f"{where}: /tmp must be a writable emptyDir"
            assert tmp[0]["name"] in tmp_volumes, where


@pytest.mark.parametrize("values", VALUES_IDS)
def test_every_container_has_resources_and_long_running_ones_probes(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    for owner, spec in pod_specs(renderings[values]):
        for c in containers(spec):
            where = f"{owner['metadata']['name']}/{c['name']}"
            requests = c["resources"]["requests"]
            assert {"cpu", "memory"} <= set(requests), where
            assert "memory" in c["resources"]["limits"], where
        if owner["kind"] == "Deployment":  # Jobs and the helm-test Pod run to completion
            for c in spec["containers"]:
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    assert probe in c, f"{owner['metadata']['name']}/{c['name']}: {probe}"


def test_worker_probes_never_touch_redis(renderings: dict[str, list[Manifest]]) -> None:
    for docs in renderings.values():
        worker = next(d for d in docs if d["kind"] == "Deployment" and _component(d) == "worker")
        c = worker["spec"]["template"]["spec"]["containers"][0]
        assert c["livenessProbe"]["exec"]["command"] == ["s3tasks-worker", "probe", "live"]
        assert c["startupProbe"]["exec"]["command"] == ["s3tasks-worker", "probe", "live"]
        web = next(d for d in docs if d["kind"] == "Deployment" and _component(d) == "web")
        grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > web["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("values", VALUES_IDS)
def test_images_are_pinned(renderings: dict[str, list[Manifest]], values: str) -> None:
    for owner, spec in pod_specs(renderings[values]):
        for c in containers(spec):
            image = c["image"]
            name_and_tag = image.split("@")[0]
            tag = name_and_tag.rsplit(":", 1)[-1] if ":" in name_and_tag.split("/")[-1] else ""
            assert tag, f"{owner['metadata']['name']}: {image} has no tag"
            assert tag != "latest", image


@pytest.mark.parametrize("values", VALUES_IDS)
def test_selectors_match_pod_labels_and_services_reach_container_ports(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    docs = renderings[values]
    workloads = [d for d in docs if d["kind"] == "Deployment"]
    by_name = {d["metadata"]["name"]: d for d in workloads}

    def selected(selector: dict[str, str]) -> list[Manifest]:
        return [w for w in workloads if selector.items() <= pod_labels(w).items()]

    for w in workloads:
        assert w["spec"]["selector"]["matchLabels"].items() <= pod_labels(w).items()
        assert len(selected(w["spec"]["selector"]["matchLabels"])) == 1, w["metadata"]["name"]
    for svc in (d for d in docs if d["kind"] == "Service"):
        targets = selected(svc["spec"]["selector"])
        assert len(targets) == 1, svc["metadata"]["name"]
        ports = {
            p["name"]: p["containerPort"]
            for c in targets[0]["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            assert target in ports or target in ports.values(), (svc["metadata"]["name"], target)
    for pdb in (d for d in docs if d["kind"] == "PodDisruptionBudget"):
        assert len(selected(pdb["spec"]["selector"]["matchLabels"])) == 1
    for hpa in (d for d in docs if d["kind"] in {"HorizontalPodAutoscaler", "ScaledObject"}):
        assert hpa["spec"]["scaleTargetRef"]["name"] in by_name
    for ingress in (d for d in docs if d["kind"] == "Ingress"):
        services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in services


@pytest.mark.parametrize("values", VALUES_IDS)
def test_every_secret_and_configmap_reference_exists(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    docs = renderings[values]
    existing_secret = yaml.safe_load((CHART / "ci" / f"{values}-values.yaml").read_text())
    existing = (existing_secret.get("auth") or {}).get("existingSecret")
    secret_keys = set(
        yaml.safe_load((CHART / "values.yaml").read_text())["auth"]["secretKeys"].values()
    )
    data = {
        (d["kind"], d["metadata"]["name"]): set((d.get("data") or {}) | (d.get("stringData") or {}))
        for d in docs
        if d["kind"] in {"Secret", "ConfigMap"}
    }
    if existing:
        data[("Secret", existing)] = secret_keys
    for owner, spec in pod_specs(docs):
        for c in containers(spec):
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef") or source.get("secretRef")
                kind = "ConfigMap" if "configMapRef" in source else "Secret"
                assert (kind, ref["name"]) in data, (owner["metadata"]["name"], ref)
            for env in c.get("env", []):
                value_from = env.get("valueFrom", {})
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if key in value_from:
                        ref = value_from[key]
                        assert ref["key"] in data.get((kind, ref["name"]), set()), (
                            owner["metadata"]["name"],
                            env["name"],
                            ref,
                        )


def test_existing_secret_renders_no_credentials(renderings: dict[str, list[Manifest]]) -> None:
    docs = renderings["existing-secret"]
    assert [d for d in docs if d["kind"] == "Secret"] == []
    text = yaml.safe_dump_all(docs)
    assert "password" not in text.lower().replace("redis-url", "")
    for _, spec in pod_specs(docs):
        for c in containers(spec):
            for env in c.get("env", []):
                if "secretKeyRef" in env.get("valueFrom", {}):
                    assert env["valueFrom"]["secretKeyRef"]["name"] == "s3tasks-credentials"


def _secret_env(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    """Per component: env var -> the Secret key it is read from."""
    found: dict[str, dict[str, str]] = {}
    for owner, spec in pod_specs(docs):
        if owner["kind"] != "Deployment":
            continue
        for c in spec["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    found.setdefault(_component(owner), {})[env["name"]] = ref["key"]
    return found


@pytest.mark.parametrize("values", VALUES_IDS)
def test_each_storage_api_caller_has_its_own_credential(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    env = _secret_env(renderings[values])
    assert env["web"]["WEB_SERVICE_TOKEN"] == "web-service-token"
    assert env["worker"]["WORKER_SERVICE_TOKEN"] == "worker-service-token"
    assert env["beat"]["WORKER_SERVICE_TOKEN"] == "worker-service-token"
    assert env["storage-api"]["STORAGE_API_WEB_TOKENS"] == "storage-api-web-tokens"
    assert env["storage-api"]["STORAGE_API_WORKER_TOKENS"] == "storage-api-worker-tokens"
    # a caller holds its own credential only, and no accepted list
    assert set(env["web"].values()) == {"web-secret-key", "web-service-token"}
    for worker in ("worker", "beat"):
        assert "web-service-token" not in env[worker].values()


def _secret_data(helm: str, *args: str) -> dict[str, str]:
    docs = manifests(helm, "-f", str(CHART / "ci/defaults-values.yaml"), *args)
    (secret,) = [d for d in docs if d["kind"] == "Secret" and "helm.sh/hook" not in str(d)]
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_service_credentials_are_generated_distinct_and_rotate_with_two_accepted(
    helm: str,
) -> None:
    generated = _secret_data(helm)
    assert generated["web-service-token"] != generated["worker-service-token"]
    assert len(generated["web-service-token"]) >= 32
    assert generated["storage-api-web-tokens"] == generated["web-service-token"]
    assert generated["storage-api-worker-tokens"] == generated["worker-service-token"]

    old, new = "o" * 32, "n" * 32
    rotating = _secret_data(
        helm,
        "--set", f"auth.serviceTokens.web={new}",
        "--set", f"auth.serviceTokens.alsoAccepted.web={{{old}}}",
        "--set", f"auth.serviceTokens.worker={old}w",
        "--set", f"auth.serviceTokens.alsoAccepted.worker={{{new}w}}",
    )  # fmt: skip
    assert rotating["web-service-token"] == new
    assert rotating["storage-api-web-tokens"] == f"{new},{old}"
    assert rotating["worker-service-token"] == f"{old}w"
    assert rotating["storage-api-worker-tokens"] == f"{old}w,{new}w"


SAME = "s" * 32


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (
            [
                "--set",
                f"auth.serviceTokens.web={SAME}",
                "--set",
                f"auth.serviceTokens.worker={SAME}",
            ],
            "credentials of their own",
        ),
        (["--set", "auth.serviceTokens.web=short"], "/auth/serviceTokens/web"),
        (["--set", "auth.serviceTokens.alsoAccepted.web={a,b}"], "/auth/serviceTokens/"),
    ],
)
def test_bad_service_credentials_are_refused(helm: str, args: list[str], complaint: str) -> None:
    assert complaint in refusal(helm, "-f", str(CHART / "ci/defaults-values.yaml"), *args)


# -- transfer modes (issue 14) ---------------------------------------------------------------

TRANSFER_KEYS = (
    "STORAGE_API_TRANSFER_MODE",
    "STORAGE_API_S3_PUBLIC_URL",
    "STORAGE_API_CORS_ORIGINS",
    "STORAGE_API_LINK_SECONDS",
)


def storage_api_settings(docs: list[Manifest]) -> dict[str, str]:
    """The transfer settings storage-api's container receives (from the ConfigMap it reads)."""
    storage_api = next(
        d for d in docs if d["kind"] == "Deployment" and _component(d) == "storage-api"
    )
    (container,) = storage_api["spec"]["template"]["spec"]["containers"]
    (source,) = [s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == source]
    return {key: config["data"][key] for key in TRANSFER_KEYS if key in config["data"]}


def test_proxy_is_the_default_transfer_mode(renderings: dict[str, list[Manifest]]) -> None:
    for values, docs in renderings.items():
        if values == "all-features":
            continue
        assert storage_api_settings(docs) == {
            "STORAGE_API_TRANSFER_MODE": "proxy",
            "STORAGE_API_S3_PUBLIC_URL": "",
            "STORAGE_API_CORS_ORIGINS": "",
            "STORAGE_API_LINK_SECONDS": "300",
        }


def test_direct_mode_reaches_storage_api(helm: str) -> None:
    docs = manifests(
        helm,
        "-f", str(CHART / "ci/defaults-values.yaml"),
        "--set", "transfer.mode=direct",
        "--set", "transfer.s3PublicUrl=https://s3.example.com",
        "--set", "transfer.corsOrigins={https://s3tasks.example.com,https://*.example.org}",
        "--set", "transfer.linkSeconds=120",
    )  # fmt: skip
    assert storage_api_settings(docs) == {
        "STORAGE_API_TRANSFER_MODE": "direct",
        "STORAGE_API_S3_PUBLIC_URL": "https://s3.example.com",
        "STORAGE_API_CORS_ORIGINS": "https://s3tasks.example.com,https://*.example.org",
        "STORAGE_API_LINK_SECONDS": "120",
    }


def test_direct_mode_admits_the_ingress_hosts_by_default(
    renderings: dict[str, list[Manifest]],
) -> None:
    """Without transfer.corsOrigins the pages' origins are the ingress hosts, written into the
    bucket's CORS rule by storage-api and, MinIO ignoring that rule, into the dev MinIO's own."""
    docs = renderings["all-features"]  # direct mode, the dev MinIO, an Ingress with TLS
    assert storage_api_settings(docs) == {
        "STORAGE_API_TRANSFER_MODE": "direct",
        "STORAGE_API_S3_PUBLIC_URL": "http://localhost:9000",
        "STORAGE_API_CORS_ORIGINS": "https://s3tasks.example.com",
        "STORAGE_API_LINK_SECONDS": "120",
    }
    minio = next(d for d in docs if d["kind"] == "Deployment" and _component(d) == "minio")
    (container,) = minio["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MINIO_API_CORS_ALLOW_ORIGIN"] == "https://s3tasks.example.com"


def web_settings(docs: list[Manifest]) -> dict[str, str]:
    """web's environment from its ConfigMap (what the pod starts with)."""
    web = next(d for d in docs if d["kind"] == "Deployment" and _component(d) == "web")
    (container,) = web["spec"]["template"]["spec"]["containers"]
    (source,) = [s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == source]
    return {key: value for key, value in config["data"].items() if key.startswith("WEB_")}


INGRESS_HOST = [
    "--set", "web.ingress.enabled=true",
    "--set", "web.ingress.hosts[0].host=share.example.org",
    "--set", "web.ingress.hosts[0].paths[0].path=/",
    "--set", "web.ingress.hosts[0].paths[0].pathType=Prefix",
]  # fmt: skip
INGRESS_TLS = [
    "--set", "web.ingress.tls[0].secretName=share-tls",
    "--set", "web.ingress.tls[0].hosts[0]=share.example.org",
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "public_url"),
    [
        (INGRESS_HOST + INGRESS_TLS, "https://share.example.org"),
        (INGRESS_HOST, "http://share.example.org"),
        (
            [*INGRESS_HOST, *INGRESS_TLS, "--set", "web.publicUrl=https://links.example.org:8443/"],
            "https://links.example.org:8443",
        ),
        (["--set", "web.publicUrl=https://links.example.org"], "https://links.example.org"),
    ],
    ids=["ingress-with-tls", "ingress-without-tls", "explicit-wins", "explicit-alone"],
)
def test_web_makes_share_links_with_the_sites_public_url(
    helm: str, args: list[str], public_url: str
) -> None:
    docs = manifests(
        helm, "-f", str(CHART / "ci/defaults-values.yaml"), "--set", "web.publicUrl=", *args
    )
    assert web_settings(docs)["WEB_PUBLIC_URL"] == public_url


def test_production_without_a_public_url_is_refused(helm: str) -> None:
    """web refuses to start without one in production: the chart says so before installing."""
    complaint = refusal(
        helm, "-f", str(CHART / "ci/defaults-values.yaml"), "--set", "web.publicUrl="
    )
    assert "web.publicUrl is required when environment is production" in complaint
    # development leaves it to web (its own address): the kind workflow's port-forward sets it
    assert (
        web_settings(manifests(helm, "-f", str(CHART / "ci/dev-values.yaml")))["WEB_PUBLIC_URL"]
        == ""
    )


@pytest.mark.parametrize(
    "url", ["https://s3tasks.example.org/app", "s3tasks.example.org", "ftp://s3tasks.example.org"]
)
def test_a_public_url_with_a_path_or_no_scheme_is_refused(helm: str, url: str) -> None:
    complaint = refusal(
        helm, "-f", str(CHART / "ci/dev-values.yaml"), "--set", f"web.publicUrl={url}"
    )
    assert "/web/publicUrl" in complaint


def test_no_proxy_is_trusted_by_default(renderings: dict[str, list[Manifest]]) -> None:
    """A client's address comes from X-Forwarded-For only once the operator names the ingress
    controller's network: by default anyone could write it and pick their own."""
    for values, docs in renderings.items():
        assert web_settings(docs)["WEB_TRUSTED_PROXIES"] == "", values
    assert DEFAULT_VALUES["limits"]["trustedProxies"] == ""


def test_direct_mode_with_the_bundled_minio_needs_a_public_url(helm: str) -> None:
    done = render(
        helm, "-f", str(CHART / "ci/dev-values.yaml"), "--set", "transfer.mode=direct", check=False
    )
    assert done.returncode != 0
    assert "needs transfer.s3PublicUrl" in done.stderr


def test_notes_name_what_direct_mode_needs(helm: str) -> None:
    def notes(*args: str) -> str:
        done = subprocess.run(
            [
                helm, "install", "s3t", str(CHART), "--dry-run=client", "--namespace", "s3tasks",
                "-f", str(CHART / "ci/existing-secret-values.yaml"), *args,
            ],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout.split("NOTES:", 1)[1]

    assert "TRANSFER MODE" not in notes()
    direct = notes(
        "--set", "transfer.mode=direct",
        "--set", "transfer.corsOrigins={https://s3tasks.example.com}",
    )  # fmt: skip
    assert "TRANSFER MODE direct" in direct
    assert "https://s3tasks.example.com" in direct
    for needed in ("public", "CORS", "MINIO_API_CORS_ALLOW_ORIGIN", "NTP"):
        assert needed in direct, needed


def test_config_changes_roll_the_pods(helm: str) -> None:
    def checksums(*args: str) -> dict[str, str]:
        docs = manifests(helm, "-f", str(CHART / "ci/defaults-values.yaml"), *args)
        return {
            d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"][
                "checksum/config"
            ]
            for d in docs
            if d["kind"] == "Deployment"
        }

    before, after = checksums(), checksums("--set", "config.imageTtlSeconds=60")
    assert set(before) == {f"s3t-s3tasks-{c}" for c in APP_COMPONENTS}
    assert all(before[name] != after[name] for name in before)


def test_components_are_shaped_as_the_issue_says(renderings: dict[str, list[Manifest]]) -> None:
    docs = renderings["defaults"]
    deployments = {_component(d): d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == APP_COMPONENTS
    beat = deployments["beat"]["spec"]
    assert beat["replicas"] == 2  # no single point of failure (tests/load/test_replicas.py)
    assert beat["strategy"]["type"] == "RollingUpdate"
    assert deployments["beat"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["beat"]
    (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert account["automountServiceAccountToken"] is False
    kinds = {d["kind"] for d in docs}
    for off_by_default in ("Ingress", "HorizontalPodAutoscaler", *CRD_KINDS):
        assert off_by_default not in kinds
    assert "NetworkPolicy" in kinds  # on by default (test_network_policies_are_on_by_default)
    (job,) = [d for d in docs if d["kind"] == "Job"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    (test_pod,) = [d for d in docs if d["kind"] == "Pod"]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "/readyz" in " ".join(test_pod["spec"]["containers"][0]["command"])


def test_beat_may_run_two_replicas(helm: str) -> None:
    """Two beats do no harm (services/worker/tests/test_beats.py): no single scheduler."""
    docs = manifests(
        helm,
        "-f",
        str(CHART / "ci/defaults-values.yaml"),
        "--set",
        "beat.replicaCount=2",
        "--set",
        "beat.updateStrategy.type=RollingUpdate",
    )
    (beat,) = [d for d in docs if d["kind"] == "Deployment" and _component(d) == "beat"]
    assert beat["spec"]["replicas"] == 2
    assert beat["spec"]["strategy"]["type"] == "RollingUpdate"


def test_dev_mode_bundles_single_replica_dependencies(
    renderings: dict[str, list[Manifest]],
) -> None:
    docs = renderings["dev"]
    deployments = {_component(d): d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == APP_COMPONENTS | {"minio", "postgresql", "redis"}
    for dep in ("minio", "postgresql", "redis"):
        assert deployments[dep]["spec"]["replicas"] == 1
    assert not [d for d in docs if d["kind"] == "Job"], "dev mode migrates in an init container"
    init = deployments["storage-api"]["spec"]["template"]["spec"]["initContainers"]
    assert [c["args"] for c in init] == [["migrate"]]


def test_web_metrics_have_a_port_of_their_own(renderings: dict[str, list[Manifest]]) -> None:
    """The Ingress publishes web's http port: Prometheus scrapes web on its metrics port."""
    docs = renderings["all-features"]

    def web_object(kind: str) -> Manifest:
        (found,) = [
            d
            for d in docs
            if d["kind"] == kind
            and d["metadata"]["labels"].get("app.kubernetes.io/component") == "web"
        ]
        return found

    service = web_object("Service")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["metrics"]["targetPort"] == "metrics"
    assert ports["metrics"]["port"] == 9101
    monitor = web_object("ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    backends = {
        path["backend"]["service"]["port"].get(
            "name", path["backend"]["service"]["port"].get("number")
        )
        for ingress in docs
        if ingress["kind"] == "Ingress"
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert "metrics" not in backends
    assert 9101 not in backends
    (container,) = web_object("Deployment")["spec"]["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8080,
        "metrics": 9101,
    }
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and "WEB_METRICS_PORT" in d.get("data", {})
    ]
    assert config["data"]["WEB_METRICS_PORT"] == "9101"
    assert config["data"]["WEB_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 - inside the pod


def test_all_features_render_every_optional_object(renderings: dict[str, list[Manifest]]) -> None:
    docs = renderings["all-features"]
    kinds = [d["kind"] for d in docs]
    assert kinds.count("HorizontalPodAutoscaler") == 2
    assert kinds.count("ServiceMonitor") == 3
    for kind in ("Ingress", "ScaledObject", "TriggerAuthentication", "PrometheusRule"):
        assert kind in kinds
    ingress = site_ingress(docs)
    assert "nginx.ingress.kubernetes.io/proxy-body-size" in ingress["metadata"]["annotations"]
    assert ingress["spec"]["tls"]
    (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "s3tasks:s3tasks"
    worker = next(d for d in docs if d["kind"] == "Deployment" and _component(d) == "worker")
    assert "replicas" not in worker["spec"], "KEDA owns the worker's replica count"
    rules_file = yaml.safe_load((CHART / "files/prometheus-rules.yaml").read_text())
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert rule["spec"]["groups"] == rules_file["groups"]
    dashboard = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]
    )
    assert json.loads(dashboard["data"]["s3tasks.json"]) == json.loads(
        (CHART / "files/grafana-dashboard.json").read_text()
    )


# -- network policies: the allowed flows, computed from the rendered policies ----------------

INGRESS_CONTROLLER = "ingress-controller"
PROMETHEUS = "prometheus"
EXTERNAL = "external"


def _peer_name(peer: Manifest) -> str:
    labels = peer.get("podSelector", {}).get("matchLabels", {})
    if "namespaceSelector" in peer:
        return INGRESS_CONTROLLER if "ingress-nginx" in labels.values() else PROMETHEUS
    return str(labels["app.kubernetes.io/component"])


def _policy_components(policy: Manifest) -> list[str]:
    (expression,) = policy["spec"]["podSelector"]["matchExpressions"]
    return list(expression["values"])


def network_flows(docs: list[Manifest]) -> set[tuple[str, str, int]]:
    """(source, destination, port) allowed by both the source's egress and the destination's
    ingress; sources outside the release by name, destinations outside it as `external`."""
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    ingress: set[tuple[str, str, int]] = set()
    egress: set[tuple[str, str, int]] = set()
    isolated = set()
    for policy in policies:
        for component in _policy_components(policy):
            isolated.add(component)
            for rule in policy["spec"].get("ingress") or []:
                for peer in rule["from"]:
                    for port in rule["ports"]:
                        ingress.add((_peer_name(peer), component, port["port"]))
            for rule in policy["spec"].get("egress") or []:
                targets = [_peer_name(p) for p in rule.get("to", [])] or [EXTERNAL]
                for target in targets:
                    for port in rule["ports"]:
                        if port["port"] != 53:
                            egress.add((component, target, port["port"]))
    flows = {f for f in egress if f[1] == EXTERNAL or f in ingress}
    flows |= {f for f in ingress if f[0] not in isolated}
    # only pods this rendering makes (dev mode migrates in storage-api's init container)
    present = {_component(owner) for owner, _ in pod_specs(docs)}
    present |= {INGRESS_CONTROLLER, PROMETHEUS, EXTERNAL}
    return {f for f in flows if f[0] in present and f[1] in present}


def test_network_policies_are_on_by_default(
    helm: str, renderings: dict[str, list[Manifest]]
) -> None:
    """A default install admits only the flows below (where the CNI enforces them)."""
    assert network_flows(renderings["defaults"]) == network_flows(renderings["existing-secret"])
    off = manifests(
        helm, "-f", str(CHART / "ci/defaults-values.yaml"), "--set", "networkPolicy.enabled=false"
    )
    assert not [d for d in off if d["kind"] == "NetworkPolicy"]


def test_network_policies_allow_exactly_the_issue_flows_in_dev_mode(
    renderings: dict[str, list[Manifest]],
) -> None:
    docs = renderings["all-features"]  # dev mode + metrics: every peer is in the release
    assert network_flows(docs) == {
        (INGRESS_CONTROLLER, "web", 8080),
        ("test", "web", 8080),
        ("web", "storage-api", 8000),
        ("web", "minio", 9000),  # web carries the bytes in proxy mode, and the plain form's
        ("worker", "storage-api", 8000),
        ("storage-api", "postgresql", 5432),
        ("storage-api", "minio", 9000),
        ("storage-api", "redis", 6379),
        ("worker", "redis", 6379),
        ("beat", "redis", 6379),
        (PROMETHEUS, "web", 9101),
        (PROMETHEUS, "storage-api", 8000),
        (PROMETHEUS, "worker", 9102),
    }
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_network_policies_with_external_services(renderings: dict[str, list[Manifest]]) -> None:
    flows = network_flows(renderings["existing-secret"])
    assert flows == {
        (INGRESS_CONTROLLER, "web", 8080),
        ("test", "web", 8080),
        ("web", "storage-api", 8000),
        ("web", EXTERNAL, 443),
        ("worker", "storage-api", 8000),
        ("storage-api", EXTERNAL, 5432),
        ("storage-api", EXTERNAL, 443),
        ("storage-api", EXTERNAL, 6379),
        ("migrations", EXTERNAL, 5432),
        ("migrations", EXTERNAL, 443),
        ("migrations", EXTERNAL, 6379),
        ("worker", EXTERNAL, 6379),
        ("beat", EXTERNAL, 6379),
    }


# -- issue 27: rolling updates, shutdown, the ingress's retries and its 413 page -----------

DEFAULT_VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
VALUES_KEY = {"web": "web", "storage-api": "storageApi", "worker": "worker", "beat": "beat"}
#: the kubelet's margin between the end of the drain bound and SIGKILL (_workload.tpl)
EXIT_MARGIN_SECONDS = 5
SITE_ONLY = "web.ingress.enabled=true"


def app_deployments(docs: list[Manifest]) -> dict[str, Manifest]:
    return {
        _component(d): d
        for d in docs
        if d["kind"] == "Deployment" and _component(d) in APP_COMPONENTS
    }


def site_ingress(docs: list[Manifest]) -> Manifest:
    """The Ingress of the site (the other, with tooLargePage, holds only the 413 page)."""
    (site,) = [
        d
        for d in docs
        if d["kind"] == "Ingress" and not d["metadata"]["name"].endswith("-too-large")
    ]
    return site


def snippet(ingress: Manifest) -> list[str]:
    text = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/configuration-snippet"]
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("values", VALUES_IDS)
def test_rolling_updates_start_a_pod_before_one_stops(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    """web and storage-api never lose capacity in a rollout; the worker keeps a consumer; beat
    keeps its schedulers (a third one for the surge only adds a harmless tick)."""
    for component, deployment in app_deployments(renderings[values]).items():
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }, component


@pytest.mark.parametrize("values", VALUES_IDS)
def test_grace_period_is_the_prestop_sleep_plus_the_drain_bound(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    for component, deployment in app_deployments(renderings[values]).items():
        shutdown = DEFAULT_VALUES[VALUES_KEY[component]]["shutdown"]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["terminationGracePeriodSeconds"] == (
            shutdown["preStopSleepSeconds"] + shutdown["drainSeconds"] + EXIT_MARGIN_SECONDS
        ), component
        if component in {"web", "storage-api"}:  # a Service routes to them
            assert container["lifecycle"] == {
                "preStop": {"sleep": {"seconds": shutdown["preStopSleepSeconds"]}}
            }
            assert shutdown["preStopSleepSeconds"] > 0
        else:  # nothing is routed to them: a sleep would only delay the exit
            assert "lifecycle" not in container, component


def test_shutdown_bounds_move_the_grace_period_and_the_prestop_hook(helm: str) -> None:
    docs = manifests(
        helm,
        "-f",
        str(CHART / "ci/defaults-values.yaml"),
        "--set",
        "web.shutdown.drainSeconds=100",
        "--set",
        "web.shutdown.preStopSleepSeconds=0",
        "--set",
        "worker.shutdown.preStopSleepSeconds=3",
    )
    deployments = app_deployments(docs)
    web = deployments["web"]["spec"]["template"]["spec"]
    assert web["terminationGracePeriodSeconds"] == 100 + EXIT_MARGIN_SECONDS
    assert "lifecycle" not in web["containers"][0]
    worker = deployments["worker"]["spec"]["template"]["spec"]
    assert worker["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 3}}
    drain = DEFAULT_VALUES["worker"]["shutdown"]["drainSeconds"]
    assert worker["terminationGracePeriodSeconds"] == 3 + drain + EXIT_MARGIN_SECONDS


def test_the_services_drain_within_the_bound_the_grace_period_is_derived_from(
    helm: str,
) -> None:
    """web's and storage-api's own bound after SIGTERM (`*_SHUTDOWN_DRAIN_SECONDS`) is the
    chart's `drainSeconds`; with a preStop sleep their listener closes at SIGTERM, without
    one it stays open for the services' own delay (1 s) while endpoints are updated."""
    docs = manifests(
        helm,
        "-f",
        str(CHART / "ci/defaults-values.yaml"),
        "--set",
        "web.shutdown.drainSeconds=100",
        "--set",
        "web.shutdown.preStopSleepSeconds=0",
    )
    configs = [d for d in docs if d["kind"] == "ConfigMap" and "WEB_METRICS_PORT" in d["data"]]
    assert configs
    drain = DEFAULT_VALUES["storageApi"]["shutdown"]["drainSeconds"]
    for data in (config["data"] for config in configs):  # the pods' and the hook's copy
        assert data["WEB_SHUTDOWN_DRAIN_SECONDS"] == "100"
        assert "WEB_SHUTDOWN_DELAY_SECONDS" not in data
        assert data["STORAGE_API_SHUTDOWN_DRAIN_SECONDS"] == str(drain)
        assert data["STORAGE_API_SHUTDOWN_DELAY_SECONDS"] == "0"


@pytest.mark.parametrize("values", VALUES_IDS)
def test_readiness_is_not_liveness_where_it_decides_who_gets_work(
    renderings: dict[str, list[Manifest]], values: str
) -> None:
    """Readiness (dependencies answer; false at once on SIGTERM) takes a pod out of its
    Service or queue; liveness (the process answers) restarts it: one check for both would
    restart pods for a dependency's outage."""
    deployments = app_deployments(renderings[values])
    for component in ("web", "storage-api"):
        (container,) = deployments[component]["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", component
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", component
    (worker,) = deployments["worker"]["spec"]["template"]["spec"]["containers"]
    assert worker["readinessProbe"]["exec"]["command"][-1] == "ready"
    assert worker["livenessProbe"]["exec"]["command"][-1] == "live"


def test_disruption_budgets_stay_as_they_were(renderings: dict[str, list[Manifest]]) -> None:
    """One pod at a time for a drain; beat has none (two beats, and either may go)."""
    budgets = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]
        for d in renderings["defaults"]
        if d["kind"] == "PodDisruptionBudget"
    }
    assert set(budgets) == {"web", "storage-api", "worker"}
    assert all(budget["maxUnavailable"] == 1 for budget in budgets.values())


def test_ingress_takes_one_request_up_to_the_readmes_limit_and_retries_as_the_tests_nginx(
    helm: str,
) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"client_max_body_size (\d+m);", readme)
    assert match, "README no longer says the ingress's single-request limit"
    assert match[1] == INGRESS_MAX_BODY
    docs = manifests(helm, "-f", str(CHART / "ci/defaults-values.yaml"), "--set", SITE_ONLY)
    annotations = site_ingress(docs)["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == INGRESS_MAX_BODY
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    # the directives tests/deploy/test_ingress_nginx.py drives on testkit's nginx
    conf = nginx_conf({"web": (8080, [8081, 8082])}, Path("/prefix"), Path("/logs"))
    retry_on = annotations["nginx.ingress.kubernetes.io/proxy-next-upstream"]
    tries = annotations["nginx.ingress.kubernetes.io/proxy-next-upstream-tries"]
    assert f"proxy_next_upstream {retry_on};" in conf
    assert f"proxy_next_upstream_tries {tries};" in conf
    assert "non_idempotent" not in retry_on + conf
    assert "proxy_request_buffering off;" in conf
    # snippets are off unless asked for: ingress-nginx refuses them by default
    assert [d["kind"] for d in docs].count("Ingress") == 1
    assert not any("snippet" in key for key in annotations)


def test_the_413_page_for_ingress_nginx_is_the_tests_nginx_recipe(
    renderings: dict[str, list[Manifest]],
) -> None:
    docs = renderings["all-features"]
    site = site_ingress(docs)
    (page,) = [d for d in docs if d["metadata"]["name"] == f"{site['metadata']['name']}-too-large"]
    assert snippet(site) == [f"error_page 413 {TOO_LARGE_PAGE};"]
    assert snippet(page)[0] == "internal;"
    assert 'proxy_set_header Content-Length "";' in snippet(page)
    # its own location: the page only, for every host of the site, on web's http port
    hosts = [rule["host"] for rule in site["spec"]["rules"]]
    assert [rule["host"] for rule in page["spec"]["rules"]] == hosts
    for rule in page["spec"]["rules"]:
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == (TOO_LARGE_PAGE, "Exact")
        assert path["backend"]["service"] == {
            "name": site["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
            "port": {"name": "http"},
        }
    # every directive is one the tests' nginx runs (services/web/tests/test_ingress.py)
    conf = nginx_conf(
        {"web": (8080, [8081])}, Path("/prefix"), Path("/logs"), too_large_page=TOO_LARGE_PAGE
    )
    for directive in snippet(site) + snippet(page):
        assert directive in conf, directive
