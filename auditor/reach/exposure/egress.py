"""Where a zone can connect outside (EXP-16, EXP-17).

The direct flow (the zone's pods → an external network) is always reported: Istio egress
gateways, ServiceEntries and Sidecar ``REGISTRY_ONLY`` shape routing but never deny (EXP-16,
IST-5), so they appear as extra paths and notes, never as a reason to pass. Calico Enterprise
domain rules (``destination.domains``, NetworkSet ``allowedEgressDomains``) allow the IPs learnt
from DNS answers: a destination given as a name is matched by name, one given as an IP is
UNKNOWN(``dns-runtime``) wherever a domain rule could match it (EXP-17).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.causes import Cause
from auditor.policy.routes import Routing
from auditor.reach.decision import causes_of
from auditor.snapshot import Resource, Snapshot

ALLOW, UNKNOWN, DENY = 2, 1, 0
WORDS = {ALLOW: "allow", UNKNOWN: "unknown", DENY: "deny"}


def domain_matches(pattern: str, name: str) -> bool:
    """EXP-17: exact, or one ``*`` standing for one or more whole labels (``*.example.com``
    matches ``a.b.example.com``, not ``example.com``). Case-insensitive, trailing dot ignored."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if "*" not in pattern:
        return pattern == name
    labels = pattern.split(".")
    parts = [r"[^.]+(?:\.[^.]+)*" if lab == "*" else re.escape(lab) for lab in labels]
    return re.fullmatch(r"\.".join(parts), name) is not None


@dataclass(frozen=True)
class DomainRule:
    """One egress rule as the domain question needs it, in evaluation order."""

    policy: str
    index: int
    action: str  # Allow | Deny | Pass | Log
    domains: tuple[str, ...] = ()  # destination.domains (Calico Enterprise)
    nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None  # None: any address

    @property
    def text(self) -> str:
        what = f"domains {', '.join(self.domains)}" if self.domains else (
            "any destination" if self.nets is None else f"nets {', '.join(str(n) for n in self.nets)}")
        return f"{self.policy} egress[{self.index}] {self.action} {what}"


def domain_rules(res: Resource) -> list[DomainRule]:
    """The egress rules of one Calico (Global)NetworkPolicy, keeping ``destination.domains``."""
    spec = res.body.get("spec") or {}
    ref = f"{res.kind} {res.namespace + '/' if res.namespace else ''}{res.name}"
    out = []
    for i, rule in enumerate(spec.get("egress") or []):
        dest = (rule or {}).get("destination") or {}
        nets = dest.get("nets")
        out.append(DomainRule(ref, i, str(rule.get("action") or "Allow"), tuple(str(d) for d in dest.get("domains") or ()),
                              None if not nets else tuple(ipaddress.ip_network(str(n), strict=False) for n in nets)))
    return out


def domain_verdict(rules: Sequence[DomainRule], destination: str, *, default: str = "Deny") -> tuple[str, str, Cause | None]:
    """EXP-17, EDGE-48: the first rule that matches decides; a destination named by IP meets a
    domain rule → UNKNOWN(dns-runtime); one named by host meets a nets rule → UNKNOWN too."""
    try:
        ip = ipaddress.ip_address(destination)
    except ValueError:
        ip = None
    for r in rules:
        if r.domains:
            if ip is not None:
                return "unknown", r.text, Cause("dns-runtime", f"whether {destination} is an address learnt for "
                                                f"{', '.join(r.domains)} is decided by DNS at run time", r.policy)
            if any(domain_matches(d, destination) for d in r.domains):
                return _word(r.action), r.text, None
            continue
        if r.nets is None:
            return _word(r.action), r.text, None
        if ip is None:
            return "unknown", r.text, Cause("dns-runtime", f"the addresses of {destination} are known only at run "
                                            "time", r.policy)
        if any(ip.version == n.version and ip in n for n in r.nets):
            return _word(r.action), r.text, None
    return _word(default), "end of policy: default", None


def _word(action: str) -> str:
    return {"Allow": "allow", "Deny": "deny"}.get(action, "unknown")


@dataclass(frozen=True)
class EgressPath:
    source: str  # workload
    via: str  # direct | service-entry ns/name | egress-gateway ns/name
    destination: str  # external network name, host or CIDR
    ports: str
    verdict: str
    rule: str
    causes: tuple[Cause, ...] = ()


def egress_paths(analysis: object, routing: Routing, sources: Sequence[object], client: str = "internet") -> list[EgressPath]:
    """Egress from ``sources`` (workload entities): the direct flow to ``client`` (always, EXP-16)
    plus the ServiceEntry hosts the mesh routes to (same verdict: routing is not enforcement)."""
    an = analysis
    if not sources:
        return []
    ext, _ = an.find(client)  # type: ignore[attr-defined]
    pm = an.pairs("workload", list(sources), [ext])  # type: ignore[attr-defined]
    out: list[EgressPath] = []
    registry_only: dict[str, str] = {}  # namespace → the REGISTRY_ONLY Sidecar(s) there
    for s in routing.sidecars:
        if s.outbound == "REGISTRY_ONLY":
            named = f"Sidecar {s.namespace}/{s.name}"
            registry_only[s.namespace] = f"{registry_only[s.namespace]}, {named}" if s.namespace in registry_only \
                else named
    entries = [e for e in routing.service_entries if e.location == "MESH_EXTERNAL"]
    for i, src in enumerate(sources):
        v = pm.verdict[pm.row[i, 0]]
        best = int(v.max())
        ports = an.ports.summary(v == (ALLOW if best == ALLOW else UNKNOWN)) if best else ""  # type: ignore[attr-defined]
        why = an.decided_by(pm, i, 0)  # type: ignore[attr-defined]
        notes: tuple[Cause, ...] = ()
        if getattr(src, "namespace", None) in registry_only:
            notes = (Cause("mesh-routing", "Sidecar REGISTRY_ONLY shapes routing only; a pod bypassing its "
                           "sidecar leaves directly (EXP-16, IST-5)", registry_only[src.namespace]),)  # type: ignore[attr-defined]
        found = causes_of(why) if best == UNKNOWN else ()  # what makes the direct flow unknown
        out.append(EgressPath(src.name, "direct", client, ports, WORDS[best], why, (*found, *notes)))  # type: ignore[attr-defined]
        for e in entries:
            out.append(EgressPath(src.name, f"service-entry {e.namespace}/{e.name}", ", ".join(e.hosts),  # type: ignore[attr-defined]
                                  ", ".join(str(p) for p in e.ports) or ports, WORDS[best],
                                  f"as the direct flow: {why}", (*found, *notes)))
    return out


def enterprise_domain_rules(snapshot: Snapshot) -> list[DomainRule]:
    """Every egress rule with ``destination.domains`` in the input (Calico Enterprise objects)."""
    out = []
    for key in ("calico/GlobalNetworkPolicy", "calico/NetworkPolicy"):
        for res in snapshot.of_kind(key):
            out.extend(r for r in domain_rules(res) if r.domains)
    return out
