"""Calico policy resources → policy IR (semantics.md part B, CAL-5..47).

Reads the ``projectcalico.org/v3`` and ``crd.projectcalico.org/v1`` forms alike (the snapshot's
kind keys already merge the two groups): Tier, NetworkPolicy, GlobalNetworkPolicy, the three
staged kinds, and the network sets (validated here; they become endpoints in
``auditor/reach/endpoints.py``). Validation mirrors Calico's API validator (C23, C7): an object
the API server would reject raises ``InvalidResource`` naming the resource and the field, or,
under ``--lenient``, becomes a policy whose verdicts are unknown. Nothing is silently dropped.

What is evaluated and what is reported instead is listed in ``docs/calico.md``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from auditor.errors import AuditorError, InvalidResource
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
from auditor.policy.kubernetes import translate_network_policy
from auditor.policy.selectors import All, Eq, Global, Selector, and_, parse_selector
from auditor.snapshot import Resource, Snapshot

# CAL-16: tiers Calico always has, with their reserved orders and default actions.
RESERVED_TIERS: dict[str, Tier] = {
    "kube-admin": Tier(name="kube-admin", order=1_000, default_action=Action.PASS),
    "default": Tier(name="default", order=1_000_000, default_action=Action.DENY),
    "kube-baseline": Tier(name="kube-baseline", order=10_000_000, default_action=Action.PASS),
    # Calico 3.29-3.31 create these for AdminNetworkPolicy / BaselineAdminNetworkPolicy (ADM-14).
    "adminnetworkpolicy": Tier(name="adminnetworkpolicy", order=1_000, default_action=Action.PASS),
    "baselineadminnetworkpolicy": Tier(name="baselineadminnetworkpolicy", order=10_000_000,
                                       default_action=Action.PASS),
}

# The tier broken objects land in when their own tier cannot be trusted (evaluated first, Pass).
BROKEN_TIER = Tier(name="(invalid)", order=float("-inf"), default_action=Action.PASS)

PROTOCOL_NAMES = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")  # CAL-26: exact spelling
_PROTOCOL_BY_NUMBER = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP", 136: "UDPLite"}
PORT_CAPABLE = ("TCP", "UDP", "SCTP", "UDPLite")  # protocols that have ports (CAL-26)
_ACTIONS = {a.value: a for a in Action}
_TIER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
_RANGE = re.compile(r"^(\d+):(\d+)$")
_STAGED_ACTIONS = ("Set", "Delete", "Learn", "Ignore")
L7_REASON = "L7 http match, enforced only with ALP/Istio: unknown until modelled (CAL-35, ALP-1)"

STAGED_KINDS = {
    "calico/StagedNetworkPolicy": "calico/NetworkPolicy",
    "calico/StagedGlobalNetworkPolicy": "calico/GlobalNetworkPolicy",
    "calico/StagedKubernetesNetworkPolicy": "NetworkPolicy",
}


# --------------------------------------------------------------------------------------------
# Small parsers (shared with tests)


def parse_port(value: Any, at: str) -> PortRange:
    """CAL-33: one ``ports`` item: ``80``, ``"80"``, ``"8000:9000"`` (inclusive) or a port name."""
    if isinstance(value, bool):
        raise ValueError(f"{at}: {value!r} is not a port")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"{at}: port {value} is out of range 1-65535")
        return PortRange(lo=value, hi=value)
    if not isinstance(value, str):
        raise ValueError(f"{at}: {value!r} is not a port, a range 'a:b' or a port name")
    if value.isdigit():
        return parse_port(int(value), at)
    m = _RANGE.match(value)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if not (1 <= lo <= 65535 and 1 <= hi <= 65535):
            raise ValueError(f"{at}: port range {value!r} must lie within 1-65535")
        if lo > hi:
            raise ValueError(f"{at}: port range {value!r} is reversed (start > end)")
        return PortRange(lo=lo, hi=hi)
    if not _PORT_NAME.match(value) or "--" in value or not re.search("[a-z]", value):
        raise ValueError(
            f"{at}: {value!r} is not a port number, a range 'a:b' or a valid port name "
            "(1-15 lowercase letters, digits and '-', at least one letter)"
        )
    return PortRange(name=value)


def parse_protocol(value: Any, at: str) -> str | None:
    """CAL-26: TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite (exact spelling) or a number 1-255.

    Returns the canonical name (numbers with a name map to it, e.g. 6 → TCP) or the number as text.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{at}: {value!r} is not a protocol")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int):
        if not 1 <= value <= 255:
            raise ValueError(f"{at}: protocol number {value} is out of range 1-255")
        return _PROTOCOL_BY_NUMBER.get(value, str(value))
    if isinstance(value, str) and value in PROTOCOL_NAMES:
        return value
    raise ValueError(f"{at}: {value!r} is not a protocol (one of {', '.join(PROTOCOL_NAMES)}, or 1-255)")


def parse_net(value: Any, at: str, *, strict: bool = True) -> IPNetwork:
    """A CIDR or a bare address (= /32 or /128). Rule nets must be correctly masked (CAL-28)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{at}: {value!r} is not a CIDR (expected e.g. 10.0.0.0/8)")
    try:
        return ipaddress.ip_network(value.strip(), strict=strict)
    except ValueError as exc:
        raise ValueError(f"{at}: {value!r} is not a valid CIDR ({exc})") from None


def _selector(text: Any, at: str, *, global_ok: bool = False) -> Selector:
    """CAL-1..4, CAL-9, CAL-10: parse a selector; ``global()`` only where the caller allows it."""
    if text is None:
        return All()
    if not isinstance(text, str):
        raise ValueError(f"{at}: expected a selector string, got {type(text).__name__} {text!r}")
    try:
        sel = parse_selector(text)
    except AuditorError as exc:
        raise ValueError(f"{at}: {exc.message}") from None
    if sel.uses_global() and not (global_ok and isinstance(sel, Global)):
        where = "as the whole namespaceSelector of a rule" if global_ok else "in a rule's namespaceSelector"
        raise ValueError(f"{at}: global() may only appear alone, {where} (CAL-9)")
    return sel


def _order(value: Any, at: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{at}: {value!r} is not a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{at}: {value!r} is not a finite number")
    return float(value)


def _list(value: Any, at: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{at} must be a list")
    return value


def _mapping(value: Any, at: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{at} must be a mapping")
    return value


# --------------------------------------------------------------------------------------------
# Tiers


def translate_tier(res: Resource) -> Tier:
    """CAL-16: a Tier resource; reserved tiers must keep their reserved order and action."""
    name = res.name
    if len(name) > 63 or not _TIER_NAME.match(name):
        raise ValueError(f"metadata.name: tier name {name!r} must be a DNS label (lowercase, digits, '-'; no dots)")
    spec = _mapping(res.body.get("spec"), "spec")
    order = _order(spec.get("order"), "spec.order")
    raw_action = spec.get("defaultAction") or "Deny"
    if raw_action not in ("Deny", "Pass"):
        raise ValueError(f"spec.defaultAction: {raw_action!r} is not Deny or Pass")
    action = Action(raw_action)
    reserved = RESERVED_TIERS.get(name)
    if reserved is not None:
        if order is not None and order != reserved.order:
            raise ValueError(f"spec.order: the {name} tier's order must be {reserved.order:.0f}")
        if action != reserved.default_action:
            raise ValueError(f"spec.defaultAction: the {name} tier's default action must be "
                             f"{reserved.default_action.value}")
        return reserved
    return Tier(name=name, order=order, default_action=action)


# --------------------------------------------------------------------------------------------
# Rules


@dataclass
class _Ctx:
    ref: str
    tier: str
    namespace: str | None  # the policy's namespace; None for global policies
    services: Mapping[tuple[str, str], Resource]
    unsupported: list[str] = field(default_factory=list)


@dataclass
class _Side:
    match: EntityMatch
    unmodelled: list[str]
    service_ports: dict[str, tuple[PortRange, ...]] | None = None  # destination services only
    has_ports: bool = False
    numeric_ports: bool = False


def _service_ports(svc: Resource, at: str) -> dict[str, tuple[PortRange, ...]]:
    """CAL-34: a Service's backend (target) ports grouped by protocol (post-DNAT, K8S-16)."""
    groups: dict[str, list[PortRange]] = {}
    for j, port in enumerate((svc.body.get("spec") or {}).get("ports") or []):
        if not isinstance(port, Mapping):
            continue
        proto = str(port.get("protocol") or "TCP")
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if isinstance(target, int) and not isinstance(target, bool) and 1 <= target <= 65535:
            rng = PortRange(lo=target, hi=target)
        elif isinstance(target, str) and target:
            rng = PortRange(name=target)
        else:
            raise ValueError(f"{at}: Service {svc.namespace}/{svc.name} port {j} has no usable targetPort")
        groups.setdefault(proto, []).append(rng)
    return {p: tuple(v) for p, v in groups.items()}


def _entity(raw: Any, at: str, ctx: _Ctx, *, is_source: bool, direction: Direction) -> _Side:
    """CAL-25..34: one EntityRule (source or destination)."""
    raw = _mapping(raw, at)
    unmodelled: list[str] = []
    nets = tuple(parse_net(n, f"{at}.nets[{j}]") for j, n in enumerate(_list(raw.get("nets"), f"{at}.nets")))
    not_nets = tuple(
        parse_net(n, f"{at}.notNets[{j}]") for j, n in enumerate(_list(raw.get("notNets"), f"{at}.notNets"))
    )
    for n in not_nets:
        if n.prefixlen == 0:
            raise ValueError(f"{at}.notNets: {n} excludes every address; Calico rejects it (CAL-28)")
    selector = _selector(raw["selector"], f"{at}.selector") if raw.get("selector") is not None else None
    not_selector = (
        _selector(raw["notSelector"], f"{at}.notSelector") if raw.get("notSelector") is not None else None
    )
    ns_selector = None
    global_only = False
    if raw.get("namespaceSelector") is not None:
        ns_selector = _selector(raw["namespaceSelector"], f"{at}.namespaceSelector", global_ok=True)
        if isinstance(ns_selector, Global):
            global_only, ns_selector = True, None  # CAL-9: non-namespaced entities only
    sa_names: frozenset[str] | None = None
    sa_selector: Selector | None = None
    if raw.get("serviceAccounts") is not None:
        sa = _mapping(raw["serviceAccounts"], f"{at}.serviceAccounts")
        names = _list(sa.get("names"), f"{at}.serviceAccounts.names")
        for j, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise ValueError(f"{at}.serviceAccounts.names[{j}]: {name!r} is not a service account name")
        if sa.get("names") is not None:
            sa_names = frozenset(names)
        if sa.get("selector") is not None:
            sa_selector = _selector(sa["selector"], f"{at}.serviceAccounts.selector")
        # serviceAccounts: {} adds no term (Calico builds an empty selector from it)
    ports = tuple(parse_port(p, f"{at}.ports[{j}]") for j, p in enumerate(_list(raw.get("ports"), f"{at}.ports")))
    not_ports = tuple(
        parse_port(p, f"{at}.notPorts[{j}]") for j, p in enumerate(_list(raw.get("notPorts"), f"{at}.notPorts"))
    )
    has_ports = bool(ports or not_ports)
    numeric = any(p.name is None for p in (*ports, *not_ports))

    # CAL-30: a namespaced policy's side that selects entities is limited to its own namespace,
    # unless namespaceSelector says otherwise.
    scoped = ctx.namespace is not None and ns_selector is None and not global_only and (
        selector is not None or not_selector is not None or sa_names is not None or sa_selector is not None
    )
    match = EntityMatch(
        selector=selector,
        not_selector=not_selector,
        namespace_selector=ns_selector,
        global_only=global_only,
        scope_namespace=ctx.namespace if scoped else None,
        nets=nets or None,
        not_nets=not_nets,
        ports=ports if raw.get("ports") is not None and ports else None,
        not_ports=not_ports,
        service_account_names=sa_names,
        service_account_selector=sa_selector,
    )
    side = _Side(match=match, unmodelled=unmodelled, has_ports=has_ports, numeric_ports=numeric)

    if raw.get("services") is not None:
        svc_raw = _mapping(raw["services"], f"{at}.services")
        name = svc_raw.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{at}.services.name: must name a Service")
        for other in ("selector", "notSelector", "namespaceSelector", "serviceAccounts", "nets", "notNets"):
            if raw.get(other) not in (None, [], ""):
                raise ValueError(f"{at}: services cannot be combined with {other} (CAL-34)")
        if is_source and direction == "egress":
            raise ValueError(f"{at}.services: not allowed in an egress rule's source (CAL-34)")
        if not is_source and direction == "ingress":
            raise ValueError(f"{at}.services: not allowed in an ingress rule's destination (CAL-34)")
        if not is_source and has_ports:
            raise ValueError(f"{at}: ports/notPorts cannot be used with destination services (CAL-34)")
        svc_ns = svc_raw.get("namespace") or ctx.namespace
        if not svc_ns:
            raise ValueError(f"{at}.services.namespace: a global policy must name the Service's namespace")
        svc = ctx.services.get((str(svc_ns), name))
        selector_map = ((svc.body.get("spec") or {}).get("selector") if svc is not None else None) or {}
        if svc is None:
            unmodelled.append(f"Service {svc_ns}/{name} is not in the input: its endpoints are unknown (CAL-34)")
            side.match = ANY
        elif not selector_map:
            unmodelled.append(f"Service {svc_ns}/{name} has no selector: its endpoints are not modelled (CAL-34)")
            side.match = ANY
        else:
            sel = and_(*(Eq(str(k), str(v)) for k, v in sorted(selector_map.items())))
            side.match = EntityMatch(selector=sel, scope_namespace=str(svc_ns), pods_only=True)
            if not is_source:
                side.service_ports = _service_ports(svc, f"{at}.services")
                if not side.service_ports:
                    unmodelled.append(f"Service {svc_ns}/{name} declares no ports (CAL-34)")
                    side.service_ports = None
    return side


def _icmp(raw: Any, at: str) -> tuple[int, int | None] | None:
    """CAL-27: ``{type, code}``; code needs type; type 0-254, code 0-255."""
    if raw is None:
        return None
    raw = _mapping(raw, at)
    typ, code = raw.get("type"), raw.get("code")
    for name, value, hi in (("type", typ, 254), ("code", code, 255)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi):
            raise ValueError(f"{at}.{name}: {value!r} is not a number 0-{hi}")
    if code is not None and typ is None:
        raise ValueError(f"{at}: code needs a type (CAL-27)")
    if typ is None:
        return None  # an empty icmp block matches any ICMP
    return (int(typ), None if code is None else int(code))


def _http(raw: Any, at: str) -> None:
    """ALP-5 validation of an ``http`` clause (its matching is not evaluated here)."""
    raw = _mapping(raw, at)
    methods = _list(raw.get("methods"), f"{at}.methods")
    if len(set(map(str, methods))) != len(methods):
        raise ValueError(f"{at}.methods: duplicate methods {methods!r}")
    for j, path in enumerate(_list(raw.get("paths"), f"{at}.paths")):
        path = _mapping(path, f"{at}.paths[{j}]")
        exact, prefix = path.get("exact"), path.get("prefix")
        if bool(exact) == bool(prefix):
            raise ValueError(f"{at}.paths[{j}]: set exactly one of exact or prefix")
        value = str(exact or prefix)
        if not value.startswith("/") or any(ch in value for ch in "? #"):
            raise ValueError(f"{at}.paths[{j}]: {value!r} must start with '/' and contain no '?', '#' or space")


_ALL_V4 = ipaddress.ip_network("0.0.0.0/0")
_ALL_V6 = ipaddress.ip_network("::/0")


def _rule(raw: Any, direction: Direction, i: int, ctx: _Ctx) -> list[Rule]:
    """CAL-19..35: one Calico rule → one IR rule (several when a destination Service has ports
    of several protocols; they keep the same rule index)."""
    at = f"spec.{direction}[{i}]"
    raw = _mapping(raw, at)
    action = _ACTIONS.get(raw.get("action"))  # type: ignore[arg-type]
    if action is None:
        raise ValueError(f"{at}.action: {raw.get('action')!r} is not Allow, Deny, Log or Pass")
    protocol = parse_protocol(raw.get("protocol"), f"{at}.protocol")
    not_protocol = parse_protocol(raw.get("notProtocol"), f"{at}.notProtocol")
    ip_version = raw.get("ipVersion")
    if ip_version is not None and ip_version not in (4, 6):
        raise ValueError(f"{at}.ipVersion: {ip_version!r} is not 4 or 6")
    icmp = _icmp(raw.get("icmp"), f"{at}.icmp")
    not_icmp = _icmp(raw.get("notICMP"), f"{at}.notICMP")
    for name, value in (("icmp", raw.get("icmp")), ("notICMP", raw.get("notICMP"))):
        if value is not None and protocol not in ("ICMP", "ICMPv6"):
            raise ValueError(f"{at}.{name}: needs protocol ICMP or ICMPv6 (CAL-27)")
    for proto in (protocol, not_protocol):
        if proto == "ICMP" and ip_version == 6:
            raise ValueError(f"{at}.ipVersion: must be 4 with protocol ICMP")
        if proto == "ICMPv6" and ip_version == 4:
            raise ValueError(f"{at}.ipVersion: must be 6 with protocol ICMPv6")
    src = _entity(raw.get("source"), f"{at}.source", ctx, is_source=True, direction=direction)
    dst = _entity(raw.get("destination"), f"{at}.destination", ctx, is_source=False, direction=direction)
    for side, name in ((src, "source"), (dst, "destination")):
        if side.numeric_ports and protocol not in PORT_CAPABLE:
            raise ValueError(f"{at}.{name}: numeric ports need protocol TCP, UDP, SCTP or UDPLite (CAL-26)")
    # CAL-28: one IP version per rule, consistent with ipVersion.
    versions = {n.version for side in (src, dst) for n in (*(side.match.nets or ()), *side.match.not_nets)}
    if len(versions) > 1:
        raise ValueError(f"{at}: the rule mixes IPv4 and IPv6 CIDRs (CAL-28)")
    if ip_version is not None and versions and versions != {ip_version}:
        raise ValueError(f"{at}.ipVersion: {ip_version} does not match the rule's CIDRs (CAL-28)")
    unmodelled = [*src.unmodelled, *dst.unmodelled]
    if raw.get("http") is not None:
        _http(raw["http"], f"{at}.http")
        if action != Action.ALLOW:
            raise ValueError(f"{at}.http: only valid on Allow rules (CAL-35)")
        if protocol not in (None, "TCP"):
            raise ValueError(f"{at}.http: needs protocol TCP or no protocol (CAL-35)")
        if direction == "egress":
            raise ValueError(f"{at}.http: not allowed in egress rules (CAL-35)")
        unmodelled.append(L7_REASON)
    src_match, dst_match = src.match, dst.match
    if ip_version is not None:  # the packet's family: both addresses are of that version
        everything = (_ALL_V4,) if ip_version == 4 else (_ALL_V6,)
        if src_match.nets is None:
            src_match = replace(src_match, nets=everything)
        if dst_match.nets is None:
            dst_match = replace(dst_match, nets=everything)
    text = json.dumps(dict(raw), sort_keys=True, separators=(",", ":"), default=str)
    ref = RuleRef(policy=ctx.ref, tier=ctx.tier, direction=direction, index=i, text=text)
    base = Rule(
        action=action,
        ref=ref,
        protocol=protocol,
        not_protocol=not_protocol,
        source=src_match,
        destination=dst_match,
        icmp=icmp,
        not_icmp=not_icmp,
        unmodelled=tuple(unmodelled),
    )
    if dst.service_ports is None:
        return [base]
    out = []
    for proto, ports in sorted(dst.service_ports.items()):
        if protocol is not None and protocol != proto:
            continue
        out.append(replace(base, protocol=proto, destination=replace(dst_match, ports=ports)))
    return out


def _rules(spec: Mapping[str, Any], direction: Direction, ctx: _Ctx) -> tuple[Rule, ...]:
    out: list[Rule] = []
    for i, raw in enumerate(_list(spec.get(direction), f"spec.{direction}")):
        out.extend(_rule(raw, direction, i, ctx))
    return tuple(out)


def _types(spec: Mapping[str, Any]) -> frozenset[Direction]:
    """CAL-15: explicit types, or: egress rules only → [Egress]; else [Ingress] (+Egress if both)."""
    raw = spec.get("types")
    if raw:
        items = _list(raw, "spec.types")
        out: set[Direction] = set()
        for item in items:
            if item not in ("Ingress", "Egress"):
                raise ValueError(f"spec.types: unknown type {item!r} (Ingress or Egress)")
            d: Direction = "ingress" if item == "Ingress" else "egress"
            if d in out:
                raise ValueError(f"spec.types: {item!r} is listed more than once")
            out.add(d)
        return frozenset(out)
    has_in = bool(_list(spec.get("ingress"), "spec.ingress"))
    has_eg = bool(_list(spec.get("egress"), "spec.egress"))
    if has_eg and not has_in:
        return frozenset({"egress"})
    if has_eg:
        return frozenset({"ingress", "egress"})
    return frozenset({"ingress"})


# --------------------------------------------------------------------------------------------
# Policies


def policy_ref(res: Resource) -> str:
    """``calico/GlobalNetworkPolicy security.zones``, ``calico/NetworkPolicy restricted/db``."""
    return res.ref


def translate_calico_policy(
    res: Resource,
    *,
    tiers: Mapping[str, Tier],
    services: Mapping[tuple[str, str], Resource],
) -> tuple[Policy, list[str]]:
    """One (Global)NetworkPolicy or its staged form → IR policy (CAL-13..15, CAL-18, CAL-19..35).

    Raises ``ValueError``/``AuditorError`` for invalid content. Returns the policy and the
    messages of anything it uses that is reported instead of evaluated.
    """
    is_global = res.kind_key in ("calico/GlobalNetworkPolicy", "calico/StagedGlobalNetworkPolicy")
    staged = res.kind_key in STAGED_KINDS
    ref = policy_ref(res)
    spec = res.body.get("spec")
    if not isinstance(spec, Mapping):
        raise ValueError("spec is missing")
    tier_name = spec.get("tier") or "default"
    if not isinstance(tier_name, str) or tier_name not in tiers:
        raise ValueError(f"spec.tier: tier {tier_name!r} does not exist (no Tier resource of that name in the input)")
    namespace = None if is_global else (res.namespace or "default")
    ctx = _Ctx(ref=ref, tier=tier_name, namespace=namespace, services=services)
    notes: list[str] = []
    if staged:
        stage = spec.get("stagedAction") or "Set"
        if stage not in _STAGED_ACTIONS:
            raise ValueError(f"spec.stagedAction: {stage!r} is not one of {', '.join(_STAGED_ACTIONS)}")
        if stage == "Delete":
            rest = {k: v for k, v in spec.items() if k not in ("stagedAction", "tier") and v not in (None, [], {}, "")}
            if rest:
                raise ValueError(f"spec: a stagedAction Delete policy must leave every field but tier empty "
                                 f"(found {', '.join(sorted(rest))})")
    subject = _selector(spec.get("selector"), "spec.selector")
    sa_selector = (
        _selector(spec["serviceAccountSelector"], "spec.serviceAccountSelector")
        if spec.get("serviceAccountSelector") is not None else None
    )
    ns_selector = None
    if is_global and spec.get("namespaceSelector") is not None:
        ns_selector = _selector(spec["namespaceSelector"], "spec.namespaceSelector")
    order = _order(spec.get("order"), "spec.order")
    types = _types(spec)
    if is_global:
        pre_dnat, do_not_track = bool(spec.get("preDNAT")), bool(spec.get("doNotTrack"))
        apply_on_forward = bool(spec.get("applyOnForward"))
        if pre_dnat and do_not_track:
            raise ValueError("spec: preDNAT and doNotTrack cannot both be true")
        if pre_dnat and (_list(spec.get("egress"), "spec.egress") or "egress" in types):
            raise ValueError("spec: a preDNAT policy cannot have egress rules or the Egress type")
        if (pre_dnat or do_not_track) and not apply_on_forward:
            raise ValueError("spec.applyOnForward: must be true when preDNAT or doNotTrack is set")
    ingress = _rules(spec, "ingress", ctx)
    egress = _rules(spec, "egress", ctx)
    # CAL-15: rules of a direction not in types are ignored (still validated above).
    if "ingress" not in types:
        ingress = ()
    if "egress" not in types:
        egress = ()
    for rule in (*ingress, *egress):
        for reason in rule.unmodelled:
            message = f"{ref} {rule.ref.direction} rule {rule.ref.index}: {reason}"
            if message not in notes:
                notes.append(message)
    policy = Policy(
        ref=ref,
        kind=res.kind,
        name=res.name,
        namespace=namespace,
        tier=tier_name,
        order=order,
        subject=subject,
        types=types,
        ingress=ingress,
        egress=egress,
        subject_namespace_selector=ns_selector,
        subject_sa_selector=sa_selector,
        staged=staged,
        origin=res.where,
    )
    return policy, notes


def broken_calico_policy(res: Resource, reason: str, tier: str | None) -> Policy:
    """Lenient mode: an invalid Calico policy may select every endpoint in its scope and may
    allow, deny or pass anything, so its subjects' verdicts become unknown (CAL-10)."""
    ref = policy_ref(res)
    tier_name = tier or BROKEN_TIER.name
    rules: dict[str, tuple[Rule, ...]] = {}
    for d in ("ingress", "egress"):
        rref = RuleRef(policy=ref, tier=tier_name, direction=d, index=0, text=f"invalid: {reason}")  # type: ignore[arg-type]
        why = (f"invalid object: {reason}",)
        rules[d] = (Rule(action=Action.ALLOW, ref=rref, unmodelled=why), Rule(action=Action.DENY, ref=rref, unmodelled=why))
    global_ = res.namespace is None
    return Policy(
        ref=ref,
        kind=res.kind,
        name=res.name,
        namespace=None if global_ else res.namespace,
        tier=tier_name,
        order=None,
        subject=All(),
        types=frozenset({"ingress", "egress"}),
        ingress=rules["ingress"],
        egress=rules["egress"],
        staged=res.kind_key in STAGED_KINDS,
        broken=reason,
        origin=res.where,
    )


def _rename(policy: Policy, ref: str, *, staged: bool) -> Policy:
    """The same policy under another name (a staged Kubernetes policy keeps its own name)."""
    ingress = tuple(replace(r, ref=replace(r.ref, policy=ref)) for r in policy.ingress)
    egress = tuple(replace(r, ref=replace(r.ref, policy=ref)) for r in policy.egress)
    return replace(policy, ref=ref, ingress=ingress, egress=egress, staged=staged)


def _fail(res: Resource, exc: Exception, lenient: bool) -> str:
    message = exc.message if isinstance(exc, AuditorError) else str(exc)
    if not lenient:
        raise InvalidResource(message, where=res.where) from None
    return message


def validate_network_sets(snapshot: Snapshot, *, lenient: bool, out: PolicySet) -> None:
    """CAL-41: NetworkSet / GlobalNetworkSet content (their endpoints are built from the snapshot)."""
    for key in ("calico/GlobalNetworkSet", "calico/NetworkSet"):
        for res in snapshot.of_kind(key):
            try:
                spec = _mapping(res.body.get("spec"), "spec")
                for j, net in enumerate(_list(spec.get("nets"), "spec.nets")):
                    parse_net(net, f"spec.nets[{j}]", strict=False)
                if "projectcalico.org/namespace" in res.labels:
                    raise ValueError("metadata.labels: projectcalico.org/namespace is reserved and cannot be set")
                if spec.get("allowedEgressDomains"):
                    out.unsupported.append(
                        f"{res.where}: allowedEgressDomains (DNS-based membership) is not modelled; "
                        "only the set's nets are matched"
                    )
            except ValueError as exc:
                message = _fail(res, exc, lenient)
                out.unsupported.append(f"{res.where}: invalid, its unparseable CIDRs are ignored: {message}")


def add_calico(
    out: PolicySet,
    snapshot: Snapshot,
    *,
    lenient: bool = False,
    with_staged: bool = False,
    k8s_positions: Mapping[tuple[str, str], int] | None = None,
) -> None:
    """Translate every Calico resource of the snapshot into ``out`` (tiers, policies, notes).

    ``k8s_positions`` maps (namespace, name) of translated Kubernetes NetworkPolicies to their
    index in ``out.policies``, so that a StagedKubernetesNetworkPolicy can replace or delete
    one under ``with_staged`` (CAL-43).
    """
    tiers: dict[str, Tier] = dict(out.tiers)
    tiers.update({k: v for k, v in RESERVED_TIERS.items() if k not in tiers})
    broken_tiers: set[str] = set()
    for res in snapshot.of_kind("calico/Tier"):
        try:
            tiers[res.name] = translate_tier(res)
        except ValueError as exc:
            message = _fail(res, exc, lenient)
            out.unsupported.append(f"{res.where}: invalid tier, its policies are unknown: {message}")
            broken_tiers.add(res.name)
    services = {(r.namespace or "", r.name): r for r in snapshot.of_kind("Service")}
    validate_network_sets(snapshot, lenient=lenient, out=out)

    used_tiers: set[str] = set()
    enforced: dict[tuple[str, str | None, str], int] = {}  # (kind key, namespace, name) → index
    staged: list[tuple[Resource, Policy | None]] = []
    for key in ("calico/GlobalNetworkPolicy", "calico/NetworkPolicy", *STAGED_KINDS):
        for res in snapshot.of_kind(key):
            spec = res.body.get("spec") if isinstance(res.body.get("spec"), Mapping) else {}
            tier_name = spec.get("tier") or "default"
            try:
                if tier_name in broken_tiers:
                    raise ValueError(f"spec.tier: tier {tier_name!r} is invalid")
                if key == "calico/StagedKubernetesNetworkPolicy":
                    policy = _staged_k8s(res)
                    notes: list[str] = []
                else:
                    policy, notes = translate_calico_policy(res, tiers=tiers, services=services)
            except (ValueError, AuditorError) as exc:
                tier_status = snapshot.collection.get("calico/Tier")
                if (tier_status not in (None, "ok", "not-installed") and isinstance(tier_name, str)
                        and tier_name not in tiers and str(exc).startswith("spec.tier:")):
                    # Tiers could not be listed (live scan): the tier may exist, its order is unknown.
                    message = f"tier {tier_name!r} could not be read (collection status {tier_status})"
                    what = "not evaluable, treated as unknown"
                else:
                    message = _fail(res, exc, lenient)
                    what = "invalid, treated as unknown"
                tier_ok = isinstance(tier_name, str) and tier_name in tiers and tier_name not in broken_tiers
                policy = broken_calico_policy(res, message, tier_name if tier_ok else None)
                notes = [f"{res.where}: {what}: {message}"]
                if not tier_ok:
                    tiers.setdefault(BROKEN_TIER.name, BROKEN_TIER)
            out.unsupported.extend(notes)
            spec_hep = spec if isinstance(spec, Mapping) else {}
            if not policy.broken and (spec_hep.get("doNotTrack") or spec_hep.get("preDNAT")):
                mode = "doNotTrack" if spec_hep.get("doNotTrack") else "preDNAT"
                out.unsupported.append(
                    f"{res.where}: {mode} policy applies to host endpoints only; host endpoints are out of "
                    "scope, so it is not evaluated (CAL-44)"
                )
                continue
            if not policy.broken and spec_hep.get("applyOnForward"):
                out.unsupported.append(
                    f"{res.where}: applyOnForward: its effect on traffic forwarded through host endpoints is out "
                    "of scope; pod-to-pod verdicts assume no host-endpoint forward policy applies (CAL-44)"
                )
            used_tiers.add(policy.tier)
            if key in STAGED_KINDS:
                staged.append((res, policy))
                continue
            enforced[(key, res.namespace, res.name)] = len(out.policies)
            out.policies.append(policy)

    removed: set[int] = set()
    for res, policy in staged:
        assert policy is not None
        stage = ((res.body.get("spec") or {}).get("stagedAction") or "Set") if not policy.broken else "Set"
        target_key = STAGED_KINDS[res.kind_key]
        if target_key == "NetworkPolicy":
            target = (k8s_positions or {}).get((res.namespace or "default", res.name))
        else:
            target = enforced.get((target_key, res.namespace, res.name))
        target_ref = f"{target_key} {res.namespace + '/' if res.namespace else ''}{res.name}"
        if not with_staged or stage in ("Learn", "Ignore"):
            why = "stagedAction " + stage + ", never enforced" if stage in ("Learn", "Ignore") else (
                "use --with-staged to evaluate it as if enforced")
            out.notes.append(f"{policy.ref}: staged, not enforced (CAL-43); {why}")
            out.policies.append(replace(policy, staged=True))
            continue
        if stage == "Delete":
            if target is not None:
                removed.add(target)
                out.notes.append(f"{policy.ref}: staged delete evaluated (--with-staged): {target_ref} removed")
            else:
                out.notes.append(f"{policy.ref}: staged delete of {target_ref}, which is not in the input")
            continue
        if target is not None:
            removed.add(target)
            out.notes.append(f"{policy.ref}: staged policy evaluated as enforced (--with-staged), replacing {target_ref}")
        else:
            out.notes.append(f"{policy.ref}: staged policy evaluated as enforced (--with-staged)")
        out.policies.append(replace(policy, staged=False))
    if removed:
        out.policies[:] = [p for i, p in enumerate(out.policies) if i not in removed]

    for name in sorted(used_tiers):
        if name in tiers:
            out.tiers.setdefault(name, tiers[name])
    for name, tier in tiers.items():
        if name in out.tiers or name in RESERVED_TIERS:
            continue
        out.tiers[name] = tier  # declared tiers without policies: harmless, shown by explain
    for res in snapshot.of_kind("calico/HostEndpoint"):
        out.unsupported.append(
            f"{res.where}: host endpoints are not modelled; traffic to and from this host interface is out of "
            "scope (CAL-44)"
        )


def _staged_k8s(res: Resource) -> Policy:
    """A StagedKubernetesNetworkPolicy translates like a Kubernetes NetworkPolicy (CAL-36..39)."""
    spec = res.body.get("spec") or {}
    stage = spec.get("stagedAction") or "Set"
    if stage not in _STAGED_ACTIONS:
        raise ValueError(f"spec.stagedAction: {stage!r} is not one of {', '.join(_STAGED_ACTIONS)}")
    if stage == "Delete":
        rest = {k: v for k, v in spec.items() if k != "stagedAction" and v not in (None, [], {}, "")}
        if rest:
            raise ValueError(f"spec: a stagedAction Delete policy must leave every other field empty "
                             f"(found {', '.join(sorted(rest))})")
    policy = translate_network_policy(res, lenient=False)
    return _rename(policy, policy_ref(res), staged=True)
