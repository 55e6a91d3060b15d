"""Which pods implement a front (EXP-9, EXP-12, EXP-14, EXP-19), found as endpoint classes.

The API never names the pods behind an IngressClass or a GatewayClass: the tool keeps a small
map controller → (namespace, pod labels, container-port rule). Unmapped controllers, and mapped
ones whose pods are not in the input, are ``controller-unknown``; cloud-LB controllers are
``lb-impl`` (the source the backend sees is the LB, not a pod).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from auditor.causes import Cause
from auditor.kinds import WORKLOAD_KINDS
from auditor.policy.routes import Routing, Service
from auditor.policy.selectors import from_label_selector
from auditor.reach.exposure.entries import Controller

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"  # GEP-1762

#: EXP-9 / EXP-19: IngressClass controller → (namespace, pod labels).
INGRESS_CONTROLLERS: dict[str, tuple[str, dict[str, str]]] = {
    "k8s.io/ingress-nginx": ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                                "app.kubernetes.io/component": "controller"}),
    "openshift-router": ("openshift-ingress",
                         {"ingresscontroller.operator.openshift.io/deployment-ingresscontroller": "default"}),
    "openshift.io/ingress-to-route": ("openshift-ingress",
                                      {"ingresscontroller.operator.openshift.io/deployment-ingresscontroller": "default"}),
}
#: legacy ``kubernetes.io/ingress.class`` words → controller
LEGACY_CLASSES = {"nginx": "k8s.io/ingress-nginx"}
#: controllers whose data path is a cloud load balancer (the backend sees LB addresses)
LB_CONTROLLERS = frozenset({"ingress.k8s.aws/alb", "networking.gke.io/ingress-gce", "azure/application-gateway"})
ISTIO_GATEWAY_CONTROLLER = "istio.io/gateway-controller"
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"


@dataclass(frozen=True)
class Proxy:
    """The pods that serve a front, as endpoint classes (empty with ``cause`` when unknown)."""

    description: str  # "ingress-nginx/app.kubernetes.io/name=ingress-nginx,…"
    namespace: str | None
    classes: np.ndarray
    host_network: bool = False  # the proxy listens on node addresses (source = a node, K8S-13)
    lb: bool = False  # a cloud LB is the proxy (EXP-9): the backend sees LB addresses
    cause: Cause | None = None
    envoy_ports: bool = False  # EXP-12: Envoy Gateway serves a listener port < 1024 on port + 10000
    generated_service: str | None = None  # the Service the implementation creates, when not in the input

    def container_port(self, port: int) -> int:
        return port + 10000 if self.envoy_ports and port < 1024 else port


def _selector_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class ProxyFinder:
    """Maps a front's controller to its pods, once per (controller, gateway)."""

    def __init__(self, analysis: object, routing: Routing) -> None:
        self.an = analysis
        self.routing = routing
        self._cache: dict[Controller, Proxy] = {}
        classes = analysis.classes  # type: ignore[attr-defined]
        self.classes = classes
        self._ns_index = {ns: i for i, ns in enumerate(classes.namespaces)}
        self._host_network = _host_network_pods(analysis.snapshot)  # type: ignore[attr-defined]
        self._masks: dict[str, np.ndarray] = {}
        self._exposing: dict[tuple[object, ...], list[Service]] = {}
        self._entry_services = [s for s in sorted(routing.services.values(), key=lambda s: s.key)
                                if s.selector is not None and (s.type in ("LoadBalancer", "NodePort") or s.external_ips)]

    def pods(self, namespace: str | None, labels: Mapping[str, str]) -> np.ndarray:
        """Pod classes carrying ``labels`` (in ``namespace`` unless None), vectorised over classes."""
        sel = from_label_selector({"matchLabels": dict(labels)}, what="proxy selector")
        mask = sel.mask(self.classes.labels) & self.classes.is_pod
        if namespace is not None:
            code = self._ns_index.get(namespace, -2)
            mask &= self.classes.namespace_code == code
        return np.flatnonzero(mask)

    def _host_net(self, namespace: str | None, labels: Mapping[str, str]) -> bool:
        items = set(labels.items())
        return any((namespace is None or ns == namespace) and items <= set(lab.items())
                   for ns, lab in self._host_network)

    def find(self, ctl: Controller) -> Proxy:
        hit = self._cache.get(ctl)
        if hit is None:
            hit = self._cache[ctl] = self._find(ctl)
        return hit

    def _labelled(self, desc: str, ns: str | None, labels: Mapping[str, str], what: str,
                  envoy: bool = False, generated: str | None = None) -> Proxy:
        kw = {"envoy_ports": envoy}
        found = self.pods(ns, labels)
        if found.size:
            if ns is None:  # EXP-14: name the namespaces the selector found pods in
                spaces = sorted({str(self.classes.namespace[c]) for c in found.tolist()})
                desc = f"{','.join(spaces)}/{_selector_text(labels)}"
            return Proxy(desc, ns, found, generated_service=generated, **kw)
        if self._host_net(ns, labels):
            return Proxy(desc, ns, np.zeros(0, np.int64), host_network=True, generated_service=generated, **kw)
        return Proxy(desc, ns, np.zeros(0, np.int64),
                     cause=Cause("controller-unknown", f"no pods of {what} ({desc}) in the input"))

    def _find(self, ctl: Controller) -> Proxy:
        if ctl.cause is not None:
            return Proxy(ctl.name or "?", None, np.zeros(0, np.int64), cause=ctl.cause)
        if ctl.kind == "istio":  # EXP-14: any namespace
            labels = dict(ctl.selector)
            return self._labelled(f"*/{_selector_text(labels)}", None, labels, "the Istio gateway")
        if ctl.kind in ("ingress", "route"):
            name = LEGACY_CLASSES.get(ctl.name, ctl.name)
            if name in LB_CONTROLLERS:
                return Proxy(name, None, np.zeros(0, np.int64), lb=True,
                             cause=Cause("lb-impl", f"{name} is a cloud load balancer: the backend sees LB addresses"))
            mapped = INGRESS_CONTROLLERS.get(name)
            if mapped is None:
                return Proxy(name, None, np.zeros(0, np.int64),
                             cause=Cause("controller-unknown", f"controller {name!r} is not mapped to pods (EXP-9)"))
            ns, labels = mapped
            return self._labelled(f"{ns}/{_selector_text(labels)}", ns, labels, name)
        # Gateway API (EXP-12)
        gw_ns, gw = ctl.namespace or "default", ctl.gateway or ""
        if ctl.name == ISTIO_GATEWAY_CONTROLLER:
            labels = {GATEWAY_NAME_LABEL: gw}
            return self._labelled(f"{gw_ns}/{_selector_text(labels)}", gw_ns, labels, "the Istio gateway deployment",
                                  generated=f"{gw}-istio")
        if ctl.name == ENVOY_GATEWAY_CONTROLLER:
            labels = {"gateway.envoyproxy.io/owning-gateway-name": gw,
                      "gateway.envoyproxy.io/owning-gateway-namespace": gw_ns}
            return self._labelled(f"{ENVOY_GATEWAY_NAMESPACE}/{_selector_text(labels)}", ENVOY_GATEWAY_NAMESPACE,
                                  labels, "the Envoy Gateway proxy", envoy=True, generated=f"envoy-{gw_ns}-{gw}")
        labels = {GATEWAY_NAME_LABEL: gw}
        found = self.pods(gw_ns, labels)
        if found.size:  # GEP-1762 labels on an unmapped implementation's pods
            return Proxy(f"{gw_ns}/{_selector_text(labels)}", gw_ns, found)
        return Proxy(ctl.name, None, np.zeros(0, np.int64),
                     cause=Cause("controller-unknown", f"GatewayClass controller {ctl.name!r} is not mapped to pods "
                                 "and no pod carries the GEP-1762 gateway-name label (EXP-12)"))

    def exposing_services(self, proxy: Proxy) -> list[Service]:
        """Services of the proxy's namespace that select some proxy pod and open an entry."""
        key = (proxy.description, proxy.namespace, proxy.classes.tobytes(), proxy.host_network)
        hit = self._exposing.get(key)
        if hit is None:
            hit = self._exposing[key] = self._find_exposing(proxy)
        return hit

    def _find_exposing(self, proxy: Proxy) -> list[Service]:
        if proxy.classes.size == 0 and not proxy.host_network:
            return []
        out = []
        for svc in self._entry_services:
            if proxy.namespace is not None and svc.namespace != proxy.namespace:
                continue
            if proxy.classes.size:
                if self._service_mask(svc)[proxy.classes].any():
                    out.append(svc)
            elif self._host_net(svc.namespace, dict(svc.selector)):
                out.append(svc)
        return out

    def _service_mask(self, svc: Service) -> np.ndarray:
        hit = self._masks.get(svc.key)
        if hit is None:
            hit = self._masks[svc.key] = self._compute_mask(svc)
        return hit

    def _compute_mask(self, svc: Service) -> np.ndarray:
        sel = from_label_selector({"matchLabels": dict(svc.selector or ())}, what=f"Service {svc.key} selector")
        code = self._ns_index.get(svc.namespace, -2)
        return sel.mask(self.classes.labels) & self.classes.is_pod & (self.classes.namespace_code == code)

    def backends(self, svc: Service) -> np.ndarray:
        """The pod classes a Service selects (K8S: selector over pod labels in its namespace)."""
        if svc.selector is None:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self._service_mask(svc))


def _host_network_pods(snapshot: object) -> list[tuple[str, dict[str, str]]]:
    """(namespace, labels) of host-network pods and pod templates (not policy endpoints, K8S-13)."""
    out = []
    for kind in ("Pod", *WORKLOAD_KINDS):
        for res in snapshot.of_kind(kind):  # type: ignore[attr-defined]
            spec = res.body.get("spec") or {}
            labels = res.labels
            if kind != "Pod":
                if kind == "CronJob":
                    spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
                template = spec.get("template") or {}
                spec = template.get("spec") or {}
                labels = (template.get("metadata") or {}).get("labels") or {}
            if isinstance(spec, Mapping) and spec.get("hostNetwork"):
                out.append((res.namespace or "default", dict(labels)))
    return out
