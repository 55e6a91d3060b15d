"""Kubernetes NetworkPolicy → policy IR, the way Calico converts it (CAL-36..39).

Validation mirrors the API server (K8S-19): an object it would reject is an error, never a
silently dropped rule.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from auditor.errors import AuditorError, InvalidResource
from auditor.policy.ir import (
    ANY,
    Action,
    Direction,
    EntityMatch,
    IPNetwork,
    Policy,
    PortRange,
    Rule,
    RuleRef,
)
from auditor.policy.selectors import All, from_label_selector
from auditor.snapshot import Resource

K8S_ORDER = 1000.0  # CAL-36: Kubernetes policies sit in tier default at order 1000
_PROTOCOLS = ("TCP", "UDP", "SCTP")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


def parse_cidr(text: Any, what: str) -> IPNetwork:
    """A CIDR as the API server parses it (ParseCIDRSloppy: host bits are allowed, K8S-10)."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"{what}: {text!r} is not a CIDR (expected e.g. 10.0.0.0/8)")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"{what}: {text!r} is not a valid CIDR ({exc})") from None


def _policy_types(spec: Mapping[str, Any]) -> frozenset[Direction]:
    """K8S-3: default [Ingress] plus Egress only when spec.egress has at least one element."""
    raw = spec.get("policyTypes")
    if raw:
        if not isinstance(raw, list) or len(raw) > 2:
            raise ValueError(f"policyTypes: {raw!r} must list at most Ingress and Egress")
        out: set[Direction] = set()
        for item in raw:
            if item == "Ingress":
                out.add("ingress")
            elif item == "Egress":
                out.add("egress")
            else:
                raise ValueError(f"policyTypes: unknown type {item!r} (Ingress or Egress)")
        return frozenset(out)
    types: set[Direction] = {"ingress"}
    egress = spec.get("egress")
    if isinstance(egress, list) and len(egress) > 0:
        types.add("egress")
    return frozenset(types)


def _ports(raw: Any, where: str) -> dict[str, tuple[PortRange, ...] | None]:
    """K8S-11/CAL-37: group ports by protocol; ``None`` = every port of that protocol.

    An empty result dict means "no ports field": every port of every protocol.
    """
    if raw is None or raw == []:
        return {}
    if not isinstance(raw, list):
        raise ValueError(f"{where}.ports must be a list")
    groups: dict[str, list[PortRange] | None] = {}
    for i, item in enumerate(raw):
        at = f"{where}.ports[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{at} must be a mapping")
        protocol = item.get("protocol", "TCP") or "TCP"
        if protocol not in _PROTOCOLS:
            raise ValueError(f"{at}.protocol: {protocol!r} is not TCP, UDP or SCTP")
        port = item.get("port")
        end = item.get("endPort")
        if port is None:
            if end is not None:
                raise ValueError(f"{at}.endPort requires a numeric port")
            groups[protocol] = None
            continue
        if isinstance(port, bool):
            raise ValueError(f"{at}.port: {port!r} is not a port")
        if isinstance(port, str) and port.isdigit():
            port = int(port)  # an IntOrString given as "80" is the number 80
        if isinstance(port, int):
            if not 1 <= port <= 65535:
                raise ValueError(f"{at}.port: {port} is out of range 1-65535")
            hi = port
            if end is not None:
                if not isinstance(end, int) or isinstance(end, bool) or not 1 <= end <= 65535:
                    raise ValueError(f"{at}.endPort: {end!r} is not a port number")
                if end < port:
                    raise ValueError(f"{at}.endPort {end} is lower than port {port}")
                hi = end
            rng = PortRange(lo=port, hi=hi)
        elif isinstance(port, str):
            if end is not None:
                raise ValueError(f"{at}.endPort cannot be used with the named port {port!r}")
            if not _PORT_NAME.match(port) or not re.search("[a-z]", port):
                raise ValueError(f"{at}.port: {port!r} is not a valid port name")
            rng = PortRange(name=port)
        else:
            raise ValueError(f"{at}.port: {port!r} is not a port number or name")
        if protocol in groups and groups[protocol] is None:
            continue
        groups.setdefault(protocol, []).append(rng)  # type: ignore[union-attr]
    return {p: (None if v is None else tuple(v)) for p, v in groups.items()}


def _peer(raw: Any, at: str, namespace: str) -> EntityMatch:
    """K8S-7/8/10, CAL-38/39: one item of ``from``/``to``."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{at} must be a mapping")
    pod_sel = raw.get("podSelector")
    ns_sel = raw.get("namespaceSelector")
    ip_block = raw.get("ipBlock")
    if pod_sel is None and ns_sel is None and ip_block is None:
        raise ValueError(f"{at}: a peer must set podSelector, namespaceSelector or ipBlock")
    if ip_block is not None:
        if pod_sel is not None or ns_sel is not None:
            raise ValueError(f"{at}: ipBlock cannot be combined with podSelector or namespaceSelector")
        if not isinstance(ip_block, Mapping):
            raise ValueError(f"{at}.ipBlock must be a mapping")
        cidr = parse_cidr(ip_block.get("cidr"), f"{at}.ipBlock.cidr")
        excepts = []
        for j, item in enumerate(ip_block.get("except") or []):
            ex = parse_cidr(item, f"{at}.ipBlock.except[{j}]")
            if ex.version != cidr.version or not ex.subnet_of(cidr) or ex == cidr:  # type: ignore[arg-type]
                raise ValueError(f"{at}.ipBlock.except[{j}]: {item} is not strictly inside {cidr}")
            excepts.append(ex)
        return EntityMatch(nets=(cidr,), not_nets=tuple(excepts))
    selector = from_label_selector(pod_sel, what=f"{at}.podSelector") if pod_sel is not None else None
    if ns_sel is not None:
        return EntityMatch(
            selector=selector,
            namespace_selector=from_label_selector(ns_sel, what=f"{at}.namespaceSelector"),
            pods_only=True,
        )
    return EntityMatch(selector=selector, scope_namespace=namespace, pods_only=True)


def _rules(spec: Mapping[str, Any], direction: Direction, ref: str, namespace: str) -> tuple[Rule, ...]:
    """K8S-6/CAL-37: one Allow rule per (protocol group × peer), in source order."""
    field_name = "ingress" if direction == "ingress" else "egress"
    peer_field = "from" if direction == "ingress" else "to"
    raw_rules = spec.get(field_name) or []
    if not isinstance(raw_rules, list):
        raise ValueError(f"spec.{field_name} must be a list")
    out: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        at = f"spec.{field_name}[{i}]"
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"{at} must be a mapping")
        peers_raw = raw.get(peer_field) or []
        if not isinstance(peers_raw, list):
            raise ValueError(f"{at}.{peer_field} must be a list")
        peers = [_peer(p, f"{at}.{peer_field}[{j}]", namespace) for j, p in enumerate(peers_raw)] or [ANY]
        port_groups = _ports(raw.get("ports"), at)
        text = json.dumps(dict(raw), sort_keys=True, separators=(",", ":"), default=str)
        rule_ref = RuleRef(policy=ref, tier="default", direction=direction, index=i, text=text)
        groups: list[tuple[str | None, tuple[PortRange, ...] | None]] = (
            list(port_groups.items()) if port_groups else [(None, None)]
        )
        for protocol, ports in groups:
            port_side = EntityMatch(ports=ports)
            for peer in peers:
                if direction == "ingress":
                    src, dst = peer, port_side
                else:
                    src, dst = ANY, _with_ports(peer, ports)
                out.append(Rule(action=Action.ALLOW, ref=rule_ref, protocol=protocol, source=src, destination=dst))
    return tuple(out)


def _with_ports(peer: EntityMatch, ports: tuple[PortRange, ...] | None) -> EntityMatch:
    return EntityMatch(
        selector=peer.selector,
        namespace_selector=peer.namespace_selector,
        scope_namespace=peer.scope_namespace,
        nets=peer.nets,
        not_nets=peer.not_nets,
        ports=ports,
        pods_only=peer.pods_only,
    )


def translate_network_policy(resource: Resource, *, lenient: bool = False) -> Policy:
    """One Kubernetes NetworkPolicy → one IR policy in tier default at order 1000 (CAL-36)."""
    ref = f"NetworkPolicy {resource.namespace}/{resource.name}"
    namespace = resource.namespace or "default"
    where = resource.where
    origin = resource.where
    spec = resource.body.get("spec")
    try:
        if not isinstance(spec, Mapping):
            raise ValueError("spec is missing")
        subject = from_label_selector(spec.get("podSelector"), what="spec.podSelector")
        types = _policy_types(spec)
        ingress = _rules(spec, "ingress", ref, namespace) if "ingress" in types else ()
        egress = _rules(spec, "egress", ref, namespace) if "egress" in types else ()
        # K8S-4: rules of a direction not in policyTypes are ignored, but still validated.
        if "ingress" not in types:
            _rules(spec, "ingress", ref, namespace)
        if "egress" not in types:
            _rules(spec, "egress", ref, namespace)
    except (ValueError, AuditorError) as exc:
        message = exc.message if isinstance(exc, AuditorError) else str(exc)
        if not lenient:
            raise InvalidResource(message, where=where) from None
        return broken_policy(resource, ref, message)
    return Policy(
        ref=ref,
        kind="NetworkPolicy",
        name=resource.name,
        namespace=namespace,
        tier="default",
        order=K8S_ORDER,
        subject=subject,
        types=types,
        ingress=ingress,
        egress=egress,
        origin=origin,
    )


def broken_policy(resource: Resource, ref: str, reason: str) -> Policy:
    """Lenient mode: an invalid policy may select every pod of its namespace, in both
    directions, and may or may not allow anything — so its subjects' verdicts become unknown.
    The directions are those its ``policyTypes`` (or, without them, its rule lists) name when
    they can be read (K8S-3): an invalid ingress-only policy does not isolate egress."""
    directions = _broken_directions(resource)
    rules = {
        d: (
            Rule(
                action=Action.ALLOW,
                ref=RuleRef(policy=ref, tier="default", direction=d, index=0, text=f"invalid: {reason}"),
                unmodelled=(f"invalid object: {reason}",),
            ),
        )
        for d in directions
    }
    return Policy(
        ref=ref,
        kind=resource.kind,
        name=resource.name,
        namespace=resource.namespace or "default",
        tier="default",
        order=K8S_ORDER,
        subject=All(),
        types=frozenset(directions),
        ingress=rules.get("ingress", ()),
        egress=rules.get("egress", ()),
        broken=reason,
        origin=resource.where,
    )


def _broken_directions(resource: Resource) -> tuple[str, ...]:
    """K8S-3 on an invalid object: readable ``policyTypes``, else Ingress (+ Egress with an
    ``egress`` list); an unreadable spec may isolate either direction."""
    spec = resource.body.get("spec")
    if not isinstance(spec, dict):
        return ("ingress", "egress")
    types = spec.get("policyTypes")
    if isinstance(types, list) and types and all(t in ("Ingress", "Egress") for t in types):
        return tuple(d for d in ("ingress", "egress") if d.capitalize() in types)
    return ("ingress", "egress") if "egress" in spec else ("ingress",)
