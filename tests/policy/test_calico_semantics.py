"""Calico policy semantics (semantics.md part B, EDGE-12..20, 32, 33) on real manifests."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

from tests.kits.k8s_helpers import build, netpol, ns, pod, verdict

# -- builders ---------------------------------------------------------------------------------


def tier(name: str, order: float | None = None, action: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if order is not None:
        spec["order"] = order
    if action:
        spec["defaultAction"] = action
    return {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": name}, "spec": spec}


def gnp(name: str, spec: dict[str, Any], *, kind: str = "GlobalNetworkPolicy",
        api: str = "projectcalico.org/v3") -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec}


def cnp(namespace: str, name: str, spec: dict[str, Any], *, kind: str = "NetworkPolicy",
        api: str = "projectcalico.org/v3") -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def gns(name: str, labels: dict[str, str], nets: list[str]) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkSet",
            "metadata": {"name": name, "labels": labels}, "spec": {"nets": nets}}


def netset(namespace: str, name: str, labels: dict[str, str], nets: list[str]) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "NetworkSet",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {"nets": nets}}


def sa(namespace: str, name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}}


BASE = [
    ns("a", team="a"),
    ns("b", team="b"),
    pod("a", "web", {"app": "web"}, ports=[{"name": "http", "containerPort": 8080}]),
    pod("a", "db", {"app": "db"}, ports=[{"name": "pg", "containerPort": 5432}]),
    pod("b", "client", {"app": "client"}),
    pod("b", "web", {"app": "web"}, ports=[{"name": "http", "containerPort": 9090}]),
]

DENY_ALL_INGRESS_A = cnp("a", "deny-rest", {"selector": "all()", "order": 10_000, "types": ["Ingress"]})


# -- tiers, order, actions (CAL-16..24) -------------------------------------------------------


def test_edge12_cal20_cal22_pass_only_tier_falls_to_profile(tmp_path):
    objs = [*BASE, tier("security", 100),
            gnp("security.pass", {"tier": "security", "order": 1, "selector": "app == 'db'",
                                  "ingress": [{"action": "Pass"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # Pass → no more tiers → kns profile
    assert verdict(a, "internet", "a/db", "22/TCP") == "allow"


def test_cal21_pass_reaches_next_tier_whose_end_of_tier_denies(tmp_path):
    objs = [*BASE, tier("security", 100),
            gnp("security.pass", {"tier": "security", "selector": "app == 'db'", "ingress": [{"action": "Pass"}]}),
            gnp("default.db", {"selector": "app == 'db'", "ingress": [
                {"action": "Allow", "protocol": "TCP", "destination": {"ports": [5432]}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "5433/TCP") == "deny"  # default tier applies: end-of-tier Deny


def test_cal21_tier_default_action_pass(tmp_path):
    objs = [*BASE, tier("security", 100, "Pass"),
            gnp("security.only-log", {"tier": "security", "selector": "all()", "ingress": [{"action": "Log"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # CAL-42: Log never decides
    objs[-2] = tier("security", 100, "Deny")
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"


def test_cal16_tiers_run_by_order_missing_order_last_ties_by_name(tmp_path):
    allow = {"selector": "app == 'db'", "ingress": [{"action": "Allow"}]}
    deny = {"selector": "app == 'db'", "ingress": [{"action": "Deny"}]}
    n = len(BASE)
    objs = [*BASE, tier("alpha", 200), tier("beta", 100),
            gnp("alpha.allow", {**allow, "tier": "alpha"}), gnp("beta.deny", {**deny, "tier": "beta"})]
    assert verdict(build(tmp_path, objs), "b/client", "a/db", "80/TCP") == "deny"  # beta (100) first
    objs[n + 1] = tier("beta")  # no order → after alpha
    assert verdict(build(tmp_path, objs), "b/client", "a/db", "80/TCP") == "allow"
    objs[n], objs[n + 1] = tier("alpha", 100), tier("beta", 100)  # tie → by name: alpha first
    assert verdict(build(tmp_path, objs), "b/client", "a/db", "80/TCP") == "allow"


def test_cal18_missing_order_runs_last(tmp_path):
    objs = [*BASE,
            gnp("z-allow", {"order": 5, "selector": "app == 'db'", "ingress": [{"action": "Allow"}]}),
            gnp("a-deny", {"selector": "app == 'db'", "ingress": [{"action": "Deny"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"  # order 5 beats "no order" (= +inf)


def test_edge13_cal18_cal40_k8s_policies_sit_at_order_1000(tmp_path):
    k8s_allow = netpol("a", "allow-client", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]}]})
    deny = {"selector": "app == 'db'", "ingress": [{"action": "Deny", "source": {
        "namespaceSelector": "team == 'b'"}}]}
    a = build(tmp_path, [*BASE, k8s_allow, cnp("a", "deny-b", {**deny, "order": 500})])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    a = build(tmp_path, [*BASE, k8s_allow, cnp("a", "deny-b", deny)])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # K8s NP (1000) runs before "no order"


def test_edge33_cal18_equal_order_conflict_is_unknown(tmp_path):
    objs = [*BASE,
            gnp("p-allow", {"order": 100, "selector": "app == 'db'", "ingress": [{"action": "Allow"}]}),
            gnp("p-deny", {"order": 100, "selector": "app == 'db'", "ingress": [
                {"action": "Deny", "source": {"selector": "app == 'client'"}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "80/TCP") == "unknown"  # tie-break changed between versions
    assert verdict(a, "a/web", "a/db", "80/TCP") == "allow"  # only one of the two decides
    objs[-1]["spec"]["order"] = 101
    assert verdict(build(tmp_path, objs), "b/client", "a/db", "80/TCP") == "allow"


def test_edge33_equal_order_same_action_is_not_unknown(tmp_path):
    k8s = [netpol("a", f"allow-{i}", {"podSelector": {}, "ingress": [{}]}) for i in range(3)]
    a = build(tmp_path, [*BASE, *k8s])
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"  # three K8s NPs at 1000: all Allow


def test_cal19_first_matching_rule_decides_log_continues(tmp_path):
    objs = [*BASE, gnp("p", {"selector": "app == 'db'", "ingress": [
        {"action": "Log"},
        {"action": "Deny", "protocol": "TCP", "destination": {"ports": [22]}},
        {"action": "Allow"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "22/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"


def test_edge14_cal17_cal23_tier_applies_per_direction(tmp_path):
    objs = [*BASE, tier("t", 10),
            gnp("t.egress-only", {"tier": "t", "selector": "app == 'db'", "types": ["Egress"], "egress": [
                {"action": "Allow", "destination": {"selector": "app == 'web'"}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # tier t does not apply to ingress
    assert verdict(a, "a/db", "b/client", "80/TCP") == "deny"  # egress: end-of-tier Deny
    assert verdict(a, "a/db", "b/web", "9090/TCP") == "allow"


def test_edge15_cal15_egress_rules_only_means_egress_type_only(tmp_path):
    objs = [*BASE, cnp("a", "p", {"selector": "app == 'db'", "egress": [
        {"action": "Allow", "destination": {"selector": "app == 'web'"}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # contrast EDGE-1 (K8S-3)
    assert verdict(a, "a/db", "a/web", "8080/TCP") == "allow"
    assert verdict(a, "a/db", "b/client", "80/TCP") == "deny"


def test_cal15_no_rules_means_ingress_type(tmp_path):
    a = build(tmp_path, [*BASE, cnp("a", "p", {"selector": "app == 'db'"})])
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/db", "b/client", "80/TCP") == "allow"


def test_cal15_rules_of_a_direction_not_in_types_are_ignored(tmp_path):
    objs = [*BASE, cnp("a", "p", {"selector": "app == 'db'", "types": ["Egress"],
                                  "ingress": [{"action": "Deny"}], "egress": [{"action": "Allow"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"


def test_edge32_cal43_staged_only_tier_is_skipped_and_with_staged_enforces(tmp_path):
    staged = gnp("security.lockdown", {"tier": "security", "selector": "app == 'db'", "ingress": [
        {"action": "Allow", "source": {"selector": "app == 'web'"}}]}, kind="StagedGlobalNetworkPolicy")
    objs = [*BASE, tier("security", 100), staged]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # no end-of-tier deny
    assert any("staged, not enforced" in n for n in a.policies.notes)
    a = build(tmp_path, objs, with_staged=True)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"


def test_cal43_staged_policy_replaces_or_deletes_its_enforced_namesake(tmp_path):
    enforced = cnp("a", "db", {"selector": "app == 'db'", "ingress": [{"action": "Allow"}]})
    staged = cnp("a", "db", {"selector": "app == 'db'", "ingress": [
        {"action": "Allow", "source": {"selector": "app == 'web'"}}]}, kind="StagedNetworkPolicy")
    a = build(tmp_path, [*BASE, enforced, staged])
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"
    a = build(tmp_path, [*BASE, enforced, staged], with_staged=True)
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"  # replaced by the staged version
    delete = cnp("a", "db", {"stagedAction": "Delete"}, kind="StagedNetworkPolicy")
    deny_all = gnp("deny-all", {"selector": "app == 'db'", "order": 2000})
    a = build(tmp_path, [*BASE, enforced, delete, deny_all])
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"
    a = build(tmp_path, [*BASE, enforced, delete, deny_all], with_staged=True)
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"


def test_cal43_staged_kubernetes_network_policy(tmp_path):
    knp = cnp("a", "db", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}, kind="StagedKubernetesNetworkPolicy")
    a = build(tmp_path, [*BASE, knp])
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"
    a = build(tmp_path, [*BASE, knp], with_staged=True)
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "80/TCP") == "allow"


def test_cal40_security_tier_decides_before_k8s_policies_and_reaches_them_by_pass(tmp_path):
    k8s_allow_all = netpol("a", "open", {"podSelector": {}, "ingress": [{}]})
    objs = [*BASE, tier("security", 100), k8s_allow_all,
            gnp("security.zone", {"tier": "security", "selector": "projectcalico.org/namespace == 'a'",
                                  "ingress": [{"action": "Deny", "source": {"namespaceSelector": "team == 'b'"}},
                                              {"action": "Pass"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"  # passed to default tier, K8s NP allows
    assert verdict(a, "internet", "a/db", "5432/TCP") == "allow"


# -- rule matching (CAL-25..35) ------------------------------------------------------------------


def test_edge16_cal29_cal30_selector_all_vs_no_source(tmp_path):
    with_all = cnp("a", "p", {"selector": "app == 'db'", "ingress": [
        {"action": "Allow", "source": {"selector": "all()"}}]})
    a = build(tmp_path, [*BASE, with_all])
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"  # other namespace (CAL-30)
    assert verdict(a, "internet", "a/db", "80/TCP") == "deny"  # not an entity (CAL-29)
    assert verdict(a, "a/web", "a/db", "80/TCP") == "allow"
    no_source = cnp("a", "p", {"selector": "app == 'db'", "ingress": [{"action": "Allow"}]})
    a = build(tmp_path, [*BASE, no_source])
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"
    assert verdict(a, "internet", "a/db", "80/TCP") == "allow"


def test_edge17_cal31_not_selector_in_namespaced_policy_keeps_namespace_term(tmp_path):
    rule = {"action": "Allow", "source": {"notSelector": "role == 'bad'"}}
    a = build(tmp_path, [*BASE, cnp("a", "p", {"selector": "app == 'db'", "ingress": [rule]})])
    assert verdict(a, "internet", "a/db", "80/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "80/TCP") == "allow"
    a = build(tmp_path, [*BASE, gnp("p", {"selector": "app == 'db'", "ingress": [rule]})])
    assert verdict(a, "internet", "a/db", "80/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"


def test_edge18_cal4_not_equal_matches_missing_label(tmp_path):
    for sel in ("env != 'prod'", "env not in {'prod'}"):
        objs = [*BASE, gnp("p", {"selector": "app == 'db'", "ingress": [
            {"action": "Deny", "source": {"selector": sel}}, {"action": "Allow"}]})]
        a = build(tmp_path, objs)
        assert verdict(a, "b/client", "a/db", "80/TCP") == "deny", sel
        assert verdict(a, "internet", "a/db", "80/TCP") == "allow", sel  # not an entity


def test_cal30_namespace_selector_alone_and_global(tmp_path):
    objs = [*BASE, gns("corp", {"net": "corp"}, ["172.16.0.0/12"]),
            cnp("a", "p", {"selector": "app == 'db'", "ingress": [
                {"action": "Allow", "source": {"namespaceSelector": "team == 'b'"}},
                {"action": "Allow", "source": {"selector": "net == 'corp'", "namespaceSelector": "global()"}}]})]
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"
    assert verdict(a, "a/web", "a/db", "80/TCP") == "deny"
    assert verdict(a, "GlobalNetworkSet/corp", "a/db", "80/TCP") == "allow"
    assert verdict(a, "internet", "a/db", "80/TCP") == "deny"
    # without global() a namespaced policy never sees a GlobalNetworkSet
    objs[-1]["spec"]["ingress"][1]["source"].pop("namespaceSelector")
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "GlobalNetworkSet/corp", "a/db", "80/TCP") == "deny"


def test_cal41_namespaced_network_set_and_pcns_inheritance(tmp_path):
    objs = [*BASE, netset("b", "office", {"kind": "office"}, ["203.0.113.0/24"]),
            gnp("p", {"selector": "app == 'db'", "ingress": [
                {"action": "Allow", "source": {"selector": "kind == 'office' && pcns.team == 'b'"}}]})]
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "b/NetworkSet/office", "a/db", "443/TCP") == "allow"
    assert verdict(a, "internet", "a/db", "443/TCP") == "deny"
    # a namespaced policy in a reaches b's set only through a namespaceSelector (CAL-30)
    objs[-1] = cnp("a", "p", {"selector": "app == 'db'", "ingress": [
        {"action": "Allow", "source": {"selector": "kind == 'office'"}}]})
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "b/NetworkSet/office", "a/db", "443/TCP") == "deny"
    objs[-1]["spec"]["ingress"][0]["source"]["namespaceSelector"] = "projectcalico.org/name == 'b'"
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "b/NetworkSet/office", "a/db", "443/TCP") == "allow"


def test_edge19_cal41_network_set_covering_a_pod_ip_matches_the_pod(tmp_path):
    objs = [ns("a"), ns("b"), pod("a", "db", {"app": "db"}, ip="192.168.9.9"),
            pod("b", "x", ip="10.1.2.3"), pod("b", "y", ip="192.168.1.1"),
            gns("corp", {"net": "corp"}, ["10.0.0.0/8"]),
            gnp("p", {"selector": "app == 'db'", "ingress": [
                {"action": "Deny", "source": {"selector": "net == 'corp'"}}, {"action": "Allow"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/x", "a/db", "80/TCP") == "deny"  # 10.1.2.3 is inside corp's CIDR
    assert verdict(a, "b/y", "a/db", "80/TCP") == "allow"
    assert verdict(a, "GlobalNetworkSet/corp", "a/db", "80/TCP") == "deny"
    assert verdict(a, "internet", "a/db", "80/TCP") == "allow"


def test_cal41_unknown_pod_ip_inside_set_is_unknown_unless_pod_cidr(tmp_path):
    objs = [ns("a"), ns("b"), pod("a", "db", {"app": "db"}), pod("b", "x"),
            gns("corp", {"net": "corp"}, ["10.0.0.0/8"]),
            gnp("p", {"selector": "app == 'db'", "ingress": [
                {"action": "Deny", "source": {"selector": "net == 'corp'"}}, {"action": "Allow"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/x", "a/db", "80/TCP") == "unknown"
    assert any("--pod-cidr" in n for n in a.inventory.notes)
    a = build(tmp_path, objs, pod_cidrs=(ip_network("192.168.0.0/16"),))
    assert verdict(a, "b/x", "a/db", "80/TCP") == "allow"
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.244.0.0/16"),))
    assert verdict(a, "b/x", "a/db", "80/TCP") == "deny"  # EDGE-19: pod CIDR inside the corp set


def test_cal41_network_sets_share_identical_cidrs_and_beat_externals(tmp_path):
    from auditor.commands.pipeline import parse_externals

    objs = [ns("a"), pod("a", "db", {"app": "db"}, ip="10.244.0.5"),
            gns("one", {"set": "one"}, ["198.51.100.0/24"]), gns("two", {"set": "two"}, ["198.51.100.0/24"]),
            gnp("p", {"selector": "app == 'db'", "ingress": [
                {"action": "Allow", "source": {"selector": "set == 'two'"}}]})]
    a = build(tmp_path, objs, externals=parse_externals(["partner=198.51.100.0/24"]))
    assert verdict(a, "GlobalNetworkSet/one", "a/db", "80/TCP") == "allow"  # same addresses as two
    assert verdict(a, "GlobalNetworkSet/two", "a/db", "80/TCP") == "allow"
    assert verdict(a, "internet", "a/db", "80/TCP") == "deny"
    assert not any(e.name == "partner" and e.classes for e in a.entities("pod"))  # set wins the tie


def test_cal5_cal7_service_accounts_names_and_selector(tmp_path):
    objs = [*BASE, sa("b", "robot", tier="gold"), sa("b", "default"), sa("a", "default"),
            pod("b", "bot", {"app": "bot"}, sa="robot"),
            gnp("p", {"selector": "app == 'db'", "ingress": [
                {"action": "Allow", "source": {"serviceAccounts": {"names": ["robot"]}}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/bot", "a/db", "80/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"
    objs[-1]["spec"]["ingress"][0]["source"] = {"serviceAccounts": {"selector": "tier == 'gold'"}}
    assert verdict(build(tmp_path, objs), "b/bot", "a/db", "80/TCP") == "allow"
    objs[-1]["spec"]["ingress"][0]["source"] = {"selector": "pcsa.tier == 'gold'"}
    assert verdict(build(tmp_path, objs), "b/bot", "a/db", "80/TCP") == "allow"
    objs[-1]["spec"]["ingress"][0]["source"] = {"selector": "projectcalico.org/serviceaccount == 'robot'"}
    assert verdict(build(tmp_path, objs), "b/bot", "a/db", "80/TCP") == "allow"
    # policy-level serviceAccountSelector picks subjects
    objs[-1] = gnp("p", {"serviceAccountSelector": "tier == 'gold'", "egress": [
        {"action": "Allow", "destination": {"selector": "app == 'web'"}}]})
    a = build(tmp_path, objs)
    assert verdict(a, "b/bot", "a/db", "80/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"


def test_cal14_gnp_namespace_selector_picks_subjects(tmp_path):
    objs = [*BASE, gnp("p", {"namespaceSelector": "team == 'b'", "selector": "app == 'web'",
                             "ingress": [{"action": "Deny"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "b/web", "9090/TCP") == "deny"
    assert verdict(a, "b/client", "a/web", "8080/TCP") == "allow"


def test_cal33_ports_ranges_named_and_not_ports(tmp_path):
    objs = [*BASE, gnp("p", {"selector": "app in {'web', 'db'}", "ingress": [
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http", "8000:8010", 5432],
                                                               "notPorts": [8005]}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/web", "8080/TCP") == "allow"  # named port http = 8080 on a/web
    assert verdict(a, "b/client", "b/web", "9090/TCP") == "allow"  # … and 9090 on b/web
    assert verdict(a, "b/client", "b/web", "8080/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "8003/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "8005/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "8011/TCP") == "deny"
    assert verdict(a, "b/client", "a/db", "5432/UDP") == "deny"


def test_cal26_protocol_numbers_and_not_protocol(tmp_path):
    objs = [*BASE, gnp("p", {"selector": "app == 'db'", "ingress": [
        {"action": "Deny", "protocol": 17},
        {"action": "Allow", "notProtocol": "SCTP"}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "53/UDP") == "deny"
    assert verdict(a, "b/client", "a/db", "80/TCP") == "allow"
    assert verdict(a, "b/client", "a/db", "80/SCTP") == "deny"


def test_cal27_icmp_type_atoms_and_codes(tmp_path):
    objs = [*BASE, gnp("p", {"selector": "app == 'db'", "ingress": [
        {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}},
        {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 3, "code": 4}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "8/ICMP") == "allow"
    assert verdict(a, "b/client", "a/db", "ICMP") == "allow"  # no type given: echo request
    assert verdict(a, "b/client", "a/db", "0/ICMP") == "deny"
    assert verdict(a, "b/client", "a/db", "3/ICMP") == "unknown"  # only code 4 of type 3
    objs[-1] = gnp("p", {"selector": "app == 'db'", "ingress": [
        {"action": "Allow", "protocol": "ICMP", "notICMP": {"type": 8}}]})
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "8/ICMP") == "deny"
    assert verdict(a, "b/client", "a/db", "0/ICMP") == "allow"


def test_cal28_nets_and_not_nets(tmp_path):
    objs = [ns("a"), ns("b"), pod("a", "db", {"app": "db"}, ip="10.0.0.5"), pod("b", "x", ip="10.1.2.3"),
            pod("b", "y", ip="10.2.0.1"),
            cnp("a", "p", {"selector": "app == 'db'", "ingress": [
                {"action": "Allow", "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.2.0.0/16"]}}]})]
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.0.0.0/8"),))
    assert verdict(a, "b/x", "a/db", "80/TCP") == "allow"  # nets are not namespace-scoped (CAL-28, CAL-39)
    assert verdict(a, "b/y", "a/db", "80/TCP") == "deny"
    assert verdict(a, "internet", "a/db", "80/TCP") == "deny"


def test_cal34_destination_services_match_backend_pods_and_target_ports(tmp_path):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "a"},
           "spec": {"selector": {"app": "db"}, "ports": [{"port": 80, "targetPort": "pg", "protocol": "TCP"}]}}
    objs = [*BASE, svc, cnp("b", "p", {"selector": "app == 'client'", "egress": [
        {"action": "Allow", "destination": {"services": {"name": "db", "namespace": "a"}}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"  # targetPort pg = 5432 on the backend
    assert verdict(a, "b/client", "a/db", "80/TCP") == "deny"  # not the Service port
    assert verdict(a, "b/client", "a/web", "8080/TCP") == "deny"
    objs[-2] = {**svc, "metadata": {"name": "other", "namespace": "a"}}
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "unknown"  # Service not in the input
    assert any("Service a/db is not in the input" in u for u in a.policies.unsupported)


def test_edge20_cal35_http_rule_is_unknown_not_allow(tmp_path):
    objs = [*BASE, gnp("p", {"selector": "app == 'db'", "ingress": [
        {"action": "Allow", "http": {"methods": ["GET"]}}]})]
    a = build(tmp_path, objs)
    assert verdict(a, "b/client", "a/db", "80/TCP") == "unknown"
    assert any("L7 http match" in u for u in a.policies.unsupported)


def test_cal39_k8s_ipblock_and_calico_tiers_together(tmp_path):
    objs = [ns("a"), ns("b"), pod("a", "db", {"app": "db"}, ip="10.0.0.5"), pod("b", "x", ip="10.1.2.3"),
            netpol("a", "p", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
            tier("security", 10), gnp("security.pass", {"tier": "security", "selector": "all()",
                                                         "ingress": [{"action": "Pass"}]})]
    a = build(tmp_path, objs, pod_cidrs=(ip_network("10.0.0.0/8"),))
    assert verdict(a, "b/x", "a/db", "80/TCP") == "allow"  # ipBlock matches the pod IP
    assert verdict(a, "internet", "a/db", "80/TCP") == "deny"


def test_crd_projectcalico_org_v1_form_is_read_too(tmp_path):
    objs = [*BASE, gnp("p", {"selector": "app == 'db'", "ingress": [{"action": "Deny"}]},
                       api="crd.projectcalico.org/v1")]
    assert verdict(build(tmp_path, objs), "b/client", "a/db", "80/TCP") == "deny"


def test_cal44_host_endpoint_policies_are_listed_not_evaluated(tmp_path):
    hep = {"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint", "metadata": {"name": "node1-eth0"},
           "spec": {"node": "node1", "interfaceName": "eth0"}}
    dnt = gnp("untracked", {"selector": "all()", "doNotTrack": True, "applyOnForward": True,
                            "ingress": [{"action": "Deny"}]})
    aof = gnp("forward", {"selector": "app == 'db'", "applyOnForward": True, "ingress": [{"action": "Deny"}]})
    a = build(tmp_path, [*BASE, hep, dnt, aof])
    assert verdict(a, "a/web", "b/client", "80/TCP") == "allow"  # doNotTrack never applies to pods
    assert verdict(a, "a/web", "a/db", "80/TCP") == "deny"  # applyOnForward policies still apply to pods
    text = " ".join(a.policies.unsupported)
    assert "doNotTrack" in text and "applyOnForward" in text and "host endpoints are not modelled" in text
