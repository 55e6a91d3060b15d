"""Endpoint equivalence classes: endpoints no rule can tell apart are evaluated once.

Two endpoints are in one class when they share namespace, labels, service account, named
ports, mesh membership (sidecar / ambient, hence whether the service account is a verified
mTLS identity, IST-2, IST-17) and *address class* (the set of policy CIDRs containing their IP, or "IP unknown").
Externals are split by address class too, so ``internet`` may be several classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from auditor.policy.ir import IPNetwork, PolicySet
from auditor.policy.labels import LabelTable
from auditor.reach.addresses import AddressSpace
from auditor.reach.endpoints import Endpoint, Inventory

NO_ADDRESS = -1


@dataclass
class ClassTable:
    """Per-class columns the matcher evaluates selectors and CIDRs on (all length ``n``)."""

    n: int
    members: list[list[int]]  # endpoint indices per class
    endpoint_classes: list[list[int]]  # classes of each endpoint (externals may span several)
    representative: list[Endpoint]
    is_pod: np.ndarray
    namespace: list[str | None]
    namespace_code: np.ndarray  # index into namespaces, -1 for externals
    namespaces: list[str]
    namespace_unknown: np.ndarray  # namespace object missing from the input
    labels: LabelTable  # CAL-5 endpoint label map
    namespace_labels: LabelTable  # plain namespace labels (+ projectcalico.org/name)
    service_account: list[str | None]
    sa_labels: LabelTable
    sa_unknown: np.ndarray
    address_class: np.ndarray  # address-class id, NO_ADDRESS when the IP is unknown
    named_ports: list[tuple[tuple[str, str, int], ...]]
    is_netset: np.ndarray = field(default=None)  # type: ignore[assignment]  # Calico network sets (CAL-41)
    networks: list[tuple[IPNetwork, ...]] = field(default_factory=list)  # a network set's CIDRs, per class
    sidecar: np.ndarray = field(default=None)  # type: ignore[assignment]  # Istio sidecar (IST-2)
    ambient: np.ndarray = field(default=None)  # type: ignore[assignment]  # ztunnel (IST-28)
    mesh_uncertain: np.ndarray = field(default=None)  # type: ignore[assignment]  # membership not predictable

    def __post_init__(self) -> None:
        if self.is_netset is None:
            self.is_netset = np.zeros(self.n, dtype=bool)
        if not self.networks:
            self.networks = [() for _ in range(self.n)]
        for name in ("sidecar", "ambient", "mesh_uncertain"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.n, dtype=bool))


def calico_labels(
    ep: Endpoint,
    namespace_labels: Mapping[str, str] | None = None,
    sa_labels: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """CAL-5: the label map Calico matches a pod's WorkloadEndpoint against (own labels win):
    pod labels, the projectcalico.org/* labels, and the labels inherited from the namespace
    (``pcns.``) and service-account (``pcsa.``) profiles. Network sets (CAL-41) carry their own
    labels, and a namespaced NetworkSet also the namespace label and ``pcns.`` inheritance."""
    out = dict(ep.labels)
    if ep.kind == "networkset":
        if ep.namespace is not None:
            out.setdefault("projectcalico.org/namespace", ep.namespace)
            _inherit(out, "pcns.", namespace_labels, ep.namespace)
        return out
    out.setdefault("projectcalico.org/namespace", ep.namespace or "")
    out.setdefault("projectcalico.org/orchestrator", "k8s")
    if ep.service_account and len(ep.service_account) < 63:
        out.setdefault("projectcalico.org/serviceaccount", ep.service_account)
    _inherit(out, "pcns.", namespace_labels, ep.namespace or "")
    _inherit(out, "pcsa.", sa_labels, ep.service_account or "default")
    return out


def _inherit(out: dict[str, str], prefix: str, labels: Mapping[str, str] | None, name: str) -> None:
    for key, value in (labels or {}).items():
        out.setdefault(prefix + key, value)
    out.setdefault(prefix + "projectcalico.org/name", name)


def policy_networks(policies: PolicySet) -> list[IPNetwork]:
    """Every CIDR a rule mentions (nets and notNets of both sides)."""
    nets: set[IPNetwork] = set()
    for pol in policies.policies:
        for rule in (*pol.ingress, *pol.egress):
            for side in (rule.source, rule.destination):
                nets.update(side.nets or ())
                nets.update(side.not_nets)
    return sorted(nets, key=lambda n: (n.version, n))


@dataclass
class AddressClasses:
    """Atoms grouped by which policy CIDRs contain them (``klass[atom]``)."""

    space: AddressSpace
    klass: np.ndarray  # atom → address class
    count: int
    unknown_candidates: np.ndarray  # atoms a pod with an unknown IP may have (pod CIDRs)


def address_classes(
    space: AddressSpace, cidrs: Sequence[IPNetwork], pod_cidrs: Sequence[IPNetwork]
) -> AddressClasses:
    """Atoms with identical CIDR membership collapse into one address class."""
    n_atoms = len(space)
    if cidrs:
        member = np.zeros((len(cidrs), n_atoms), dtype=bool)
        for i, net in enumerate(cidrs):
            a, b = space.index_range(net)
            member[i, a:b] = True
        packed = np.packbits(member, axis=0).T  # one row of bytes per atom
        _, klass = np.unique(packed, axis=0, return_inverse=True)
        klass = klass.reshape(-1).astype(np.int32)
    else:
        klass = np.zeros(n_atoms, dtype=np.int32)
    count = int(klass.max()) + 1 if n_atoms else 0
    candidates = space.mask(pod_cidrs) if pod_cidrs else space.version_mask(4)
    return AddressClasses(space=space, klass=klass, count=count, unknown_candidates=candidates)


def external_atoms(inventory: Inventory, space: AddressSpace, pod_cidrs: Sequence[IPNetwork]) -> dict[str, np.ndarray]:
    """Atoms of each external network and network set: the most specific network owns an atom;
    at equal prefix a network set wins over an ``--external`` network, and network sets with
    the same CIDR share it (CAL-41). Addresses inside ``--pod-cidr`` belong to pods."""
    owner = np.full(len(space), -1, dtype=np.int32)
    owner_len = np.full(len(space), -1, dtype=np.int32)
    externals = [e for e in inventory.endpoints if e.kind in ("external", "networkset")]
    is_set = [e.kind == "networkset" for e in externals]
    ranked = sorted(
        ((net.prefixlen, is_set[i], i, net) for i, e in enumerate(externals) for net in e.networks),
        key=lambda t: (t[0], t[1], t[2]),
    )
    for length, _, i, net in ranked:
        a, b = space.index_range(net)
        owner[a:b] = i
        owner_len[a:b] = length
    for net in pod_cidrs:
        a, b = space.index_range(net)
        owner[a:b] = -1
    owned_by_set = np.zeros(len(space), dtype=bool)
    set_ids = [i for i, flag in enumerate(is_set) if flag]
    if set_ids:
        owned_by_set = np.isin(owner, np.array(set_ids, dtype=np.int32))
    out: dict[str, np.ndarray] = {}
    for i, e in enumerate(externals):
        mine = owner == i
        if is_set[i]:
            for net in e.networks:  # identical CIDRs of other sets: shared
                a, b = space.index_range(net)
                mine[a:b] |= owned_by_set[a:b] & (owner_len[a:b] == net.prefixlen)
        out[e.key] = np.flatnonzero(mine)
    return out


def build_classes(
    inventory: Inventory,
    policies: PolicySet,
    *,
    extra_networks: Sequence[IPNetwork] = (),
    pod_cidrs: Sequence[IPNetwork] = (),
    mesh_networks: Sequence[IPNetwork] = (),
) -> tuple[ClassTable, AddressClasses]:
    """Group endpoints into classes; externals get one class per address class they span.
    ``mesh_networks``: CIDRs Istio rules mention (ipBlocks, source.ip), which split classes too."""
    set_nets = {n for e in inventory.endpoints if e.kind == "networkset" for n in e.networks}
    cidrs = sorted(set(policy_networks(policies)) | set_nets | set(mesh_networks), key=lambda n: (n.version, n))
    ext_nets = [n for e in inventory.endpoints for n in e.networks]
    space = AddressSpace([*cidrs, *ext_nets, *extra_networks, *pod_cidrs])
    addr = address_classes(space, cidrs, pod_cidrs)
    sets = [e for e in inventory.endpoints if e.kind == "networkset" and e.networks]
    if sets and not pod_cidrs and any(e.kind == "pod" and e.ip is None for e in inventory.endpoints):
        inventory.notes.append(
            "pods without an IP in the input may have any IPv4 address, so network-set CIDRs may cover them "
            "(CAL-41: a set's selector then matches the pod too); rules naming "
            + ", ".join(e.key for e in sets[:3]) + (", …" if len(sets) > 3 else "")
            + " can make such verdicts unknown: --pod-cidr says where pod IPs come from"
        )
    ext_atoms = external_atoms(inventory, space, pod_cidrs)

    keys: dict[tuple, int] = {}
    members: list[list[int]] = []
    reps: list[Endpoint] = []
    klass_addr: list[int] = []
    ep_classes: list[list[int]] = []
    for i, ep in enumerate(inventory.endpoints):
        if ep.kind != "pod":
            seen = sorted({int(c) for c in addr.klass[ext_atoms[ep.key]]})
            mine = []
            for ac in seen:
                mine.append(len(members))
                members.append([i])
                reps.append(ep)
                klass_addr.append(ac)
            ep_classes.append(mine)
            continue
        ac = int(addr.klass[space.atom_of(ep.ip)]) if ep.ip is not None else NO_ADDRESS
        key = (
            "pod",
            ep.namespace,
            tuple(sorted(ep.labels.items())),
            ep.service_account,
            ep.named_ports,
            ep.mesh,
            ac,
        )
        idx = keys.setdefault(key, len(members))
        if idx == len(members):
            members.append([])
            reps.append(ep)
            klass_addr.append(ac)
        members[idx].append(i)
        ep_classes.append([idx])

    n = len(members)
    namespaces = sorted({r.namespace for r in reps if r.namespace})
    ns_index = {ns: i for i, ns in enumerate(namespaces)}
    is_pod = np.array([r.kind == "pod" for r in reps], dtype=bool)
    is_netset = np.array([r.kind == "networkset" for r in reps], dtype=bool)
    ns_labels = []
    sa_labels = []
    sa_unknown = np.zeros(n, dtype=bool)
    for c, r in enumerate(reps):
        if r.namespace:
            labels = dict(inventory.namespace_labels.get(r.namespace, {}))
            labels.setdefault("projectcalico.org/name", r.namespace)
            ns_labels.append(labels)
        else:
            ns_labels.append({})
        if r.kind == "pod":
            key = (r.namespace or "", r.service_account or "default")
            known = inventory.service_account_labels.get(key)
            sa_unknown[c] = known is None
            labels = dict(known or {})
            labels.setdefault("projectcalico.org/name", r.service_account or "default")
            sa_labels.append(labels)
        else:
            sa_labels.append({})
    endpoint_labels = []
    for r in reps:
        if r.kind == "external":
            endpoint_labels.append({})
        else:
            raw_ns = inventory.namespace_labels.get(r.namespace or "", {}) if r.namespace else {}
            known_sa = inventory.service_account_labels.get((r.namespace or "", r.service_account or "default"))
            endpoint_labels.append(calico_labels(r, raw_ns, known_sa))
    table = ClassTable(
        n=n,
        members=members,
        endpoint_classes=ep_classes,
        representative=reps,
        is_pod=is_pod,
        namespace=[r.namespace for r in reps],
        namespace_code=np.array([ns_index.get(r.namespace or "", -1) for r in reps], dtype=np.int32),
        namespaces=namespaces,
        namespace_unknown=np.array([r.namespace in inventory.missing_namespaces for r in reps], dtype=bool),
        labels=LabelTable.from_maps(endpoint_labels),
        namespace_labels=LabelTable.from_maps(ns_labels),
        service_account=[r.service_account for r in reps],
        sa_labels=LabelTable.from_maps(sa_labels),
        sa_unknown=sa_unknown,
        address_class=np.array(klass_addr, dtype=np.int32),
        named_ports=[r.named_ports for r in reps],
        is_netset=is_netset,
        networks=[r.networks if r.kind == "networkset" else () for r in reps],
        sidecar=np.array([r.mesh.sidecar for r in reps], dtype=bool),
        ambient=np.array([r.mesh.ambient for r in reps], dtype=bool),
        mesh_uncertain=np.array([r.mesh.uncertain for r in reps], dtype=bool),
    )
    return table, addr
