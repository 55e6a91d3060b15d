"""Ingress and OpenShift Route paths (semantics.md G.3: EXP-8, EXP-9, EXP-10, EXP-19, EDGE-44).

The fan-out and wildcard-host samples follow the shapes of the Kubernetes Ingress concept page
(simple fanout: one host, /foo and /bar to two Services; wildcard host ``*.foo.com``), written
here from the documented shapes; the expected paths were worked out by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.errors import InvalidResource
from auditor.reach.exposure.entries import ingress_host_matches
from auditor.reach.exposure.paths import ExposureSettings
from tests.kits.exposure_kit import by_via, deploy, expose, netpol, ns, service, write

NGINX = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}


def controller(*, host_network: bool = False) -> list[dict[str, Any]]:
    cls = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
           "metadata": {"name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
           "spec": {"controller": "k8s.io/ingress-nginx"}}
    return [ns("ingress-nginx"), cls,
            deploy("ingress-nginx", "ingress-nginx-controller", NGINX, {"http": 80, "https": 443},
                   host_network=host_network),
            service("ingress-nginx", "ingress-nginx-controller", NGINX,
                    [{"name": "http", "port": 80, "targetPort": "http"},
                     {"name": "https", "port": 443, "targetPort": "https"}],
                    "LoadBalancer", ["198.51.100.10"], externalTrafficPolicy="Local",
                    allocateLoadBalancerNodePorts=False)]


def ingress(namespace: str, name: str, rules: list[dict[str, Any]], *, tls: bool = False,
            class_name: str | None = None, default: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": rules}
    if tls:
        spec["tls"] = [{"hosts": [r.get("host", "x") for r in rules], "secretName": "tls"}]
    if class_name:
        spec["ingressClassName"] = class_name
    if default:
        spec["defaultBackend"] = default
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def rule(host: str | None, *paths: tuple[str, str, str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": n}}}} for p, t, s, n in paths]}}
    if host:
        out["host"] = host
    return out


def web(namespace: str = "shop") -> list[dict[str, Any]]:
    return [ns(namespace), deploy(namespace, "web", {"app": "web"}),
            service(namespace, "web", {"app": "web"}, [{"port": 80, "targetPort": 8080}])]


def test_exp_8_simple_fanout_sample(tmp_path: Path) -> None:
    docs = [*controller(), ns("shop"),
            deploy("shop", "service1", {"app": "s1"}, {"http": 4200}),
            deploy("shop", "service2", {"app": "s2"}, {"http": 8080}),
            service("shop", "service1", {"app": "s1"}, [{"port": 4200, "targetPort": 4200}]),
            service("shop", "service2", {"app": "s2"}, [{"port": 8080, "targetPort": 8080}]),
            ingress("shop", "simple-fanout-example",
                    [rule("foo.bar.com", ("/foo", "Prefix", "service1", 4200), ("/bar", "Prefix", "service2", 8080))])]
    ex = expose([write(tmp_path, docs)])
    got = sorted((p.host, p.entry.split(" → ")[-1], p.service, p.port, p.verdict)
                 for p in by_via(ex, "ingress shop/simple-fanout-example"))
    # no tls: port 80 only; each path to its Service's target port, via the controller's LB
    assert got == [("foo.bar.com", "foo.bar.com/bar:80", "shop/service2", "8080/TCP", "allow"),
                   ("foo.bar.com", "foo.bar.com/foo:80", "shop/service1", "4200/TCP", "allow")]


def test_exp_8_tls_adds_443_and_wildcard_host_is_one_label() -> None:
    assert ingress_host_matches("*.foo.com", "bar.foo.com")
    assert not ingress_host_matches("*.foo.com", "baz.bar.foo.com")
    assert not ingress_host_matches("*.foo.com", "foo.com")
    assert ingress_host_matches(None, "anything.example")


def test_exp_8_tls_entries(tmp_path: Path) -> None:
    docs = [*controller(), *web(), ingress("shop", "web", [rule("shop.example.com", ("/", "Prefix", "web", 80))],
                                           tls=True)]
    ex = expose([write(tmp_path, docs)])
    assert sorted(p.listen for p in by_via(ex, "ingress shop/web")) == [80, 443]


def test_exp_9_unknown_ingress_class_is_controller_unknown(tmp_path: Path) -> None:
    docs = [*controller(), *web(), ingress("shop", "web", [rule(None, ("/", "Prefix", "web", 80))], class_name="haproxy")]
    [p] = by_via(expose([write(tmp_path, docs)]), "ingress shop/web")
    assert p.verdict == "unknown" and p.causes[0].code == "controller-unknown"
    assert "IngressClass haproxy" in p.causes[0].words


def test_exp_9_cloud_lb_controller_is_lb_impl(tmp_path: Path) -> None:
    alb = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "alb"},
           "spec": {"controller": "ingress.k8s.aws/alb"}}
    docs = [alb, *web(), ingress("shop", "web", [rule(None, ("/", "Prefix", "web", 80))], class_name="alb")]
    [p] = by_via(expose([write(tmp_path, docs)]), "ingress shop/web")
    assert "lb-impl" in [c.code for c in p.causes]
    assert p.verdict == "allow"  # web has no policy: every source is admitted


def test_exp_9_default_class_applies_without_a_class_name(tmp_path: Path) -> None:
    docs = [*controller(), *web(), ingress("shop", "web", [rule(None, ("/", "Prefix", "web", 80))])]
    [p] = by_via(expose([write(tmp_path, docs)]), "ingress shop/web")
    assert "ingress-nginx" in p.hops[1].dst and p.verdict == "allow"


@pytest.mark.parametrize(("case", "peer", "host_network", "verdict"), [
    ("a", {"namespaceSelector": {"matchLabels": {"name": "shop"}}}, False, "deny"),
    ("b", {"ipBlock": {"cidr": "0.0.0.0/0"}}, False, "allow"),
    ("c", {"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}, True, "deny"),
    ("controller-admitted", {"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}, False, "allow"),
])
def test_exp_10_edge_44_backend_sees_the_controller_pod(tmp_path: Path, case: str, peer: dict, host_network: bool,
                                                       verdict: str) -> None:
    docs = [*controller(host_network=host_network), *web(),
            ingress("shop", "web", [rule("shop.example.com", ("/", "Prefix", "web", 80))]),
            netpol("shop", "web-in", {"app": "web"}, [{"from": [peer]}])]
    [p] = by_via(expose([write(tmp_path, docs)]), "ingress shop/web")
    assert p.hops[-1].verdict == verdict, (case, p.hops[-1])
    if host_network:
        assert "node address" in p.hops[-1].src


def test_exp_10_controller_ingress_policy_judges_hop_1(tmp_path: Path) -> None:
    docs = [*controller(), *web(), ingress("shop", "web", [rule(None, ("/", "Prefix", "web", 80))]),
            netpol("ingress-nginx", "ctl-in", NGINX, [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])]
    f = write(tmp_path, docs)
    # "internet" is 0.0.0.0/0, so it contains 10.0.0.0/8 clients too: some are admitted
    [p] = by_via(expose([f]), "ingress shop/web")
    assert p.hops[1].verdict == "allow"
    [p] = by_via(expose([f], ExposureSettings(client="partner"), externals={"partner": "203.0.113.0/24"}),
                 "ingress shop/web")
    assert [h.step for h in p.hops] == ["entry", "to-proxy", "to-backend"]
    assert p.hops[1].verdict == "deny" and p.verdict == "deny"


def test_ingress_to_a_missing_service_is_unknown_with_its_cause(tmp_path: Path) -> None:
    docs = [*controller(), ns("shop"), ingress("shop", "web", [rule(None, ("/", "Prefix", "nope", 80))])]
    [p] = by_via(expose([write(tmp_path, docs)]), "ingress shop/web")
    assert p.verdict == "unknown" and p.causes[0].code == "missing-service"


def test_malformed_ingress_exits_with_file_and_line_or_is_skipped_leniently(tmp_path: Path) -> None:
    bad = ingress("shop", "web", [rule(None, ("/", "Prefix", "web", 80))])
    bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Regex"
    f = write(tmp_path, [*web(), bad])
    with pytest.raises(InvalidResource) as exc:
        expose([f])
    assert f"{f}:" in str(exc.value) and "pathType" in str(exc.value)
    ex = expose([f], lenient=True)
    assert by_via(ex, "ingress shop/web") == []
    assert [c.code for c in ex.skipped] == ["invalid-object"] and "Ingress shop/web" in ex.skipped[0].object


ROUTER = {"ingresscontroller.operator.openshift.io/deployment-ingresscontroller": "default"}


def route(tls: dict[str, Any] | None, target: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"host": "www.example.com", "to": {"kind": "Service", "name": "web"}}
    if tls is not None:
        spec["tls"] = tls
    if target is not None:
        spec["port"] = {"targetPort": target}
    return {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "web", "namespace": "shop"},
            "spec": spec}


def router() -> list[dict[str, Any]]:
    return [ns("openshift-ingress"), deploy("openshift-ingress", "router-default", ROUTER, {"http": 80, "https": 443}),
            service("openshift-ingress", "router-default", ROUTER,
                    [{"name": "http", "port": 80, "targetPort": "http"},
                     {"name": "https", "port": 443, "targetPort": "https"}],
                    "LoadBalancer", ["198.51.100.30"], allocateLoadBalancerNodePorts=False,
                    externalTrafficPolicy="Local")]


def test_exp_19_openshift_route_ports_and_router_source(tmp_path: Path) -> None:
    f = write(tmp_path, [*router(), *web(), route({"termination": "edge", "insecureEdgeTerminationPolicy": "None"}),
                         netpol("shop", "from-router", {"app": "web"},
                                [{"from": [{"namespaceSelector": {"matchLabels": {"name": "openshift-ingress"}}}]}])])
    paths = by_via(expose([f]), "route shop/web")
    assert sorted(p.listen for p in paths) == [443]  # insecure None closes 80
    assert all(p.verdict == "allow" and "openshift-ingress" in p.hops[-1].src for p in paths)
    f = write(tmp_path, [*router(), *web(), route(None, target=8080)], "plain.yaml")
    paths = by_via(expose([f]), "route shop/web")
    assert [(p.listen, p.port) for p in paths] == [(80, "8080/TCP")]


def test_exp_19_route_with_router_pods_missing_is_controller_unknown(tmp_path: Path) -> None:
    f = write(tmp_path, [*web(), route(None)])
    [p] = by_via(expose([f]), "route shop/web")
    assert p.verdict == "unknown" and p.causes[0].code == "controller-unknown"


def test_exposure_settings_reject_unknown_dataplane(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        expose([write(tmp_path, web())], ExposureSettings(dataplane="userspace"))


def test_exp_18_real_controller_labels_admit_what_a_synthetic_source_would_not(tmp_path: Path) -> None:
    # netpol-analyzer's {ingress-controller} is a label-less pod in a fake namespace: a backend
    # policy admitting the real controller by namespace and pod labels shows as blocked there.
    # We judge hop 2 with the real controller pod, so the route is allowed (docs/exposure.md).
    peer = {"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "controller"}}}
    docs = [*controller(), *web(), ingress("shop", "web", [rule(None, ("/", "Prefix", "web", 80))]),
            netpol("shop", "web-in", {"app": "web"}, [{"from": [peer]}])]
    [p] = by_via(expose([write(tmp_path, docs)]), "ingress shop/web")
    assert p.verdict == "allow" and "NetworkPolicy shop/web-in" in p.hops[-1].rule
