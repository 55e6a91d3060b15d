"""Snapshot → endpoints: pods, workload templates and external networks (FLOW-2).

A CI gate on rendered manifests sees Deployments but no Pods, so every workload whose pods
are not in the snapshot contributes one *template* endpoint built from its pod template.
Pods owned by a controller roll up to their workload (Deployment via ReplicaSet, CronJob via Job).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.kinds import WORKLOAD_KINDS
from auditor.policy.ir import IPNetwork
from auditor.policy.istio import TRUST_DOMAIN, MeshMembership, mesh_membership, principal_of
from auditor.snapshot import Resource, Snapshot

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NO_MESH = MeshMembership()
TERMINAL_PHASES = ("Succeeded", "Failed")
_JOB_SUFFIX = re.compile(r"^(?P<base>.+)-\d+$")


@dataclass(frozen=True)
class Endpoint:
    """One thing that sends or receives traffic: a pod, a workload template or an external network."""

    key: str  # unique: "ns/pod", "ns/Kind/name" (template), the external network's name,
    # "GlobalNetworkSet/name" or "ns/NetworkSet/name" (Calico network sets, CAL-41)
    kind: str  # "pod" | "external" | "networkset"
    namespace: str | None
    pod: str  # pod name; the workload id for templates; the network name for externals
    workload: str  # "ns/Kind/name", "ns/pod" for bare pods, network name for externals
    labels: Mapping[str, str] = field(default_factory=dict)
    service_account: str | None = None
    named_ports: tuple[tuple[str, str, int], ...] = ()  # (name, protocol, number), K8S-12
    ip: IPAddress | None = None
    networks: tuple[IPNetwork, ...] = ()  # external endpoints and network sets only
    template: bool = False
    mesh: MeshMembership = NO_MESH  # Istio sidecar / ambient facts (IST-2, IST-28)

    @property
    def has_sidecar(self) -> bool:
        return self.mesh.sidecar

    @property
    def ambient(self) -> bool:
        return self.mesh.ambient

    @property
    def principal(self) -> str | None:
        """The mTLS identity the pod presents (IST-17), ``None`` without sidecar or ztunnel."""
        if self.kind != "pod" or not (self.mesh.sidecar or self.mesh.ambient):
            return None
        return principal_of(self.namespace or "default", self.service_account or "default", TRUST_DOMAIN)


@dataclass(frozen=True)
class ExternalNetwork:
    """A named set of CIDRs treated as one peer (``--external NAME=CIDR``; default internet)."""

    name: str
    networks: tuple[IPNetwork, ...]


DEFAULT_EXTERNALS = (ExternalNetwork("internet", (ipaddress.ip_network("0.0.0.0/0"),)),)


@dataclass
class Inventory:
    """Endpoints plus the context selectors need (namespace and service-account labels)."""

    endpoints: list[Endpoint]
    namespace_labels: dict[str, dict[str, str]]
    missing_namespaces: set[str]
    service_account_labels: dict[tuple[str, str], dict[str, str]]
    excluded: list[str]  # "ns/pod: reason" for pods that are not policy endpoints
    notes: list[str]


def _named_ports(pod_spec: Mapping[str, Any]) -> tuple[tuple[str, str, int], ...]:
    """K8S-12: names from containers and init containers; only ports that have a name."""
    out: set[tuple[str, str, int]] = set()
    for group in ("containers", "initContainers"):
        for container in pod_spec.get(group) or []:
            for port in (container or {}).get("ports") or []:
                name = port.get("name")
                number = port.get("containerPort")
                if name and isinstance(number, int):
                    out.add((str(name), str(port.get("protocol") or "TCP"), number))
    return tuple(sorted(out))


def _controller(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    owners = meta.get("ownerReferences") or []
    chosen = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if not chosen:
        return None
    return str(chosen.get("kind")), str(chosen.get("name"))


class _Workloads:
    """Resolves a pod's owner chain to the top-level workload id."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.objects: dict[tuple[str, str, str], Resource] = {}
        for kind in WORKLOAD_KINDS:
            for res in snapshot.of_kind(kind):
                self.objects[(kind, res.namespace or "", res.name)] = res

    def top(self, namespace: str, kind: str, name: str, labels: Mapping[str, str]) -> tuple[str, str]:
        """(kind, name) of the top-level controller; guesses Deployment/CronJob names when the
        intermediate ReplicaSet/Job is absent, as in ``kubectl get pods`` output."""
        res = self.objects.get((kind, namespace, name))
        if res is not None:
            owner = _controller(res.body.get("metadata") or {})
            if owner and owner[0] in WORKLOAD_KINDS:
                return self.top(namespace, owner[0], owner[1], labels)
            return kind, name
        if kind == "ReplicaSet":
            hash_ = labels.get("pod-template-hash")
            if hash_ and name.endswith("-" + hash_):
                return "Deployment", name[: -len(hash_) - 1]
        if kind == "Job":
            m = _JOB_SUFFIX.match(name)
            if m and ("CronJob", namespace, m["base"]) in self.objects:
                return "CronJob", m["base"]
        return kind, name


def _pod_template(res: Resource) -> Mapping[str, Any] | None:
    spec = res.body.get("spec") or {}
    if res.kind_key == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return template if isinstance(template, Mapping) else None


def _parse_ip(value: Any) -> IPAddress | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _set_networks(res: Resource, notes: list[str]) -> tuple[IPNetwork, ...]:
    nets: list[IPNetwork] = []
    for value in (res.body.get("spec") or {}).get("nets") or []:
        try:
            nets.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            notes.append(f"{res.where}: {value!r} is not a CIDR; ignored")
    return tuple(sorted(set(nets), key=lambda n: (n.version, n)))


def _network_sets(snapshot: Snapshot, notes: list[str]) -> list[Endpoint]:
    """CAL-41: Calico GlobalNetworkSets and NetworkSets are peers (never subjects) that
    selectors can pick; their CIDRs are their addresses."""
    out = []
    for res in snapshot.of_kind("calico/GlobalNetworkSet"):
        key = f"GlobalNetworkSet/{res.name}"
        out.append(Endpoint(key=key, kind="networkset", namespace=None, pod=res.name, workload=key,
                            labels=dict(res.labels), networks=_set_networks(res, notes)))
    for res in snapshot.of_kind("calico/NetworkSet"):
        ns = res.namespace or "default"
        key = f"{ns}/NetworkSet/{res.name}"
        out.append(Endpoint(key=key, kind="networkset", namespace=ns, pod=res.name, workload=key,
                            labels=dict(res.labels), networks=_set_networks(res, notes)))
    return out


def build_inventory(
    snapshot: Snapshot, externals: Sequence[ExternalNetwork] = DEFAULT_EXTERNALS
) -> Inventory:
    """All policy endpoints of the snapshot, in a deterministic order."""
    namespace_labels: dict[str, dict[str, str]] = {}
    for res in snapshot.of_kind("Namespace"):
        labels = dict((res.body.get("metadata") or {}).get("labels") or {})
        labels["kubernetes.io/metadata.name"] = res.name  # immutable label (K8S-9)
        namespace_labels[res.name] = labels
    sa_labels: dict[tuple[str, str], dict[str, str]] = {}
    for res in snapshot.of_kind("ServiceAccount"):
        sa_labels[(res.namespace or "", res.name)] = dict((res.body.get("metadata") or {}).get("labels") or {})

    workloads = _Workloads(snapshot)
    endpoints: list[Endpoint] = []
    excluded: list[str] = []
    notes: list[str] = []
    covered: set[str] = set()  # workload ids that have real pods

    for res in snapshot.of_kind("Pod"):
        meta = res.body.get("metadata") or {}
        spec = res.body.get("spec") or {}
        status = res.body.get("status") or {}
        ns = res.namespace or "default"
        labels = dict(meta.get("labels") or {})
        owner = _controller(meta)
        if owner and owner[0] in WORKLOAD_KINDS:
            kind, name = workloads.top(ns, owner[0], owner[1], labels)
            workload = f"{ns}/{kind}/{name}"
        else:
            workload = f"{ns}/{res.name}"
        covered.add(workload)
        if spec.get("hostNetwork"):
            excluded.append(f"{ns}/{res.name}: host-network pod, node traffic (K8S-13)")
            continue
        if status.get("phase") in TERMINAL_PHASES:
            excluded.append(f"{ns}/{res.name}: phase {status['phase']}, not an endpoint (FLOW-2)")
            continue
        endpoints.append(
            Endpoint(
                key=f"{ns}/{res.name}",
                kind="pod",
                namespace=ns,
                pod=res.name,
                workload=workload,
                labels=labels,
                service_account=str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"),
                named_ports=_named_ports(spec),
                ip=_parse_ip(status.get("podIP")),
                mesh=mesh_membership(ns, meta, spec, namespace_labels.get(ns, {}), observed=True),
            )
        )

    for kind in WORKLOAD_KINDS:
        for res in snapshot.of_kind(kind):
            ns = res.namespace or "default"
            top_kind, top_name = workloads.top(ns, kind, res.name, {})
            if (top_kind, top_name) != (kind, res.name):
                continue  # a ReplicaSet/Job whose controller is in the snapshot: templated there
            workload = f"{ns}/{kind}/{res.name}"
            if workload in covered:
                continue
            template = _pod_template(res)
            if template is None:
                notes.append(f"{res.where}: no pod template, no endpoint")
                continue
            tmeta = template.get("metadata") or {}
            tspec = template.get("spec") or {}
            if tspec.get("hostNetwork"):
                excluded.append(f"{workload}: host-network pods, node traffic (K8S-13)")
                continue
            endpoints.append(
                Endpoint(
                    key=workload,
                    kind="pod",
                    namespace=ns,
                    pod=workload,
                    workload=workload,
                    labels=dict(tmeta.get("labels") or {}),
                    service_account=str(tspec.get("serviceAccountName") or tspec.get("serviceAccount") or "default"),
                    named_ports=_named_ports(tspec),
                    template=True,
                    mesh=mesh_membership(ns, tmeta, tspec, namespace_labels.get(ns, {}), observed=False,
                                         namespace_known=ns in namespace_labels),
                )
            )

    endpoints.extend(_network_sets(snapshot, notes))
    missing = sorted({e.namespace for e in endpoints if e.namespace and e.namespace not in namespace_labels})
    for ns in missing:
        namespace_labels[ns] = {"kubernetes.io/metadata.name": ns}
        notes.append(
            f"namespace {ns} is not in the input: its labels are unknown, so namespaceSelector "
            "matches on it are unknown (only kubernetes.io/metadata.name is certain)"
        )
    for net in externals:
        endpoints.append(
            Endpoint(key=net.name, kind="external", namespace=None, pod=net.name, workload=net.name, networks=net.networks)
        )
    endpoints.sort(key=lambda e: (e.kind != "pod", e.key))
    return Inventory(
        endpoints=endpoints,
        namespace_labels=namespace_labels,
        missing_namespaces=set(missing),
        service_account_labels=sa_labels,
        excluded=sorted(excluded),
        notes=notes,
    )
