"""What an operator watches: every metric the running services export has a panel on the
chart's Grafana dashboard or an alert rule that reads it, so a new metric cannot ship unseen."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from s3tasks_testkit.stack import Stack

from .conftest import REPO_ROOT

CHART_FILES = REPO_ROOT / "deploy/helm/s3tasks/files"
#: our families (the services' registries hold only these, but the prefix says it anyway)
OURS = re.compile(r"^s3tasks_")


def exported_families(base_url: str) -> set[str]:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    families = {f.name for f in text_string_to_metric_families(text) if OURS.match(f.name)}
    # a counter's or histogram's `_created` timestamps come as families of their own
    return {name for name in families if not name.endswith("_created")}


def expressions(path: Path) -> str:
    """Every PromQL expression of the dashboard (JSON) or the rules file (YAML), as one text."""
    if path.suffix == ".json":
        dashboard = json.loads(path.read_text())
        panels = [p for p in dashboard["panels"] if p["type"] != "row"]
        return "\n".join(t["expr"] for p in panels for t in p["targets"])
    rules = yaml.safe_load(path.read_text())
    return "\n".join(r["expr"] for g in rules["groups"] for r in g["rules"])


def test_every_exported_metric_is_on_the_dashboard_or_in_an_alert(stack: Stack) -> None:
    stack.start_all()
    assert stack.storage_api is not None
    assert stack.worker is not None
    assert stack.web is not None
    exported = (
        exported_families(stack.storage_api.url)
        | exported_families(stack.worker.url)
        | exported_families(stack.web.metrics_url)
    )
    # the families of the architecture's deletion jobs, the uploads and the HTTP layer at least
    assert {"s3tasks_deletion_jobs", "s3tasks_uploads", "s3tasks_http_requests"} <= exported
    watched = expressions(CHART_FILES / "grafana-dashboard.json") + expressions(
        CHART_FILES / "prometheus-rules.yaml"
    )
    # a family `x` is read as `x`, `x_total`, `x_bucket`, ... in PromQL
    unseen = {name for name in exported if not re.search(rf"\b{name}(_[a-z]+)?\b", watched)}
    assert not unseen, f"exported but on no dashboard panel and in no alert rule: {sorted(unseen)}"
