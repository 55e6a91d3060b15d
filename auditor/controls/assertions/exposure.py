"""Exposure assertions (semantics.md section G): ``no-exposure`` and ``exposure-only-via``.

Both judge the exposure paths of ``auditor.reach.exposure`` (client → entry → proxy → Service
→ backend) and the direct pod-IP flow (EXP-1: kept unless the control declares pod IPs not
routable, which is printed as an assumption). A path allowed into the zones is a violation
(unless ``exposure-only-via`` lists it); an unknown one is an unknown flow with its causes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.causes import unique
from auditor.controls.assertions.base import NETWORK_KINDS, AssertionKind, Side, zone_names
from auditor.controls.assertions.context import MEMBERSHIP_UNKNOWN, Context, Outcome
from auditor.controls.model import Assertion, Control, FlowSpec, Peer
from auditor.controls.result import Violation
from auditor.controls.specs import SpecReader
from auditor.controls.zones import ZoneIndex
from auditor.reach.decision import DecidedBy, SideDecision
from auditor.yamlfile import Reader

EXPOSURE_KINDS = (*NETWORK_KINDS, "Service", "Ingress", "IngressClass", "openshift/Route", "gateway/Gateway",
                  "gateway/HTTPRoute", "gateway/GRPCRoute", "gateway/TLSRoute", "gateway/TCPRoute",
                  "gateway/ReferenceGrant", "istio/Gateway", "istio/VirtualService")
VIA_WORDS = ("direct", "lb", "nodeport", "externalip", "hostport", "ingress", "route", "gateway")
_ASSUME = {"pod-ips-unroutable": bool, "firewall": str, "lb-ranges-enforced": bool, "dataplane": str}


def _assume(p: SpecReader, r: Reader) -> tuple[tuple[str, Any], ...]:
    """``assume:`` pins what a scan cannot see (EXP-1, EXP-2); each pin is printed."""
    if not r.has("assume"):
        return ()
    ar = r.sub("assume")
    ar.only(*_ASSUME)
    out = []
    for key, typ in _ASSUME.items():
        if key in ar.value:
            value = ar.value[key]
            if not isinstance(value, typ):
                raise ar.fail(key, f"must be a {'boolean' if typ is bool else 'string'}")
            if key == "firewall" and value not in ("open", "closed"):
                raise ar.fail(key, "must be open or closed")
            if key == "dataplane" and value not in ("iptables", "ipvs", "ebpf"):
                raise ar.fail(key, "must be iptables, ipvs or ebpf")
            out.append((key, value))
    return tuple(out)


def _client(p: SpecReader, r: Reader) -> tuple[Peer, ...]:
    if not r.has("from"):
        return ()
    return (Peer(zone=p.zone((*r.path, "from"), r.value["from"], kind="cidr",
                             why="exposure is judged from an external (cidrs) zone")),)


def _settings(ctx: Context, a: Assertion) -> Any:
    from auditor.reach.exposure.paths import ExposureSettings

    spec = a.spec if isinstance(a.spec, Mapping) else {}
    pins = dict(spec.get("assume") or {})
    client = a.src[0].zone if a.src else "internet"
    return ExposureSettings(client=client, dataplane=str(pins.get("dataplane", "iptables")),
                            firewall=pins.get("firewall"), lb_ranges_enforced=bool(pins.get("lb-ranges-enforced")),
                            pod_ips_unroutable=bool(pins.get("pod-ips-unroutable")))


def exposure_of(ctx: Context, a: Assertion) -> Any:
    """The exposure paths for the assertion's client and pins (one build per setting per pack)."""
    from auditor.reach.exposure.paths import build_exposure

    settings = _settings(ctx, a)
    cache = ctx.__dict__.setdefault("_exposure", {})
    hit = cache.get(settings)
    if hit is None:
        lenient = ctx.analysis.options.lenient
        hit = cache[settings] = build_exposure(ctx.analysis, settings, ctx.routing(lenient), lenient=lenient)
    return hit


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _allowances(a: Assertion) -> list[Mapping[str, Any]]:
    """The ``allow`` items of the spec as written (validated by ``parse``), normalised."""
    spec = a.spec if isinstance(a.spec, Mapping) else {}
    return [{"via": str(item["via"]), "hosts": [str(h) for h in _as_list(item.get("hosts"))],
             "ports": _as_list(item.get("ports"))} for item in spec.get("allow") or []]


def _matches(path: Any, allow: Mapping[str, Any]) -> bool:
    """An allowance ``{via, hosts, ports}``: the path's via (``ingress dmz/customer``, or just the
    word ``ingress``), its host, and the port the client connects to."""
    via = allow["via"]
    if path.via != via and via != path.via.split(" ")[0]:
        return False
    if allow["hosts"] and path.host not in allow["hosts"]:
        return False
    return not (allow["ports"] and path.listen not in allow["ports"])


# causes of a path whose backends are not in the input (a Service without a selector, a missing
# Service or port, a backend of another kind): where it lands is unknown, so it may be in any zone
UNKNOWN_BACKENDS = frozenset({"no-selector", "missing-service", "missing-port", "backend-kind"})


def _decided_by(path: Any) -> Any:
    """The path's rules as text, carrying its causes (the audit result's unknown causes)."""
    if not path.causes:
        return path.rules
    return DecidedBy.of_sides([SideDecision("exposure", (), 0, unique(path.causes))], path.rules)


def _unknown_backends(path: Any, zones: Sequence[str]) -> Violation:
    """The unknown item of a path that reaches backends the input does not show."""
    words = "; ".join(f"{c.code}: {c.words}" for c in unique(path.causes))
    return Violation(kind="flow", src=path.client, dst=path.service or path.entry, ports=path.port, flow="unknown",
                     decided_by=_decided_by(path),
                     reason=f"exposed to {path.client} via {path.via} at {path.entry}, to backends not in the input "
                            f"({words}): they may be in zone {', '.join(zones)}",
                     src_zones=(path.client,), dst_zones=())


def _judge(ctx: Context, control: Control, allowed: Any = None) -> Outcome:
    a = control.assertion
    out = Outcome(blocking=ctx.collection_reasons(EXPOSURE_KINDS) + ctx.empty_zone_reasons(a))
    ex = exposure_of(ctx, a)
    out.notes.extend(f"assumption: {n}" for n in ex.settings.assumptions())
    out.notes.extend(str(c) for c in ex.skipped)
    masks = [ctx.zones.masks[z] for z in a.zones]
    names = ctx.analysis.inventory.endpoints
    classes = ctx.analysis.classes
    checked = 0
    for path in ex.paths:
        if path.verdict == "deny":
            continue
        if not path.backend_classes:
            if any(c.code in UNKNOWN_BACKENDS for c in path.causes) and any(d.any() or p.any() for d, p in masks) \
                    and not (allowed is not None and allowed(path)):
                checked += 1  # lands on backends not in the input: maybe in the zone (loudly unknown, not a pass)
                out.unknown.append(_unknown_backends(path, a.zones))  # type: ignore[union-attr]
            continue
        definite = [c for c in path.backend_classes if any(d[c] for d, _ in masks)]
        possible = [c for c in path.backend_classes if any(p[c] for _, p in masks) and c not in definite]
        if not definite and not possible:
            continue
        checked += 1
        if allowed is not None and allowed(path):
            continue
        decided_by = _decided_by(path)
        for group, certain in ((definite, True), (possible, False)):
            workloads = sorted({names[m].workload for c in group for m in classes.members[c]})
            for wl in workloads:
                zones = ctx.zone_tuple(wl)
                reason = f"exposed to {path.client} via {path.via} at {path.entry}"
                if path.causes:
                    reason += " (" + "; ".join(f"{c.code}: {c.words}" for c in path.causes) + ")"
                flow = "allowed" if path.verdict == "allow" and certain else "unknown"
                v = Violation(kind="flow", src=path.client, dst=wl, ports=path.port, flow=flow,
                              decided_by=decided_by, reason=reason if certain else f"{reason}; {MEMBERSHIP_UNKNOWN}",
                              src_zones=(path.client,), dst_zones=zones)
                (out.violations if flow == "allowed" else out.unknown).append(v)  # type: ignore[union-attr]
    out.checked = {"paths": checked}
    return out


class NoExposure(AssertionKind):
    """The zones have no entry point from the client network and no direct flow from it."""

    name = "no-exposure"
    depends_on = EXPOSURE_KINDS

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones", "from", "assume")
        zones = p.zone_list(r, "zones", kind="selector", why="exposure is about workloads")
        _assume(p, r)
        return Assertion(kind=self.name, zones=zones, src=_client(p, r), spec=dict(r.value))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _judge(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        client = a.src[0].zone if a.src else "internet"
        return f"{', '.join(a.zones)} has no entry point from {client} and no direct flow from it"

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        return zone_names(spec.get("zones"))


class ExposureOnlyVia(AssertionKind):
    """The zones are reachable from outside only through the listed entry points, hosts and ports."""

    name = "exposure-only-via"
    depends_on = EXPOSURE_KINDS

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones", "from", "allow", "assume")
        zones = p.zone_list(r, "zones", kind="selector", why="exposure is about workloads")
        _assume(p, r)
        allow = []
        for i, item in enumerate(r.list("allow", required=True)):
            ar = Reader(p.loc, (*r.path, "allow", i), item, "a mapping {via, hosts, ports}")
            ar.only("via", "hosts", "ports")
            via = ar.str("via")
            if via is None or via.split(" ")[0] not in VIA_WORDS:
                raise ar.fail("via", f"must start with one of {', '.join(VIA_WORDS)} (e.g. 'ingress dmz/customer')")
            hosts = [str(h) for h in ar.list("hosts", required=False, allow_scalar=True)]
            ports = ar.list("ports", required=False, allow_scalar=True)
            for j, port in enumerate(ports):
                if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                    raise p.loc.error((*ar.path, "ports", j), f"must be a port number, got {port!r}")
            allow.append({"via": via, "hosts": hosts, "ports": list(ports)})
        return Assertion(kind=self.name, zones=zones, src=_client(p, r), spec=dict(r.value))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        specs = _allowances(control.assertion)
        return _judge(ctx, control, allowed=lambda path: any(_matches(path, s) for s in specs))

    def describe(self, ctx: Context, a: Assertion) -> str:
        client = a.src[0].zone if a.src else "internet"
        parts = []
        for d in _allowances(a):
            text = d["via"]
            if d["hosts"]:
                text += " " + ",".join(d["hosts"])
            if d["ports"]:
                text += " :" + ",".join(str(x) for x in d["ports"])
            parts.append(text)
        return f"{', '.join(a.zones)} is reachable from {client} only via: {'; '.join(parts)}"

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        return zone_names(spec.get("zones"))


_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")


def _hosts(a: Assertion, zones: Mapping[str, Any]) -> list[str]:
    """The host names of an ``egress-only-to`` list (items that are neither zones nor CIDRs)."""
    spec = a.spec if isinstance(a.spec, Mapping) else {}
    return [str(x) for x in _as_list(spec.get("to")) if isinstance(x, str) and "/" not in x and x not in zones]


class EgressOnlyTo(AssertionKind):
    """The zones connect outside the cluster only to the listed CIDRs, external zones or hosts."""

    name = "egress-only-to"

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        from auditor.controls.assertions.flows import _external

        r.only("kind", "zones", "to")
        zones = p.zone_list(r, "zones", kind="selector", why="egress is restricted for workloads")
        allow = []
        for i, item in enumerate(r.list("to", required=True, allow_scalar=True, allow_empty=True)):
            path = (*r.path, "to", i) if isinstance(r.value["to"], list) else (*r.path, "to")
            if isinstance(item, str) and "/" not in item and item not in p.zones:
                if not _HOST.match(item.lower()):
                    raise p.loc.error(path, f"must be a CIDR, an external zone or a host name, got {item!r}")
                continue  # a host: judged by name (EXP-17)
            allow.append(FlowSpec(dst=(_external(p, path, item),)))
        return Assertion(kind=self.name, zones=zones, allow=tuple(allow), spec=dict(r.value))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        from auditor.controls.assertions.flows import _egress_restricted

        a = control.assertion
        out = _egress_restricted(ctx, control)
        hosts = _hosts(a, ctx.pack.zones)
        if hosts and len(out.violations):
            out.blocking.append(
                f"flows to external addresses outside the listed CIDRs may go to {', '.join(hosts)}: whether an "
                "address belongs to a host is decided by DNS at run time (dns-runtime, EXP-17); only Calico "
                "Enterprise domain rules enforce it, and this version does not evaluate them")
        routing = ctx.routing(lenient=True)
        spaces = {u.namespace for u in ctx.zones.zone_units(a.zones)}
        for e in routing.service_entries:
            if e.location == "MESH_EXTERNAL" and (e.namespace in spaces or not spaces):
                out.notes.append(f"ServiceEntry {e.namespace}/{e.name} ({', '.join(e.hosts)}) routes mesh traffic "
                                 "only; a pod bypassing its sidecar goes out directly, so the direct flows decide "
                                 "(EXP-16)")
        if any(s.outbound == "REGISTRY_ONLY" and s.namespace in spaces for s in routing.sidecars):
            out.notes.append("Sidecar outboundTrafficPolicy REGISTRY_ONLY shapes routing, never denies (EXP-16, IST-5)")
        return out

    def describe(self, ctx: Context, a: Assertion) -> str:
        items = [f.dst[0].text() for f in a.allow] + _hosts(a, ctx.pack.zones)
        return f"{', '.join(a.zones)} connects outside only to: {', '.join(items) or 'nothing'}"

    def scope(self, zi: ZoneIndex, a: Assertion) -> list[tuple[Side, Side]]:
        return [(zi.zone_units(a.zones), "external")]


def exposure_evidence(ex: Any) -> dict[str, Any]:
    """The exposure paths a pack judged, for the audit result (``exposure`` key) and reports:
    ``exposure.csv``, the PDF section, SARIF locations."""
    paths = []
    for p in ex.paths:
        paths.append({
            "client": p.client, "via": p.via, "entry": p.entry, "host": p.host, "listen": p.listen, "route": p.route,
            "service": p.service, "backend": list(p.backend), "namespace": p.namespace, "port": p.port,
            "verdict": p.verdict,
            "hops": [{"step": h.step, "src": h.src, "dst": h.dst, "port": h.port, "verdict": h.verdict,
                      "rule": h.rule, "cause": None if h.cause is None else h.cause.code} for h in p.hops],
            "causes": [c.to_json() for c in p.causes],
            "source": {"ref": p.source.ref, "file": p.source.file, "line": p.source.line},
        })
    kinds = {"lb": "LoadBalancer", "nodeport": "NodePort", "externalip": "ExternalIP", "hostport": "HostPort",
             "ingress": "Ingress", "route": "Route", "gateway": "Gateway"}
    entries: dict[str, dict[str, str]] = {}
    for p in ex.paths:  # what history records per run (auditor/history/adapter.py)
        word, _, ref = p.via.partition(" ")
        if p.verdict == "deny" or word not in kinds:
            continue
        ns, _, name = ref.partition("/")
        kind = "Service" if word in ("lb", "nodeport", "externalip") else kinds[word]
        key = f"{ns}/{kind}/{name}:{p.listen or 'auto'}"
        entries.setdefault(key, {"name": key, "kind": kinds[word],
                                 "detail": f"{p.entry} → {' '.join(p.backend) or p.service} ({p.verdict})"})
    return {"client": ex.settings.client, "assumptions": ex.settings.assumptions(),
            "skipped": [str(c) for c in ex.skipped], "paths": paths,
            "entry_points": [entries[k] for k in sorted(entries)]}
