"""Istio Gateway + VirtualService paths (semantics.md G.5: EXP-14, EXP-15, EDGE-47).

The samples follow the shapes of Istio's ingress gateway task (httpbin behind
``istio: ingressgateway`` with a Gateway for httpbin.example.com and a VirtualService routing
/status and /delay to httpbin:8000) and of the bookinfo gateway (hosts "*", productpage:9080),
written here; the expected paths were worked out by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.kits.exposure_kit import by_via, deploy, expose, netpol, ns, service, write

NET = "networking.istio.io/v1"
IGW = {"istio": "ingressgateway", "app": "istio-ingressgateway"}


def ingressgateway() -> list[dict[str, Any]]:
    return [ns("istio-system"), deploy("istio-system", "istio-ingressgateway", IGW, {"http2": 8080, "https": 8443}),
            service("istio-system", "istio-ingressgateway", IGW,
                    [{"name": "http2", "port": 80, "targetPort": 8080},
                     {"name": "https", "port": 443, "targetPort": 8443}],
                    "LoadBalancer", ["198.51.100.40"], externalTrafficPolicy="Local",
                    allocateLoadBalancerNodePorts=False)]


def istio_gateway(namespace: str, name: str, hosts: list[str], port: int = 80) -> dict[str, Any]:
    return {"apiVersion": NET, "kind": "Gateway", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": port, "name": "http", "protocol": "HTTP"}, "hosts": hosts}]}}


def virtual_service(namespace: str, name: str, hosts: list[str], gateways: list[str] | None, dest: str,
                    port: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"hosts": hosts, "http": [
        {"match": [{"uri": {"prefix": "/status"}}, {"uri": {"prefix": "/delay"}}],
         "route": [{"destination": {"host": dest, "port": {"number": port}}}]}]}
    if gateways is not None:
        spec["gateways"] = gateways
    return {"apiVersion": NET, "kind": "VirtualService", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def httpbin() -> list[dict[str, Any]]:
    return [ns("httpbin"), deploy("httpbin", "httpbin", {"app": "httpbin"}, {"http": 8080}),
            service("httpbin", "httpbin", {"app": "httpbin"}, [{"name": "http", "port": 8000, "targetPort": 8080}])]


def test_exp_14_httpbin_ingress_gateway_task(tmp_path: Path) -> None:
    docs = [*ingressgateway(), *httpbin(), istio_gateway("httpbin", "httpbin-gateway", ["httpbin.example.com"]),
            virtual_service("httpbin", "httpbin", ["httpbin.example.com"], ["httpbin-gateway"], "httpbin", 8000)]
    ex = expose([write(tmp_path, docs)])
    [p] = by_via(ex, "gateway httpbin/httpbin-gateway")
    assert (p.host, p.service, p.port, p.verdict) == ("httpbin.example.com", "httpbin/httpbin", "8080/TCP", "allow")
    assert p.hops[0].dst == "198.51.100.40:80/TCP" and p.hops[1].port == "8080/TCP"  # LB 80 → gateway pod 8080
    assert "istio-system" in p.hops[2].src and p.route == "VirtualService httpbin/httpbin"


def test_exp_14_bookinfo_gateway_any_host(tmp_path: Path) -> None:
    docs = [*ingressgateway(), ns("bookinfo"),
            deploy("bookinfo", "productpage-v1", {"app": "productpage"}, {"http": 9080}),
            service("bookinfo", "productpage", {"app": "productpage"}, [{"name": "http", "port": 9080}]),
            istio_gateway("bookinfo", "bookinfo-gateway", ["*"]),
            virtual_service("bookinfo", "bookinfo", ["*"], ["bookinfo-gateway"], "productpage", 9080)]
    [p] = by_via(expose([write(tmp_path, docs)]), "gateway bookinfo/bookinfo-gateway")
    assert (p.service, p.port, p.verdict) == ("bookinfo/productpage", "9080/TCP", "allow")


def test_exp_14_edge_47_virtual_service_without_gateways_is_sidecar_only(tmp_path: Path) -> None:
    docs = [*ingressgateway(), *httpbin(), istio_gateway("httpbin", "shop-gw", ["shop.example.com"]),
            virtual_service("httpbin", "shop", ["shop.example.com"], None, "httpbin", 8000)]
    assert by_via(expose([write(tmp_path, docs)]), "gateway httpbin/shop-gw") == []
    docs[-1] = virtual_service("httpbin", "shop", ["shop.example.com"], ["mesh"], "httpbin", 8000)
    assert by_via(expose([write(tmp_path, docs, "mesh.yaml")]), "gateway httpbin/shop-gw") == []


def test_exp_14_host_must_match_a_server_host(tmp_path: Path) -> None:
    docs = [*ingressgateway(), *httpbin(), istio_gateway("httpbin", "gw", ["other.example.com"]),
            virtual_service("httpbin", "httpbin", ["httpbin.example.com"], ["gw"], "httpbin", 8000)]
    assert by_via(expose([write(tmp_path, docs)]), "gateway httpbin/gw") == []


def test_exp_15_backend_policy_sees_the_gateway_pod_not_the_client(tmp_path: Path) -> None:
    only_gateway = netpol("httpbin", "from-gateway", {"app": "httpbin"},
                          [{"from": [{"namespaceSelector": {"matchLabels": {"name": "istio-system"}},
                                      "podSelector": {"matchLabels": {"istio": "ingressgateway"}}}]}])
    docs = [*ingressgateway(), *httpbin(), only_gateway,
            istio_gateway("httpbin", "httpbin-gateway", ["httpbin.example.com"]),
            virtual_service("httpbin", "httpbin", ["httpbin.example.com"], ["httpbin-gateway"], "httpbin", 8000)]
    ex = expose([write(tmp_path, docs)])
    [p] = by_via(ex, "gateway httpbin/httpbin-gateway")
    assert p.verdict == "allow"
    assert [d.verdict for d in by_via(ex, "direct") if d.backend == ("httpbin/Deployment/httpbin",)] == []
