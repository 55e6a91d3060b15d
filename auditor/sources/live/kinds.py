"""What the live scan lists: every kind the auditor reads, the API group versions it tries in
order, and discovery (which of them the cluster serves).

- Calico via ``projectcalico.org/v3`` (API server) or else ``crd.projectcalico.org/v1`` (raw
  CRDs); Istio ``security.istio.io`` ``v1`` or else ``v1beta1``; the
  ``policy.networking.k8s.io`` kinds;
- Secrets and ConfigMaps are never requested (they are not in :data:`LIVE_KINDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.kinds import KNOWN_KINDS
from auditor.sources.live.http import (
    ERROR,
    FORBIDDEN,
    NOT_INSTALLED,
    OK,
    GaveUp,
    Http,
)


@dataclass(frozen=True)
class LiveKind:
    """One listable resource: API group, versions in preference order, plural, kind."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool

    @property
    def key(self) -> str:
        """The auditor's kind key (``"Pod"``, ``"calico/GlobalNetworkPolicy"``, …)."""
        return KNOWN_KINDS[(self.group, self.kind)]

    def path(self, version: str) -> str:
        """The cluster-wide list path at ``version``."""
        base = f"/api/{version}" if self.group == "" else f"/apis/{self.group}/{version}"
        return f"{base}/{self.plural}"


def _calico(kind: str, plural: str, namespaced: bool) -> tuple[LiveKind, LiveKind]:
    # The Calico API server's projectcalico.org/v3 is preferred (validated, defaulted, the
    # names users see); the raw crd.projectcalico.org/v1 CRDs only when it is not installed.
    return (
        LiveKind("projectcalico.org", ("v3",), plural, kind, namespaced),
        LiveKind("crd.projectcalico.org", ("v1",), plural, kind, namespaced),
    )


def _istio(kind: str, plural: str) -> LiveKind:
    return LiveKind("security.istio.io", ("v1", "v1beta1"), plural, kind, True)


_ANP_VERSIONS = ("v1alpha2", "v1alpha1")
# TLSRoute is standard since Gateway API v1.5, TCPRoute since v1.6; v1alpha2 before (EXP-11).
_GATEWAY_L4_VERSIONS = ("v1", "v1alpha2")
_ISTIO_NET_VERSIONS = ("v1", "v1beta1", "v1alpha3")

#: Everything the scanner lists, in scan order. Several entries may share a kind key (the
#: two Calico groups): the first one the cluster serves is listed, the others are not.
#: ``deploy/`` grants ``get``/``list`` on exactly these (group, plural) pairs
#: (``tests/test_deploy.py`` fails when the two drift apart).
LIVE_KINDS: tuple[LiveKind, ...] = (
    LiveKind("", ("v1",), "namespaces", "Namespace", False),
    LiveKind("", ("v1",), "nodes", "Node", False),
    LiveKind("", ("v1",), "pods", "Pod", True),
    LiveKind("", ("v1",), "serviceaccounts", "ServiceAccount", True),
    LiveKind("", ("v1",), "services", "Service", True),
    LiveKind("", ("v1",), "replicationcontrollers", "ReplicationController", True),
    LiveKind("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice", True),
    LiveKind("apps", ("v1",), "deployments", "Deployment", True),
    LiveKind("apps", ("v1",), "statefulsets", "StatefulSet", True),
    LiveKind("apps", ("v1",), "daemonsets", "DaemonSet", True),
    LiveKind("apps", ("v1",), "replicasets", "ReplicaSet", True),
    LiveKind("batch", ("v1",), "jobs", "Job", True),
    LiveKind("batch", ("v1",), "cronjobs", "CronJob", True),
    LiveKind("networking.k8s.io", ("v1",), "networkpolicies", "NetworkPolicy", True),
    LiveKind(
        "policy.networking.k8s.io",
        _ANP_VERSIONS,
        "adminnetworkpolicies",
        "AdminNetworkPolicy",
        False,
    ),
    LiveKind(
        "policy.networking.k8s.io",
        _ANP_VERSIONS,
        "baselineadminnetworkpolicies",
        "BaselineAdminNetworkPolicy",
        False,
    ),
    LiveKind(
        "policy.networking.k8s.io",
        _ANP_VERSIONS,
        "clusternetworkpolicies",
        "ClusterNetworkPolicy",
        False,
    ),
    *_calico("Tier", "tiers", False),
    *_calico("NetworkPolicy", "networkpolicies", True),
    *_calico("GlobalNetworkPolicy", "globalnetworkpolicies", False),
    *_calico("StagedNetworkPolicy", "stagednetworkpolicies", True),
    *_calico("StagedGlobalNetworkPolicy", "stagedglobalnetworkpolicies", False),
    *_calico("StagedKubernetesNetworkPolicy", "stagedkubernetesnetworkpolicies", True),
    *_calico("NetworkSet", "networksets", True),
    *_calico("GlobalNetworkSet", "globalnetworksets", False),
    *_calico("HostEndpoint", "hostendpoints", False),
    # spec.calicoVersion says which admin network policy family Calico enforces (ADM-14).
    *_calico("ClusterInformation", "clusterinformations", False),
    _istio("AuthorizationPolicy", "authorizationpolicies"),
    _istio("PeerAuthentication", "peerauthentications"),
    _istio("RequestAuthentication", "requestauthentications"),
    # exposure paths (semantics.md section G)
    LiveKind("networking.k8s.io", ("v1",), "ingresses", "Ingress", True),
    LiveKind("networking.k8s.io", ("v1",), "ingressclasses", "IngressClass", False),
    LiveKind("route.openshift.io", ("v1",), "routes", "Route", True),
    LiveKind("gateway.networking.k8s.io", ("v1",), "gatewayclasses", "GatewayClass", False),
    LiveKind("gateway.networking.k8s.io", ("v1",), "gateways", "Gateway", True),
    LiveKind("gateway.networking.k8s.io", ("v1",), "httproutes", "HTTPRoute", True),
    LiveKind("gateway.networking.k8s.io", ("v1",), "grpcroutes", "GRPCRoute", True),
    LiveKind("gateway.networking.k8s.io", _GATEWAY_L4_VERSIONS, "tlsroutes", "TLSRoute", True),
    LiveKind("gateway.networking.k8s.io", _GATEWAY_L4_VERSIONS, "tcproutes", "TCPRoute", True),
    LiveKind("gateway.networking.k8s.io", ("v1", "v1beta1"), "referencegrants", "ReferenceGrant", True),
    LiveKind("networking.istio.io", _ISTIO_NET_VERSIONS, "gateways", "Gateway", True),
    LiveKind("networking.istio.io", _ISTIO_NET_VERSIONS, "virtualservices", "VirtualService", True),
    LiveKind("networking.istio.io", _ISTIO_NET_VERSIONS, "serviceentries", "ServiceEntry", True),
    LiveKind("networking.istio.io", _ISTIO_NET_VERSIONS, "sidecars", "Sidecar", True),
)


#: The Calico API server authorizes tiered policies through pseudo-resources: reading a
#: policy needs ``get`` on its tier and the verb on ``tier.<plural>`` (Calico "RBAC for
#: tiered policies"); without them a list of projectcalico.org/v3 policies is forbidden.
CALICO_TIER_PSEUDO_RESOURCES: tuple[str, ...] = (
    "tier.networkpolicies",
    "tier.globalnetworkpolicies",
    "tier.stagednetworkpolicies",
    "tier.stagedglobalnetworkpolicies",
    "tier.stagedkubernetesnetworkpolicies",
)

#: The only verbs the scanner uses (``get`` for the kube-system namespace, ``list`` otherwise).
RBAC_VERBS: tuple[str, ...] = ("get", "list")


def rbac_resources() -> dict[str, set[str]]:
    """API group → resources the scanner needs ``get``/``list`` on (what deploy/ grants)."""
    needed: dict[str, set[str]] = {}
    for kind in LIVE_KINDS:
        needed.setdefault(kind.group, set()).add(kind.plural)
    needed["projectcalico.org"].update(CALICO_TIER_PSEUDO_RESOURCES)
    return needed


def live_kind_keys() -> list[str]:
    """The kind keys of :data:`LIVE_KINDS`, in scan order, without repeats."""
    return list(dict.fromkeys(k.key for k in LIVE_KINDS))


@dataclass(frozen=True)
class KindCollection:
    """How one kind key was collected (``status`` goes into the snapshot's ``collection``)."""

    key: str
    status: str
    api_version: str | None = None
    count: int = 0
    pages: int = 0
    resource_version: str | None = None
    reason: str | None = None

    def message(self) -> str:
        """One human line for progress output."""
        if self.status == OK:
            pages = "page" if self.pages == 1 else "pages"
            return f"{self.key}: {self.count} listed ({self.api_version}, {self.pages} {pages})"
        return f"{self.key}: {self.status}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class LiveCollection:
    """Everything a live scan gathered, before it becomes a :class:`Snapshot`."""

    objects: tuple[dict[str, Any], ...]
    kinds: tuple[KindCollection, ...]
    context: str
    cluster_uid: str | None
    server_version: str | None
    captured_at: str
    requests: int = 0

    @property
    def collection(self) -> dict[str, str]:
        """Kind key → ``ok | forbidden | not-installed | error``."""
        return {k.key: k.status for k in self.kinds}

    @property
    def complete(self) -> bool:
        """True when no kind is ``forbidden`` or ``error``."""
        return all(k.status in (OK, NOT_INSTALLED) for k in self.kinds)

    @property
    def source(self) -> str:
        """The snapshot ``source`` string naming the cluster's identity."""
        return (
            f"live: cluster kube-system-uid={self.cluster_uid or 'unknown'} "
            f"server={self.server_version or 'unknown'} context={self.context}"
        )



@dataclass
class Discovery:
    """Which group versions serve which resources (memoised, fetched lazily)."""

    http: Http
    groups: dict[str, list[str]] | None = None
    groups_problem: tuple[str, str] | None = None
    resources: dict[str, set[str] | tuple[str, str]] = field(default_factory=dict)

    def _load_groups(self) -> None:
        if self.groups is not None or self.groups_problem is not None:
            return
        try:
            response = self.http.get("/apis")
        except GaveUp as exc:
            self.groups_problem = (ERROR, f"discovery /apis: {exc}")
            return
        if response.status != 200:
            status = FORBIDDEN if response.status == 403 else ERROR
            self.groups_problem = (status, f"discovery /apis: {response.problem()}")
            return
        listed = response.json().get("groups")
        if not isinstance(listed, list):
            self.groups_problem = (ERROR, "discovery /apis: not an APIGroupList")
            return
        groups: dict[str, list[str]] = {}
        for group in listed:
            if isinstance(group, dict) and isinstance(group.get("versions"), list):
                groups[str(group.get("name", ""))] = [
                    str(v.get("version", "")) for v in group["versions"] if isinstance(v, dict)
                ]
        self.groups = groups

    def serves(self, group: str, version: str, plural: str) -> tuple[str, str | None]:
        """``(ok, None)`` when served, else ``(not-installed|forbidden|error, reason)``."""
        group_version = version if group == "" else f"{group}/{version}"
        if group != "":
            self._load_groups()
            if self.groups_problem is not None:
                return self.groups_problem
            assert self.groups is not None
            if group not in self.groups:
                return NOT_INSTALLED, f"API group {group} not served"
            if version not in self.groups[group]:
                return NOT_INSTALLED, f"{group_version} not served"
        if group_version not in self.resources:
            self.resources[group_version] = self._load_resources(group, version)
        known = self.resources[group_version]
        if isinstance(known, tuple):
            return known
        if plural not in known:
            return NOT_INSTALLED, f"{plural} not served by {group_version}"
        return OK, None

    def _load_resources(self, group: str, version: str) -> set[str] | tuple[str, str]:
        path = f"/api/{version}" if group == "" else f"/apis/{group}/{version}"
        try:
            response = self.http.get(path)
        except GaveUp as exc:
            return ERROR, f"discovery {path}: {exc}"
        if response.status == 404:
            return NOT_INSTALLED, f"discovery {path}: {response.problem()}"
        if response.status != 200:
            status = FORBIDDEN if response.status == 403 else ERROR
            return status, f"discovery {path}: {response.problem()}"
        resources = response.json().get("resources")
        if not isinstance(resources, list):
            return ERROR, f"discovery {path}: not an APIResourceList"
        names = {r.get("name") for r in resources if isinstance(r, dict)}
        # not subresources (pods/log, …)
        return {n for n in names if isinstance(n, str) and "/" not in n}


# --------------------------------------------------------------------------------------------
