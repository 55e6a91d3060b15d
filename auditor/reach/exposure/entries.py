"""Entry points: where an outside client connects, and which route leads on from there.

Pure functions over the parsed routing objects (``auditor.policy.routes``); no verdicts here.
``service_entries`` lists what a Service opens to the outside (EXP-3, EXP-4, EXP-7);
``front_routes`` lists the proxy routes of Ingress (EXP-8), OpenShift Route (EXP-19), Gateway
API (EXP-11) and Istio Gateway + VirtualService (EXP-14), each with the controller that serves
it and the backend Service it leads to (or why it leads nowhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from auditor.policy.routes import (
    BackendRef,
    Cause,
    Gateway,
    Listener,
    Routing,
    Service,
    ServicePort,
    Source,
    XRoute,
)
from auditor.policy.selectors import from_label_selector


@dataclass(frozen=True)
class ServiceEntry:
    """One address:port a Service opens to the outside (EXP-3)."""

    kind: str  # lb | nodeport | externalip
    service: Service
    port: ServicePort
    address: str  # the LB/external address, or "<node>" for NodePorts
    listen: int  # the port the client connects to (Service port, or nodePort)

    @property
    def via(self) -> str:
        return f"{self.kind} {self.service.key}"

    @property
    def entry(self) -> str:
        return f"{self.address}:{self.listen or 'auto'}"  # a nodePort not set yet is allocated at apply time


def service_entries(svc: Service) -> list[ServiceEntry]:
    """EXP-3: LoadBalancer → each LB address × port, plus NodePorts unless
    ``allocateLoadBalancerNodePorts: false``; NodePort → every node × nodePort; externalIPs on any
    type. ClusterIP, headless and ExternalName Services are never entries."""
    if svc.type == "ExternalName" or (svc.headless and not svc.external_ips):
        return []
    out: list[ServiceEntry] = []
    for p in svc.ports:
        if svc.type == "LoadBalancer":
            for addr in svc.lb_addresses or ("<pending>",):
                out.append(ServiceEntry("lb", svc, p, addr, p.port))
        if svc.type == "NodePort" or (svc.type == "LoadBalancer" and svc.allocate_node_ports):
            out.append(ServiceEntry("nodeport", svc, p, "<node>", p.node_port or 0))
        for addr in svc.external_ips:
            out.append(ServiceEntry("externalip", svc, p, addr, p.port))
    return out


# --- proxy routes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Controller:
    """Who serves a front: an IngressClass controller, a GatewayClass controller for one Gateway,
    an Istio gateway selector, or the OpenShift router."""

    kind: str  # ingress | route | gateway | istio
    name: str  # controller name / selector text
    namespace: str | None = None  # the Gateway's namespace (gateway), None otherwise
    gateway: str | None = None  # the Gateway's name (gateway)
    selector: tuple[tuple[str, str], ...] = ()  # istio
    cause: Cause | None = None  # set when no controller could be named


@dataclass(frozen=True)
class FrontRoute:
    """One route through a proxy: front object, listen port, host/path, backend (or why none)."""

    kind: str  # ingress | route | gateway | istio-gateway
    namespace: str
    name: str
    source: Source
    listen: int
    protocol: str  # HTTP | HTTPS | TLS | TCP | GRPC
    host: str
    path: str
    controller: Controller
    backend: BackendRef | None
    service: Service | None
    service_port: ServicePort | None
    cause: Cause | None = None  # why there is no (certain) backend
    blocked: bool = False  # the route exists but is not programmed (EXP-11: no ReferenceGrant)
    route: str = ""  # "HTTPRoute ns/name" for Gateway API / "VirtualService ns/name" for Istio

    @property
    def via(self) -> str:
        word = {"ingress": "ingress", "route": "route", "gateway": "gateway", "istio-gateway": "gateway"}[self.kind]
        return f"{word} {self.namespace}/{self.name}"


def ingress_host_matches(pattern: str | None, host: str) -> bool:
    """EXP-8: exact, or ``*.suffix`` = exactly one extra leading label; absent = any host."""
    if not pattern:
        return True
    if pattern.startswith("*."):
        head, _, tail = host.partition(".")
        return bool(head) and tail == pattern[2:]
    return pattern == host


def gateway_host_matches(pattern: str | None, host: str) -> bool:
    """Gateway API hostnames: ``*.suffix`` matches one or more extra leading labels."""
    if not pattern:
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def hostnames_intersect(a: str | None, b: str | None) -> bool:
    """EXP-11: a listener hostname and a route hostname share some host."""
    if not a or not b:
        return True
    return gateway_host_matches(a, b.replace("*", "x", 1)) or gateway_host_matches(b, a.replace("*", "x", 1))


def _resolve(routing: Routing, ref: BackendRef, kind: str, from_ns: str, owner: str) -> tuple[
        Service | None, ServicePort | None, Cause | None, bool]:
    """A route's Service backend: (service, port, cause, blocked); ``owner`` is the route that
    names it (the object of the cause)."""
    what = f"{ref.namespace}/{ref.name}"
    if ref.kind != "Service":
        return None, None, Cause("backend-kind", f"backend {ref.kind} {what} is not a Service; not modelled",
                                 owner), False
    if ref.namespace != from_ns and not routing.granted(kind, from_ns, ref.namespace, ref.name):
        return None, None, Cause("no-reference-grant", f"backend Service {what} is in another namespace and no "
                                 f"ReferenceGrant there allows {kind} from {from_ns}: not programmed (EXP-11)",
                                 owner), True
    svc = routing.services.get((ref.namespace, ref.name))
    if svc is None:
        return None, None, Cause("missing-service", f"backend Service {what} is not in the input", owner), False
    if ref.port is None:
        return svc, None, None, False
    port = svc.port(ref.port)
    if port is None:
        return svc, None, Cause("missing-port", f"Service {what} has no port {ref.port}", owner), False
    return svc, port, None, False


def _ingress_controller(routing: Routing, class_name: str | None, legacy: str | None, ref: str) -> Controller:
    """EXP-9: ingressClassName → IngressClass controller; none → the default class; the legacy
    annotation names a class too."""
    name = class_name or legacy
    if name is None:
        defaults = [c for c in routing.ingress_classes.values() if c.default]
        if len(defaults) == 1:
            return Controller("ingress", defaults[0].controller)
        return Controller("ingress", "", cause=Cause("controller-unknown", "no ingressClassName and "
                                                     f"{len(defaults)} default IngressClasses", ref))
    cls = routing.ingress_classes.get(name)
    if cls is None:
        if legacy is not None and class_name is None:
            return Controller("ingress", legacy, cause=None)  # legacy annotation value: a controller's class word
        return Controller("ingress", "", cause=Cause("controller-unknown", f"IngressClass {name} is not in the input",
                                                     ref))
    return Controller("ingress", cls.controller)


def _ingress_routes(routing: Routing) -> list[FrontRoute]:
    out: list[FrontRoute] = []
    for ing in routing.ingresses:
        ctl = _ingress_controller(routing, ing.class_name, ing.legacy_class, ing.source.ref)
        listens = [(80, "HTTP")] + ([(443, "HTTPS")] if ing.tls else [])
        items = [(p.host or "*", p.path, p.backend, p.path_type) for p in ing.paths]
        if ing.default_backend is not None:
            items.append(("*", "(default)", ing.default_backend, "default"))
        for host, path, ref, _ptype in items:
            svc, port, cause, blocked = _resolve(routing, ref, "Ingress", ing.namespace, ing.source.ref)
            if ref.kind != "Service":
                cause = Cause("backend-kind", f"resource backend {ref.kind} {ref.name}: not modelled (EXP-8)",
                              ing.source.ref)
            # ImplementationSpecific path matching (IMPL) changes which requests, not whether the backend is reachable
            for listen, proto in listens:
                out.append(FrontRoute("ingress", ing.namespace, ing.name, ing.source, listen, proto, host, path, ctl,
                                      ref, svc, port, cause, blocked))
    return out


def _openshift_routes(routing: Routing) -> list[FrontRoute]:
    """EXP-19: host + path → spec.to and alternateBackends; 80 unless TLS with insecure None; 443 with TLS."""
    out: list[FrontRoute] = []
    for r in routing.routes:
        ctl = Controller("route", "openshift-router")
        listens = []
        if not r.tls or r.insecure_policy in ("Allow", "Redirect"):
            listens.append((80, "HTTP"))
        if r.tls:
            listens.append((443, "HTTPS"))
        for name in r.services:
            ref = BackendRef(r.namespace, name, r.target_port)
            svc = routing.services.get((r.namespace, name))
            cause = None if svc is not None else Cause("missing-service", f"Service {r.namespace}/{name} is not in the input",
                                                       r.source.ref)
            ports: list[ServicePort | None] = [None]
            if svc is not None:
                if r.target_port is None:
                    ports = list(svc.ports) or [None]
                else:
                    ports = [p for p in svc.ports if p.target == r.target_port or p.name == r.target_port
                             or p.port == r.target_port] or [None]
                    if ports == [None]:
                        cause = Cause("missing-port", f"Service {r.namespace}/{name} has no target port {r.target_port}",
                                      r.source.ref)
            for port in ports:
                for listen, proto in listens:
                    out.append(FrontRoute("route", r.namespace, r.name, r.source, listen, proto, r.host or "*", r.path,
                                          ctl, ref, svc, port, cause))
    return out


_DEFAULT_KINDS = {"HTTP": ("HTTPRoute", "GRPCRoute"), "HTTPS": ("HTTPRoute", "GRPCRoute"), "TLS": ("TLSRoute",),
                  "TCP": ("TCPRoute",), "UDP": ("UDPRoute",)}


def _admits(listener: Listener, gw: Gateway, route: XRoute, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
    """EXP-11: the listener's allowedRoutes admit the route's namespace and kind."""
    kinds = listener.allowed_kinds or _DEFAULT_KINDS.get(listener.protocol.upper(), ())
    if route.kind not in kinds:
        return False
    if listener.allowed_from == "Same":
        return route.namespace == gw.namespace
    if listener.allowed_from == "All":
        return True
    try:
        sel = from_label_selector(listener.allowed_selector or {}, what="allowedRoutes.namespaces.selector")
    except Exception:  # an invalid selector admits nothing (the API server would reject it)
        return False
    return sel.matches(ns_labels.get(route.namespace, {"kubernetes.io/metadata.name": route.namespace}))


def _gateway_routes(routing: Routing, ns_labels: Mapping[str, Mapping[str, str]]) -> list[FrontRoute]:
    out: list[FrontRoute] = []
    for route in routing.xroutes:
        for parent in route.parents:
            if parent.kind != "Gateway":
                continue
            gw = routing.gateways.get((parent.namespace, parent.name))
            if gw is None:
                continue  # not attached: a route without a Gateway opens nothing
            cls = routing.gateway_classes.get(gw.class_name)
            ctl = Controller("gateway", cls.controller if cls else "", gw.namespace, gw.name,
                             cause=None if cls else Cause("controller-unknown",
                                                          f"GatewayClass {gw.class_name} is not in the input",
                                                          gw.source.ref))
            for li in gw.listeners:
                if parent.section and parent.section != li.name:
                    continue
                if parent.port and parent.port != li.port:
                    continue
                if not _admits(li, gw, route, ns_labels):
                    continue
                hosts = [h for h in (route.hostnames or ("",)) if hostnames_intersect(li.hostname, h)]
                if not hosts:
                    continue
                host = hosts[0] or li.hostname or "*"
                for ref in route.backends or ():
                    svc, port, cause, blocked = _resolve(routing, ref, route.kind, route.namespace, route.source.ref)
                    out.append(FrontRoute("gateway", gw.namespace, gw.name, gw.source, li.port, li.protocol.upper(),
                                          host, "/", ctl, ref, svc, port, cause, blocked,
                                          route=f"{route.kind} {route.namespace}/{route.name}"))
    return out


def _short_host(host: str, ns: str) -> tuple[str, str]:
    """EXP-14: a short destination host resolves in the VirtualService's namespace."""
    parts = host.split(".")
    if len(parts) == 1:
        return ns, parts[0]
    if len(parts) >= 2 and (len(parts) == 2 or parts[2] == "svc"):
        return parts[1], parts[0]
    return "", host


def _istio_routes(routing: Routing) -> list[FrontRoute]:
    out: list[FrontRoute] = []
    for vs in routing.virtual_services:
        for gref in vs.gateways:
            if gref == "mesh":
                continue  # EXP-14: sidecars only
            gns, _, gname = gref.partition("/")
            gw = routing.istio_gateways.get((gns, gname))
            if gw is None:
                continue
            ctl = Controller("istio", ",".join(f"{k}={v}" for k, v in gw.selector), selector=gw.selector)
            for server in gw.servers:
                hosts = [h for h in vs.hosts if any(_istio_host_matches(sh, h, vs.namespace) for sh in server.hosts)]
                if not hosts:
                    continue
                for dest in vs.destinations:
                    ns, name = _short_host(dest.host, vs.namespace)
                    ref = BackendRef(ns, name, dest.port)
                    svc = routing.services.get((ns, name)) if ns else None
                    port = None
                    cause = None
                    if svc is None:
                        cause = Cause("missing-service" if ns else "external-host",
                                      f"destination {dest.host} is not a Service in the input", vs.source.ref)
                    elif dest.port is not None:
                        port = svc.port(dest.port)
                        if port is None:
                            cause = Cause("missing-port", f"Service {ns}/{name} has no port {dest.port}", vs.source.ref)
                    elif len(svc.ports) == 1:
                        port = svc.ports[0]
                    out.append(FrontRoute("istio-gateway", gw.namespace, gw.name, gw.source, server.port,
                                          server.protocol, hosts[0], "/", ctl, ref, svc, port, cause,
                                          route=f"VirtualService {vs.namespace}/{vs.name}"))
    return out


def _istio_host_matches(server_host: str, host: str, vs_ns: str) -> bool:
    """A Gateway server host ``[ns/]name`` (``*`` wildcards) admits a VirtualService host."""
    ns, sep, name = server_host.partition("/")
    if sep:
        if ns not in ("*", ".") and ns != vs_ns:
            return False
    else:
        name = server_host
    if name == "*":
        return True
    return gateway_host_matches(name, host) or (host.startswith("*.") and gateway_host_matches(name, "x" + host[1:]))


def front_routes(routing: Routing, ns_labels: Mapping[str, Mapping[str, str]]) -> list[FrontRoute]:
    """Every proxy route, in a deterministic order."""
    routes = [*_ingress_routes(routing), *_openshift_routes(routing), *_gateway_routes(routing, ns_labels),
              *_istio_routes(routing)]
    return sorted(routes, key=lambda r: (r.kind, r.namespace, r.name, r.listen, r.host, r.path, r.route,
                                         r.backend.namespace if r.backend else "", r.backend.name if r.backend else "",
                                         str(r.service_port.port) if r.service_port else ""))
