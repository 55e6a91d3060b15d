"""Admin network policy semantics (semantics.md §F, ADM-1..18, EDGE-34..41) on real manifests."""

from __future__ import annotations

import pytest

from tests.kits.admin_helpers import (
    ALL_NS,
    BASE,
    anp,
    banp,
    cluster_information,
    cnp,
    from_ns,
    node,
    subject_ns,
)
from tests.kits.k8s_helpers import build, netpol, pod, verdict

UP = {"dataplane": "upstream"}
DENY_FROM_B = {"action": "Deny", "from": [from_ns("b")]}


# -- ADM-1, ADM-13: both API versions, one evaluator -------------------------------------------------


@pytest.mark.parametrize("dataplane", ["upstream", "calico-3.30"])
def test_adm_1_v1alpha1_anp_is_read(tmp_path, dataplane):
    a = build(tmp_path, [*BASE, anp("zones", 10, subject=subject_ns("a"), ingress=[DENY_FROM_B])],
              dataplane=dataplane)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"


@pytest.mark.parametrize("dataplane", ["upstream", "calico-3.32"])
def test_adm_13_v1alpha2_cnp_is_read_with_accept(tmp_path, dataplane):
    objs = [*BASE, netpol("a", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress"]}),
            cnp("zones", "Admin", 10, subject=subject_ns("a"), ingress=[{"action": "Accept", "from": [from_ns("b")]}])]
    a = build(tmp_path, objs, dataplane=dataplane)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # Accept ends the direction (ADM-12)
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"  # the NetworkPolicy decides the rest


# -- ADM-2: subjects --------------------------------------------------------------------------------


def test_adm_2_being_a_subject_isolates_nothing(tmp_path):
    a = build(tmp_path, [*BASE, anp("p", 10, ingress=[DENY_FROM_B])], **UP)
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"


def test_adm_2_pods_subject_ands_namespace_and_pod_selectors(tmp_path):
    subject = {"pods": {"namespaceSelector": {"matchLabels": {"zone": "restricted"}},
                        "podSelector": {"matchLabels": {"app": "db"}}}}
    a = build(tmp_path, [*BASE, anp("p", 10, subject=subject, ingress=[DENY_FROM_B])], **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "b/client", "a/web", "5432/TCP") == "allow"


# -- ADM-3: priorities -----------------------------------------------------------------------------


def test_adm_3_lower_priority_value_runs_first(tmp_path):
    allow = anp("allow-b", 5, ingress=[{"action": "Allow", "from": [from_ns("b")]}])
    deny = anp("deny-all", 10, ingress=[{"action": "Deny", "from": [ALL_NS]}])
    a = build(tmp_path, [*BASE, allow, deny], **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"


def test_edge_36_adm_3_equal_priorities_that_disagree_are_unknown(tmp_path):
    allow = anp("allow-a", 10, ingress=[{"action": "Allow", "from": [from_ns("a")]}])
    deny = anp("deny-all", 10, ingress=[{"action": "Deny", "from": [ALL_NS]}])
    for plane in ("upstream", "calico-3.30"):  # even with Calico pinned
        a = build(tmp_path, [*BASE, allow, deny], dataplane=plane)
        assert verdict(a, "a/web", "a/db", "5432/TCP") == "unknown"
        assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"  # only one of them matches
    distinct = anp("allow-a", 9, ingress=[{"action": "Allow", "from": [from_ns("a")]}])
    a = build(tmp_path, [*BASE, distinct, deny], **UP)
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"


def test_adm_3_equal_priorities_that_agree_are_decided(tmp_path):
    one = anp("one", 10, ingress=[{"action": "Deny", "from": [from_ns("b")]}])
    two = anp("two", 10, ingress=[{"action": "Deny", "from": [ALL_NS]}])
    a = build(tmp_path, [*BASE, one, two], **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"


# -- ADM-4..6: rules, actions, fall-through ------------------------------------------------------------


def test_adm_4_first_matching_rule_in_list_order_decides(tmp_path):
    rules = [{"action": "Allow", "from": [from_ns("b")], "ports": [{"portNumber": {"port": 5432}}]},
             {"action": "Deny", "from": [ALL_NS]}]
    a = build(tmp_path, [*BASE, anp("p", 10, subject=subject_ns("a"), ingress=rules)], **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "22/TCP") == "deny"


def test_adm_4_no_rules_for_a_direction_takes_no_part(tmp_path):
    a = build(tmp_path, [*BASE, anp("p", 10, egress=[{"action": "Deny", "to": [from_ns("b")]}])], **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # ingress untouched
    assert verdict(a, "a/web", "b/client", "80/TCP") == "deny"


@pytest.mark.parametrize(("isolated", "expect"), [(False, "deny"), (True, "allow")])
def test_edge_34_adm_5_pass_goes_to_networkpolicy_then_baseline(tmp_path, isolated, expect):
    objs = [*BASE, anp("pass", 10, ingress=[{"action": "Pass", "from": [ALL_NS]}]),
            banp(ingress=[{"action": "Deny", "from": [ALL_NS]}])]
    if isolated:
        objs.append(netpol("a", "allow-b", {"podSelector": {}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}]}))
    for plane in ("upstream", "calico-3.30"):
        a = build(tmp_path, objs, dataplane=plane)
        assert verdict(a, "b/client", "a/db", "5432/TCP") == expect


def test_adm_5_egress_allow_never_bypasses_destination_ingress(tmp_path):
    objs = [*BASE, anp("out", 10, subject=subject_ns("b"), egress=[{"action": "Allow", "to": [ALL_NS]}]),
            anp("in", 20, subject=subject_ns("a"), ingress=[DENY_FROM_B])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"


def test_adm_5_allow_skips_networkpolicies_and_baseline(tmp_path):
    objs = [*BASE, netpol("a", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress"]}),
            anp("allow", 10, ingress=[{"action": "Allow", "from": [from_ns("b")]}]),
            banp(ingress=[{"action": "Deny", "from": [ALL_NS]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"


def test_adm_6_nothing_matches_falls_through_to_allowed(tmp_path):
    objs = [*BASE, anp("p", 10, ingress=[{"action": "Deny", "from": [from_ns("nowhere")]}]),
            banp(ingress=[{"action": "Deny", "from": [from_ns("nowhere")]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"


def test_adm_9_banp_allow_beats_nothing_but_decides_for_non_isolated(tmp_path):
    objs = [*BASE, banp(ingress=[{"action": "Allow", "from": [from_ns("b")]}, {"action": "Deny", "from": [ALL_NS]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"


# -- ADM-7: peers ----------------------------------------------------------------------------------------


def test_edge_40_adm_7_networks_cover_pod_ips(tmp_path):
    objs = [*BASE, anp("p", 10, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"  # same namespace, still a network address
    assert verdict(a, "a/web", "internet", "443/TCP") == "deny"


def test_adm_7_pods_peer_ands_its_selectors(tmp_path):
    peer = {"pods": {"namespaceSelector": {"matchLabels": {"zone": "restricted"}},
                     "podSelector": {"matchLabels": {"app": "web"}}}}
    a = build(tmp_path, [*BASE, anp("p", 10, ingress=[{"action": "Deny", "from": [peer]}])], **UP)
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"


def test_adm_7_nodes_peer_matches_the_node_addresses_in_the_input(tmp_path):
    objs = [*BASE, node("n1", {"role": "worker"}, "192.168.0.10"), node("n2", {"role": "cp"}, "192.168.0.20"),
            anp("p", 10, egress=[{"action": "Deny", "to": [{"nodes": {"matchLabels": {"role": "worker"}}}]}])]
    a = build(tmp_path, objs, externals=_externals(("n2", "192.168.0.20/32")), **UP)
    assert verdict(a, "a/web", "Node/n1", "10250/TCP") == "deny"  # selected nodes are endpoints
    assert verdict(a, "a/web", "n2", "10250/TCP") == "allow"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"  # pods are never node peers
    assert verdict(a, "a/web", "internet", "10250/TCP") == "allow"


def test_adm_7_nodes_peer_without_node_objects_is_unknown_for_non_pods_only(tmp_path):
    objs = [*BASE, anp("p", 10, egress=[{"action": "Deny", "to": [{"nodes": {}}]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "a/web", "internet", "10250/TCP") == "unknown"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"
    assert any("no Node objects in the input" in x for x in a.policies.unsupported)


def test_adm_7_domain_names_are_unknown_until_run_time(tmp_path):
    objs = [*BASE, anp("p", 10, egress=[{"action": "Allow", "to": [{"domainNames": ["*.example.com"]}]},
                                        {"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "a/web", "internet", "443/TCP") == "unknown"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"


# -- ADM-8: ports ------------------------------------------------------------------------------------------


def test_adm_8_port_number_range_and_protocol_default_tcp(tmp_path):
    ports = [{"portNumber": {"port": 53, "protocol": "UDP"}}, {"portRange": {"start": 8000, "end": 8080}}]
    objs = [*BASE, anp("p", 10, ingress=[{"action": "Deny", "from": [ALL_NS], "ports": ports}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "53/UDP") == "deny"
    assert verdict(a, "b/client", "a/db", "53/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "8080/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "8081/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "8000/UDP") == "allow"


def test_adm_8_named_port_resolves_on_the_receiving_pod(tmp_path):
    objs = [*BASE, anp("p", 10, egress=[{"action": "Deny", "to": [ALL_NS], "ports": [{"namedPort": "pg"}]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "b/client", "a/web", "5432/TCP") == "allow"  # web declares no port named pg


# -- ADM-12: ClusterNetworkPolicy tiers ----------------------------------------------------------------------


def test_adm_12_baseline_pass_ends_in_default_allow(tmp_path):
    objs = [*BASE, cnp("base-pass", "Baseline", 1, ingress=[{"action": "Pass", "from": [from_ns("b")]}]),
            cnp("base-deny", "Baseline", 2, ingress=[{"action": "Deny", "from": [ALL_NS]}])]
    a = build(tmp_path, objs, dataplane="calico-3.32")
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"


def test_adm_12_isolated_pod_is_decided_in_the_networkpolicy_tier(tmp_path):
    objs = [*BASE, netpol("a", "allow-a", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}),
            cnp("base-allow", "Baseline", 1, ingress=[{"action": "Accept", "from": [ALL_NS]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"


def test_adm_13_anp_and_admin_cnp_share_the_admin_tier_by_priority(tmp_path):
    objs = [*BASE, anp("old", 10, ingress=[DENY_FROM_B]),
            cnp("new", "Admin", 5, ingress=[{"action": "Accept", "from": [from_ns("b")]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    objs[-1] = cnp("new", "Admin", 10, ingress=[{"action": "Accept", "from": [from_ns("b")]}])
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "unknown"  # equal priority, disagree (ADM-3)


# -- ADM-14: who enforces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plane", "anp_", "banp_", "cnp_"),
    [
        ("upstream", True, True, True),
        ("calico-3.29", True, False, False),
        ("calico-3.30", True, True, False),
        ("calico-3.32", False, False, True),
    ],
)
def test_adm_14_which_family_each_dataplane_enforces(tmp_path, plane, anp_, banp_, cnp_):
    cases = {
        "anp": (anp("p", 10, ingress=[DENY_FROM_B]), anp_),
        "banp": (banp(ingress=[DENY_FROM_B]), banp_),
        "cnp": (cnp("p", "Admin", 10, ingress=[DENY_FROM_B]), cnp_),
    }
    for obj, enforced in cases.values():
        a = build(tmp_path, [*BASE, obj], dataplane=plane)
        assert verdict(a, "b/client", "a/db", "5432/TCP") == ("deny" if enforced else "allow")
        if not enforced:
            assert any("not enforced by" in n for n in a.policies.notes)


def test_edge_39_adm_14_v1alpha1_ignored_by_calico_332_unknown_when_version_unknown(tmp_path):
    objs = [*BASE, netpol("a", "allow-b", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}]}),
            anp("deny-b", 10, ingress=[DENY_FROM_B])]
    assert verdict(build(tmp_path, objs, dataplane="calico-3.32"), "b/client", "a/db", "5432/TCP") == "allow"
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "unknown"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"  # the ANP cannot change this flow
    assert any("enforcement unknown" in x for x in a.policies.unsupported)
    assert any("dataplane: unknown" in x for x in a.policies.assumptions)


@pytest.mark.parametrize(
    ("version", "enforced"),
    [("v3.28.1", False), ("v3.29.3", True), ("v3.30.2", True), ("v3.31.0", True), ("v3.32.0", False)],
)
def test_adm_14_calico_version_is_read_from_cluster_information(tmp_path, version, enforced):
    a = build(tmp_path, [*BASE, cluster_information(version), anp("p", 10, ingress=[DENY_FROM_B])])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == ("deny" if enforced else "allow")
    assert any(f"calicoVersion {version}" in x for x in a.policies.assumptions)


def test_adm_14_option_wins_over_cluster_information(tmp_path):
    objs = [*BASE, cluster_information("v3.32.0"), anp("p", 10, ingress=[DENY_FROM_B])]
    assert verdict(build(tmp_path, objs, dataplane="calico-3.30"), "b/client", "a/db", "5432/TCP") == "deny"


# -- ADM-15: Calico translation ---------------------------------------------------------------------------


def test_adm_15d_namespaces_peer_matches_namespaced_networksets_in_calico_only(tmp_path):
    nset = {"apiVersion": "projectcalico.org/v3", "kind": "NetworkSet",
            "metadata": {"name": "partner", "namespace": "b", "labels": {"x": "y"}}, "spec": {"nets": ["203.0.113.0/24"]}}
    objs = [*BASE, nset, anp("p", 10, subject=subject_ns("a"), egress=[{"action": "Deny", "to": [from_ns("b")]}])]
    assert verdict(build(tmp_path, objs, dataplane="calico-3.30"), "a/web", "b/NetworkSet/partner", "443/TCP") == "deny"
    assert verdict(build(tmp_path, objs, **UP), "a/web", "b/NetworkSet/partner", "443/TCP") == "allow"


@pytest.mark.parametrize(("action", "expect"), [("Pass", "deny"), ("Accept", "allow")])
def test_edge_38_adm_15e_calico_fails_nodes_rules_closed(tmp_path, action, expect):
    objs = [*BASE, netpol("a", "deny-all", {"podSelector": {}, "policyTypes": ["Ingress"]}),
            cnp("p", "Admin", 10, egress=[{"action": action, "to": [{"nodes": {}}]},
                                          {"action": "Accept", "to": [ALL_NS]}])]
    a = build(tmp_path, objs, dataplane="calico-3.32")
    # ingress of a/db is denied by the NetworkPolicy: look at an un-isolated destination
    assert verdict(a, "a/db", "b/client", "80/TCP") == expect
    assert any("fail closed (ADM-15e)" in n for n in a.policies.notes)


def test_edge_37_adm_15f_named_port_reads_as_any_port_before_332(tmp_path):
    old = [*BASE, anp("p", 10, subject=subject_ns("b"), egress=[
        {"action": "Allow", "to": [{"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "db"}}}}],
         "ports": [{"namedPort": "pg"}]}]),
        banp(subject=subject_ns("b"), egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}])]
    a = build(tmp_path, old, dataplane="calico-3.30")
    assert verdict(a, "b/client", "a/db", "22/TCP") == "allow"
    a = build(tmp_path, old, **UP)
    assert verdict(a, "b/client", "a/db", "22/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    new = [*BASE, cnp("p", "Admin", 10, subject=subject_ns("b"), egress=[
        {"action": "Accept", "to": [{"pods": {"podSelector": {"matchLabels": {"app": "db"}}}}],
         "protocols": [{"destinationNamedPort": "pg"}]}]),
        cnp("base", "Baseline", 10, subject=subject_ns("b"), egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}])]
    a = build(tmp_path, new, dataplane="calico-3.32")
    assert verdict(a, "b/client", "a/db", "22/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"


def test_adm_15e_reversed_v1alpha1_range_fails_closed_in_calico_unknown_upstream(tmp_path):
    rule = {"action": "Deny", "from": [from_ns("b")], "ports": [{"portRange": {"start": 9000, "end": 8000}}]}
    objs = [*BASE, anp("p", 10, ingress=[rule])]
    a = build(tmp_path, objs, dataplane="calico-3.30")
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"  # unconditional deny at its position
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "8500/TCP") == "unknown"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"


# -- ADM-16..18: composition -----------------------------------------------------------------------------


def test_edge_41_adm_16_user_tier_before_kube_admin_wins(tmp_path):
    tier = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
            "spec": {"order": 100}}
    gnp = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "security.allow"},
           "spec": {"tier": "security", "selector": "app == 'db'", "ingress": [{"action": "Allow"}]}}
    objs = [*BASE, tier, gnp, cnp("deny", "Admin", 10, ingress=[{"action": "Deny", "from": [ALL_NS]}])]
    a = build(tmp_path, objs, dataplane="calico-3.32")
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/client", "a/web", "5432/TCP") == "deny"


@pytest.mark.parametrize(("order", "expect"), [(5, "allow"), (15, "deny")])
def test_adm_14_calico_policies_share_the_admin_tier_by_order(tmp_path, order, expect):
    gnp = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
           "metadata": {"name": "adminnetworkpolicy.allow-all"},
           "spec": {"tier": "adminnetworkpolicy", "order": order, "selector": "all()", "ingress": [{"action": "Allow"}]}}
    objs = [*BASE, gnp, anp("deny-b", 10, ingress=[DENY_FROM_B])]
    a = build(tmp_path, objs, dataplane="calico-3.30")
    assert verdict(a, "b/client", "a/db", "5432/TCP") == expect


def test_adm_16_user_tier_between_admin_and_default(tmp_path):
    tier = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "platform"},
            "spec": {"order": 5000}}
    gnp = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "platform.deny"},
           "spec": {"tier": "platform", "selector": "app == 'db'", "ingress": [{"action": "Deny"}]}}
    objs = [*BASE, tier, gnp, cnp("pass", "Admin", 10, ingress=[{"action": "Pass", "from": [ALL_NS]}]),
            cnp("allow", "Admin", 20, ingress=[{"action": "Accept", "from": [ALL_NS]}])]
    a = build(tmp_path, objs, dataplane="calico-3.32")
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"  # Pass skipped the Accept, platform denies


def test_adm_17_both_ends_must_allow(tmp_path):
    objs = [*BASE, anp("out", 10, subject=subject_ns("b"), egress=[{"action": "Deny", "to": [from_ns("a")]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/db", "b/client", "80/TCP") == "allow"


def test_edge_35_adm_18_node_addresses_are_in_no_namespace(tmp_path):
    objs = [*BASE, pod("b", "agent", {"app": "agent"}, host_network=True),
            anp("p", 10, ingress=[{"action": "Deny", "from": [ALL_NS]}])]
    a = build(tmp_path, objs, **UP)
    assert verdict(a, "internet", "a/db", "5432/TCP") == "allow"  # a node address is external-like
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"


def _externals(*pairs: tuple[str, str]):
    from auditor.commands.pipeline import parse_externals

    return parse_externals([f"{n}={c}" for n, c in pairs])
