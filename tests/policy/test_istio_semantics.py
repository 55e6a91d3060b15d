"""Istio layer semantics on real manifests: EDGE-21..30 and the IST rules (semantics.md part C, D)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kits.istio_helpers import analysed, ap, assurance, flow, mpod, netpol, ns, pa, service

MESHED = {"istio-injection": "enabled"}
PRINCIPAL = "cluster.local/ns/b/sa/client"


def base(*, client_sidecar: bool = True) -> list[dict]:
    """Namespace a (injected): db (TCP 5432, declared tcp) and web (HTTP 8080, 9090 undeclared);
    namespace b (injected): client; namespace plain: nomesh (no sidecar)."""
    return [
        ns("a", **MESHED), ns("b", **MESHED), ns("plain"),
        mpod("a", "db", {"app": "db"}, sa="db", ip="10.0.0.1",
             ports=[{"name": "pg", "containerPort": 5432}]),
        mpod("a", "web", {"app": "web"}, sa="web", ip="10.0.0.2",
             ports=[{"name": "http", "containerPort": 8080}, {"name": "admin", "containerPort": 9090}]),
        service("a", "db", {"app": "db"}, [{"name": "tcp-postgres", "port": 5432, "targetPort": 5432}]),
        service("a", "web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}]),
        mpod("b", "client", {"app": "client"}, sa="client", ip="10.0.1.1", sidecar=client_sidecar),
        mpod("plain", "nomesh", {"app": "nomesh"}, ip="10.0.2.1", sidecar=False),
    ]


# -- EDGE-21 .. EDGE-30 ---------------------------------------------------------------------------


def test_edge21_allow_rule_with_methods_on_tcp_port_denies_every_connection(tmp_path: Path) -> None:
    pol = ap("a", "db", {"selector": {"matchLabels": {"app": "db"}},
                         "rules": [{"to": [{"operation": {"methods": ["GET"], "ports": ["5432"]}}]}]})
    a = analysed(tmp_path, [*base(), pol])
    assert flow(a, "b/client", "a/db", "5432/TCP") == "deny"  # IST-25 dropped, IST-12 still attached
    assert flow(a, "b/client", "a/db", "5432/TCP", http="GET /") == "deny"
    pm = a.pairs("pod", [a.find("b/client")[0]], [a.find("a/db")[0]])
    assert "none matched" in a.decided_by(pm, 0, 0, [a.ports.index_of("TCP", 5432)])


def test_edge22_deny_methods_matches_every_tcp_connection_but_only_delete_on_http(tmp_path: Path) -> None:
    objs = [*base(), ap("a", "no-delete", {"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]})]
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "a/db", "5432/TCP") == "deny"  # TCP port: HTTP fields removed (IST-25)
    assert flow(a, "b/client", "a/web", "8080/TCP") == "allow"
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET /x") == "allow"
    assert flow(a, "b/client", "a/web", "8080/TCP", http="DELETE /x") == "deny"


@pytest.mark.parametrize(("sidecar", "policy", "expected"), [
    (False, True, "deny"), (True, True, "allow"), (False, False, "allow")])
def test_edge23_principal_rule_needs_mtls(tmp_path: Path, sidecar: bool, policy: bool, expected: str) -> None:
    objs = [*base(client_sidecar=sidecar), pa("a", "default", {"mtls": {"mode": "PERMISSIVE"}})]
    if policy:
        objs.append(ap("a", "web", {"selector": {"matchLabels": {"app": "web"}},
                                    "rules": [{"from": [{"source": {"principals": [PRINCIPAL]}}]}]}))
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "a/web", "8080/TCP") == expected


def test_edge24_allow_nothing_without_sidecar_has_no_effect(tmp_path: Path) -> None:
    objs = [*base(), ap("plain", "deny-all", {})]
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "plain/nomesh", "80/TCP") == "allow"  # IST-1
    b = analysed(tmp_path, [*base(), ap("a", "deny-all", {})])
    assert flow(b, "b/client", "a/web", "8080/TCP") == "deny"  # spec {} denies everything (IST-13)


def test_edge25_port_level_mtls_overrides_inherited_strict(tmp_path: Path) -> None:
    objs = [*base(), pa("a", "default", {"mtls": {"mode": "STRICT"}}),
            pa("a", "web", {"selector": {"matchLabels": {"app": "web"}}, "mtls": {"mode": "UNSET"},
                            "portLevelMtls": {"8080": {"mode": "DISABLE"}}})]
    a = analysed(tmp_path, objs)
    assert flow(a, "plain/nomesh", "a/web", "8080/TCP") == "allow"
    assert flow(a, "plain/nomesh", "a/web", "9090/TCP") == "deny"
    assert "plaintext refused" in a.decided_by(
        a.pairs("pod", [a.find("plain/nomesh")[0]], [a.find("a/web")[0]]), 0, 0, [a.ports.index_of("TCP", 9090)])


def test_edge26_root_namespace_policy_with_selector_is_ignored(tmp_path: Path) -> None:
    objs = [*base(), ns("istio-system"),
            pa("istio-system", "strict-web", {"selector": {"matchLabels": {"app": "web"}}, "mtls": {"mode": "STRICT"}})]
    a = analysed(tmp_path, objs)
    assert flow(a, "plain/nomesh", "a/web", "8080/TCP") == "allow"
    assert any("root-namespace PeerAuthentication with a selector is ignored" in n for n in a.policies.notes)


def test_edge27_udp_is_not_proxied(tmp_path: Path) -> None:
    a = analysed(tmp_path, [*base(), ap("a", "deny-all", {})])
    assert flow(a, "b/client", "a/web", "53/UDP") == "allow"
    assert flow(a, "b/client", "a/web", "8080/TCP") == "deny"


def test_edge28_ambient_pods_meet_network_policy_on_hbone_port(tmp_path: Path) -> None:
    amb = {"istio.io/dataplane-mode": "ambient"}
    objs = [ns("x", **amb), ns("y", **amb),
            mpod("x", "srv", {"app": "srv"}, sidecar=False, ip="10.1.0.1"),
            mpod("y", "cli", {"app": "cli"}, sidecar=False, ip="10.1.1.1"),
            mpod("plain", "outsider", {"app": "o"}, sidecar=False, ip="10.1.2.1"), ns("plain"),
            netpol("x", "allow-8080", {"podSelector": {}, "policyTypes": ["Ingress"],
                                       "ingress": [{"ports": [{"port": 8080}]}]})]
    a = analysed(tmp_path, objs)
    assert flow(a, "y/cli", "x/srv", "8080/TCP") == "deny"  # NP sees 15008 (IST-28, CMP-8)
    assert flow(a, "plain/outsider", "x/srv", "8080/TCP") == "allow"  # not tunnelled: app port
    objs.append(netpol("x", "allow-hbone", {"podSelector": {}, "policyTypes": ["Ingress"],
                                            "ingress": [{"ports": [{"port": 15008}]}]}))
    b = analysed(tmp_path, objs)
    assert flow(b, "y/cli", "x/srv", "8080/TCP") == "allow"
    assert flow(b, "y/cli", "x/srv", "9999/TCP") == "allow"  # every TCP port arrives on 15008


def test_edge29_ambient_l7_policy_without_waypoint_drops_everything(tmp_path: Path) -> None:
    amb = {"istio.io/dataplane-mode": "ambient"}
    objs = [ns("x", **amb), mpod("x", "srv", {"app": "srv"}, sidecar=False, ip="10.1.0.1"),
            ns("b", **MESHED), mpod("b", "client", {"app": "client"}, sa="client", ip="10.0.1.1"),
            ap("x", "paths", {"selector": {"matchLabels": {"app": "srv"}},
                              "rules": [{"to": [{"operation": {"paths": ["/ok"]}}]}]})]
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "x/srv", "8080/TCP") == "deny"
    assert flow(a, "b/client", "x/srv", "8080/TCP", http="GET /ok") == "deny"


def test_edge30_host_port_suffix_and_path_case(tmp_path: Path) -> None:
    rule = {"to": [{"operation": {"hosts": ["api.example.com"], "paths": ["/admin"]}}]}
    a = analysed(tmp_path, [*base(), ap("a", "web", {"selector": {"matchLabels": {"app": "web"}}, "rules": [rule]})])
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET http://API.example.com/admin") == "allow"
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET http://api.example.com:8080/admin") == "deny"
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET http://api.example.com/admin/") == "deny"
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET http://api.example.com/Admin") == "deny"
    prefix = {"to": [{"operation": {"paths": ["/admin*"]}}]}
    b = analysed(tmp_path, [*base(), ap("a", "web", {"selector": {"matchLabels": {"app": "web"}}, "rules": [prefix]})])
    assert flow(b, "b/client", "a/web", "8080/TCP", http="GET /administrator") == "allow"


# -- IST rules -------------------------------------------------------------------------------------


def test_ist11_custom_is_unknown_unless_deny_decides(tmp_path: Path) -> None:
    custom = ap("a", "ext", {"action": "CUSTOM", "provider": {"name": "opa"},
                             "rules": [{"to": [{"operation": {"paths": ["/x*"]}}]}]})
    deny = ap("a", "deny-client", {"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["b"]}}],
                                                                "to": [{"operation": {"paths": ["/x/secret"]}}]}]})
    a = analysed(tmp_path, [*base(), custom, deny])
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET /x/a") == "unknown"
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET /x/secret") == "deny"
    assert flow(a, "b/client", "a/web", "8080/TCP", http="GET /y") == "allow"


def test_ist11_audit_never_changes_the_decision(tmp_path: Path) -> None:
    audit = ap("a", "audit", {"action": "AUDIT", "rules": [{}]})
    a = analysed(tmp_path, [*base(), audit])
    assert flow(a, "b/client", "a/web", "8080/TCP") == "allow"


def test_ist13_empty_rule_matches_everything(tmp_path: Path) -> None:
    a = analysed(tmp_path, [*base(), ap("a", "deny-everything", {"action": "DENY", "rules": [{}]})])
    assert flow(a, "b/client", "a/web", "8080/TCP") == "deny"
    assert flow(a, "b/client", "a/db", "5432/TCP") == "deny"


def test_ist10_mesh_wide_policy_in_root_namespace_and_dry_run(tmp_path: Path) -> None:
    objs = [*base(), ns("istio-system"), ap("istio-system", "allow-nothing", {})]
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "a/web", "8080/TCP") == "deny"
    dry = ap("istio-system", "allow-nothing", {}, annotations={"istio.io/dry-run": "true"})
    b = analysed(tmp_path, [*base(), ns("istio-system"), dry])
    assert flow(b, "b/client", "a/web", "8080/TCP") == "allow"
    c = analysed(tmp_path, objs, mesh_root_namespace="mesh-root")  # configurable root namespace
    assert flow(c, "b/client", "a/web", "8080/TCP") == "allow"


def test_ist10_target_refs_do_not_attach_to_sidecars(tmp_path: Path) -> None:
    objs = [*base(), ap("a", "gw", {"targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io",
                                                    "name": "gw"}], "rules": [{}]})]
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "a/web", "8080/TCP") == "allow"


@pytest.mark.parametrize(("source", "client", "expected"), [
    ({"namespaces": ["b"]}, "b/client", "allow"),
    ({"namespaces": ["b"]}, "plain/nomesh", "deny"),  # IST-18: needs the certificate
    ({"notNamespaces": ["b"]}, "plain/nomesh", "allow"),  # IST-26: not* match without identity
    ({"notPrincipals": [PRINCIPAL]}, "b/client", "deny"),
    ({"principals": ["*"]}, "plain/nomesh", "deny"),
    ({"principals": ["cluster.local/ns/b/*"]}, "b/client", "allow"),
    ({"principals": ["*/sa/client"]}, "b/client", "allow"),
    ({"serviceAccounts": ["b/client"]}, "b/client", "allow"),
    ({"notServiceAccounts": ["b/client"]}, "b/client", "deny"),
    ({"ipBlocks": ["10.0.1.0/24"]}, "b/client", "allow"),
    ({"ipBlocks": ["10.0.1.0/24"]}, "plain/nomesh", "deny"),
    ({"notIpBlocks": ["10.0.1.0/24"]}, "plain/nomesh", "allow"),
    ({"remoteIpBlocks": ["10.0.2.1"]}, "plain/nomesh", "allow"),
    ({"notRemoteIpBlocks": ["10.0.2.1"]}, "plain/nomesh", "deny"),
    ({"requestPrincipals": ["*"]}, "b/client", "deny"),  # no RequestAuthentication: no JWT principal
    ({"notRequestPrincipals": ["*"]}, "b/client", "allow"),
])
def test_ist17_19_20_source_fields(tmp_path: Path, source: dict, client: str, expected: str) -> None:
    pol = ap("a", "web", {"selector": {"matchLabels": {"app": "web"}}, "rules": [{"from": [{"source": source}]}]})
    a = analysed(tmp_path, [*base(), pol])
    assert flow(a, client, "a/web", "8080/TCP") == expected


def test_ist20_request_principals_with_request_authentication_are_unknown(tmp_path: Path) -> None:
    ra = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
          "metadata": {"name": "jwt", "namespace": "a"}, "spec": {"jwtRules": [{"issuer": "https://idp"}]}}
    pol = ap("a", "web", {"rules": [{"from": [{"source": {"requestPrincipals": ["https://idp/*"]}}]}]})
    a = analysed(tmp_path, [*base(), ra, pol])
    assert flow(a, "b/client", "a/web", "8080/TCP") == "unknown"


@pytest.mark.parametrize(("when", "client", "expected"), [
    ({"key": "source.namespace", "values": ["b"]}, "b/client", "allow"),
    ({"key": "source.namespace", "values": ["b"]}, "plain/nomesh", "deny"),
    ({"key": "source.principal", "notValues": [PRINCIPAL]}, "b/client", "deny"),
    ({"key": "source.ip", "values": ["10.0.2.0/24"]}, "plain/nomesh", "allow"),
    ({"key": "destination.port", "values": ["8080"]}, "b/client", "allow"),
    ({"key": "destination.port", "values": ["9090"]}, "b/client", "deny"),
    ({"key": "request.headers[x-tenant]", "values": ["a"]}, "b/client", "unknown"),
    ({"key": "connection.sni", "values": ["x"]}, "b/client", "unknown"),
])
def test_ist22_when_conditions(tmp_path: Path, when: dict, client: str, expected: str) -> None:
    pol = ap("a", "web", {"selector": {"matchLabels": {"app": "web"}}, "rules": [{"when": [when]}]})
    a = analysed(tmp_path, [*base(), pol])
    assert flow(a, client, "a/web", "8080/TCP") == expected


def test_ist4_undeclared_port_is_both_tcp_and_http(tmp_path: Path) -> None:
    # 9090 has no Service: auto-detected, so a raw TCP client is evaluated with TCP semantics
    # (the ALLOW rule with paths is dropped) while HTTP clients get per-request evaluation.
    pol = ap("a", "web", {"selector": {"matchLabels": {"app": "web"}},
                          "rules": [{"to": [{"operation": {"paths": ["/metrics"]}}]}]})
    a = analysed(tmp_path, [*base(), pol])
    assert flow(a, "b/client", "a/web", "9090/TCP") == "allow"  # some request: GET /metrics
    assert flow(a, "b/client", "a/web", "9090/TCP", http="GET /metrics") == "allow"
    assert flow(a, "b/client", "a/web", "9090/TCP", http="GET /other") == "deny"


def test_ist3_excluded_inbound_port_bypasses_the_sidecar(tmp_path: Path) -> None:
    objs = base()
    objs[4] = mpod("a", "web", {"app": "web"}, sa="web", ip="10.0.0.2",
                   annotations={"traffic.sidecar.istio.io/excludeInboundPorts": "9090"})
    a = analysed(tmp_path, [*objs, ap("a", "deny-all", {})])
    assert flow(a, "b/client", "a/web", "9090/TCP") == "allow"
    assert flow(a, "b/client", "a/web", "8080/TCP") == "deny"


def test_ist2_injection_prediction_for_templates(tmp_path: Path) -> None:
    def deploy(namespace: str, name: str, labels: dict[str, str]) -> dict:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                    "metadata": {"labels": {"app": name, **labels}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]}}}}

    objs = [ns("on", **MESHED), ns("off", **{"istio-injection": "disabled"}), ns("rev", **{"istio.io/rev": "canary"}),
            ns("none"), deploy("on", "a", {}), deploy("on", "b", {"sidecar.istio.io/inject": "false"}),
            deploy("off", "c", {"sidecar.istio.io/inject": "true"}), deploy("rev", "d", {}),
            deploy("none", "e", {"sidecar.istio.io/inject": "true"}), deploy("none", "f", {})]
    a = analysed(tmp_path, objs)
    side = {e.workload: e.has_sidecar for e in a.inventory.endpoints if e.kind == "pod"}
    assert side == {"on/Deployment/a": True, "on/Deployment/b": False, "off/Deployment/c": False,
                    "rev/Deployment/d": True, "none/Deployment/e": True, "none/Deployment/f": False}


def test_ist2_observed_pod_spec_is_ground_truth_and_native_sidecar(tmp_path: Path) -> None:
    native = mpod("a", "native", {"app": "n"}, sidecar=False, ip="10.0.0.9")
    native["spec"]["initContainers"] = [{"name": "istio-proxy", "image": "x", "restartPolicy": "Always"}]
    objs = [*base(), native, mpod("a", "old", {"app": "old"}, sidecar=False, ip="10.0.0.8")]
    a = analysed(tmp_path, objs)
    side = {e.key: e.has_sidecar for e in a.inventory.endpoints if e.kind == "pod"}
    assert side["a/native"] is True and side["a/old"] is False  # namespace label does not matter for pods
    assert next(e for e in a.inventory.endpoints if e.key == "b/client").principal == PRINCIPAL


def test_ist7_oldest_policy_wins_and_ties_are_unknown(tmp_path: Path) -> None:
    older = pa("a", "a-strict", {"mtls": {"mode": "STRICT"}}, creationTimestamp="2024-01-01T00:00:00Z")
    newer = pa("a", "b-permissive", {"mtls": {"mode": "PERMISSIVE"}}, creationTimestamp="2024-02-01T00:00:00Z")
    a = analysed(tmp_path, [*base(), older, newer])
    assert flow(a, "plain/nomesh", "a/web", "8080/TCP") == "deny"
    tie_a = pa("a", "a-strict", {"mtls": {"mode": "STRICT"}})
    tie_b = pa("a", "b-permissive", {"mtls": {"mode": "PERMISSIVE"}})
    b = analysed(tmp_path, [*base(), tie_a, tie_b])
    assert flow(b, "plain/nomesh", "a/web", "8080/TCP") == "unknown"


def test_ist9_namespace_disable_means_plaintext_and_no_identity(tmp_path: Path) -> None:
    objs = [*base(), pa("a", "default", {"mtls": {"mode": "DISABLE"}}),
            ap("a", "web", {"selector": {"matchLabels": {"app": "web"}},
                            "rules": [{"from": [{"source": {"principals": [PRINCIPAL]}}]}]})]
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "a/web", "8080/TCP") == "deny"  # auto-mTLS sends plaintext


def test_ist9_workload_disable_with_mesh_client_is_unknown(tmp_path: Path) -> None:
    objs = [*base(), pa("a", "web", {"selector": {"matchLabels": {"app": "web"}}, "mtls": {"mode": "DISABLE"}})]
    a = analysed(tmp_path, objs)
    assert flow(a, "b/client", "a/web", "8080/TCP") == "unknown"
    assert flow(a, "plain/nomesh", "a/web", "8080/TCP") == "allow"


def test_unreadable_authorization_policies_make_meshed_destinations_unknown(tmp_path: Path) -> None:
    from auditor.reach.analysis import analyze
    from auditor.snapshot import build_snapshot, default_collection

    snap = build_snapshot([(o, None) for o in base()], source="test", collection={**default_collection(), "istio/AuthorizationPolicy": "forbidden"},
                          captured_at="2025-01-01T00:00:00Z")
    a = analyze(snap)
    assert flow(a, "b/client", "a/web", "8080/TCP") == "unknown"
    assert flow(a, "a/web", "plain/nomesh", "80/TCP") == "allow"  # no proxy: no Istio enforcement (IST-1)


# -- assurance --------------------------------------------------------------------------------------


def test_assurance_network_identity_and_both(tmp_path: Path) -> None:
    ident = ap("a", "web", {"selector": {"matchLabels": {"app": "web"}},
                            "rules": [{"from": [{"source": {"principals": [PRINCIPAL]}}]}]})
    np_ = netpol("a", "web-from-client", {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                                          "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {
                                              "matchLabels": {"app": "client"}}}]}]})
    assert assurance(analysed(tmp_path, base()), "b/client", "a/web", "8080/TCP") == "none"
    assert assurance(analysed(tmp_path, [*base(), ident]), "b/client", "a/web", "8080/TCP") == "identity"
    assert assurance(analysed(tmp_path, [*base(), np_]), "b/client", "a/web", "8080/TCP") == "network"
    both = analysed(tmp_path, [*base(), np_, ident])
    assert assurance(both, "b/client", "a/web", "8080/TCP") == "network+identity"
    assert assurance(both, "plain/nomesh", "a/web", "8080/TCP") == ""


def test_assurance_any_non_identity_path_breaks_identity(tmp_path: Path) -> None:
    pol = ap("a", "web", {"selector": {"matchLabels": {"app": "web"}}, "rules": [
        {"from": [{"source": {"principals": [PRINCIPAL]}}]},
        {"to": [{"operation": {"paths": ["/public*"]}}]}]})
    a = analysed(tmp_path, [*base(), pol])
    assert assurance(a, "b/client", "a/web", "8080/TCP") == "none"
    assert assurance(a, "b/client", "a/web", "8080/TCP", http="GET /private") == "identity"
    facts = a.mesh_facts(a.find("a/web", "pod")[0])
    assert facts[0]["proxy"] == "sidecar" and facts[0]["mtls"] == {"PERMISSIVE": "TCP:all"}
