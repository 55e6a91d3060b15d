"""Small builders for test clusters: real YAML manifests written to disk and analysed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auditor.reach.analysis import Analysis, AnalysisOptions, analyze
from auditor.reach.engine import ALLOW, DENY, UNKNOWN
from auditor.reach.ports import PortQuery
from auditor.sources.manifests import load_manifests

WORDS = {ALLOW: "allow", DENY: "deny", UNKNOWN: "unknown"}


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(namespace: str, name: str, labels: dict[str, str] | None = None, *, ip: str | None = None,
        ports: list[dict[str, Any]] | None = None, host_network: bool = False, phase: str | None = None,
        sa: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": ports or []}]},
    }
    if host_network:
        body["spec"]["hostNetwork"] = True
    if sa:
        body["spec"]["serviceAccountName"] = sa
    status: dict[str, Any] = {}
    if ip:
        status["podIP"] = ip
    if phase:
        status["phase"] = phase
    if status:
        body["status"] = status
    return body


def netpol(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def write(tmp_path: Path, objects: list[dict[str, Any]], name: str = "cluster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def build(tmp_path: Path, objects: list[dict[str, Any]], **options: Any) -> Analysis:
    return analyze(load_manifests([str(write(tmp_path, objects))]), AnalysisOptions(**options))


def verdict(analysis: Analysis, src: str, dst: str, port: str, by: str = "pod") -> str:
    """allow / deny / unknown for one flow; src/dst are entity names at level ``by``."""
    s, _ = analysis.find(src, by if src in {e.name for e in analysis.entities(by)} else None)
    t, _ = analysis.find(dst, by if dst in {e.name for e in analysis.entities(by)} else None)
    pm = analysis.pairs(by, [s], [t])
    q = PortQuery.parse(port)
    atom = analysis.ports.index_of(q.protocol, q.port)
    assert atom is not None
    return WORDS[int(pm.verdict[pm.row[0, 0], atom])]
