"""``decided_by`` as data: the deciding rule of each side of a flow (reach/decision.py), its one
text form (byte-identical to the words every output showed before), and the JSON detail."""

from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.reach.analysis import Analysis, analyze
from auditor.reach.decision import DecidedBy, Decision, Reason, decided_by_text, rule_text
from auditor.sources.manifests import load_manifests

BANK = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank"
CUSTOMER, SUMMARY = "dmz/Deployment/customer", "trusted/Deployment/summary"
DATABASE, ATTACKER = "restricted/StatefulSet/database", "restricted/attacker"


@pytest.fixture(scope="module")
def after() -> Analysis:
    return analyze(load_manifests([str(BANK / "after")]))


@pytest.fixture(scope="module")
def calico() -> Analysis:
    return analyze(load_manifests([str(BANK / "calico")]))


@pytest.fixture(scope="module")
def istio() -> Analysis:
    return analyze(load_manifests([str(BANK / "istio")]))


def decided(a: Analysis, src: str, dst: str) -> DecidedBy:
    s, t = a.find(src, "workload")[0], a.find(dst, "workload")[0]
    pm = a.pairs("workload", [s], [t])
    return a.decided_by(pm, 0, 0)


def test_k8s_allowed_flow_names_the_rule_at_each_end_K8S_5_K8S_6(after: Analysis) -> None:
    d = decided(after, CUSTOMER, SUMMARY)
    assert [s.side for s in d.sides] == ["egress", "ingress"]
    eg, ing = d.sides[0].rules, d.sides[1].rules
    assert eg == (Decision(Reason.RULE, "Allow", tier="default", policy="NetworkPolicy dmz/customer-allow-egress-to-summary",
                           policy_kind="NetworkPolicy", policy_namespace="dmz",
                           policy_name="customer-allow-egress-to-summary", direction="egress", rule_index=0,
                           rule_ids=("K8S-6",)),)
    assert (ing[0].policy_namespace, ing[0].policy_name, ing[0].direction, ing[0].rule_index, ing[0].action) == (
        "trusted", "summary-allow-ingress-from-customer", "ingress", 0, "Allow")
    # the text as every output printed it before the structure existed
    assert d == ("egress: NetworkPolicy dmz/customer-allow-egress-to-summary egress rule 0 (Allow); "
                 "ingress: NetworkPolicy trusted/summary-allow-ingress-from-customer ingress rule 0 (Allow)")


def test_k8s_denied_flow_is_end_of_tier_and_open_side_is_no_policy_K8S_2_K8S_4(after: Analysis) -> None:
    d = decided(after, CUSTOMER, DATABASE)
    assert [(s.side, [(r.reason, r.tier, r.action, r.rule_ids) for r in s.rules]) for s in d.sides] == [
        ("egress", [(Reason.END_OF_TIER, "default", "Deny", ("CAL-21", "K8S-4"))]),
        ("ingress", [(Reason.END_OF_TIER, "default", "Deny", ("CAL-21", "K8S-4"))]),
    ]
    assert d == ("egress: tier default: no rule matched, end-of-tier Deny (CAL-21, K8S-4); "
                 "ingress: tier default: no rule matched, end-of-tier Deny (CAL-21, K8S-4)")
    dns = decided(after, CUSTOMER, "kube-system/Deployment/kube-dns")
    assert dns.sides[1].rules == (Decision(Reason.NO_POLICY, "Allow", rule_ids=("K8S-2", "CAL-22")),)
    assert dns.endswith("ingress: no policy applies: not isolated (K8S-2, CAL-22)")


def test_calico_tiers_policies_and_rule_indexes_CAL_21_CAL_24(calico: Analysis) -> None:
    d = decided(calico, CUSTOMER, DATABASE)
    eg, ing = d.sides
    assert [(r.reason, r.tier, r.action) for r in eg.rules] == [(Reason.END_OF_TIER, "security", "Deny")]
    assert [(r.tier, r.policy_kind, r.policy_name, r.policy_namespace, r.direction, r.rule_index, r.action)
            for r in ing.rules] == [("security", "calico/GlobalNetworkPolicy", "security.restricted-zone", None,
                                     "ingress", 1, "Deny")]
    assert d == ("egress: tier security: no rule matched, end-of-tier Deny (CAL-21, K8S-4); "
                 "ingress: tier security: calico/GlobalNetworkPolicy security.restricted-zone ingress rule 1 (Deny)")
    dns = decided(calico, CUSTOMER, "kube-system/Deployment/kube-dns")
    assert [(r.policy, r.rule_index) for r in dns.sides[0].rules] == [
        ("calico/GlobalNetworkPolicy platform.zone-dns", 0), ("calico/GlobalNetworkPolicy platform.zone-dns", 1)]
    ns_rule = decided(calico, CUSTOMER, SUMMARY).sides[0].rules[0]
    assert (ns_rule.policy_kind, ns_rule.policy_namespace, ns_rule.policy_name, ns_rule.tier) == (
        "calico/NetworkPolicy", "dmz", "platform.customer", "platform")


def test_istio_side_names_the_authorization_default_IST_11_IST_12(istio: Analysis) -> None:
    s, t = istio.find(ATTACKER)[0], istio.find(DATABASE)[0]
    pm = istio.pairs("workload", [s], [t])
    d = istio.decided_by(pm, 0, 0, [istio.ports.index_of("TCP", 2379)])
    side = {x.side: x for x in d.sides}["istio"]
    assert [(r.reason, r.action, r.rule_ids) for r in side.rules] == [
        (Reason.NONE_MATCHED, "Deny", ("IST-11", "IST-12"))]
    assert "istio: ALLOW AuthorizationPolicies apply and none matched: denied (IST-11, IST-12)" in d


def _old_engine_text(a: Analysis, rid: int) -> str | None:
    """The f-string the engine used for a policy rule before rules were data."""
    ref, action = a.engine.rules.refs[rid], a.engine.rules.actions[rid]
    if ref is None:
        return None
    return f"{ref} ({action})" if ref.tier == "default" or not ref.tier else f"tier {ref.tier}: {ref} ({action})"


@pytest.mark.parametrize("variant", ["before", "after", "calico", "istio"])
def test_every_rule_text_equals_the_old_words_and_round_trips_json(variant: str) -> None:
    a = analyze(load_manifests([str(BANK / variant)]))
    tables = [a.engine.rules] + ([a.l7.rules] if a.l7 is not None else [])
    for table in tables:
        for rid, d in enumerate(table.decisions):
            assert table.text[rid] == rule_text(d)
            assert Decision.from_json(json.loads(json.dumps(d.to_json()))) == d
            if table is a.engine.rules and d.reason == Reason.RULE:
                assert rule_text(d) == _old_engine_text(a, rid)
    if a.istio is not None and a.l7 is not None:
        mesh_rules = {rule_text(d) for d in a.l7.rules.decisions if d.reason == Reason.MESH_RULE}
        assert mesh_rules == {f"{p.ref} rule {r.index} ({p.action})" for p in a.istio.authz if not p.broken
                              for r in p.rules or ()}


def test_decided_by_is_its_text_and_survives_pickle(calico: Analysis) -> None:
    d = decided(calico, CUSTOMER, SUMMARY)
    assert str(d) == decided_by_text(d.sides)
    back = pickle.loads(pickle.dumps(d))
    assert back == d and back.sides == d.sides


def _reach(*args: str) -> str:
    r = CliRunner().invoke(main, ["reach", str(BANK / "calico"), *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_reach_json_adds_decided_by_detail_csv_and_table_do_not() -> None:
    rows = json.loads(_reach("--format", "json"))["rows"]
    row = next(r for r in rows if r["src"] == CUSTOMER and r["dst"] == DATABASE)
    ing = next(s for s in row["decided_by_detail"] if s["side"] == "ingress")
    assert [(r["reason"], r["tier"], r["policy"]["ref"], r["rule_index"], r["action"]) for r in ing["rules"]] == [
        ("rule", "security", "calico/GlobalNetworkPolicy security.restricted-zone", 1, "Deny")]
    assert all(r["decided_by"] and r["decided_by_detail"] for r in rows)
    header = next(csv.reader(io.StringIO(_reach("--format", "csv"))))
    assert "decided_by" in header and "decided_by_detail" not in header
    assert "DECIDED_BY_DETAIL" not in _reach().splitlines()[0]
    port_rows = json.loads(_reach("--format", "json", "--port", "2379/TCP"))["rows"]
    assert all(isinstance(r["decided_by_detail"], list) and r["decided_by_detail"] for r in port_rows)
