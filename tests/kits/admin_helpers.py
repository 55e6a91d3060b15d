"""Builders for admin network policies (ANP/BANP v1alpha1, ClusterNetworkPolicy v1alpha2)."""

from __future__ import annotations

from typing import Any

from tests.kits.k8s_helpers import ns, pod

V1A1 = "policy.networking.k8s.io/v1alpha1"
V1A2 = "policy.networking.k8s.io/v1alpha2"
ALL_NS: dict[str, Any] = {"namespaces": {}}


def anp(name: str, priority: int, *, subject: dict[str, Any] | None = None,
        ingress: list[dict[str, Any]] | None = None, egress: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"priority": priority, "subject": subject or ALL_NS}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": V1A1, "kind": "AdminNetworkPolicy", "metadata": {"name": name}, "spec": spec}


def banp(*, subject: dict[str, Any] | None = None, ingress: list[dict[str, Any]] | None = None,
         egress: list[dict[str, Any]] | None = None, name: str = "default") -> dict[str, Any]:
    spec: dict[str, Any] = {"subject": subject or ALL_NS}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": V1A1, "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": name}, "spec": spec}


def cnp(name: str, tier: str, priority: int, *, subject: dict[str, Any] | None = None,
        ingress: list[dict[str, Any]] | None = None, egress: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"tier": tier, "priority": priority, "subject": subject or ALL_NS}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": V1A2, "kind": "ClusterNetworkPolicy", "metadata": {"name": name}, "spec": spec}


def from_ns(name: str) -> dict[str, Any]:
    return {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def subject_ns(name: str) -> dict[str, Any]:
    return {"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def node(name: str, labels: dict[str, str], *ips: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": ip} for ip in ips]}}


def cluster_information(version: str) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "ClusterInformation", "metadata": {"name": "default"},
            "spec": {"calicoVersion": version}}


# Two namespaces, a database with a named port, IPs known (so CIDR peers decide).
BASE = [
    ns("a", zone="restricted"),
    ns("b", zone="dmz"),
    pod("a", "db", {"app": "db"}, ip="10.0.1.10", ports=[{"name": "pg", "containerPort": 5432}]),
    pod("a", "web", {"app": "web"}, ip="10.0.1.11"),
    pod("b", "client", {"app": "client"}, ip="10.0.2.10"),
]
