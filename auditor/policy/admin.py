"""Cluster-scoped admin policies → policy IR (semantics.md §F, ADM-1..18).

Reads AdminNetworkPolicy and BaselineAdminNetworkPolicy (``policy.networking.k8s.io/v1alpha1``)
and ClusterNetworkPolicy (``v1alpha2``). Both API versions are parsed into one neutral form
(``AdminPolicy``: tier Admin/Baseline, priority, Accept/Deny/Pass rules, ADM-13) and then
placed in the tiers of the dataplane that enforces them (ADM-14): the upstream reading
(``kube-admin`` → NetworkPolicies → ``kube-baseline``) or a Calico release, whose tiers and
orders differ and which enforces only one family. The engine walks them like any tier (CAL-24).

Who enforces decides the reading: ``--dataplane``, else Calico's ClusterInformation
``calicoVersion`` from the input; neither → every rule that could match a flow is only
*possibly* matching, so the flows such objects could change come out ``unknown`` with that
cause. Validation follows the CRDs (ADM-10, ADM-11): an object the API server would reject
raises ``InvalidResource`` naming file:line and the field, or under ``--lenient`` becomes a
policy whose verdicts are unknown.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from auditor.errors import AuditorError, InvalidResource
from auditor.kinds import DATAPLANES
from auditor.policy.calico import RESERVED_TIERS
from auditor.policy.ir import (
    ANY,
    Action,
    Direction,
    EntityMatch,
    IPNetwork,
    Policy,
    PolicySet,
    PortRange,
    Rule,
    RuleRef,
    Tier,
)
from auditor.policy.selectors import All, Selector, from_label_selector
from auditor.snapshot import Resource, Snapshot

ADMIN_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy")
CALICO_NONE = "calico-3.28"  # detected only: Calico ≤ 3.28 enforces no admin policy (ADM-14)

# ADM-14 / CAL-16: the tiers each dataplane puts admin objects in (order, default Pass).
KUBE_ADMIN = RESERVED_TIERS["kube-admin"]
KUBE_BASELINE = RESERVED_TIERS["kube-baseline"]
ANP_TIER = RESERVED_TIERS["adminnetworkpolicy"]  # Calico 3.29-3.31
BANP_TIER = RESERVED_TIERS["baselineadminnetworkpolicy"]
BANP_ORDER = 1_000.0  # Calico 3.30–3.31 give the single BANP a fixed order (ADM-14)

_DNS_NAME = re.compile(r"^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
_INGRESS_PEERS = ("namespaces", "pods")
_EGRESS_PEERS = ("namespaces", "pods", "networks", "nodes", "domainNames")


# --------------------------------------------------------------------------------------------
# Who enforces (ADM-14)


@dataclass(frozen=True)
class Dataplane:
    """The implementation whose reading applies: one of ``DATAPLANES`` or ``CALICO_NONE``, or
    ``None`` when it could not be established (then ``why`` says so)."""

    name: str | None
    source: str  # "--dataplane", "ClusterInformation default calicoVersion v3.30.2", …
    why: str = ""

    @property
    def calico(self) -> bool:
        return bool(self.name and self.name.startswith("calico-"))

    def enforces(self, kind: str) -> bool:
        """ADM-14: which family this dataplane enforces (unknown → assume it may, uncertainly)."""
        if self.name is None or self.name == "upstream":
            return True
        if self.name == "calico-3.29":
            return kind == "AdminNetworkPolicy"
        if self.name == "calico-3.30":
            return kind in ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
        if self.name == "calico-3.32":
            return kind == "ClusterNetworkPolicy"
        return False  # Calico ≤ 3.28

    def describe(self) -> str:
        if self.name is None:
            return f"admin network policy dataplane: unknown ({self.why}); flows admin policies could change are unknown (ADM-14)"
        what = {
            "upstream": "upstream network-policy-api reading (tiers kube-admin → NetworkPolicy → kube-baseline)",
            "calico-3.29": "Calico 3.29 (AdminNetworkPolicy only, tier adminnetworkpolicy)",
            "calico-3.30": "Calico 3.30/3.31 (AdminNetworkPolicy and BaselineAdminNetworkPolicy, tiers "
                           "adminnetworkpolicy and baselineadminnetworkpolicy)",
            "calico-3.32": "Calico ≥ 3.32 (ClusterNetworkPolicy only, tiers kube-admin and kube-baseline)",
            CALICO_NONE: "Calico ≤ 3.28 (no admin network policy enforced)",
        }[self.name]
        return f"admin network policy dataplane: {self.name} — {what}; from {self.source} (ADM-14)"


def calico_dataplane(version: str) -> str | None:
    """``v3.30.2`` → ``calico-3.30`` (3.31 reads like 3.30; ≥ 3.32 like 3.32), None if unparseable."""
    m = _VERSION.match(version.strip())
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major != 3:
        return "calico-3.32" if major > 3 else CALICO_NONE
    if minor <= 28:
        return CALICO_NONE
    if minor == 29:
        return "calico-3.29"
    if minor in (30, 31):
        return "calico-3.30"
    return "calico-3.32"


def detect_dataplane(snapshot: Snapshot, option: str | None) -> Dataplane:
    """``--dataplane`` wins; else ClusterInformation ``spec.calicoVersion`` (live scans list it);
    else unknown, with the reason."""
    if option:
        if option not in DATAPLANES:
            raise AuditorError(f"--dataplane {option!r}: expected one of {', '.join(DATAPLANES)}")
        return Dataplane(option, "--dataplane")
    for res in snapshot.of_kind("calico/ClusterInformation"):
        spec = res.body.get("spec")
        version = spec.get("calicoVersion") if isinstance(spec, Mapping) else None
        if isinstance(version, str) and version.strip():
            name = calico_dataplane(version)
            if name is not None:
                return Dataplane(name, f"ClusterInformation {res.name} calicoVersion {version.strip()}")
            return Dataplane(None, "", f"ClusterInformation {res.name} calicoVersion {version!r} is not a version")
    status = snapshot.collection.get("calico/ClusterInformation")
    if status not in (None, "ok", "not-installed"):
        return Dataplane(None, "", f"Calico ClusterInformation could not be read ({status}) and no --dataplane given")
    return Dataplane(None, "", "no --dataplane option and no Calico ClusterInformation calicoVersion in the input")


# --------------------------------------------------------------------------------------------
# The neutral form both API versions parse into (ADM-13)


class AdminInvalid(ValueError):
    """An object the CRD validation rejects: ``path`` is the field (``spec.egress[0].to[1]``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}" if path else problem)


@dataclass(frozen=True)
class AdminPeer:
    """One item of ``from``/``to`` (ADM-7). ``field`` is the one field set, or ``unknown``
    (a field this reader does not know: fail closed, ADM-10)."""

    field: str
    namespace_selector: Selector | None = None
    pod_selector: Selector | None = None
    networks: tuple[IPNetwork, ...] = ()
    node_selector: Selector | None = None
    domains: tuple[str, ...] = ()
    unknown: str = ""


@dataclass(frozen=True)
class AdminPort:
    """One port entry (ADM-8 / ADM-11): a numeric range of one protocol, or a named port."""

    protocol: str | None
    lo: int = 0
    hi: int = 0
    name: str | None = None
    problem: str = ""  # documented but not CRD-checked (v1alpha1 start > end, ADM-10)


@dataclass(frozen=True)
class AdminRule:
    index: int
    action: str  # Accept | Deny | Pass (v1alpha1 Allow reads as Accept, ADM-13)
    peers: tuple[AdminPeer, ...]
    ports: tuple[AdminPort, ...] | None  # None = every port and protocol
    name: str = ""
    text: str = ""


@dataclass(frozen=True)
class AdminPolicy:
    kind: str
    name: str
    tier: str  # Admin | Baseline
    priority: int | None  # None for BANP (ADM-9)
    subject_namespaces: Selector
    subject_pods: Selector
    ingress: tuple[AdminRule, ...]
    egress: tuple[AdminRule, ...]
    ref: str
    origin: str | None

    def rules(self, direction: Direction) -> tuple[AdminRule, ...]:
        return self.ingress if direction == "ingress" else self.egress


@dataclass(frozen=True)
class _Limits:
    rules: int
    peers: int
    ports: int
    actions: tuple[str, ...]
    version: str  # v1alpha1 | v1alpha2


_ANP = _Limits(100, 100, 100, ("Allow", "Deny", "Pass"), "v1alpha1")
_BANP = _Limits(100, 100, 100, ("Allow", "Deny"), "v1alpha1")
_CNP = _Limits(25, 25, 25, ("Accept", "Deny", "Pass"), "v1alpha2")


def _mapping(value: Any, at: str, *, required: bool = False) -> Mapping[str, Any]:
    if value is None:
        if required:
            raise AdminInvalid(at, "is required")
        return {}
    if not isinstance(value, Mapping):
        raise AdminInvalid(at, f"must be an object, got {type(value).__name__}")
    return value


def _list(value: Any, at: str, *, lo: int, hi: int) -> list[Any]:
    if not isinstance(value, list):
        raise AdminInvalid(at, f"must be a list, got {type(value).__name__}")
    if not lo <= len(value) <= hi:
        raise AdminInvalid(at, f"must have {lo}-{hi} items, has {len(value)} (ADM-10)")
    return value


def _selector(raw: Any, at: str) -> Selector:
    try:
        return from_label_selector(raw if raw is not None else {}, what=at)
    except AuditorError as exc:
        raise AdminInvalid("", exc.message) from None


def _port_number(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminInvalid(at, f"{value!r} is not a port number")
    if not 1 <= value <= 65535:
        raise AdminInvalid(at, f"port {value} is out of range 1-65535 (ADM-10)")
    return value


def _one_field(raw: Mapping[str, Any], at: str, what: str) -> str:
    keys = [k for k, v in raw.items() if v is not None]
    if len(keys) != 1:
        shown = ", ".join(sorted(keys)) or "none"
        raise AdminInvalid(at, f"a {what} must set exactly one field (set: {shown}) (ADM-10)")
    return keys[0]


def _subject(raw: Any, at: str, limits: _Limits) -> tuple[Selector, Selector]:
    """ADM-2: exactly one of ``namespaces`` or ``pods`` (namespaceSelector AND podSelector)."""
    raw = _mapping(raw, at, required=True)
    key = _one_field(raw, at, "subject")
    if key == "namespaces":
        return _selector(raw[key], f"{at}.namespaces"), All()
    if key == "pods":
        pods = _mapping(raw[key], f"{at}.pods", required=True)
        return _pods(pods, f"{at}.pods", limits)
    raise AdminInvalid(f"{at}.{key}", "unknown subject field (namespaces or pods)")


def _pods(pods: Mapping[str, Any], at: str, limits: _Limits) -> tuple[Selector, Selector]:
    if "podSelector" not in pods:
        raise AdminInvalid(f"{at}.podSelector", "is required")
    if limits.version == "v1alpha1" and "namespaceSelector" not in pods:
        raise AdminInvalid(f"{at}.namespaceSelector", "is required")
    return (_selector(pods.get("namespaceSelector"), f"{at}.namespaceSelector"),
            _selector(pods.get("podSelector"), f"{at}.podSelector"))


def _peer(raw: Any, at: str, direction: Direction, limits: _Limits) -> AdminPeer:
    """ADM-7: exactly one field; ingress has only namespaces and pods."""
    raw = _mapping(raw, at, required=True)
    known = _INGRESS_PEERS if direction == "ingress" else _EGRESS_PEERS
    set_keys = [k for k, v in raw.items() if v is not None]
    if set_keys and not any(k in _EGRESS_PEERS for k in set_keys) and len(set_keys) == 1:
        # A field this reader does not know: a newer CRD. Fail closed (ADM-10).
        return AdminPeer(field="unknown", unknown=str(set_keys[0]))
    key = _one_field(raw, at, "peer")
    if key not in known:
        raise AdminInvalid(f"{at}.{key}", f"not allowed in {direction} rules (only {', '.join(known)}; ADM-7)")
    value = raw[key]
    if key == "namespaces":
        return AdminPeer(field=key, namespace_selector=_selector(value, f"{at}.namespaces"))
    if key == "pods":
        ns_sel, pod_sel = _pods(_mapping(value, f"{at}.pods", required=True), f"{at}.pods", limits)
        return AdminPeer(field=key, namespace_selector=ns_sel, pod_selector=pod_sel)
    if key == "nodes":
        return AdminPeer(field=key, node_selector=_selector(value, f"{at}.nodes"))
    items = _list(value, f"{at}.{key}", lo=1, hi=25)
    if key == "networks":
        nets = []
        for j, cidr in enumerate(items):
            if not isinstance(cidr, str) or "/" not in cidr:
                raise AdminInvalid(f"{at}.networks[{j}]", f"{cidr!r} is not a CIDR (ADM-10)")
            try:
                nets.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError as exc:
                raise AdminInvalid(f"{at}.networks[{j}]", f"{cidr!r} is not a valid CIDR ({exc})") from None
        return AdminPeer(field=key, networks=tuple(nets))
    for j, name in enumerate(items):
        if not isinstance(name, str) or not _DNS_NAME.match(name):
            raise AdminInvalid(f"{at}.domainNames[{j}]", f"{name!r} is not a domain name (exact or '*.' prefix)")
    return AdminPeer(field=key, domains=tuple(items))


def _v1alpha1_port(raw: Any, at: str) -> AdminPort:
    """ADM-8: exactly one of portNumber, portRange, namedPort; protocol defaults to TCP."""
    raw = _mapping(raw, at, required=True)
    key = _one_field(raw, at, "port entry")
    value = raw[key]
    if key == "namedPort":
        if not isinstance(value, str) or not _PORT_NAME.match(value) or not re.search("[a-z]", value):
            raise AdminInvalid(f"{at}.namedPort", f"{value!r} is not a valid port name")
        return AdminPort(protocol=None, name=value)
    if key not in ("portNumber", "portRange"):
        raise AdminInvalid(f"{at}.{key}", "unknown port field (portNumber, portRange or namedPort)")
    body = _mapping(value, f"{at}.{key}", required=True)
    protocol = body.get("protocol") or "TCP"
    problem = ""
    if protocol not in _PROTOCOLS:  # documented set, not CRD-checked (ADM-10)
        problem = f"protocol {protocol!r} is not TCP, UDP or SCTP"
    if key == "portNumber":
        if "port" not in body:
            raise AdminInvalid(f"{at}.portNumber.port", "is required")
        port = _port_number(body.get("port"), f"{at}.portNumber.port")
        return AdminPort(protocol=str(protocol), lo=port, hi=port, problem=problem)
    for name in ("start", "end"):
        if name not in body:
            raise AdminInvalid(f"{at}.portRange.{name}", "is required")
    lo = _port_number(body.get("start"), f"{at}.portRange.start")
    hi = _port_number(body.get("end"), f"{at}.portRange.end")
    if lo > hi:  # documented "start < end", not CRD-checked in v1alpha1 (ADM-10)
        problem = problem or f"port range start {lo} > end {hi}"
    return AdminPort(protocol=str(protocol), lo=lo, hi=hi, problem=problem)


def _v1alpha2_protocol(raw: Any, at: str) -> AdminPort:
    """ADM-11: exactly one of tcp/udp/sctp ``{destinationPort: {number | range}}`` or
    ``destinationNamedPort``; ``start < end`` is CEL-checked."""
    raw = _mapping(raw, at, required=True)
    key = _one_field(raw, at, "protocols entry")
    value = raw[key]
    if key == "destinationNamedPort":
        if not isinstance(value, str) or not _PORT_NAME.match(value) or not re.search("[a-z]", value):
            raise AdminInvalid(f"{at}.destinationNamedPort", f"{value!r} is not a valid port name")
        return AdminPort(protocol=None, name=value)
    if key not in ("tcp", "udp", "sctp"):
        raise AdminInvalid(f"{at}.{key}", "unknown field (tcp, udp, sctp or destinationNamedPort)")
    body = _mapping(value, f"{at}.{key}", required=True)
    if body.get("destinationPort") is None:
        raise AdminInvalid(f"{at}.{key}", "must set destinationPort (an empty protocol match is invalid, ADM-11)")
    port = _mapping(body["destinationPort"], f"{at}.{key}.destinationPort", required=True)
    which = _one_field(port, f"{at}.{key}.destinationPort", "destinationPort")
    protocol = key.upper()
    if which == "number":
        n = _port_number(port["number"], f"{at}.{key}.destinationPort.number")
        return AdminPort(protocol=protocol, lo=n, hi=n)
    if which != "range":
        raise AdminInvalid(f"{at}.{key}.destinationPort.{which}", "unknown field (number or range)")
    rng = _mapping(port["range"], f"{at}.{key}.destinationPort.range", required=True)
    for name in ("start", "end"):
        if name not in rng:
            raise AdminInvalid(f"{at}.{key}.destinationPort.range.{name}", "is required")
    lo = _port_number(rng["start"], f"{at}.{key}.destinationPort.range.start")
    hi = _port_number(rng["end"], f"{at}.{key}.destinationPort.range.end")
    if lo >= hi:
        raise AdminInvalid(f"{at}.{key}.destinationPort.range", f"start {lo} must be less than end {hi} (ADM-11)")
    return AdminPort(protocol=protocol, lo=lo, hi=hi)


def _rule(raw: Any, at: str, index: int, direction: Direction, limits: _Limits) -> AdminRule:
    """ADM-4 / ADM-11: action + from/to (1..N peers) + optional ports/protocols + name."""
    raw = _mapping(raw, at, required=True)
    action = raw.get("action")
    if action not in limits.actions:
        raise AdminInvalid(f"{at}.action", f"{action!r} is not one of {', '.join(limits.actions)} (ADM-10)")
    name = raw.get("name") or ""
    if not isinstance(name, str) or len(name) > 100:
        raise AdminInvalid(f"{at}.name", "must be a string of at most 100 characters")
    peer_field = "from" if direction == "ingress" else "to"
    if raw.get(peer_field) is None:
        raise AdminInvalid(f"{at}.{peer_field}", "is required and must list at least one peer (ADM-10)")
    peers = tuple(_peer(p, f"{at}.{peer_field}[{j}]", direction, limits)
                  for j, p in enumerate(_list(raw[peer_field], f"{at}.{peer_field}", lo=1, hi=limits.peers)))
    port_field = "ports" if limits.version == "v1alpha1" else "protocols"
    other = "protocols" if port_field == "ports" else "ports"
    if raw.get(other) is not None:
        raise AdminInvalid(f"{at}.{other}", f"is not a field of {limits.version} (use {port_field}; ADM-11)")
    ports: tuple[AdminPort, ...] | None = None
    if raw.get(port_field) is not None:
        items = _list(raw[port_field], f"{at}.{port_field}", lo=1, hi=limits.ports)
        parse = _v1alpha1_port if limits.version == "v1alpha1" else _v1alpha2_protocol
        ports = tuple(parse(p, f"{at}.{port_field}[{j}]") for j, p in enumerate(items))
        if any(p.name is not None for p in ports) and any(
                p.field in ("networks", "nodes", "domainNames") for p in peers):
            raise AdminInvalid(f"{at}.{port_field}", "a named port cannot be used with networks, nodes or "
                                                     "domainNames peers (ADM-10)")
    canonical = "Accept" if action == "Allow" else str(action)
    text = json.dumps(dict(raw), sort_keys=True, separators=(",", ":"), default=str)
    return AdminRule(index=index, action=canonical, peers=peers, ports=ports, name=name, text=text)


def parse_admin(res: Resource) -> AdminPolicy:
    """One ANP, BANP or CNP → ``AdminPolicy``; raises ``AdminInvalid`` for what the CRD rejects."""
    kind = res.kind_key
    spec = _mapping(res.body.get("spec"), "spec", required=True)
    if kind == "ClusterNetworkPolicy":
        limits = _CNP
        tier = spec.get("tier")
        if tier not in ("Admin", "Baseline"):
            raise AdminInvalid("spec.tier", f"{tier!r} is not Admin or Baseline (ADM-11)")
    elif kind == "AdminNetworkPolicy":
        limits, tier = _ANP, "Admin"
    else:
        limits, tier = _BANP, "Baseline"
        if res.name != "default":
            raise AdminInvalid("metadata.name", f"a BaselineAdminNetworkPolicy must be named 'default', not "
                                                f"{res.name!r} (ADM-9)")
    priority: int | None = None
    if kind != "BaselineAdminNetworkPolicy":
        raw = spec.get("priority")
        if raw is None:
            raise AdminInvalid("spec.priority", "is required")
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 1000:
            raise AdminInvalid("spec.priority", f"{raw!r} is not an integer 0-1000 (ADM-3, ADM-10)")
        priority = raw
    elif spec.get("priority") is not None:
        raise AdminInvalid("spec.priority", "a BaselineAdminNetworkPolicy has no priority (ADM-9)")
    ns_sel, pod_sel = _subject(spec.get("subject"), "spec.subject", limits)
    rules: dict[str, tuple[AdminRule, ...]] = {}
    for direction in ("ingress", "egress"):
        raw_rules = spec.get(direction)
        if raw_rules is None:
            rules[direction] = ()
            continue
        items = _list(raw_rules, f"spec.{direction}", lo=0, hi=limits.rules)
        rules[direction] = tuple(_rule(r, f"spec.{direction}[{i}]", i, direction, limits)  # type: ignore[arg-type]
                                 for i, r in enumerate(items))
    return AdminPolicy(kind=kind, name=res.name, tier=tier, priority=priority, subject_namespaces=ns_sel,
                       subject_pods=pod_sel, ingress=rules["ingress"], egress=rules["egress"], ref=res.ref,
                       origin=res.where)


# --------------------------------------------------------------------------------------------
# Placement and translation into the IR (ADM-14..17)


@dataclass(frozen=True)
class NodeAddresses:
    """Node objects of the input with their ``status.addresses`` IPs (for ``nodes`` peers)."""

    nodes: tuple[tuple[str, Mapping[str, str], tuple[IPNetwork, ...]], ...]
    complete: bool  # Node objects were read (a live scan with status ok, or present in manifests)
    why: str = ""


def node_addresses(snapshot: Snapshot) -> NodeAddresses:
    out = []
    for res in snapshot.of_kind("Node"):
        status = res.body.get("status") if isinstance(res.body.get("status"), Mapping) else {}
        ips: list[IPNetwork] = []
        for addr in (status or {}).get("addresses") or []:
            if not isinstance(addr, Mapping) or addr.get("type") not in ("InternalIP", "ExternalIP"):
                continue
            try:
                ip = ipaddress.ip_address(str(addr.get("address")))
            except ValueError:
                continue
            ips.append(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"))
        out.append((res.name, dict(res.labels), tuple(sorted(set(ips), key=lambda n: (n.version, n)))))
    status = snapshot.collection.get("Node")
    if status not in (None, "ok"):
        return NodeAddresses(tuple(out), False, f"Node objects could not be read ({status})")
    if not out:
        return NodeAddresses((), False, "no Node objects in the input")
    return NodeAddresses(tuple(out), True)


def tier_for(policy: AdminPolicy, dataplane: Dataplane) -> tuple[Tier, float | None]:
    """ADM-14: the tier and order of an enforced object under ``dataplane``."""
    baseline = policy.tier == "Baseline"
    order = None if policy.priority is None else float(policy.priority)
    if dataplane.name in ("calico-3.29", "calico-3.30"):
        return (BANP_TIER, BANP_ORDER) if baseline else (ANP_TIER, order)
    if policy.kind == "BaselineAdminNetworkPolicy":
        order = BANP_ORDER  # upstream / unknown: the single BANP, at Calico's fixed order (ADM-13)
    return (KUBE_BASELINE if baseline else KUBE_ADMIN), order


def _port_groups(ports: Sequence[AdminPort], named_any: bool) -> list[tuple[str | None, tuple[PortRange, ...] | None]]:
    """Ports grouped by protocol (named ports: any protocol, K8S-12). ``named_any``: Calico
    3.29–3.31 read a named port as no port constraint at all (ADM-15f)."""
    if named_any and any(p.name is not None for p in ports):
        return [(None, None)]
    groups: dict[str | None, list[PortRange]] = {}
    for p in ports:
        rng = PortRange(name=p.name) if p.name is not None else PortRange(lo=p.lo, hi=p.hi)
        groups.setdefault(p.protocol, []).append(rng)
    return sorted(((k, tuple(v)) for k, v in groups.items()), key=lambda kv: str(kv[0]))


def _peer_match(
    peer: AdminPeer, action: str, dataplane: Dataplane, nodes: NodeAddresses,
    seen_nodes: dict[str, tuple[IPNetwork, ...]] | None = None,
) -> tuple[EntityMatch | None, str, bool]:
    """One peer → (match or None for "matches nothing", why it only possibly matches, fails closed).

    Failing closed (ADM-10, ADM-15e) turns a Deny/Pass rule into an unconditional Deny at its
    position; for Accept the peer simply matches nothing."""
    calico = dataplane.calico
    unknown_plane = dataplane.name is None
    if peer.field == "unknown":
        return None, f"peer field {peer.unknown!r} is unknown to this reader: fail closed (ADM-10)", True
    if peer.field == "namespaces":
        # ADM-15d: Calico's namespaceSelector alone also matches namespaced NetworkSets (IMPL).
        return EntityMatch(namespace_selector=peer.namespace_selector,
                           pods_only=not (calico or unknown_plane)), "", False
    if peer.field == "pods":
        return EntityMatch(selector=peer.pod_selector, namespace_selector=peer.namespace_selector,
                           pods_only=True), "", False
    if peer.field == "networks":
        return EntityMatch(nets=peer.networks), "", False  # ADM-7: pod and node IPs included
    if calico:  # ADM-15e: nodes and domainNames are unsupported in every Calico release
        return None, f"{peer.field} peers are not supported by Calico: fail closed (ADM-15e)", True
    if unknown_plane and action != "Accept":
        # Calico would fail this rule closed (deny everything), upstream would match the peer.
        return ANY, "", False
    if peer.field == "domainNames":
        return (EntityMatch(pods_excluded=True),
                "domainNames: the addresses the names resolve to are known only at run time (EXP-17, dns-runtime)",
                False)
    # nodes (ADM-7, ADM-18): the IPs in the matching Node objects' status.addresses
    assert peer.node_selector is not None
    if not nodes.complete:
        return EntityMatch(pods_excluded=True), f"nodes peer: {nodes.why}, node addresses unknown (ADM-7)", False
    ips: list[IPNetwork] = []
    missing = []
    for name, labels, addrs in nodes.nodes:
        if peer.node_selector.matches(labels):
            ips.extend(addrs)
            if not addrs:
                missing.append(name)
            elif seen_nodes is not None:
                seen_nodes[name] = addrs
    if missing:
        return (EntityMatch(pods_excluded=True),
                f"nodes peer: node(s) {', '.join(missing)} have no address in the input (ADM-7)", False)
    if not ips:
        return None, "", False
    return EntityMatch(nets=tuple(sorted(set(ips), key=lambda n: (n.version, n))), pods_excluded=True), "", False


def _with_ports(peer: EntityMatch, ports: tuple[PortRange, ...] | None) -> EntityMatch:
    return peer if ports is None else replace(peer, ports=ports)


def translate_rules(
    policy: AdminPolicy, direction: Direction, tier: str, dataplane: Dataplane, nodes: NodeAddresses,
    notes: list[str], seen_nodes: dict[str, tuple[IPNetwork, ...]] | None = None,
) -> tuple[Rule, ...]:
    """ADM-4..8, ADM-15: one admin rule → IR rules (one per protocol group × peer), in order."""
    out: list[Rule] = []
    named_any = dataplane.name in ("calico-3.29", "calico-3.30") or dataplane.name is None
    common: list[str] = []
    if dataplane.name is None:
        common.append(f"enforcement unknown: {dataplane.why}; the rule may or may not apply (ADM-14)")
    for rule in policy.rules(direction):
        action = {"Accept": Action.ALLOW, "Deny": Action.DENY, "Pass": Action.PASS}[rule.action]
        ref = RuleRef(policy=policy.ref, tier=tier, direction=direction, index=rule.index, text=rule.text)
        reasons = list(common)
        fail_closed = False
        bad_ports = [p.problem for p in (rule.ports or ()) if p.problem]
        if bad_ports and dataplane.calico:  # ADM-15e: Calico fails such a rule closed
            fail_closed = True
            notes.append(f"{policy.ref} {direction} rule {rule.index}: {bad_ports[0]}: Calico fails the rule "
                         "closed (ADM-15e)")
        elif bad_ports:
            reasons.append(f"{bad_ports[0]}: documented as invalid but not CRD-checked, so how the "
                           "implementation reads it is unknown (ADM-10)")
        peers: dict[EntityMatch, str] = {}
        for peer in rule.peers:
            match, why, closed = _peer_match(peer, rule.action, dataplane, nodes, seen_nodes)
            if closed:
                notes.append(f"{policy.ref} {direction} rule {rule.index}: {why}")
                fail_closed = fail_closed or action != Action.ALLOW
                continue
            if match is not None:
                peers.setdefault(match, why)
        if fail_closed:
            # Deny/Pass failing closed: an unconditional Deny at its position (ADM-10, ADM-15e).
            out.append(Rule(action=Action.DENY, ref=ref, unmodelled=tuple(reasons)))
            continue
        groups = _port_groups(rule.ports, named_any) if rule.ports is not None else [(None, None)]
        if bad_ports:
            groups = [(None, None)]  # read one way or another: it may match any port (unknown above)
        for protocol, ports in groups:
            for peer, why in peers.items():
                if direction == "ingress":
                    src, dst = peer, EntityMatch(ports=ports)
                else:
                    src, dst = ANY, _with_ports(peer, ports)
                out.append(Rule(action=action, ref=ref, protocol=protocol, source=src, destination=dst,
                                unmodelled=tuple([*reasons, why] if why else reasons)))
    return tuple(out)


def translate_admin(
    policy: AdminPolicy, dataplane: Dataplane, nodes: NodeAddresses, notes: list[str],
    seen_nodes: dict[str, tuple[IPNetwork, ...]] | None = None,
) -> Policy:
    """An enforced admin object → one IR policy in its tier (ADM-13..16). ``seen_nodes``
    collects the nodes its ``nodes`` peers select (they become endpoints, ADM-7)."""
    tier, order = tier_for(policy, dataplane)
    ingress = translate_rules(policy, "ingress", tier.name, dataplane, nodes, notes, seen_nodes)
    egress = translate_rules(policy, "egress", tier.name, dataplane, nodes, notes, seen_nodes)
    # ADM-4, ADM-15b: a direction without rules takes no part (the subject is not isolated).
    types = frozenset(d for d, rules in (("ingress", ingress), ("egress", egress)) if rules)
    return Policy(
        ref=policy.ref,
        kind=policy.kind,
        name=policy.name,
        namespace=None,
        tier=tier.name,
        order=order,
        subject=policy.subject_pods,
        subject_namespace_selector=policy.subject_namespaces,
        types=types,  # type: ignore[arg-type]
        ingress=ingress,
        egress=egress,
        origin=policy.origin,
        order_word="priority" if policy.priority is not None else "order",
    )


def _broken(res: Resource, reason: str, dataplane: Dataplane) -> Policy:
    """Lenient mode: an invalid admin object may select every pod and allow, deny or pass
    anything in its tier, so the verdicts it could touch become unknown."""
    spec = res.body.get("spec") if isinstance(res.body.get("spec"), Mapping) else {}
    baseline = res.kind_key == "BaselineAdminNetworkPolicy" or (spec or {}).get("tier") == "Baseline"
    probe = AdminPolicy(kind=res.kind_key, name=res.name, tier="Baseline" if baseline else "Admin", priority=None,
                        subject_namespaces=All(), subject_pods=All(), ingress=(), egress=(), ref=res.ref,
                        origin=res.where)
    tier, _ = tier_for(probe, dataplane)
    rules: dict[str, tuple[Rule, ...]] = {}
    for d in ("ingress", "egress"):
        rref = RuleRef(policy=res.ref, tier=tier.name, direction=d, index=0, text=f"invalid: {reason}")  # type: ignore[arg-type]
        why = (f"invalid object: {reason}",)
        rules[d] = (Rule(action=Action.ALLOW, ref=rref, unmodelled=why), Rule(action=Action.DENY, ref=rref, unmodelled=why))
    return Policy(ref=res.ref, kind=res.kind_key, name=res.name, namespace=None, tier=tier.name, order=None,
                  subject=All(), types=frozenset({"ingress", "egress"}), ingress=rules["ingress"],
                  egress=rules["egress"], broken=reason, origin=res.where)


def where(res: Resource) -> str:
    """``file:line Kind name`` when the line is known, else the resource's usual label."""
    origin = res.origin
    if origin is not None and origin.line is not None:
        return f"{origin.file}:{origin.line} {res.ref}"
    return res.where


def add_admin(out: PolicySet, snapshot: Snapshot, *, lenient: bool = False, dataplane: str | None = None) -> None:
    """Every ANP, BANP and CNP of the snapshot → tiers and policies of ``out`` (ADM-1..18)."""
    resources = [res for kind in ADMIN_KINDS for res in snapshot.of_kind(kind)]
    plane = detect_dataplane(snapshot, dataplane)
    if resources or dataplane:
        out.dataplane = plane.describe()
        out.assumptions.append(out.dataplane)
    if not resources:
        return
    nodes = node_addresses(snapshot)
    for res in resources:
        try:
            policy = parse_admin(res)
        except (AdminInvalid, AuditorError) as exc:
            message = exc.message if isinstance(exc, AuditorError) else str(exc)
            if not lenient:
                raise InvalidResource(message, where=where(res)) from None
            if not plane.enforces(res.kind_key):
                out.notes.append(f"{res.where}: invalid ({message}); present, not enforced by {plane.name} (ADM-14)")
                continue
            pol = _broken(res, message, plane)
            out.tiers.setdefault(pol.tier, _TIERS[pol.tier])
            out.policies.append(pol)
            out.unsupported.append(f"{res.where}: invalid, treated as unknown: {message}")
            continue
        if not plane.enforces(policy.kind):
            out.notes.append(f"{res.where}: present, not enforced by {plane.name}: it changes no verdict (ADM-14)")
            continue
        notes: list[str] = []
        pol = translate_admin(policy, plane, nodes, notes, out.node_networks)
        out.tiers.setdefault(pol.tier, _TIERS[pol.tier])
        out.policies.append(pol)
        for note in dict.fromkeys(notes):
            out.notes.append(note)
        reasons = sorted({why for r in (*pol.ingress, *pol.egress) for why in r.unmodelled})
        for why in reasons:
            out.unsupported.append(f"{res.where}: {why}; affected verdicts are unknown")


_TIERS = {t.name: t for t in (KUBE_ADMIN, KUBE_BASELINE, ANP_TIER, BANP_TIER)}
