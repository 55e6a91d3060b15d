"""The resource kinds the auditor reads, keyed by API group and kind.

A ``kind key`` names a kind independently of API version and of the two Calico groups
(``projectcalico.org`` via the API server, ``crd.projectcalico.org`` as raw CRDs), so the rest
of the code never compares apiVersion strings.
"""

from __future__ import annotations

CALICO_GROUPS = ("projectcalico.org", "crd.projectcalico.org")
ISTIO_GROUPS = ("security.istio.io",)

_CORE = {
    ("", "Namespace"): "Namespace",
    ("", "Pod"): "Pod",
    ("", "ServiceAccount"): "ServiceAccount",
    ("", "Service"): "Service",
    ("", "Node"): "Node",
    ("", "ReplicationController"): "ReplicationController",
    ("discovery.k8s.io", "EndpointSlice"): "EndpointSlice",
    ("apps", "Deployment"): "Deployment",
    ("apps", "StatefulSet"): "StatefulSet",
    ("apps", "DaemonSet"): "DaemonSet",
    ("apps", "ReplicaSet"): "ReplicaSet",
    ("batch", "Job"): "Job",
    ("batch", "CronJob"): "CronJob",
    ("networking.k8s.io", "NetworkPolicy"): "NetworkPolicy",
    ("policy.networking.k8s.io", "AdminNetworkPolicy"): "AdminNetworkPolicy",
    ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"): "BaselineAdminNetworkPolicy",
    ("policy.networking.k8s.io", "ClusterNetworkPolicy"): "ClusterNetworkPolicy",
    # exposure (semantics.md section G): Ingress, OpenShift Route, Gateway API, Istio networking
    ("networking.k8s.io", "Ingress"): "Ingress",
    ("networking.k8s.io", "IngressClass"): "IngressClass",
    ("route.openshift.io", "Route"): "openshift/Route",
    ("gateway.networking.k8s.io", "GatewayClass"): "gateway/GatewayClass",
    ("gateway.networking.k8s.io", "Gateway"): "gateway/Gateway",
    ("gateway.networking.k8s.io", "HTTPRoute"): "gateway/HTTPRoute",
    ("gateway.networking.k8s.io", "GRPCRoute"): "gateway/GRPCRoute",
    ("gateway.networking.k8s.io", "TLSRoute"): "gateway/TLSRoute",
    ("gateway.networking.k8s.io", "TCPRoute"): "gateway/TCPRoute",
    ("gateway.networking.k8s.io", "ReferenceGrant"): "gateway/ReferenceGrant",
    ("networking.istio.io", "Gateway"): "istio/Gateway",
    ("networking.istio.io", "VirtualService"): "istio/VirtualService",
    ("networking.istio.io", "ServiceEntry"): "istio/ServiceEntry",
    ("networking.istio.io", "Sidecar"): "istio/Sidecar",
}

_CALICO_KINDS = (
    "NetworkPolicy",
    "GlobalNetworkPolicy",
    "Tier",
    "NetworkSet",
    "GlobalNetworkSet",
    "StagedNetworkPolicy",
    "StagedGlobalNetworkPolicy",
    "StagedKubernetesNetworkPolicy",
    "HostEndpoint",
    "ClusterInformation",  # spec.calicoVersion: which admin policies Calico enforces (ADM-14)
)

_ISTIO_KINDS = ("AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication")

KNOWN_KINDS: dict[tuple[str, str], str] = dict(_CORE)
for _group in CALICO_GROUPS:
    for _kind in _CALICO_KINDS:
        KNOWN_KINDS[(_group, _kind)] = f"calico/{_kind}"
for _group in ISTIO_GROUPS:
    for _kind in _ISTIO_KINDS:
        KNOWN_KINDS[(_group, _kind)] = f"istio/{_kind}"

# Never stored, whatever the input holds: the auditor has no business keeping their content.
NEVER_STORED = frozenset({("", "Secret"), ("", "ConfigMap")})

WORKLOAD_KINDS = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "ReplicationController",
)

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "AdminNetworkPolicy",
        "BaselineAdminNetworkPolicy",
        "ClusterNetworkPolicy",
        "calico/GlobalNetworkPolicy",
        "calico/GlobalNetworkSet",
        "calico/Tier",
        "calico/StagedGlobalNetworkPolicy",
        "calico/HostEndpoint",
        "IngressClass",
        "gateway/GatewayClass",
        "calico/ClusterInformation",
    }
)


def api_group(api_version: str) -> str:
    """``networking.k8s.io/v1`` → ``networking.k8s.io``; ``v1`` → ``""`` (core)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def kind_key(api_version: str, kind: str) -> str | None:
    """The auditor's key for a kind, or None when the auditor does not model it."""
    return KNOWN_KINDS.get((api_group(api_version), kind))

# Who enforces the cluster-scoped admin policies (ADM-14): the upstream reading, or a Calico release.
DATAPLANES = ("upstream", "calico-3.29", "calico-3.30", "calico-3.32")
