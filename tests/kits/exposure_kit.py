"""Small manifest builders for the exposure tests (semantics.md section G): namespaces,
workloads, Services, policies, written as YAML files and run through the real loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auditor.reach.addresses import parse_network
from auditor.reach.analysis import AnalysisOptions, analyze
from auditor.reach.endpoints import ExternalNetwork
from auditor.reach.exposure.paths import Exposure, ExposureSettings, build_exposure
from auditor.sources.manifests import load_manifests


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"name": name, **labels}}}


def deploy(namespace: str, name: str, labels: dict[str, str], ports: dict[str, int] | None = None, *,
           host_network: bool = False, host_ports: dict[int, int] | None = None) -> dict[str, Any]:
    cports: list[dict[str, Any]] = [{"name": k, "containerPort": v} for k, v in (ports or {"http": 8080}).items()]
    for hp, cp in (host_ports or {}).items():
        cports.append({"containerPort": cp, "hostPort": hp})
    spec: dict[str, Any] = {"containers": [{"name": name, "image": "example/app:1", "ports": cports}]}
    if host_network:
        spec["hostNetwork"] = True
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}}}


def service(namespace: str, name: str, selector: dict[str, str] | None, ports: list[dict[str, Any]],
            type_: str = "ClusterIP", lb: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                            "spec": {"type": type_, "ports": ports, **spec}}
    if selector is not None:
        body["spec"]["selector"] = selector
    if lb:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": a} for a in lb]}}
    return body


def netpol(namespace: str, name: str, pod: dict[str, str], ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": pod}, "policyTypes": ["Ingress"], "ingress": ingress}}


def write(tmp: Path, docs: list[dict[str, Any]], name: str = "in.yaml") -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def expose(paths: list[Path | str], settings: ExposureSettings | None = None, externals: dict[str, str] | None = None,
           lenient: bool = False) -> Exposure:
    nets = [ExternalNetwork("internet", (parse_network("0.0.0.0/0"),))]
    for k, v in (externals or {}).items():
        nets.append(ExternalNetwork(k, (parse_network(v),)))
    an = analyze(load_manifests([str(p) for p in paths]), AnalysisOptions(externals=tuple(nets), lenient=lenient))
    return build_exposure(an, settings, lenient=lenient)


def by_via(ex: Exposure, via: str) -> list[Any]:
    return [p for p in ex.paths if p.via == via]
