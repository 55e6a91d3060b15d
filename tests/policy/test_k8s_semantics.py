"""Kubernetes NetworkPolicy semantics (semantics.md part A, EDGE-1..11) on real manifests."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.errors import InvalidResource
from tests.kits.k8s_helpers import build, netpol, ns, pod, verdict

BASE = [
    ns("a", team="a"),
    ns("b", team="b"),
    pod("a", "web", {"app": "web"}, ports=[{"name": "http", "containerPort": 8080}]),
    pod("a", "db", {"app": "db"}, ports=[{"name": "pg", "containerPort": 5432}]),
    pod("b", "client", {"app": "client"}),
    pod("b", "web", {"app": "web"}, ports=[{"name": "http", "containerPort": 9090}]),
]


def test_k8s2_no_policy_means_everything_allowed(tmp_path):
    a = build(tmp_path, BASE)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "53/UDP") == "allow"
    assert verdict(a, "internet", "a/db", "22/TCP") == "allow"


def test_edge1_k8s3_egress_rules_without_policytypes_also_isolate_ingress(tmp_path):
    pol = netpol("a", "egress-only", {"podSelector": {"matchLabels": {"app": "db"}},
                                       "egress": [{"to": [{"podSelector": {}}]}]})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"  # ingress isolated, no ingress rules
    assert verdict(a, "a/db", "a/web", "8080/TCP") == "allow"  # egress rule allows own namespace
    assert verdict(a, "a/db", "b/client", "80/TCP") == "deny"


def test_edge2_k8s3_empty_egress_list_does_not_isolate_egress(tmp_path):
    pol = netpol("a", "p", {"podSelector": {"matchLabels": {"app": "db"}}, "egress": []})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "a/db", "b/client", "443/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"


def test_edge3_k8s8_selectors_in_one_peer_are_and_in_two_peers_or(tmp_path):
    one = netpol("a", "one", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": {"matchLabels": {"app": "web"}}}]}]})
    a = build(tmp_path, [*BASE, one])
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"  # a is team=a
    assert verdict(a, "b/web", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    two = netpol("a", "one", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "b"}}}, {"podSelector": {"matchLabels": {"app": "web"}}}]}]})
    a = build(tmp_path, [*BASE, two])
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"


def test_k8s8a_pod_selector_alone_is_the_policy_namespace(tmp_path):
    pol = netpol("a", "p", {"podSelector": {"matchLabels": {"app": "db"}},
                            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/web", "a/db", "5432/TCP") == "deny"


def test_edge4_empty_namespace_selector_is_all_pods_but_no_external(tmp_path):
    pol = netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "internet", "a/db", "5432/TCP") == "deny"


def test_k8s6_rule_without_peers_admits_external_too(tmp_path):
    pol = netpol("a", "p", {"podSelector": {}, "ingress": [{"ports": [{"port": 5432}]}]})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "internet", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "internet", "a/db", "5433/TCP") == "deny"


def test_k8s6_ingress_empty_rule_allows_everything(tmp_path):
    pol = netpol("a", "p", {"podSelector": {}, "ingress": [{}]})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "internet", "a/db", "1/UDP") == "allow"
    assert verdict(a, "b/client", "a/db", "ICMP") == "allow"  # K8S-17: no ports → every protocol


def test_edge5_k8s10_ipblock_matches_pod_ips_in_calico(tmp_path):
    objs = [ns("a"), ns("b"), pod("a", "db", {"app": "db"}, ip="10.1.0.5"), pod("b", "x", ip="10.1.2.3"),
            pod("b", "y", ip="192.168.1.1"),
            netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/x", "a/db", "80/TCP") == "allow"
    assert verdict(a, "b/y", "a/db", "80/TCP") == "deny"


def test_k8s10_ipblock_except_carves_out(tmp_path):
    objs = [ns("a"), pod("a", "db", ip="10.1.0.5"),
            netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]})]
    a = build(tmp_path, objs, externals=__import__("auditor.commands.pipeline", fromlist=["x"]).parse_externals(["corp=10.0.0.0/8"]))
    assert verdict(a, "internet", "a/db", "80/TCP") == "allow"
    assert verdict(a, "corp", "a/db", "80/TCP") == "deny"


def test_ipblock_against_unknown_pod_ip_is_unknown_unless_pod_cidr_given(tmp_path):
    objs = [ns("a"), ns("b"), pod("a", "db"), pod("b", "x"),
            netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.0.0/16"}}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/x", "a/db", "80/TCP") == "unknown"
    from ipaddress import ip_network

    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "b/x", "a/db", "80/TCP") == "deny"
    objs[-1] = netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "b/x", "a/db", "80/TCP") == "allow"


def test_edge6_k8s11_port_without_protocol_is_tcp(tmp_path):
    objs = [*BASE, netpol("b", "dns", {"podSelector": {}, "policyTypes": ["Egress"],
                                       "egress": [{"ports": [{"port": 53}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "53/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "53/UDP") == "deny"


def test_k8s11_protocol_without_port_is_all_ports_of_it(tmp_path):
    objs = [*BASE, netpol("b", "udp", {"podSelector": {}, "policyTypes": ["Egress"],
                                       "egress": [{"ports": [{"protocol": "UDP"}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "12345/UDP") == "allow"
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"


def test_k8s11_endport_range_inclusive(tmp_path):
    objs = [*BASE, netpol("a", "r", {"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 8100}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "8000/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "8100/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "8101/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "7999/TCP") == "deny"


def test_k8s12_named_port_resolves_on_each_destination(tmp_path):
    objs = [*BASE, netpol("b", "eg", {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
                                      "egress": [{"ports": [{"port": "http"}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/web", "8080/TCP") == "allow"
    assert verdict(a, "b/client", "a/web", "9090/TCP") == "deny"
    assert verdict(a, "b/client", "b/web", "9090/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "8080/TCP") == "deny"  # db has no port named http


def test_edge7_named_port_never_matches_external_destination(tmp_path):
    objs = [*BASE, netpol("b", "eg", {"podSelector": {}, "policyTypes": ["Egress"],
                                      "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                                  "ports": [{"port": "https"}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "internet", "443/TCP") == "deny"


def test_k8s12_ingress_named_port_resolves_on_the_selected_pod(tmp_path):
    objs = [*BASE, netpol("a", "in", {"podSelector": {"matchLabels": {"app": "web"}},
                                      "ingress": [{"ports": [{"port": "http"}]}]}),
            netpol("b", "in", {"podSelector": {"matchLabels": {"app": "web"}},
                               "ingress": [{"ports": [{"port": "http"}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/web", "8080/TCP") == "allow"
    assert verdict(a, "b/client", "a/web", "9090/TCP") == "deny"
    assert verdict(a, "b/client", "b/web", "9090/TCP") == "allow"
    assert verdict(a, "b/client", "b/web", "8080/TCP") == "deny"


def test_edge8_policy_sees_target_port_not_service_port(tmp_path):
    objs = [*BASE, netpol("a", "in", {"podSelector": {"matchLabels": {"app": "web"}},
                                      "ingress": [{"ports": [{"port": 80}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/web", "80/TCP") == "allow"
    assert verdict(a, "b/client", "a/web", "8080/TCP") == "deny"


def test_k8s5_both_ends_must_allow(tmp_path):
    deny_egress = netpol("b", "deny-eg", {"podSelector": {}, "policyTypes": ["Egress"]})
    allow_ingress = netpol("a", "in", {"podSelector": {}, "ingress": [{}]})
    a = build(tmp_path, [*BASE, deny_egress, allow_ingress])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"


def test_k8s4_union_of_policies_order_irrelevant(tmp_path):
    p1 = netpol("a", "p1", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}]})
    p2 = netpol("a", "p2", {"podSelector": {}, "policyTypes": ["Ingress"]})
    p3 = netpol("a", "p3", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}], "ports": [{"port": 6000}]}]})
    for objs in ([*BASE, p1, p2, p3], [*BASE, p3, p2, p1]):
        a = build(tmp_path, objs)
        assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"
        assert verdict(a, "a/web", "a/db", "6000/TCP") == "deny"
        assert verdict(a, "b/client", "a/db", "6000/TCP") == "allow"
        assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"


def test_k8s9_notin_and_doesnotexist_match_missing_keys(tmp_path):
    pol = netpol("a", "p", {"podSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
                            "policyTypes": ["Ingress"]})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"  # db has no env label: selected


def test_k8s9_namespace_by_name_label(tmp_path):
    pol = netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}]})
    a = build(tmp_path, [*BASE, pol])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"


def test_missing_namespace_object_makes_label_selectors_unknown(tmp_path):
    objs = [ns("a"), pod("a", "db"), pod("ghost", "x"),
            netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [
                {"namespaceSelector": {"matchLabels": {"team": "b"}}}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "ghost/x", "a/db", "80/TCP") == "unknown"
    assert any("ghost" in n for n in a.inventory.notes)
    objs[-1] = netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ghost"}}}]}]})
    a = build(tmp_path, objs)
    assert verdict(a, "ghost/x", "a/db", "80/TCP") == "allow"


def test_edge10_k8s13_host_network_pods_are_not_endpoints(tmp_path):
    objs = [*BASE, pod("a", "agent", {"app": "db"}, host_network=True, ip="172.18.0.2"),
            pod("a", "done", {"app": "db"}, phase="Succeeded")]
    a = build(tmp_path, objs)
    names = {e.name for e in a.entities("pod")}
    assert "a/agent" not in names and "a/done" not in names
    assert any("a/agent" in x and "K8S-13" in x for x in a.inventory.excluded)
    assert any("a/done" in x for x in a.inventory.excluded)


def test_workload_templates_are_endpoints_and_pods_roll_up(tmp_path):
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "a"},
              "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {
                  "metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "a"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {
                "metadata": {"labels": {"app": "batch"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}}}
    p = pod("a", "web-5d8f7c9b4-abcde", {"app": "web", "pod-template-hash": "5d8f7c9b4"})
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b4",
                                       "uid": "0b6c3e1a-0000-4000-8000-000000000001", "controller": True}]
    a = build(tmp_path, [ns("a"), deploy, cron, p])
    names = {e.name for e in a.entities("workload")}
    assert {"a/Deployment/api", "a/CronJob/nightly", "a/Deployment/web"} <= names


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"podSelector": {}, "ingress": [{"from": [{}]}]}, "a peer must set"),
        ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
         "cannot be combined"),
        ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "'ICMP' is not one of 'SCTP', 'TCP', 'UDP'"),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]}, "endPort cannot be used"),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}, "lower than port"),
        ({"podSelector": {}, "ingress": [{"ports": [{"endPort": 80}]}]}, "requires a numeric port"),
        ({"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}, "out of range"),
        ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}, "not a valid CIDR"),
        ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]},
         "not strictly inside"),
        ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
         "not strictly inside"),
        ({"podSelector": {}, "policyTypes": ["Sideways"]}, "'Sideways' is not one of 'Ingress', 'Egress'"),
        ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}},
         "'Equals' is not one of 'In'"),
    ],
)
def test_k8s19_invalid_objects_rejected_with_resource_named(tmp_path, spec, message):
    with pytest.raises(InvalidResource) as err:
        build(tmp_path, [*BASE, netpol("a", "bad", spec)])
    text = str(err.value)
    assert message in text
    assert "NetworkPolicy a/bad" in text and "cluster.yaml" in text


def test_lenient_invalid_policy_makes_its_namespace_unknown(tmp_path):
    bad = netpol("a", "bad", {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]})
    a = build(tmp_path, [*BASE, bad], lenient=True)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "unknown"
    assert verdict(a, "b/client", "a/web", "80/TCP") == "unknown"
    # K8S-3, issue 13 §2.3: no policyTypes and no egress list: an ingress policy, egress untouched
    assert verdict(a, "a/db", "b/client", "80/TCP") == "allow"
    assert verdict(a, "a/web", "b/client", "80/TCP") == "allow"
    assert verdict(a, "b/client", "b/web", "80/TCP") == "allow"  # other namespace unaffected
    assert any("NetworkPolicy a/bad" in x for x in a.policies.unsupported)


def test_k8s20_admin_network_policy_with_unknown_dataplane_makes_what_it_could_change_unknown(tmp_path):
    """K8S-20, ADM-14: modelled in policy/admin.py; who enforces it is not established here."""
    anp = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
           "metadata": {"name": "x"}, "spec": {"priority": 10, "subject": {"namespaces": {}},
                                               "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}}
    a = build(tmp_path, [*BASE, anp])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "unknown"
    assert verdict(a, "internet", "a/db", "5432/TCP") == "allow"  # not a namespace peer: unaffected
    assert any("AdminNetworkPolicy" in x for x in a.policies.unsupported)
    assert verdict(build(tmp_path, [*BASE, anp], dataplane="upstream"), "b/client", "a/db", "5432/TCP") == "deny"


def test_unmodelled_calico_and_istio_policies_are_unknown_not_allow(tmp_path):
    gnp = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "g"},
           "spec": {"selector": "all()", "ingress": [{"action": "Deny"}]}}
    ap = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
          "metadata": {"name": "deny", "namespace": "a"}, "spec": {}}
    from auditor.policy.compile import compile_policies
    from auditor.sources.manifests import load_manifests
    from tests.kits.k8s_helpers import write

    snap = load_manifests([str(write(tmp_path, [*BASE, gnp, ap]))])
    ps = compile_policies(snap, dialects=("kubernetes",))
    assert any("GlobalNetworkPolicy" in x for x in ps.unsupported)
    assert any("AuthorizationPolicy" in x for x in ps.unsupported)


def test_namespace_rows_take_evidence_from_the_class_pair_that_allows(tmp_path):
    """An entity spanning classes that decide differently: the allowed verdict and its rule
    come from the class pair that allows (any-of), the denied ports from the others."""
    objs = [*BASE,
            netpol("a", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress"]}),
            netpol("a", "web-80", {"podSelector": {"matchLabels": {"app": "web"}},
                                   "ingress": [{"ports": [{"port": 80}]}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b", "a", "80/TCP", by="namespace") == "allow"
    assert verdict(a, "b", "a", "5432/TCP", by="namespace") == "deny"
    s, _ = a.find("b", "namespace")
    t, _ = a.find("a", "namespace")
    pm = a.pairs("namespace", [s], [t])
    atom = a.ports.index_of("TCP", 80)
    assert "NetworkPolicy a/web-80 ingress rule 0 (Allow)" in a.decided_by(pm, 0, 0, np.array([atom]))
    atom = a.ports.index_of("TCP", 5432)
    assert "end-of-tier Deny" in a.decided_by(pm, 0, 0, np.array([atom]))
