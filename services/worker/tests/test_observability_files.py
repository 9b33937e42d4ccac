"""The Grafana dashboard and the Prometheus alert rules use only metrics the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from s3tasks_testkit.patience import JOB_SECONDS, patience
from s3tasks_testkit.processes import wait_until

if TYPE_CHECKING:
    from conftest import Deployment

FILES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "helm" / "s3tasks" / "files"
DASHBOARD = FILES_DIR / "grafana-dashboard.json"
RULES = FILES_DIR / "prometheus-rules.yaml"
METRIC_NAME = re.compile(r"\bs3tasks_[a-z0-9_]+")
DURATION = re.compile(r"^[0-9]+[smhd]$")


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    rule_file = yaml.safe_load(RULES.read_text())
    return [rule for group in rule_file["groups"] for rule in group["rules"]]


def test_the_dashboard_shows_jobs_lag_backlog_and_failures() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    exprs = dashboard_exprs()
    assert all(METRIC_NAME.search(expr) for expr in exprs)
    joined = "\n".join(exprs)
    assert "sum by (reason, outcome) (rate(s3tasks_deletion_jobs_total" in joined
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(s3tasks_deletion_lag" in joined
    assert "s3tasks_items_pending_deletion" in joined
    assert 'outcome="failure"' in joined
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_rule_file_is_a_prometheus_rule_file() -> None:
    rule_file = yaml.safe_load(RULES.read_text())
    assert set(rule_file) == {"groups"}
    for group in rule_file["groups"]:
        assert isinstance(group["name"], str)
        assert group["rules"]
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"S3tasks[A-Za-z]+", rule["alert"])
        assert METRIC_NAME.search(rule["expr"]), rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        assert DURATION.match(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
    exprs = "\n".join(rule["expr"] for rule in rules)
    assert "s3tasks_items_pending_deletion" in exprs  # backlog
    assert "s3tasks_deletion_lag_seconds_bucket" in exprs  # lag above the objective
    assert 'outcome="failure"' in exprs  # failure ratio
    assert "absent(" in exprs  # no worker


def test_every_metric_used_is_exported_by_a_service(deployment: Deployment) -> None:
    exported = metric_names_of_running_services(deployment)
    for source, exprs in {
        DASHBOARD.name: dashboard_exprs(),
        RULES.name: [rule["expr"] for rule in alert_rules()],
    }.items():
        used = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
        assert used
        assert used <= exported, f"{source} uses metrics nobody exports: {sorted(used - exported)}"


def metric_names_of_running_services(deployment: Deployment) -> set[str]:
    """Sample names scraped from storage-api and the worker after each has done some work."""
    stack = deployment.stack
    stack.migrate()
    stack.start_storage_api()
    stack.start_worker()
    visitor = deployment.new_visitor()
    deployment.upload_image(visitor)
    deployment.upload_file(visitor)
    deployment.delete_all(visitor, "file")
    wait_until(
        lambda: deployment.row_count(visitor) == 1,
        timeout=patience(JOB_SECONDS, starts=1),
        message="the purge",
    )
    return deployment.storage_api_metrics().names | deployment.worker_metrics().names
