"""Builders for control tests: a small cluster and a pack written as real YAML, then audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from auditor.commands.pipeline import merge_externals
from auditor.controls.pack import external_networks, load_packs
from auditor.controls.result import AuditResult, Finding
from auditor.controls.runner import run_audit
from auditor.controls.waivers import load_waivers
from auditor.reach.analysis import AnalysisOptions, analyze
from auditor.sources.manifests import load_manifests

SCHEMA = "zone-auditor/controls/v1"

# Two zones by namespace label, plus the internet.
ZONES: dict[str, Any] = {
    "web": {"namespaceSelector": "zone == 'web'"},
    "data": {"namespaceSelector": "zone == 'data'"},
    "internet": {"cidrs": ["0.0.0.0/0"]},
}


def deny_all(namespace: str, types: tuple[str, ...] = ("Ingress", "Egress")) -> dict[str, Any]:
    return netpol(namespace, "default-deny", {"podSelector": {}, "policyTypes": list(types)})


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(namespace: str, name: str, labels: dict[str, str] | None = None, *, containers: list[str] | None = None,
        ip: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": c, "image": "x"} for c in (containers or ["app"])]},
    }
    if ip:
        body["status"] = {"podIP": ip, "phase": "Running"}
    return body


def deployment(namespace: str, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": "x"}]}}},
    }


def netpol(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def allow_ingress(namespace: str, name: str, app: str, from_ns: str, from_app: str, port: int) -> dict[str, Any]:
    return netpol(namespace, name, {
        "podSelector": {"matchLabels": {"app": app}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": from_ns}},
                               "podSelector": {"matchLabels": {"app": from_app}}}],
                     "ports": [{"port": port, "protocol": "TCP"}]}],
    })


def allow_egress(namespace: str, name: str, app: str, to_ns: str, to_app: str, port: int) -> dict[str, Any]:
    return netpol(namespace, name, {
        "podSelector": {"matchLabels": {"app": app}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": to_ns}},
                            "podSelector": {"matchLabels": {"app": to_app}}}],
                    "ports": [{"port": port, "protocol": "TCP"}]}],
    })


def two_zones(*, segmented: bool) -> list[dict[str, Any]]:
    """web/front → data/db on 5432; with ``segmented`` both namespaces default-deny and only
    that flow is allowed."""
    objs = [
        ns("web", zone="web"),
        ns("data", zone="data"),
        deployment("web", "front"),
        deployment("data", "db"),
    ]
    if segmented:
        objs += [
            deny_all("web"),
            deny_all("data"),
            allow_egress("web", "front-to-db", "front", "data", "db", 5432),
            allow_ingress("data", "db-from-front", "db", "web", "front", 5432),
        ]
    return objs


def pack(controls: list[dict[str, Any]], zones: dict[str, Any] | None = None, pack_id: str = "test") -> dict[str, Any]:
    return {"schema": SCHEMA, "id": pack_id, "title": "test pack", "framework": "tests",
            "zones": zones if zones is not None else ZONES, "controls": controls}


def control(cid: str, assertion: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": cid, "title": f"control {cid}", "references": ["TEST 1"], "rationale": "because",
            "severity": "high", "assert": assertion, **extra}


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_cluster(tmp_path: Path, objects: list[dict[str, Any]]) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def audit(tmp_path: Path, objects: list[dict[str, Any]], pack_data: dict[str, Any] | list[dict[str, Any]], *,
          waivers: dict[str, Any] | None = None, zones: dict[str, Any] | None = None,
          as_of: dt.date | None = None, collection: dict[str, str] | None = None) -> AuditResult:
    packs_data = pack_data if isinstance(pack_data, list) else [pack_data]
    paths = [str(write_yaml(tmp_path / f"pack{i}.yaml", p)) for i, p in enumerate(packs_data)]
    zones_path = str(write_yaml(tmp_path / "zones.yaml", zones)) if zones is not None else None
    packs, zone_map = load_packs(paths, zones_path)
    snapshot = load_manifests([str(write_cluster(tmp_path, objects))], captured_at="2026-01-01T00:00:00Z")
    if collection:
        from auditor.snapshot import build_snapshot

        snapshot = build_snapshot([(r.body, None) for r in snapshot.resources], source="test",
                                  collection={**snapshot.collection, **collection},
                                  captured_at="2026-01-01T00:00:00Z")
    options = AnalysisOptions(externals=merge_externals((), external_networks(packs)))
    wf = load_waivers(str(write_yaml(tmp_path / "waivers.yaml", waivers))) if waivers is not None else None
    return run_audit(analyze(snapshot, options), packs, zone_map=zone_map, waivers=wf,
                     as_of=as_of or dt.date(2026, 6, 1))


def finding(result: AuditResult, cid: str) -> Finding:
    hits = [f for f in result.findings if f.control == cid]
    assert len(hits) == 1, [f.control for f in result.findings]
    return hits[0]


def flows(f: Finding) -> set[tuple[str | None, str]]:
    return {(v.src, v.dst) for v in f.violations}
