"""Service entry points (semantics.md G.1, G.2: EXP-1..EXP-7, EDGE-42, EDGE-43)."""

from __future__ import annotations

from pathlib import Path

from auditor.reach.exposure.paths import ExposureSettings
from tests.kits.exposure_kit import by_via, deploy, expose, netpol, ns, service, write

APP = {"app": "web"}


def _app(tmp: Path, svc: dict, *extra: dict) -> Path:
    return write(tmp, [ns("shop"), deploy("shop", "web", APP), svc, *extra])


def test_exp_1_direct_flow_is_kept_by_default_and_dropped_when_declared(tmp_path: Path) -> None:
    f = _app(tmp_path, service("shop", "web", APP, [{"port": 80, "targetPort": 8080}]))
    ex = expose([f])
    direct = by_via(ex, "direct")
    assert [(p.backend, p.verdict) for p in direct] == [(("shop/Deployment/web",), "allow")]
    assert any("direct flow is kept" in n for n in ex.notes)
    ex = expose([f], ExposureSettings(pod_ips_unroutable=True))
    assert by_via(ex, "direct") == []
    assert any("not routable from internet" in n for n in ex.notes)


def test_exp_1_path_verdict_is_the_weakest_hop(tmp_path: Path) -> None:
    # LB entry allows, backend denies → path denies; every hop keeps its deciding rule
    f = _app(tmp_path, service("shop", "web", APP, [{"port": 443, "targetPort": 8080}], "LoadBalancer",
                               ["198.51.100.7"], allocateLoadBalancerNodePorts=False),
             netpol("shop", "deny-all", APP, []))
    [p] = by_via(expose([f]), "lb shop/web")
    assert [h.verdict for h in p.hops] == ["allow", "deny"]
    assert p.verdict == "deny"
    assert "NetworkPolicy" in p.hops[1].rule or "end-of-tier" in p.hops[1].rule


def test_exp_2_nodeport_is_unknown_cloud_firewall_unless_pinned(tmp_path: Path) -> None:
    f = _app(tmp_path, service("shop", "web", APP, [{"port": 80, "targetPort": 8080, "nodePort": 30080}], "NodePort"))
    [p] = by_via(expose([f]), "nodeport shop/web")
    assert p.entry == "<node>:30080" and p.verdict == "unknown"
    assert [c.code for c in p.causes] == ["cloud-firewall"] or "cloud-firewall" in [c.code for c in p.causes]
    [p] = by_via(expose([f], ExposureSettings(firewall="open", dataplane="ebpf")), "nodeport shop/web")
    assert p.verdict == "allow"
    [p] = by_via(expose([f], ExposureSettings(firewall="closed")), "nodeport shop/web")
    assert p.verdict == "deny"


def test_exp_3_which_service_types_are_entries(tmp_path: Path) -> None:
    docs = [ns("shop"), deploy("shop", "web", APP),
            service("shop", "cip", APP, [{"port": 80, "targetPort": 8080}]),
            service("shop", "headless", APP, [{"port": 80, "targetPort": 8080}], clusterIP="None"),
            service("shop", "ext", None, [{"port": 80}], "ExternalName", externalName="example.com"),
            service("shop", "lb", APP, [{"port": 443, "targetPort": 8080, "nodePort": 31443}], "LoadBalancer",
                    ["203.0.113.10", "203.0.113.11"]),
            service("shop", "lb-no-np", APP, [{"port": 443, "targetPort": 8080}], "LoadBalancer", ["203.0.113.12"],
                    allocateLoadBalancerNodePorts=False),
            service("shop", "eip", APP, [{"port": 8443, "targetPort": 8080}], externalIPs=["192.0.2.9"])]
    ex = expose([write(tmp_path, docs)])
    entries = sorted((p.via, p.entry) for p in ex.paths if p.via != "direct")
    assert entries == [
        ("externalip shop/eip", "192.0.2.9:8443"),
        ("lb shop/lb", "203.0.113.10:443"),
        ("lb shop/lb", "203.0.113.11:443"),
        ("lb shop/lb-no-np", "203.0.113.12:443"),
        ("nodeport shop/lb", "<node>:31443"),
    ]
    assert all(p.port == "8080/TCP" for p in ex.paths if p.via != "direct")  # proxied to targetPort


def test_exp_3_named_target_port_resolves_per_pod(tmp_path: Path) -> None:
    f = write(tmp_path, [ns("shop"), deploy("shop", "web", APP, {"https": 9443}),
                         service("shop", "web", APP, [{"port": 443, "targetPort": "https"}], "LoadBalancer",
                                 ["198.51.100.1"], allocateLoadBalancerNodePorts=False)])
    [p] = by_via(expose([f]), "lb shop/web")
    assert p.port == "9443/TCP"


def test_exp_4_edge_43_source_ranges_limit_the_lb_entry_only(tmp_path: Path) -> None:
    f = _app(tmp_path, service("shop", "web", APP, [{"port": 443, "targetPort": 8080, "nodePort": 30443}],
                               "LoadBalancer", ["198.51.100.20"], loadBalancerSourceRanges=["198.51.100.0/24"]))
    nets = {"client": "203.0.113.9/32"}
    ex = expose([f], ExposureSettings(client="client", dataplane="ebpf"), externals=nets)
    [lb] = by_via(ex, "lb shop/web")
    assert lb.hops[0].verdict == "unknown" and lb.causes[0].code == "lb-impl"
    [npt] = by_via(ex, "nodeport shop/web")
    assert npt.hops[0].cause is not None and npt.hops[0].cause.code == "cloud-firewall"
    assert "do not limit NodePorts" in npt.hops[0].rule
    ex = expose([f], ExposureSettings(client="client", lb_ranges_enforced=True, dataplane="ebpf"), externals=nets)
    [lb] = by_via(ex, "lb shop/web")
    assert lb.hops[0].verdict == "deny" and lb.verdict == "deny"
    ex = expose([f], ExposureSettings(client="inside", dataplane="ebpf"), externals={"inside": "198.51.100.4/32"})
    assert by_via(ex, "lb shop/web")[0].verdict == "allow"


def _edge42(tmp: Path, etp: str) -> Path:
    return _app(tmp, service("shop", "web", APP, [{"port": 80, "targetPort": 8080, "nodePort": 30080}], "NodePort",
                             externalTrafficPolicy=etp),
                netpol("shop", "only-partner", APP, [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]))


def test_exp_6_edge_42_snat_makes_the_backend_hop_unknown(tmp_path: Path) -> None:
    nets = {"client": "203.0.113.7/32"}
    pinned = dict(client="client", firewall="open")
    [p] = by_via(expose([_edge42(tmp_path, "Cluster")], ExposureSettings(**pinned), externals=nets), "nodeport shop/web")
    assert p.hops[-1].verdict == "unknown" and "snat-node" in [c.code for c in p.causes]
    assert p.verdict == "unknown"
    # ETP Local keeps the client address: ALLOW
    [p] = by_via(expose([_edge42(tmp_path, "Local")], ExposureSettings(**pinned), externals=nets), "nodeport shop/web")
    assert p.verdict == "allow"
    # Calico eBPF keeps it too (Tunnel or DSR)
    [p] = by_via(expose([_edge42(tmp_path, "Cluster")], ExposureSettings(dataplane="ebpf", **pinned), externals=nets),
                 "nodeport shop/web")
    assert p.verdict == "allow"


def test_exp_6_node_addresses_from_node_objects_decide_when_they_agree(tmp_path: Path) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}
    f = _app(tmp_path, service("shop", "web", APP, [{"port": 80, "targetPort": 8080, "nodePort": 30080}], "NodePort"),
             netpol("shop", "partner-and-nodes", APP, [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}},
                                                                 {"ipBlock": {"cidr": "10.0.0.0/24"}}]}]), node)
    ex = expose([f], ExposureSettings(client="client", firewall="open"), externals={"client": "203.0.113.7/32"})
    [p] = by_via(ex, "nodeport shop/web")
    assert p.verdict == "allow"  # client and node 10.0.0.5 are both admitted
    assert any("from Node objects" in n for n in ex.notes)


def test_exp_7_hostport_opens_node_addresses_with_client_kept(tmp_path: Path) -> None:
    f = write(tmp_path, [ns("edge"), deploy("edge", "proxy", {"app": "proxy"}, {"http": 8080}, host_ports={443: 8443})])
    [p] = by_via(expose([f], ExposureSettings(firewall="open")), "hostport edge/proxy")
    assert p.entry == "<node>:443" and p.port == "8443/TCP" and p.verdict == "allow"
    assert "client" in p.hops[1].src


def test_exp_5_local_traffic_policy_keeps_the_client_on_lb_and_external_ips(tmp_path: Path) -> None:
    # backend admits only the partner range: with ETP Local the partner client is seen as itself
    only_partner = netpol("shop", "only-partner", APP, [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}])
    for etp, want in (("Local", "allow"), ("Cluster", "unknown")):
        f = _app(tmp_path, service("shop", "web", APP, [{"port": 443, "targetPort": 8080}], "LoadBalancer",
                                   ["198.51.100.9"], allocateLoadBalancerNodePorts=False,
                                   externalIPs=["192.0.2.50"], externalTrafficPolicy=etp), only_partner)
        ex = expose([f], ExposureSettings(client="partner", firewall="open"), externals={"partner": "203.0.113.7/32"})
        assert {p.via: p.verdict for p in ex.paths if p.via != "direct"} == {
            "lb shop/web": want, "externalip shop/web": want}, etp
