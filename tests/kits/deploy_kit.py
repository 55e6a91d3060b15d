"""Shared by tests/deploy: the plain manifests in deploy/kubernetes/ (fully validated there) and
the RBAC checks that the chart's ClusterRole must pass too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auditor.sources.live import RBAC_VERBS, rbac_resources

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm" / "zone-auditor"


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


PERIOD_CRON = "zone-auditor-period-report"


def manifest_docs() -> dict[str, dict[str, Any]]:
    """Manifests by kind; the monthly period-report CronJob under ``PeriodCronJob``."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_docs(path.read_text()):
            key = "PeriodCronJob" if doc["metadata"]["name"] == PERIOD_CRON else doc["kind"]
            out[key] = doc
    return out



def granted(cluster_role: dict[str, Any]) -> dict[str, set[str]]:
    """API group → resources, asserting every rule is get/list only and unrestricted by name."""
    out: dict[str, set[str]] = {}
    for rule in cluster_role["rules"]:
        assert sorted(rule["verbs"]) == sorted(RBAC_VERBS), rule
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule
        for group in rule["apiGroups"]:
            assert group != "*"
            for resource in rule["resources"]:
                assert "*" not in resource and "/" not in resource, resource
                out.setdefault(group, set()).add(resource)
    return out


def assert_rbac_matches_live_kinds(cluster_role: dict[str, Any]) -> None:
    assert granted(cluster_role) == rbac_resources()
    everything = {r for resources in granted(cluster_role).values() for r in resources}
    assert not everything & {"secrets", "configmaps"}


