"""Exposure paths (EXP-1): client → entry → [proxy pod] → Service → backend pod:targetPort.

Every hop is a verdict with its deciding rule. Policy hops are read from the engine's
class-level verdicts (``Analysis.class_verdicts`` and the Istio layer), for all source and
destination classes of the hop at once with numpy; the source is the one EXP-6/10/13/15 says
the backend sees: the client, a node address, the proxy pod, or unknown between them
(``snat-node``). Path verdict = DENY if any hop denies, else UNKNOWN if any is unknown, else ALLOW.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from auditor.causes import Cause, unique
from auditor.policy.routes import Routing, Service, ServicePort, Source, load_routing
from auditor.reach.decision import causes_of
from auditor.reach.exposure.controllers import Proxy, ProxyFinder
from auditor.reach.exposure.entries import FrontRoute, ServiceEntry, front_routes, service_entries

ALLOW, UNKNOWN, DENY = 2, 1, 0
_MAX_CAUSE_PAIRS = 64  # class pairs whose causes a hop names (enough in practice)
WORDS = {ALLOW: "allow", UNKNOWN: "unknown", DENY: "deny"}
DATAPLANES = ("iptables", "ipvs", "ebpf")


@dataclass(frozen=True)
class ExposureSettings:
    """What a scan cannot see (EXP-2), pinned by the user; every pin is printed as an assumption."""

    client: str = "internet"  # the external network traffic comes from
    dataplane: str = "iptables"  # kube-proxy iptables/nftables + Calico iptables (EXP-6 default)
    firewall: str | None = None  # None: unknown; "open" / "closed": node addresses, nodePorts, externalIPs
    lb_ranges_enforced: bool = False  # EXP-4: the provider enforces loadBalancerSourceRanges
    pod_ips_unroutable: bool = False  # EXP-1: pod IPs are not routable from ``client``

    def assumptions(self) -> list[str]:
        out = [f"service dataplane: {self.dataplane} (EXP-6)"]
        if self.firewall is not None:
            out.append(f"cloud firewall pinned {self.firewall} for node addresses, nodePorts and externalIPs (EXP-2)")
        if self.lb_ranges_enforced:
            out.append("loadBalancerSourceRanges are enforced by the provider (EXP-4)")
        if self.pod_ips_unroutable:
            out.append(f"pod IPs are not routable from {self.client}: the direct flow is left out (EXP-1)")
        else:
            out.append(f"pod IPs may be routable from {self.client}: the direct flow is kept (EXP-1)")
        return out


@dataclass(frozen=True)
class Hop:
    step: str  # entry | to-proxy | to-backend | route
    src: str
    dst: str
    port: str
    verdict: str
    rule: str
    cause: Cause | None = None
    policy: tuple[Cause, ...] = ()  # why a policy hop (CMP-1) is unknown, as ``reach`` names it


@dataclass(frozen=True)
class ExposurePath:
    client: str
    via: str  # direct | lb ns/svc | nodeport ns/svc | externalip ns/svc | hostport ns/wl | ingress … | route … | gateway …
    entry: str  # address:port, host+path
    source: Source
    service: str  # "ns/name" ('' for direct / hostPort)
    backend: tuple[str, ...]  # workloads of the backend classes a path may reach
    backend_classes: tuple[int, ...]  # endpoint classes (allow or unknown at the last hop)
    namespace: str  # the backend's namespace
    port: str  # backend target port "8080/TCP"
    hops: tuple[Hop, ...]
    verdict: str
    causes: tuple[Cause, ...] = ()
    listen: int = 0  # the port the client connects to
    host: str = ""
    route: str = ""

    @property
    def rules(self) -> str:
        return " → ".join(f"{h.step}: {h.verdict} ({h.rule})" for h in self.hops)


@dataclass
class Exposure:
    paths: list[ExposurePath]
    settings: ExposureSettings
    skipped: list[Cause] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _combine(verdicts: Sequence[int]) -> int:
    return min(verdicts) if verdicts else ALLOW


class _Judge:
    """Class-level policy verdicts for a hop, at one port atom, vectorised over class pairs."""

    def __init__(self, analysis: object, settings: ExposureSettings) -> None:
        an = analysis
        self.an = an
        self.settings = settings
        self.classes = an.classes  # type: ignore[attr-defined]
        try:  # an external network is an entity at every level: found without listing every pod
            ent, _ = an.find(settings.client, "workload")  # type: ignore[attr-defined]
        except LookupError:
            ent, _ = an.find(settings.client)  # type: ignore[attr-defined]
        if ent.kind != "external":
            raise LookupError(f"--client {settings.client!r} is not an external network")
        self.client = np.array(ent.classes, dtype=np.int64)
        self.client_nets = [n for e in an.inventory.endpoints if e.key == ent.name for n in e.networks]  # type: ignore[attr-defined]
        self.nodes, self.node_note = self._node_classes()
        self.l7 = an.l7_result()  # type: ignore[attr-defined]
        self.rules = an.engine.rules  # type: ignore[attr-defined]
        self._pair_cache: dict[tuple[bytes, bytes, int], tuple[np.ndarray, np.ndarray, np.ndarray,
                                                              np.ndarray | None]] = {}
        self._why_cache: dict[tuple[bytes, bytes, int], str] = {}
        self._svc_cache: dict[tuple[bytes, int, bool], tuple[np.ndarray, Cause | None, str]] = {}

    def _node_classes(self) -> tuple[np.ndarray, str]:
        """EXP-6 candidates for a node source: the addresses of the Node objects, else any address."""
        an = self.an
        ext = np.flatnonzero(~self.classes.is_pod & ~self.classes.is_netset)
        ips = []
        for res in an.snapshot.of_kind("Node"):  # type: ignore[attr-defined]
            for a in ((res.body.get("status") or {}).get("addresses")) or []:
                if isinstance(a, dict) and a.get("type") in ("InternalIP", "ExternalIP"):
                    try:
                        ips.append(ipaddress.ip_address(str(a.get("address"))))
                    except ValueError:
                        continue
        if not ips:
            return ext, "node addresses unknown (no Node addresses in the input): any address"
        space, klass = an.addresses.space, an.addresses.klass  # type: ignore[attr-defined]
        out = set()
        for ip in ips:
            ac = int(klass[space.atom_of(ip)])
            hit = ext[self.classes.address_class[ext] == ac]
            if hit.size:
                out.add(int(hit[0]))
            else:
                return ext, f"node address {ip} has no external class: any address"
        return np.array(sorted(out), dtype=np.int64), "node addresses from Node objects"

    def atom(self, port: int, proto: str) -> int | None:
        return self.an.ports.index_of(proto, port)  # type: ignore[attr-defined]

    def matrix(self, src: np.ndarray, dst: np.ndarray, atom: int) -> np.ndarray:
        """(len(src), len(dst)) verdicts: source egress ∧ destination ingress ∧ Istio (CMP-1)."""
        return self._pairs(src, dst, atom)[0]

    def _pairs(self, src: np.ndarray, dst: np.ndarray, atom: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                             np.ndarray | None]:
        key = (src.tobytes(), dst.tobytes(), atom)  # many Services and routes share their pods and port
        hit = self._pair_cache.get(key)
        if hit is None:
            hit = self._pair_cache[key] = self._compute_pairs(src, dst, atom)
        return hit

    def _compute_pairs(self, src: np.ndarray, dst: np.ndarray, atom: int) -> tuple[np.ndarray, np.ndarray,
                                                                                   np.ndarray, np.ndarray | None]:
        s = np.repeat(src, dst.size)
        t = np.tile(dst, src.size)
        v, re_, ri = self.an.class_verdicts(s, t)  # type: ignore[attr-defined]
        v, re_, ri = v[:, atom].copy(), re_[:, atom], ri[:, atom]
        rl = None
        if self.l7 is not None:
            g = self.l7.gid(t, s)
            v = np.minimum(v, self.l7.verdict[g, atom])
            rl = self.l7.rule[g, atom]
        shape = (src.size, dst.size)
        return v.reshape(shape), re_.reshape(shape), ri.reshape(shape), None if rl is None else rl.reshape(shape)

    def causes(self, src: np.ndarray, dst: np.ndarray, atom: int) -> tuple[Cause, ...]:
        """Why the class pairs ``src`` × ``dst`` are unknown at ``atom``: each unknown layer's
        causes (``reach/uncertainty.py``), over at most ``_MAX_CAUSE_PAIRS`` pairs."""
        ii, jj = np.nonzero(self.matrix(src, dst, atom) == UNKNOWN)
        if not ii.size:
            return ()
        an = self.an
        finder = an.cause_finder()  # type: ignore[attr-defined]
        eg, ig = an.egress, an.ingress  # type: ignore[attr-defined]
        atoms = np.array([atom], dtype=np.int64)
        out: list[Cause] = []
        for i, j in list(zip(ii.tolist(), jj.tolist(), strict=True))[:_MAX_CAUSE_PAIRS]:
            s, t = src[i: i + 1], dst[j: j + 1]
            if eg.verdict[int(eg.gid(s, t)[0]), atom] == UNKNOWN:
                out.extend(finder.engine_causes("egress", eg, int(s[0]), int(t[0]), atoms))
            if ig.verdict[int(ig.gid(t, s)[0]), atom] == UNKNOWN:
                out.extend(finder.engine_causes("ingress", ig, int(t[0]), int(s[0]), atoms))
            if self.l7 is not None and self.l7.verdict[int(self.l7.gid(t, s)[0]), atom] == UNKNOWN:
                out.extend(finder.l7_causes(self.l7, int(t[0]), int(s[0]), atoms))
        return unique(out) or (Cause("unexplained", "unknown by the composition of layers", ""),)

    def why(self, src: np.ndarray, dst: np.ndarray, atom: int, mask: np.ndarray | None = None) -> str:
        """The deciding rules of the most permissive class pair (``mask`` limits the pairs)."""
        if mask is None:
            key = (src.tobytes(), dst.tobytes(), atom)
            hit = self._why_cache.get(key)
            if hit is None:
                hit = self._why_cache[key] = self._why(src, dst, atom, None)
            return hit
        return self._why(src, dst, atom, mask)

    def _why(self, src: np.ndarray, dst: np.ndarray, atom: int, mask: np.ndarray | None) -> str:
        v, re_, ri, rl = self._pairs(src, dst, atom)
        vv = np.where(mask, v, -1) if mask is not None else v
        i, j = np.unravel_index(int(np.argmax(vv)), v.shape)
        parts = [f"egress: {self.rules.text[int(re_[i, j])]}", f"ingress: {self.rules.text[int(ri[i, j])]}"]
        if rl is not None and self.an.l7 is not None:  # type: ignore[attr-defined]
            parts.append(f"istio: {self.an.l7.rules.text[int(rl[i, j])]}")  # type: ignore[attr-defined]
        return "; ".join(parts)

    def through_service(self, svc: Service, dst: np.ndarray, atom: int) -> tuple[np.ndarray, Cause | None, str]:
        """EXP-6: per destination class, the verdict for outside clients entering via ``svc``.
        ETP Local or Calico eBPF keep the client; otherwise the source is the client or a node
        address, a run-time choice: all equal → that verdict, else UNKNOWN(snat-node)."""
        local = svc.external_traffic_policy == "Local" or self.settings.dataplane == "ebpf"
        key = (dst.tobytes(), atom, local)
        hit = self._svc_cache.get(key)
        if hit is None:
            hit = self._svc_cache[key] = self._through(svc, dst, atom)
        per, cause, how = hit
        if cause is not None:
            cause = Cause(cause.code, cause.words, f"Service {svc.key}")
        return per, cause, how

    def _through(self, svc: Service, dst: np.ndarray, atom: int) -> tuple[np.ndarray, Cause | None, str]:
        vc = self.matrix(self.client, dst, atom)  # (clients, dst)
        if svc.external_traffic_policy == "Local" or self.settings.dataplane == "ebpf":
            return vc.max(axis=0), None, "client address kept (ETP Local)" if svc.external_traffic_policy == "Local" \
                else "client address kept (Calico eBPF)"
        vn = self.matrix(self.nodes, dst, atom)  # (nodes, dst)
        lo, hi = vn.min(axis=0), vn.max(axis=0)
        same = (vc == lo[None, :]) & (vc == hi[None, :])
        per = np.where(same, vc, UNKNOWN).max(axis=0)
        cause = None
        if (~same).any() and (per == UNKNOWN).any():
            cause = Cause("snat-node", f"ETP Cluster on {self.settings.dataplane}: the backend sees the client or "
                          f"the receiving node's address, which differ in verdict ({self.node_note})", f"Service {svc.key}")
        return per, cause, "source is the client or a node address (ETP Cluster, EXP-6)"


def _target_groups(classes: object, dst: np.ndarray, target: int | str, proto: str) -> list[tuple[int, np.ndarray]]:
    """Backend classes grouped by the container port a Service targetPort resolves to (K8S-12)."""
    if isinstance(target, int):
        return [(target, dst)]
    by: dict[int, list[int]] = {}
    for c in dst.tolist():
        for name, p, number in classes.named_ports[c]:  # type: ignore[attr-defined]
            if name == target and p == proto:
                by.setdefault(number, []).append(c)
    return [(n, np.array(cs, dtype=np.int64)) for n, cs in sorted(by.items())]


class _Builder:
    def __init__(self, analysis: object, routing: Routing, settings: ExposureSettings) -> None:
        self.an = analysis
        self.routing = routing
        self.settings = settings
        self.judge = _Judge(analysis, settings)
        self.finder = ProxyFinder(analysis, routing)
        self.classes = analysis.classes  # type: ignore[attr-defined]

    def workloads(self, classes: np.ndarray) -> tuple[str, ...]:
        inv = self.an.inventory  # type: ignore[attr-defined]
        return tuple(sorted({inv.endpoints[m].workload for c in classes.tolist() for m in self.classes.members[c]}))

    # -- hops ----------------------------------------------------------------------------------
    def entry_hop(self, kind: str, svc: Service, address: str, listen: int, proto: str) -> Hop:
        dst = f"{address}:{listen or 'auto'}/{proto}"
        src = self.settings.client
        if kind == "lb":
            if not svc.source_ranges:
                return Hop("entry", src, dst, str(listen), "allow", f"LoadBalancer Service {svc.key}, no source ranges")
            ranges = ", ".join(str(n) for n in svc.source_ranges)
            nets = self.judge.client_nets
            inside = any(any(n.version == r.version and n.overlaps(r) for r in svc.source_ranges) for n in nets)
            if inside:
                return Hop("entry", src, dst, str(listen), "allow", f"loadBalancerSourceRanges {ranges} admit part of {src}")
            if self.settings.lb_ranges_enforced:
                return Hop("entry", src, dst, str(listen), "deny", f"loadBalancerSourceRanges {ranges} (enforced, pinned)")
            return Hop("entry", src, dst, str(listen), "unknown", f"outside loadBalancerSourceRanges {ranges}",
                       Cause("lb-impl", "whether the provider enforces loadBalancerSourceRanges (EXP-4)",
                             f"Service {svc.key}"))
        what = {"nodeport": "node address × nodePort", "externalip": "externalIP", "hostport": "node address × hostPort"}[kind]
        note = "; loadBalancerSourceRanges do not limit NodePorts (EXP-4)" if kind == "nodeport" and svc.source_ranges else ""
        if self.settings.firewall == "open":
            return Hop("entry", src, dst, str(listen), "allow", f"{what}: firewall pinned open{note}")
        if self.settings.firewall == "closed":
            return Hop("entry", src, dst, str(listen), "deny", f"{what}: firewall pinned closed{note}")
        return Hop("entry", src, dst, str(listen), "unknown", f"{what} reachable only if the cloud firewall allows it{note}",
                   Cause("cloud-firewall", f"whether {what} is reachable from {src} (EXP-2)", f"Service {svc.key}"))

    def policy_hop(self, step: str, src_name: str, src: np.ndarray, dst_name: str, dst: np.ndarray, port: int,
                   proto: str, svc: Service | None = None) -> tuple[Hop, np.ndarray]:
        """A policy hop; returns the hop and the per-destination-class verdicts."""
        atom = self.judge.atom(port, proto)
        pname = f"{port}/{proto}"
        if atom is None or dst.size == 0:
            return Hop(step, src_name, dst_name, pname, "deny", "no such port/protocol atom"), np.zeros(dst.size, np.int8)
        cause = None
        if svc is not None:  # outside clients through a Service (EXP-6)
            per, cause, how = self.judge.through_service(svc, dst, atom)
            rule = f"{how}; " + self.judge.why(self.judge.client, dst, atom)
            src_name = f"{src_name} (as {'client' if cause is None else 'client or node'})"
        else:
            m = self.judge.matrix(src, dst, atom)
            per = m.max(axis=0) if src.size else np.zeros(dst.size, np.int8)
            rule = self.judge.why(src, dst, atom) if src.size else "no source"
        v = int(per.max()) if per.size else DENY
        policy: tuple[Cause, ...] = ()
        if v == UNKNOWN and cause is None:  # the policies decide it: name their causes
            policy = self.judge.causes(self.judge.client if svc is not None else src, dst[per == UNKNOWN], atom)
        return Hop(step, src_name, dst_name, pname, WORDS[v], rule, cause or (policy[0] if policy else None),
                   policy), per

    # -- paths ---------------------------------------------------------------------------------
    def service_paths(self, entry: ServiceEntry) -> list[ExposurePath]:
        svc, port = entry.service, entry.port
        first = self.entry_hop(entry.kind, svc, entry.address, entry.listen, port.protocol)
        return self._to_backend([first], svc, port, entry.via, entry.entry,
                                svc.source, entry.listen, "", "", outside=True)

    def _to_backend(self, hops: list[Hop], svc: Service, port: ServicePort, via: str, entry: str, source: Source,
                    listen: int, host: str, route: str, *, outside: bool, proxy: Proxy | None = None,
                    extra: Sequence[Cause] = ()) -> list[ExposurePath]:
        dst = self.finder.backends(svc)
        causes = [h.cause for h in hops if h.cause] + list(extra)
        if svc.selector is None:
            hop = Hop("to-backend", "?", f"Service {svc.key}", str(port.target), "unknown",
                      "Service without selector: endpoints are managed by hand",
                      Cause("no-selector", "the Service's endpoints are not derived from pods", f"Service {svc.key}"))
            return [self._path(via, entry, source, svc.key, np.zeros(0, np.int64), svc.namespace, str(port.target),
                               [*hops, hop], [*causes, hop.cause], listen, host, route)]
        groups = _target_groups(self.classes, dst, port.target, port.protocol)
        if not groups:
            hop = Hop("to-backend", "-", f"Service {svc.key}", f"{port.target}/{port.protocol}", "deny",
                      "the Service selects no pod (with that target port) in the input")
            return [self._path(via, entry, source, svc.key, np.zeros(0, np.int64), svc.namespace,
                               f"{port.target}/{port.protocol}", [*hops, hop], causes, listen, host, route)]
        out = []
        for number, classes in groups:
            if outside:
                hop, per = self.policy_hop("to-backend", self.settings.client, self.judge.client, f"Service {svc.key}",
                                           classes, number, port.protocol, svc=svc)
            else:
                assert proxy is not None
                src, sname = (self.judge.nodes, "node address (host-network proxy)") if proxy.host_network else (
                    proxy.classes, f"proxy {proxy.description}")
                hop, per = self.policy_hop("to-backend", sname, src, f"Service {svc.key}", classes, number,
                                           port.protocol)
            reach = classes[per > DENY]
            out.append(self._path(via, entry, source, svc.key, reach if reach.size else classes, svc.namespace,
                                  f"{number}/{port.protocol}", [*hops, hop], [*causes, *([hop.cause] if hop.cause else [])],
                                  listen, host, route))
        return out

    def _path(self, via: str, entry: str, source: Source, service: str, classes: np.ndarray, namespace: str,
              port: str, hops: list[Hop], causes: Sequence[Cause | None], listen: int, host: str,
              route: str) -> ExposurePath:
        code = {"allow": ALLOW, "unknown": UNKNOWN, "deny": DENY}
        v = _combine([code[h.verdict] for h in hops])
        causes = [*causes, *(c for h in hops for c in h.policy)]
        return ExposurePath(self.settings.client, via, entry, source, service, self.workloads(classes),
                            tuple(int(c) for c in classes.tolist()), namespace, port, tuple(hops), WORDS[v],
                            tuple(dict.fromkeys(c for c in causes if c is not None)), listen, host, route)

    def front_paths(self, fr: FrontRoute) -> list[ExposurePath]:
        entry = f"{fr.host}{fr.path if fr.path != '/' else ''}:{fr.listen}"
        proxy = self.finder.find(fr.controller)
        base = [fr.cause] if fr.cause else []
        if fr.service is None or fr.service_port is None:
            verdict = "deny" if fr.blocked else "unknown"
            hop = Hop("route", fr.via, f"{fr.backend.namespace}/{fr.backend.name}" if fr.backend else "-",
                      str(fr.backend.port if fr.backend else ""), verdict,
                      fr.cause.words if fr.cause else "no backend", fr.cause if not fr.blocked else None)
            return [self._path(fr.via, entry, fr.source, f"{fr.backend.namespace}/{fr.backend.name}" if fr.backend else "",
                               np.zeros(0, np.int64), fr.backend.namespace if fr.backend else fr.namespace, "",
                               [hop], base, fr.listen, fr.host, fr.route)]
        if proxy.cause is not None and not proxy.lb:
            hop = Hop("to-proxy", self.settings.client, proxy.description, str(fr.listen), "unknown", proxy.cause.words,
                      proxy.cause)
            return self._to_backend_unknown_source([hop], fr, entry, base)
        if proxy.lb:
            hop = Hop("to-proxy", self.settings.client, proxy.description, str(fr.listen), "allow",
                      "cloud load balancer (EXP-9)")
            return self._to_backend_unknown_source([hop], fr, entry, [*base, proxy.cause] if proxy.cause else base)
        services = self.finder.exposing_services(proxy)
        out: list[ExposurePath] = []
        seen = False
        for svc in services:
            for e in service_entries(svc):
                if e.port.port != fr.listen:
                    continue
                seen = True
                first = self.entry_hop(e.kind, svc, e.address, e.listen, e.port.protocol)
                target = e.port.target
                into = proxy.classes
                if proxy.host_network:
                    hop2 = Hop("to-proxy", self.settings.client, f"proxy {proxy.description}", str(target), "unknown",
                               "host-network proxy: only HostEndpoint policy and outside firewalls apply (EXP-7)",
                               Cause("cloud-firewall", "host-network proxy", proxy.description))
                else:
                    groups = _target_groups(self.classes, into, target, e.port.protocol)
                    if not groups:
                        continue
                    number, into = groups[0]
                    hop2, _ = self.policy_hop("to-proxy", self.settings.client, self.judge.client,
                                              f"proxy {proxy.description}", into, number, e.port.protocol, svc=svc)
                out.extend(self._via_proxy([first, hop2], fr, proxy, f"{e.entry} → {entry}", base))
        if not seen and services:
            return []  # the proxy's Services do not open this listen port: no entry (EXP-3)
        if not seen:
            if proxy.generated_service is not None and not proxy.host_network:
                cport = proxy.container_port(fr.listen)
                gen = Service(proxy.namespace or "", proxy.generated_service, "LoadBalancer", (), ())
                first = Hop("entry", self.settings.client, f"lb {proxy.namespace}/{proxy.generated_service}:{fr.listen}",
                            str(fr.listen), "allow", "LoadBalancer Service the implementation creates (EXP-12)")
                hop2, _ = self.policy_hop("to-proxy", self.settings.client, self.judge.client,
                                          f"proxy {proxy.description}", proxy.classes, cport, "TCP", svc=gen)
                out.extend(self._via_proxy([first, hop2], fr, proxy, entry, base))
            else:
                cause = Cause("controller-unknown", f"no LoadBalancer/NodePort Service in the input exposes "
                              f"{proxy.description} on port {fr.listen}", fr.source.ref)
                hop = Hop("to-proxy", self.settings.client, f"proxy {proxy.description}", str(fr.listen), "unknown",
                          cause.words, cause)
                out.extend(self._via_proxy([hop], fr, proxy, entry, base))
        return out

    def _via_proxy(self, hops: list[Hop], fr: FrontRoute, proxy: Proxy, entry: str,
                   base: list[Cause]) -> list[ExposurePath]:
        assert fr.service is not None and fr.service_port is not None
        return self._to_backend(hops, fr.service, fr.service_port, fr.via, entry, fr.source, fr.listen, fr.host,
                                fr.route, outside=False, proxy=proxy, extra=base)

    def _to_backend_unknown_source(self, hops: list[Hop], fr: FrontRoute, entry: str,
                                   base: list[Cause]) -> list[ExposurePath]:
        """The proxy pods are unknown: the backend hop is judged from every possible source; equal
        verdicts decide, else UNKNOWN(controller-unknown)."""
        assert fr.service is not None and fr.service_port is not None
        svc, port = fr.service, fr.service_port
        dst = self.finder.backends(svc)
        groups = _target_groups(self.classes, dst, port.target, port.protocol)
        out = []
        for number, classes in groups or [(0, np.zeros(0, np.int64))]:
            atom = self.judge.atom(number, port.protocol) if number else None
            if atom is None or classes.size == 0:
                hop = Hop("to-backend", "?", f"Service {svc.key}", str(port.target), "deny",
                          "the Service selects no pod (with that target port) in the input")
                out.append(self._path(fr.via, entry, fr.source, svc.key, classes, svc.namespace, str(port.target),
                                      [*hops, hop], base + [h.cause for h in hops if h.cause], fr.listen, fr.host,
                                      fr.route))
                continue
            every = np.arange(self.classes.n, dtype=np.int64)
            m = self.judge.matrix(every, classes, atom)
            lo, hi = m.min(axis=0), m.max(axis=0)
            per = np.where(lo == hi, hi, UNKNOWN)
            v = int(per.max())
            rule = "the same from every possible source" if v != UNKNOWN else "depends on which pods the proxy runs as"
            hop = Hop("to-backend", "proxy (unknown pods)", f"Service {svc.key}", f"{number}/{port.protocol}",
                      WORDS[v], rule + "; " + self.judge.why(every, classes, atom))
            reach = classes[per > DENY]
            out.append(self._path(fr.via, entry, fr.source, svc.key, reach if reach.size else classes, svc.namespace,
                                  f"{number}/{port.protocol}", [*hops, hop], base + [h.cause for h in hops if h.cause],
                                  fr.listen, fr.host, fr.route))
        return out

    def host_port_paths(self) -> list[ExposurePath]:
        """EXP-7: a hostPort opens the pod's node addresses; portmap keeps the client address."""
        out = []
        inv = self.an.inventory  # type: ignore[attr-defined]
        for ns, wl, host_port, proto, cport in self.routing.host_ports:
            kind, _, name = wl.partition("/")
            key = f"{ns}/{name}" if kind == "Pod" else f"{ns}/{kind}/{name}"
            idx = [i for i, e in enumerate(inv.endpoints) if e.kind == "pod" and (e.workload == key or e.key == key)]
            classes = np.array(sorted({c for i in idx for c in self.classes.endpoint_classes[i]}), dtype=np.int64)
            svc = Service(ns, name, "NodePort", (), (), external_traffic_policy="Local")
            first = self.entry_hop("hostport", svc, "<node>", host_port, proto)
            hop, per = self.policy_hop("to-backend", self.settings.client, self.judge.client, wl, classes, cport, proto,
                                       svc=svc)
            reach = classes[per > DENY] if classes.size else classes
            out.append(self._path(f"hostport {ns}/{name}", f"<node>:{host_port}", Source(wl), "", reach, ns,
                                  f"{cport}/{proto}", [first, hop], [c for c in (first.cause, hop.cause) if c],
                                  host_port, "", ""))
        return out

    def direct_paths(self) -> list[ExposurePath]:
        """EXP-1: the policy-only flow client → pod IP, per workload (kept unless declared unroutable)."""
        if self.settings.pod_ips_unroutable:
            return []
        an = self.an
        ent, _ = an.find(self.settings.client)  # type: ignore[attr-defined]
        dsts = [e for e in an.entities("workload") if e.kind != "external"]  # type: ignore[attr-defined]
        if not dsts:
            return []
        pm = an.pairs("workload", [ent], dsts)  # type: ignore[attr-defined]
        v_all = pm.verdict[pm.row[0]]
        best_all = v_all.max(axis=1) if v_all.size else np.full(len(dsts), DENY)
        live = np.flatnonzero(best_all != DENY)
        # the deciding rules of every live destination in one call (``decided_by`` of each pair)
        whys = an.decided_by_many(pm, np.zeros(live.size, dtype=np.int64), live) if live.size else []  # type: ignore[attr-defined]
        out = []
        for j, why in zip(live.tolist(), whys, strict=True):
            d = dsts[j]
            v = v_all[j]
            best = int(best_all[j])
            mask = v == (ALLOW if best == ALLOW else UNKNOWN)
            ports = an.ports.summary(mask)  # type: ignore[attr-defined]
            atoms = [an.ports.atoms[k] for k in np.flatnonzero(mask).tolist()]  # type: ignore[attr-defined]
            listen = atoms[0].lo if len(atoms) == 1 and atoms[0].protocol == "TCP" and atoms[0].lo == atoms[0].hi else 0
            hop = Hop("direct", self.settings.client, d.name, ports, WORDS[best], why)
            out.append(ExposurePath(self.settings.client, "direct", "pod IP", Source(d.name), "", (d.name,),
                                    tuple(int(c) for c in d.classes), d.namespace or "", ports, (hop,), WORDS[best],
                                    causes_of(why) if best == UNKNOWN else (), listen=listen))
        return out


def build_exposure(analysis: object, settings: ExposureSettings | None = None, routing: Routing | None = None, *,
                   lenient: bool = False, direct: bool = True) -> Exposure:
    """Every exposure path of the analysed snapshot (EXP-1), deterministic order."""
    settings = settings or ExposureSettings()
    if settings.dataplane not in DATAPLANES:
        raise ValueError(f"dataplane must be one of {', '.join(DATAPLANES)}")
    if routing is None:
        routing = load_routing(analysis.snapshot, lenient=lenient)  # type: ignore[attr-defined]
    b = _Builder(analysis, routing, settings)
    paths: list[ExposurePath] = []
    for svc in sorted(routing.services.values(), key=lambda s: s.key):
        for entry in service_entries(svc):
            paths.extend(b.service_paths(entry))
    ns_labels = analysis.inventory.namespace_labels  # type: ignore[attr-defined]
    for fr in front_routes(routing, ns_labels):
        paths.extend(b.front_paths(fr))
    paths.extend(b.host_port_paths())
    if direct:
        paths.extend(b.direct_paths())
    notes = [*settings.assumptions(), f"node source: {b.judge.node_note}"]
    return Exposure(paths=paths, settings=settings, skipped=[*routing.skipped, *routing.unread], notes=notes)
