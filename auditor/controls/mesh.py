"""The few Istio facts controls can establish without the Istio model (issue 4).

Only conclusions that hold whatever the unmodelled details are:

- A pod whose spec has no ``istio-proxy`` container has no sidecar (IST-2: the pod spec is the
  ground truth); traffic to it gets no Istio enforcement and no peer identity (IST-1).
- If no PeerAuthentication anywhere sets ``STRICT``, every workload is PERMISSIVE (IST-6):
  plaintext is admitted everywhere.
- Non-TCP traffic bypasses the sidecar (IST-3): it never carries a verified identity.

Everything else (precedence, port-level modes, AuthorizationPolicy principals) makes the
dependent controls ``unknown``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.reach.analysis import Analysis
from auditor.reach.endpoints import Endpoint

MESH_KINDS = ("istio/PeerAuthentication", "istio/AuthorizationPolicy")
NOT_MODELLED = "Istio identity/mTLS is not modelled by this version"
_IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
_PROXY = "istio-proxy"


def _is_strict(body: Mapping[str, Any]) -> bool:
    spec = body.get("spec") or {}
    if str((spec.get("mtls") or {}).get("mode") or "").upper() == "STRICT":
        return True
    for value in (spec.get("portLevelMtls") or {}).values():
        if isinstance(value, Mapping) and str(value.get("mode") or "").upper() == "STRICT":
            return True
    return False


def _containers(pod_spec: Mapping[str, Any]) -> list[str]:
    names = []
    for group in ("containers", "initContainers"):
        for c in pod_spec.get(group) or []:
            if isinstance(c, Mapping):
                names.append(str(c.get("name") or ""))
    return names


class MeshFacts:
    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        snap = analysis.snapshot
        # The engine's Istio model (mTLS admission, AuthorizationPolicy, identity per flow), when
        # this version has it: then the controls ask it instead of the conservative rules here.
        self.model = analysis if hasattr(analysis, "mesh_facts") and hasattr(analysis, "l7") else None
        self.peer_authentications = snap.of_kind("istio/PeerAuthentication")
        self.authorization_policies = snap.of_kind("istio/AuthorizationPolicy")
        self.strict_anywhere = any(_is_strict(r.body) for r in self.peer_authentications)
        self.present = bool(self.peer_authentications or self.authorization_policies)
        self._cache: dict[int, bool | None] = {}

    def sidecar(self, endpoints: Iterable[int]) -> bool | None:
        """True/False when every endpoint certainly has / lacks a sidecar, else None."""
        seen = {self._sidecar(i) for i in endpoints}
        if len(seen) == 1:
            return seen.pop()
        return None

    def _sidecar(self, index: int) -> bool | None:
        if index in self._cache:
            return self._cache[index]
        ep = self.analysis.inventory.endpoints[index]
        self._cache[index] = out = self._decide(ep)
        return out

    def _decide(self, ep: Endpoint) -> bool | None:
        if ep.kind != "pod":
            return False
        membership = getattr(ep, "mesh", None)
        if self.model is not None and membership is not None:  # the model's injection prediction
            if getattr(membership, "uncertain", False) or getattr(membership, "ambient", False):
                return None
            return bool(getattr(membership, "sidecar", False))
        ns = ep.namespace or "default"
        ns_labels = self.analysis.inventory.namespace_labels.get(ns, {})
        if ns_labels.get("istio.io/dataplane-mode") == "ambient" or ep.labels.get("istio.io/dataplane-mode") == "ambient":
            return None  # ztunnel, not a sidecar: the mTLS question is open
        snap = self.analysis.snapshot
        if not ep.template:
            res = snap.get("Pod", ns, ep.pod)
            if res is None:
                return None
            return _PROXY in _containers(res.body.get("spec") or {})
        parts = ep.workload.split("/", 2)  # templates are "ns/Kind/name"
        res = snap.get(parts[1], ns, parts[2]) if len(parts) == 3 else None
        template = _template(res.body, res.kind_key) if res is not None else None
        if template is None:
            return None
        if _PROXY in _containers(template.get("spec") or {}):
            return True
        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        if str(pod_labels.get("sidecar.istio.io/inject", "")).lower() == "false":
            return False
        if ns_labels.get("istio-injection") == "disabled" or ns in _IGNORED_NAMESPACES:
            return False
        return None  # injection at admission (IST-2) is predicted by the Istio model, not here


def _template(body: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    spec = body.get("spec") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return template if isinstance(template, Mapping) else None
