"""Builders for Istio test clusters (real YAML written to disk, analysed end to end)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from auditor.reach.analysis import Analysis
from auditor.reach.l7.compile import Request
from auditor.reach.ports import PortQuery
from tests.kits.k8s_helpers import WORDS, build, netpol, ns, write

__all__ = ["WORDS", "ap", "build", "flow", "mpod", "netpol", "ns", "pa", "service", "write"]


def mpod(namespace: str, name: str, labels: dict[str, str] | None = None, *, sa: str = "default",
         sidecar: bool = True, ip: str | None = None, ports: list[dict[str, Any]] | None = None,
         annotations: dict[str, str] | None = None, meta_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A running pod; ``sidecar`` puts an ``istio-proxy`` container in its spec (IST-2 ground truth)."""
    containers: list[dict[str, Any]] = [{"name": "app", "image": "x", "ports": ports or []}]
    if sidecar:
        containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.3"})
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {**(labels or {}), **(meta_labels or {})}},
        "spec": {"serviceAccountName": sa, "containers": containers},
    }
    if annotations:
        body["metadata"]["annotations"] = annotations
    if ip:
        body["status"] = {"podIP": ip, "phase": "Running"}
    return body


def service(namespace: str, name: str, selector: dict[str, str], ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": ports}}


def ap(namespace: str, name: str, spec: dict[str, Any], *, version: str = "v1", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": f"security.istio.io/{version}", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": namespace, **meta}, "spec": spec}


def pa(namespace: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": namespace, **meta}, "spec": spec}


def flow(a: Analysis, src: str, dst: str, port: str, http: str | None = None, by: str = "pod") -> str:
    """allow / deny / unknown for one flow, any request (``http`` None) or one request."""
    s, _ = a.find(src, by)
    t, _ = a.find(dst, by)
    pm = a.pairs(by, [s], [t], request=Request.parse(http) if http else None)
    q = PortQuery.parse(port)
    atom = a.ports.index_of(q.protocol, q.port)
    assert atom is not None
    return WORDS[int(pm.verdict[pm.row[0, 0], atom])]


def assurance(a: Analysis, src: str, dst: str, port: str | None = None, http: str | None = None,
              by: str = "pod") -> str:
    s, _ = a.find(src, by)
    t, _ = a.find(dst, by)
    pm = a.pairs(by, [s], [t], request=Request.parse(http) if http else None)
    atoms = None
    if port:
        q = PortQuery.parse(port)
        atoms = np.array([a.ports.index_of(q.protocol, q.port)])
    return a.assurance(pm, 0, 0, atoms)


def analysed(tmp_path: Path, objects: list[dict[str, Any]], **options: Any) -> Analysis:
    return build(tmp_path, objects, **options)
