"""Services, Ingress, OpenShift Route, Gateway API and Istio networking objects → typed routing facts.

These kinds decide how traffic enters and leaves the cluster (semantics.md section G, EXP-*).
They are parsed and validated here, with the other dialects, so the exposure model in
``auditor/reach/exposure/`` works on frozen dataclasses only. A malformed object is an
``InvalidResource`` (exit 2, file:line); under ``--lenient`` it is skipped and becomes a
``Cause`` (``invalid-object``) that every exposure output names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from auditor.causes import Cause
from auditor.errors import AuditorError, InvalidResource
from auditor.policy.ir import IPNetwork
from auditor.snapshot import Resource, Snapshot

ROUTE_KINDS = ("gateway/HTTPRoute", "gateway/GRPCRoute", "gateway/TLSRoute", "gateway/TCPRoute")
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


@dataclass(frozen=True)
class Source:
    """Where an object was read, for SARIF and error messages."""

    ref: str  # "Ingress dmz/customer"
    file: str | None = None
    line: int | None = None

    @classmethod
    def of(cls, res: Resource) -> Source:
        label = f"{res.kind} {res.namespace}/{res.name}" if res.namespace else f"{res.kind} {res.name}"
        if res.origin is None:
            return cls(label)
        return cls(label, res.origin.file, res.origin.line)


# --- Services (EXP-3..EXP-6) ----------------------------------------------------------------


@dataclass(frozen=True)
class ServicePort:
    name: str | None
    protocol: str
    port: int
    target: int | str  # number, or a named container port (K8S-12)
    node_port: int | None = None


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    type: str
    selector: tuple[tuple[str, str], ...] | None  # None: no selector (endpoints managed by hand)
    ports: tuple[ServicePort, ...]
    headless: bool = False
    external_ips: tuple[str, ...] = ()
    lb_addresses: tuple[str, ...] = ()  # status.loadBalancer.ingress ip/hostname
    source_ranges: tuple[IPNetwork, ...] = ()
    external_traffic_policy: str = "Cluster"
    allocate_node_ports: bool = True
    source: Source = field(default=Source(""), compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def port(self, ref: int | str) -> ServicePort | None:
        """The Service port named ``ref`` or numbered ``ref`` (CMP-2: routes name Service ports)."""
        for p in self.ports:
            if (isinstance(ref, int) and p.port == ref) or (isinstance(ref, str) and p.name == ref):
                return p
        return None


# --- Ingress, IngressClass, OpenShift Route (EXP-8, EXP-9, EXP-19) ---------------------------


@dataclass(frozen=True)
class BackendRef:
    """A Service reference from a route: namespace, name, port (number or Service port name)."""

    namespace: str
    name: str
    port: int | str | None
    kind: str = "Service"  # Ingress ``resource`` backends and non-Service refs keep their kind


@dataclass(frozen=True)
class HttpPath:
    host: str | None
    path: str
    path_type: str  # Exact | Prefix | ImplementationSpecific
    backend: BackendRef


@dataclass(frozen=True)
class Ingress:
    namespace: str
    name: str
    class_name: str | None
    legacy_class: str | None
    paths: tuple[HttpPath, ...]
    default_backend: BackendRef | None
    tls: bool
    source: Source = field(default=Source(""), compare=False)


@dataclass(frozen=True)
class IngressClass:
    name: str
    controller: str
    default: bool


@dataclass(frozen=True)
class OpenShiftRoute:
    namespace: str
    name: str
    host: str | None
    path: str
    services: tuple[str, ...]  # spec.to and alternateBackends (weights do not matter, EXP-19)
    target_port: int | str | None
    tls: bool
    insecure_policy: str  # None | Allow | Redirect | "" (no TLS)
    labels: tuple[tuple[str, str], ...] = ()
    source: Source = field(default=Source(""), compare=False)


# --- Gateway API (EXP-11..EXP-13) ------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    name: str
    port: int
    protocol: str
    hostname: str | None
    allowed_from: str  # Same | All | Selector
    allowed_selector: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    allowed_kinds: tuple[str, ...] = ()  # empty: the protocol's default route kinds


@dataclass(frozen=True)
class Gateway:
    namespace: str
    name: str
    class_name: str
    listeners: tuple[Listener, ...]
    addresses: tuple[str, ...] = ()
    source: Source = field(default=Source(""), compare=False)


@dataclass(frozen=True)
class GatewayClass:
    name: str
    controller: str


@dataclass(frozen=True)
class ParentRef:
    namespace: str
    name: str
    section: str | None
    port: int | None
    kind: str = "Gateway"


@dataclass(frozen=True)
class XRoute:
    """HTTPRoute, GRPCRoute, TLSRoute or TCPRoute: parents, hostnames and Service backends."""

    kind: str  # HTTPRoute | GRPCRoute | TLSRoute | TCPRoute
    namespace: str
    name: str
    parents: tuple[ParentRef, ...]
    hostnames: tuple[str, ...]
    backends: tuple[BackendRef, ...]
    source: Source = field(default=Source(""), compare=False)


@dataclass(frozen=True)
class ReferenceGrant:
    namespace: str
    name: str
    sources: tuple[tuple[str, str, str], ...]  # (group, kind, namespace)
    targets: tuple[tuple[str, str, str | None], ...]  # (group, kind, name or None = all)

    def allows(self, kind: str, from_namespace: str, to_name: str) -> bool:
        """EXP-11: a route of ``kind`` in ``from_namespace`` may reference Service ``to_name`` here."""
        src = any(g == "gateway.networking.k8s.io" and k == kind and ns == from_namespace for g, k, ns in self.sources)
        dst = any(g == "" and k == "Service" and (n is None or n == to_name) for g, k, n in self.targets)
        return src and dst


# --- Istio networking (EXP-14..EXP-16) -------------------------------------------------------


@dataclass(frozen=True)
class IstioServer:
    port: int
    protocol: str
    hosts: tuple[str, ...]
    tls: bool


@dataclass(frozen=True)
class IstioGateway:
    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...]
    servers: tuple[IstioServer, ...]
    source: Source = field(default=Source(""), compare=False)


@dataclass(frozen=True)
class Destination:
    host: str
    port: int | None


@dataclass(frozen=True)
class VirtualService:
    namespace: str
    name: str
    hosts: tuple[str, ...]
    gateways: tuple[str, ...]  # "ns/name" resolved; "mesh" kept as is
    destinations: tuple[Destination, ...]
    source: Source = field(default=Source(""), compare=False)


@dataclass(frozen=True)
class ServiceEntry:
    namespace: str
    name: str
    hosts: tuple[str, ...]
    addresses: tuple[str, ...]
    ports: tuple[int, ...]
    location: str  # MESH_EXTERNAL | MESH_INTERNAL
    resolution: str


@dataclass(frozen=True)
class Sidecar:
    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...] | None
    outbound: str  # ALLOW_ANY | REGISTRY_ONLY
    egress_hosts: tuple[str, ...]


@dataclass
class Routing:
    """Every routing object of a snapshot, parsed; ``skipped`` lists what ``--lenient`` dropped."""

    services: dict[tuple[str, str], Service] = field(default_factory=dict)
    ingresses: list[Ingress] = field(default_factory=list)
    ingress_classes: dict[str, IngressClass] = field(default_factory=dict)
    routes: list[OpenShiftRoute] = field(default_factory=list)
    gateways: dict[tuple[str, str], Gateway] = field(default_factory=dict)
    gateway_classes: dict[str, GatewayClass] = field(default_factory=dict)
    xroutes: list[XRoute] = field(default_factory=list)
    grants: list[ReferenceGrant] = field(default_factory=list)
    istio_gateways: dict[tuple[str, str], IstioGateway] = field(default_factory=dict)
    virtual_services: list[VirtualService] = field(default_factory=list)
    service_entries: list[ServiceEntry] = field(default_factory=list)
    sidecars: list[Sidecar] = field(default_factory=list)
    host_ports: list[tuple[str, str, int, str, int]] = field(default_factory=list)
    # (namespace, workload, hostPort, protocol, containerPort) of pod-network pods (EXP-7)
    skipped: list[Cause] = field(default_factory=list)
    unread: list[Cause] = field(default_factory=list)  # kinds whose collection status is not ok

    def granted(self, kind: str, from_namespace: str, to_namespace: str, to_name: str) -> bool:
        if from_namespace == to_namespace:
            return True
        return any(g.namespace == to_namespace and g.allows(kind, from_namespace, to_name) for g in self.grants)


# --- helpers -------------------------------------------------------------------------------


def _map(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a mapping")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list")
    return value


def _port(value: Any, what: str, *, named: bool = False) -> int | str:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a port number{' or name' if named else ''}, got {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise ValueError(f"{what} must be between 1 and 65535, got {value}")
        return value
    if named and isinstance(value, str) and value:
        if value.isdigit():
            return _port(int(value), what)
        return value
    raise ValueError(f"{what} must be a port number{' or name' if named else ''}, got {value!r}")


def _str(value: Any, what: str, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {value!r}")
    return value


def _labels(value: Any, what: str) -> tuple[tuple[str, str], ...]:
    m = _map(value, what)
    for k, v in m.items():
        if not isinstance(v, str):
            raise ValueError(f"{what}.{k} must be a string")
    return tuple(sorted((str(k), str(v)) for k, v in m.items()))


def _spec(res: Resource) -> Mapping[str, Any]:
    return _map(res.body.get("spec"), "spec")


# --- per kind ------------------------------------------------------------------------------


def parse_service(res: Resource) -> Service:
    spec = _spec(res)
    ns = res.namespace or "default"
    kind = spec.get("type") or "ClusterIP"
    if kind not in SERVICE_TYPES:
        raise ValueError(f"spec.type must be one of {', '.join(SERVICE_TYPES)}, got {kind!r}")
    ports = []
    for i, raw in enumerate(_list(spec.get("ports"), "spec.ports")):
        p = _map(raw, f"spec.ports[{i}]")
        number = _port(p.get("port"), f"spec.ports[{i}].port")
        assert isinstance(number, int)
        target = _port(p.get("targetPort"), f"spec.ports[{i}].targetPort", named=True) if p.get(
            "targetPort") is not None else number
        node_port = p.get("nodePort")
        if node_port is not None:
            node_port = _port(node_port, f"spec.ports[{i}].nodePort")
        proto = str(p.get("protocol") or "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            raise ValueError(f"spec.ports[{i}].protocol must be TCP, UDP or SCTP, got {proto!r}")
        ports.append(ServicePort(_str(p.get("name"), "name", required=False), proto, number, target,
                                 node_port if isinstance(node_port, int) else None))
    selector = _labels(spec.get("selector"), "spec.selector") if spec.get("selector") else None
    ranges = []
    for i, cidr in enumerate(_list(spec.get("loadBalancerSourceRanges"), "spec.loadBalancerSourceRanges")):
        try:
            ranges.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise ValueError(f"spec.loadBalancerSourceRanges[{i}]: {cidr!r} is not a CIDR") from None
    etp = spec.get("externalTrafficPolicy") or "Cluster"
    if etp not in ("Cluster", "Local"):
        raise ValueError(f"spec.externalTrafficPolicy must be Cluster or Local, got {etp!r}")
    lb = []
    status = _map(res.body.get("status"), "status")
    for item in _list(_map(status.get("loadBalancer"), "status.loadBalancer").get("ingress"),
                      "status.loadBalancer.ingress"):
        item = _map(item, "status.loadBalancer.ingress[]")
        addr = item.get("ip") or item.get("hostname")
        if addr:
            lb.append(str(addr))
    ext = [str(x) for x in _list(spec.get("externalIPs"), "spec.externalIPs")]
    return Service(
        namespace=ns, name=res.name, type=str(kind), selector=selector, ports=tuple(ports),
        headless=spec.get("clusterIP") == "None", external_ips=tuple(ext), lb_addresses=tuple(lb),
        source_ranges=tuple(ranges), external_traffic_policy=str(etp),
        allocate_node_ports=spec.get("allocateLoadBalancerNodePorts") is not False, source=Source.of(res))


def _ingress_backend(raw: Any, what: str, ns: str) -> BackendRef:
    b = _map(raw, what)
    if "resource" in b:
        r = _map(b["resource"], f"{what}.resource")
        return BackendRef(ns, str(r.get("name") or ""), None, kind=str(r.get("kind") or "resource"))
    svc = _map(b.get("service"), f"{what}.service")
    if not svc:
        raise ValueError(f"{what} needs service or resource")
    name = _str(svc.get("name"), f"{what}.service.name")
    port = _map(svc.get("port"), f"{what}.service.port")
    if ("number" in port) == ("name" in port):
        raise ValueError(f"{what}.service.port needs exactly one of number, name")
    ref = _port(port["number"], f"{what}.service.port.number") if "number" in port else _str(
        port["name"], f"{what}.service.port.name")
    assert name is not None and ref is not None
    return BackendRef(ns, name, ref)


def parse_ingress(res: Resource) -> Ingress:
    spec = _spec(res)
    ns = res.namespace or "default"
    paths: list[HttpPath] = []
    for i, rule in enumerate(_list(spec.get("rules"), "spec.rules")):
        rule = _map(rule, f"spec.rules[{i}]")
        host = _str(rule.get("host"), f"spec.rules[{i}].host", required=False)
        http = _map(rule.get("http"), f"spec.rules[{i}].http")
        for j, p in enumerate(_list(http.get("paths"), f"spec.rules[{i}].http.paths")):
            p = _map(p, f"spec.rules[{i}].http.paths[{j}]")
            ptype = p.get("pathType")
            if ptype not in ("Exact", "Prefix", "ImplementationSpecific"):
                raise ValueError(f"spec.rules[{i}].http.paths[{j}].pathType must be Exact, Prefix or "
                                 f"ImplementationSpecific, got {ptype!r}")
            path = str(p.get("path") or "/")
            if ptype != "ImplementationSpecific" and not path.startswith("/"):
                raise ValueError(f"spec.rules[{i}].http.paths[{j}].path must start with '/'")
            paths.append(HttpPath(host, path, ptype, _ingress_backend(p.get("backend"),
                                                                        f"spec.rules[{i}].http.paths[{j}].backend", ns)))
    default = _ingress_backend(spec["defaultBackend"], "spec.defaultBackend", ns) if spec.get("defaultBackend") else None
    if not paths and default is None:
        raise ValueError("an Ingress needs spec.rules or spec.defaultBackend")
    annotations = _map(_map(res.body.get("metadata"), "metadata").get("annotations"), "metadata.annotations")
    return Ingress(ns, res.name, _str(spec.get("ingressClassName"), "spec.ingressClassName", required=False),
                   annotations.get(LEGACY_CLASS_ANNOTATION), tuple(paths), default,
                   bool(_list(spec.get("tls"), "spec.tls")), Source.of(res))


def parse_ingress_class(res: Resource) -> IngressClass:
    spec = _spec(res)
    controller = _str(spec.get("controller"), "spec.controller")
    annotations = _map(_map(res.body.get("metadata"), "metadata").get("annotations"), "metadata.annotations")
    assert controller is not None
    return IngressClass(res.name, controller, str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true")


def parse_route(res: Resource) -> OpenShiftRoute:
    spec = _spec(res)
    to = _map(spec.get("to"), "spec.to")
    if (to.get("kind") or "Service") != "Service":
        raise ValueError("spec.to.kind must be Service")
    names = [_str(to.get("name"), "spec.to.name")]
    for i, alt in enumerate(_list(spec.get("alternateBackends"), "spec.alternateBackends")):
        names.append(_str(_map(alt, f"spec.alternateBackends[{i}]").get("name"), f"spec.alternateBackends[{i}].name"))
    port = _map(spec.get("port"), "spec.port")
    target = _port(port["targetPort"], "spec.port.targetPort", named=True) if port.get("targetPort") is not None else None
    tls = _map(spec.get("tls"), "spec.tls")
    return OpenShiftRoute(
        namespace=res.namespace or "default", name=res.name,
        host=_str(spec.get("host"), "spec.host", required=False), path=str(spec.get("path") or "/"),
        services=tuple(n for n in names if n), target_port=target, tls=bool(tls),
        insecure_policy=str(tls.get("insecureEdgeTerminationPolicy") or ("None" if tls else "")),
        labels=tuple(sorted(res.labels.items())), source=Source.of(res))


def parse_gateway(res: Resource) -> Gateway:
    spec = _spec(res)
    cls = _str(spec.get("gatewayClassName"), "spec.gatewayClassName")
    listeners = []
    for i, raw in enumerate(_list(spec.get("listeners"), "spec.listeners")):
        li = _map(raw, f"spec.listeners[{i}]")
        port = _port(li.get("port"), f"spec.listeners[{i}].port")
        proto = _str(li.get("protocol"), f"spec.listeners[{i}].protocol")
        allowed = _map(li.get("allowedRoutes"), f"spec.listeners[{i}].allowedRoutes")
        ns_sel = _map(allowed.get("namespaces"), f"spec.listeners[{i}].allowedRoutes.namespaces")
        frm = ns_sel.get("from") or "Same"
        if frm not in ("Same", "All", "Selector"):
            raise ValueError(f"spec.listeners[{i}].allowedRoutes.namespaces.from must be Same, All or Selector")
        kinds = tuple(str(_map(k, "kinds[]").get("kind")) for k in _list(allowed.get("kinds"), "allowedRoutes.kinds"))
        assert isinstance(port, int) and proto is not None
        listeners.append(Listener(str(li.get("name") or f"listener-{i}"), port, proto,
                                  _str(li.get("hostname"), "hostname", required=False), frm,
                                  ns_sel.get("selector") if frm == "Selector" else None, kinds))
    if not listeners:
        raise ValueError("spec.listeners needs at least one listener")
    addresses = tuple(str(_map(a, "spec.addresses[]").get("value")) for a in _list(spec.get("addresses"),
                                                                                   "spec.addresses"))
    assert cls is not None
    return Gateway(res.namespace or "default", res.name, cls, tuple(listeners), addresses, Source.of(res))


def parse_xroute(res: Resource) -> XRoute:
    spec = _spec(res)
    ns = res.namespace or "default"
    parents = []
    for i, raw in enumerate(_list(spec.get("parentRefs"), "spec.parentRefs")):
        p = _map(raw, f"spec.parentRefs[{i}]")
        port = p.get("port")
        parents.append(ParentRef(str(p.get("namespace") or ns), str(_str(p.get("name"), f"spec.parentRefs[{i}].name")),
                                 _str(p.get("sectionName"), "sectionName", required=False),
                                 _port(port, f"spec.parentRefs[{i}].port") if port is not None else None,  # type: ignore[arg-type]
                                 str(p.get("kind") or "Gateway")))
    backends = []
    for i, rule in enumerate(_list(spec.get("rules"), "spec.rules")):
        for j, raw in enumerate(_list(_map(rule, f"spec.rules[{i}]").get("backendRefs"),
                                      f"spec.rules[{i}].backendRefs")):
            b = _map(raw, f"spec.rules[{i}].backendRefs[{j}]")
            kind = str(b.get("kind") or "Service")
            group = str(b.get("group") or "")
            name = _str(b.get("name"), f"spec.rules[{i}].backendRefs[{j}].name")
            port = b.get("port")
            if kind == "Service" and group == "" and port is None:
                raise ValueError(f"spec.rules[{i}].backendRefs[{j}].port is required for a Service")
            assert name is not None
            backends.append(BackendRef(str(b.get("namespace") or ns), name,
                                       _port(port, f"spec.rules[{i}].backendRefs[{j}].port") if port is not None else None,
                                       kind=kind if group == "" else f"{group}/{kind}"))
    hostnames = tuple(str(h) for h in _list(spec.get("hostnames"), "spec.hostnames"))
    return XRoute(res.kind, ns, res.name, tuple(parents), hostnames, tuple(backends), Source.of(res))


def parse_grant(res: Resource) -> ReferenceGrant:
    spec = _spec(res)
    sources = tuple((str(_map(f, "spec.from[]").get("group") or ""), str(f.get("kind")), str(f.get("namespace")))
                    for f in _list(spec.get("from"), "spec.from"))
    targets = tuple((str(_map(t, "spec.to[]").get("group") or ""), str(t.get("kind")), t.get("name"))
                    for t in _list(spec.get("to"), "spec.to"))
    if not sources or not targets:
        raise ValueError("spec.from and spec.to need at least one entry")
    return ReferenceGrant(res.namespace or "default", res.name, sources, targets)


def parse_istio_gateway(res: Resource) -> IstioGateway:
    spec = _spec(res)
    servers = []
    for i, raw in enumerate(_list(spec.get("servers"), "spec.servers")):
        s = _map(raw, f"spec.servers[{i}]")
        port = _map(s.get("port"), f"spec.servers[{i}].port")
        number = _port(port.get("number"), f"spec.servers[{i}].port.number")
        hosts = tuple(str(h) for h in _list(s.get("hosts"), f"spec.servers[{i}].hosts"))
        if not hosts:
            raise ValueError(f"spec.servers[{i}].hosts needs at least one host")
        assert isinstance(number, int)
        servers.append(IstioServer(number, str(port.get("protocol") or "HTTP").upper(), hosts, bool(s.get("tls"))))
    return IstioGateway(res.namespace or "default", res.name, _labels(spec.get("selector"), "spec.selector"),
                        tuple(servers), Source.of(res))


def parse_virtual_service(res: Resource) -> VirtualService:
    spec = _spec(res)
    ns = res.namespace or "default"
    gateways = []
    for g in _list(spec.get("gateways"), "spec.gateways"):
        g = str(g)
        gateways.append(g if g == "mesh" or "/" in g else f"{ns}/{g}")  # EXP-14: bare = VS namespace
    dests = []
    for section in ("http", "tcp", "tls"):
        for i, route in enumerate(_list(spec.get(section), f"spec.{section}")):
            for j, dest in enumerate(_list(_map(route, f"spec.{section}[{i}]").get("route"), f"spec.{section}[{i}].route")):
                d = _map(_map(dest, f"spec.{section}[{i}].route[{j}]").get("destination"),
                         f"spec.{section}[{i}].route[{j}].destination")
                host = _str(d.get("host"), f"spec.{section}[{i}].route[{j}].destination.host")
                port = _map(d.get("port"), "destination.port").get("number")
                assert host is not None
                dests.append(Destination(host, _port(port, "destination.port.number") if port is not None else None))  # type: ignore[arg-type]
    return VirtualService(ns, res.name, tuple(str(h) for h in _list(spec.get("hosts"), "spec.hosts")),
                          tuple(gateways), tuple(dests), Source.of(res))


def parse_service_entry(res: Resource) -> ServiceEntry:
    spec = _spec(res)
    hosts = tuple(str(h) for h in _list(spec.get("hosts"), "spec.hosts"))
    if not hosts:
        raise ValueError("spec.hosts needs at least one host")
    ports = tuple(int(_port(_map(p, "spec.ports[]").get("number"), "spec.ports[].number"))
                  for p in _list(spec.get("ports"), "spec.ports"))
    return ServiceEntry(res.namespace or "default", res.name, hosts,
                        tuple(str(a) for a in _list(spec.get("addresses"), "spec.addresses")), ports,
                        str(spec.get("location") or "MESH_EXTERNAL"), str(spec.get("resolution") or "NONE"))


def parse_sidecar(res: Resource) -> Sidecar:
    spec = _spec(res)
    sel = _map(spec.get("workloadSelector"), "spec.workloadSelector").get("labels")
    hosts = tuple(str(h) for e in _list(spec.get("egress"), "spec.egress")
                  for h in _list(_map(e, "spec.egress[]").get("hosts"), "spec.egress[].hosts"))
    mode = str(_map(spec.get("outboundTrafficPolicy"), "spec.outboundTrafficPolicy").get("mode") or "ALLOW_ANY")
    return Sidecar(res.namespace or "default", res.name, _labels(sel, "workloadSelector.labels") if sel else None,
                   mode, hosts)


T = TypeVar("T")


def _each(snapshot: Snapshot, kind: str, parse: Callable[[Resource], T], lenient: bool,
          skipped: list[Cause]) -> list[T]:
    out = []
    for res in snapshot.of_kind(kind):
        try:
            out.append(parse(res))
        except (ValueError, AuditorError) as exc:
            message = exc.message if isinstance(exc, AuditorError) else str(exc)
            if not lenient:
                where = res.where if res.origin is None or res.origin.line is None else (
                    f"{res.origin.file}:{res.origin.line} {res.ref}")
                raise InvalidResource(message, where=where) from None
            skipped.append(Cause("invalid-object", f"skipped, {message}", Source.of(res).ref))
    return out


def _host_ports(snapshot: Snapshot) -> list[tuple[str, str, int, str, int]]:
    """EXP-7: hostPorts of pod-network pods and pod templates (host-network pods are node traffic)."""
    from auditor.kinds import WORKLOAD_KINDS

    out = set()
    for kind in ("Pod", *WORKLOAD_KINDS):
        for res in snapshot.of_kind(kind):
            spec = res.body.get("spec") or {}
            if kind != "Pod":
                if kind == "CronJob":
                    spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
                spec = ((spec.get("template") or {}).get("spec")) or {}
            if not isinstance(spec, Mapping) or spec.get("hostNetwork"):
                continue
            for c in spec.get("containers") or []:
                for p in (c or {}).get("ports") or []:
                    if isinstance(p, Mapping) and isinstance(p.get("hostPort"), int) and p["hostPort"] > 0:
                        out.add((res.namespace or "default", f"{kind}/{res.name}", p["hostPort"],
                                 str(p.get("protocol") or "TCP"), int(p.get("containerPort") or p["hostPort"])))
    return sorted(out)


def load_routing(snapshot: Snapshot, *, lenient: bool = False) -> Routing:
    """Every routing object of the snapshot, validated (``InvalidResource`` unless ``lenient``)."""
    out = Routing()
    sk = out.skipped
    for svc in _each(snapshot, "Service", parse_service, lenient, sk):
        out.services[(svc.namespace, svc.name)] = svc
    out.ingresses = _each(snapshot, "Ingress", parse_ingress, lenient, sk)
    out.ingress_classes = {c.name: c for c in _each(snapshot, "IngressClass", parse_ingress_class, lenient, sk)}
    out.routes = _each(snapshot, "openshift/Route", parse_route, lenient, sk)
    out.gateways = {(g.namespace, g.name): g for g in _each(snapshot, "gateway/Gateway", parse_gateway, lenient, sk)}
    out.gateway_classes = {
        r.name: GatewayClass(r.name, str((r.body.get("spec") or {}).get("controllerName") or ""))
        for r in snapshot.of_kind("gateway/GatewayClass")
    }
    for kind in ROUTE_KINDS:
        out.xroutes.extend(_each(snapshot, kind, parse_xroute, lenient, sk))
    out.grants = _each(snapshot, "gateway/ReferenceGrant", parse_grant, lenient, sk)
    out.istio_gateways = {(g.namespace, g.name): g for g in _each(snapshot, "istio/Gateway", parse_istio_gateway,
                                                                     lenient, sk)}
    out.virtual_services = _each(snapshot, "istio/VirtualService", parse_virtual_service, lenient, sk)
    out.service_entries = _each(snapshot, "istio/ServiceEntry", parse_service_entry, lenient, sk)
    out.sidecars = _each(snapshot, "istio/Sidecar", parse_sidecar, lenient, sk)
    out.host_ports = _host_ports(snapshot)
    for kind in ("Service", "Ingress", "IngressClass", "openshift/Route", "gateway/Gateway", *ROUTE_KINDS,
                 "gateway/ReferenceGrant", "istio/Gateway", "istio/VirtualService"):
        status = snapshot.collection.get(kind, "ok")
        if status not in ("ok", "not-installed"):
            out.unread.append(Cause("not-read", f"{kind} could not be read (collection status {status})", kind))
    return out
