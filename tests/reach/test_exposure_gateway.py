"""Gateway API paths (semantics.md G.4: EXP-11, EXP-12, EXP-13, EDGE-45, EDGE-46).

The samples follow the Gateway API guides' shapes (a Gateway with one HTTP listener, HTTPRoutes
by hostname to foo-svc / bar-svc, a cross-namespace backendRef with a ReferenceGrant), written
here; the expected paths were worked out by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.reach.exposure.entries import gateway_host_matches, hostnames_intersect
from tests.kits.exposure_kit import by_via, deploy, expose, netpol, ns, service, write

GW = "gateway.networking.k8s.io/v1"


def gateway_class(name: str, controller: str) -> dict[str, Any]:
    return {"apiVersion": GW, "kind": "GatewayClass", "metadata": {"name": name}, "spec": {"controllerName": controller}}


def gateway(namespace: str, name: str, cls: str, listeners: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": GW, "kind": "Gateway", "metadata": {"name": name, "namespace": namespace},
            "spec": {"gatewayClassName": cls, "listeners": listeners}}


def http_route(namespace: str, name: str, parent: dict[str, Any], hostnames: list[str],
               backends: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": GW, "kind": "HTTPRoute", "metadata": {"name": name, "namespace": namespace},
            "spec": {"parentRefs": [parent], "hostnames": hostnames, "rules": [{"backendRefs": backends}]}}


def istio_proxy(namespace: str, gw: str) -> dict[str, Any]:
    labels = {"gateway.networking.k8s.io/gateway-name": gw, "gateway.istio.io/managed": "istio.io-gateway-controller"}
    return deploy(namespace, f"{gw}-istio", labels, {"http": 80})


def backend(namespace: str, name: str, port: int = 8080) -> list[dict[str, Any]]:
    return [deploy(namespace, name, {"app": name}, {"http": port}),
            service(namespace, name, {"app": name}, [{"port": port, "targetPort": port}])]


def test_exp_11_http_routing_sample_by_hostname(tmp_path: Path) -> None:
    docs = [ns("web"), gateway_class("istio", "istio.io/gateway-controller"),
            gateway("web", "example-gateway", "istio", [{"name": "http", "protocol": "HTTP", "port": 80}]),
            istio_proxy("web", "example-gateway"), *backend("web", "foo-svc"), *backend("web", "bar-svc"),
            http_route("web", "foo-route", {"name": "example-gateway"}, ["foo.example.com"],
                       [{"name": "foo-svc", "port": 8080}]),
            http_route("web", "bar-route", {"name": "example-gateway"}, ["bar.example.com"],
                       [{"name": "bar-svc", "port": 8080}])]
    ex = expose([write(tmp_path, docs)])
    got = sorted((p.host, p.route, p.service, p.port, p.verdict) for p in by_via(ex, "gateway web/example-gateway"))
    assert got == [("bar.example.com", "HTTPRoute web/bar-route", "web/bar-svc", "8080/TCP", "allow"),
                   ("foo.example.com", "HTTPRoute web/foo-route", "web/foo-svc", "8080/TCP", "allow")]
    # the Istio implementation creates the LoadBalancer Service <gw>-istio (EXP-12)
    assert all("example-gateway-istio" in p.hops[0].dst for p in by_via(ex, "gateway web/example-gateway"))


def test_exp_11_edge_46_cross_namespace_backend_needs_a_reference_grant(tmp_path: Path) -> None:
    docs = [ns("a"), ns("b"), gateway_class("istio", "istio.io/gateway-controller"),
            gateway("a", "gw", "istio", [{"name": "http", "protocol": "HTTP", "port": 80}]), istio_proxy("a", "gw"),
            *backend("b", "api"),
            http_route("a", "r", {"name": "gw"}, [], [{"name": "api", "namespace": "b", "port": 8080}])]
    [p] = by_via(expose([write(tmp_path, docs)]), "gateway a/gw")
    assert p.verdict == "deny" and p.backend == () and p.causes[0].code == "no-reference-grant"
    grant = {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
             "metadata": {"name": "from-a", "namespace": "b"},
             "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "a"}],
                      "to": [{"group": "", "kind": "Service"}]}}
    [p] = by_via(expose([write(tmp_path, [*docs, grant], "granted.yaml")]), "gateway a/gw")
    assert p.verdict == "allow" and p.backend == ("b/Deployment/api",)


def test_exp_11_allowed_routes_same_namespace_by_default(tmp_path: Path) -> None:
    docs = [ns("infra"), ns("app"), gateway_class("istio", "istio.io/gateway-controller"),
            gateway("infra", "gw", "istio", [{"name": "http", "protocol": "HTTP", "port": 80}]),
            istio_proxy("infra", "gw"), *backend("app", "api"),
            http_route("app", "r", {"name": "gw", "namespace": "infra"}, [], [{"name": "api", "port": 8080}])]
    assert by_via(expose([write(tmp_path, docs)]), "gateway infra/gw") == []
    docs[3] = gateway("infra", "gw", "istio", [{"name": "http", "protocol": "HTTP", "port": 80,
                                                "allowedRoutes": {"namespaces": {"from": "All"}}}])
    [p] = by_via(expose([write(tmp_path, docs, "all.yaml")]), "gateway infra/gw")
    assert p.service == "app/api"


def test_exp_11_hostname_rules() -> None:
    assert gateway_host_matches("*.example.com", "foo.test.example.com")
    assert not gateway_host_matches("*.example.com", "example.com")
    assert hostnames_intersect("*.example.com", "test.example.com")
    assert not hostnames_intersect("test.example.com", "test.example.net")


def _edge45(tmp: Path, cls: str, controller: str, proxy: dict[str, Any], extra: list[dict[str, Any]]) -> Path:
    docs = [ns("web"), ns("envoy-gateway-system"), gateway_class(cls, controller),
            gateway("web", "gw", cls, [{"name": "http", "protocol": "HTTP", "port": 80}]), proxy,
            *backend("web", "app"),
            http_route("web", "r", {"name": "gw"}, [], [{"name": "app", "port": 8080}]),
            netpol("web", "app-in", {"app": "app"}, [{"from": [{"namespaceSelector": {"matchLabels": {"name": "web"}}}]}]),
            *extra]
    return write(tmp, docs, f"{cls}.yaml")


def test_exp_12_13_edge_45_envoy_gateway_proxies_live_elsewhere(tmp_path: Path) -> None:
    envoy_labels = {"gateway.envoyproxy.io/owning-gateway-name": "gw",
                    "gateway.envoyproxy.io/owning-gateway-namespace": "web"}
    proxy = deploy("envoy-gateway-system", "envoy-web-gw", envoy_labels, {"http": 10080})
    proxy_np = netpol("envoy-gateway-system", "proxy-in", envoy_labels,
                      [{"ports": [{"port": 80, "protocol": "TCP"}]}])
    [p] = by_via(expose([_edge45(tmp_path, "eg", "gateway.envoyproxy.io/gatewayclass-controller", proxy, [proxy_np])]),
                 "gateway web/gw")
    # container port 10080 is not admitted by the proxy's policy (80); backend admits only ns web
    assert p.hops[1].port == "10080/TCP" and p.hops[1].verdict == "deny"
    assert p.hops[2].verdict == "deny" and "envoy-gateway-system" in p.hops[2].src
    istio = istio_proxy("web", "gw")
    istio_np = netpol("web", "proxy-in", {"gateway.networking.k8s.io/gateway-name": "gw"},
                      [{"ports": [{"port": 80, "protocol": "TCP"}]}])
    [p] = by_via(expose([_edge45(tmp_path, "istio", "istio.io/gateway-controller", istio, [istio_np])]),
                 "gateway web/gw")
    assert [h.verdict for h in p.hops] == ["allow", "allow", "allow"] and p.verdict == "allow"


def test_exp_12_unmapped_gateway_class_is_controller_unknown(tmp_path: Path) -> None:
    docs = [ns("web"), gateway_class("acme", "acme.example/gateway"),
            gateway("web", "gw", "acme", [{"name": "http", "protocol": "HTTP", "port": 80}]), *backend("web", "app"),
            http_route("web", "r", {"name": "gw"}, [], [{"name": "app", "port": 8080}])]
    [p] = by_via(expose([write(tmp_path, docs)]), "gateway web/gw")
    assert p.verdict == "unknown" and "controller-unknown" in [c.code for c in p.causes]


def test_exp_13_route_to_missing_service_is_unknown(tmp_path: Path) -> None:
    docs = [ns("web"), gateway_class("istio", "istio.io/gateway-controller"),
            gateway("web", "gw", "istio", [{"name": "http", "protocol": "HTTP", "port": 80}]), istio_proxy("web", "gw"),
            http_route("web", "r", {"name": "gw"}, [], [{"name": "ghost", "port": 8080}])]
    [p] = by_via(expose([write(tmp_path, docs)]), "gateway web/gw")
    assert p.verdict == "unknown" and p.causes[0].code == "missing-service"
