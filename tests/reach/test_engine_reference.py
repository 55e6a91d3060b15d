"""Differential test: the vectorised engine against a scalar reading of the same IR.

Random small clusters (pods with labels and IPs, Kubernetes NetworkPolicies and Calico
policies in two tiers with Allow/Deny/Pass) are compiled once; then, for every pod pair and
probe port, a straightforward per-packet interpretation of CAL-24 (written independently of
the engine: Python loops, `Selector.matches`, `ipaddress` membership) must give exactly the
verdict the engine computes on classes, signatures, groups and atoms.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.policy.ir import Action, EntityMatch, Policy, Rule
from auditor.reach.analysis import analyze
from auditor.reach.classes import calico_labels
from auditor.reach.endpoints import Endpoint
from auditor.reach.engine import ALLOW, DENY
from auditor.sources.manifests import load_manifests

NAMESPACES = ("a", "b")
APPS = ("web", "db", "api")
PROBES = [("TCP", 80), ("TCP", 443), ("TCP", 5432), ("TCP", 8080), ("UDP", 53), ("SCTP", 80)]
NETS = ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "192.168.0.0/16", "0.0.0.0/0")


# -- random clusters ------------------------------------------------------------------------

pod_st = st.fixed_dictionaries({
    "ns": st.sampled_from(NAMESPACES),
    "app": st.sampled_from(APPS),
    "tier": st.sampled_from(["front", "back", None]),
    "ip": st.sampled_from(["10.1.2.3", "10.1.9.9", "10.2.0.1", "192.168.1.1"]),
    "http": st.sampled_from([80, 8080, None]),
})

k8s_peer = st.one_of(
    st.fixed_dictionaries({"podSelector": st.fixed_dictionaries({"matchLabels": st.fixed_dictionaries(
        {"app": st.sampled_from(APPS)})})}),
    st.fixed_dictionaries({"namespaceSelector": st.fixed_dictionaries({"matchLabels": st.fixed_dictionaries(
        {"team": st.sampled_from(NAMESPACES)})})}),
    st.fixed_dictionaries({"ipBlock": st.sampled_from([
        {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}, {"cidr": "10.1.2.0/24"}, {"cidr": "0.0.0.0/0"}])}),
)
k8s_port = st.one_of(
    st.fixed_dictionaries({"port": st.sampled_from([80, 443, 5432]), "protocol": st.sampled_from(["TCP", "UDP"])}),
    st.fixed_dictionaries({"port": st.just(80), "endPort": st.just(8080)}),
    st.fixed_dictionaries({"port": st.just("http")}),
)
k8s_rule = st.fixed_dictionaries({}, optional={
    "peers": st.lists(k8s_peer, max_size=2), "ports": st.lists(k8s_port, max_size=2)})

calico_side = st.fixed_dictionaries({}, optional={
    "selector": st.sampled_from(["app == 'web'", "app in {'db', 'api'}", "has(tier)", "tier != 'front'"]),
    "notSelector": st.sampled_from(["app == 'db'"]),
    "nets": st.sampled_from([["10.1.0.0/16"], ["192.168.0.0/16"]]),
    "notNets": st.sampled_from([["10.1.2.0/24"]]),
    "namespaceSelector": st.sampled_from(["team == 'a'", "all()"]),
})
calico_rule = st.fixed_dictionaries({
    "action": st.sampled_from(["Allow", "Deny", "Pass", "Log"]),
}, optional={
    "protocol": st.sampled_from(["TCP", "UDP"]),
    "source": calico_side,
    "destination": calico_side,
    "ports": st.sampled_from([[80], ["443:5432"], ["http"]]),
})
calico_policy = st.fixed_dictionaries({
    "global": st.booleans(),
    "ns": st.sampled_from(NAMESPACES),
    "tier": st.sampled_from(["security", "default"]),
    "selector": st.sampled_from(["all()", "app == 'web'", "app != 'api'", "has(tier)"]),
    "ingress": st.lists(calico_rule, max_size=3),
    "egress": st.lists(calico_rule, max_size=3),
})
def clusters(pods: tuple[int, int] = (2, 6), k8s: int = 3, rules: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """Random clusters: ``pods`` (min, max) pods, up to ``k8s`` NetworkPolicies of up to ``rules``
    rules per direction, up to 3 Calico policies."""
    return st.fixed_dictionaries({
        "pods": st.lists(pod_st, min_size=pods[0], max_size=pods[1]),
        "k8s": st.lists(st.fixed_dictionaries({
            "ns": st.sampled_from(NAMESPACES),
            "selector": st.sampled_from([{}, {"matchLabels": {"app": "db"}}, {"matchLabels": {"app": "web"}}]),
            "types": st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]),
            "ingress": st.lists(k8s_rule, max_size=rules),
            "egress": st.lists(k8s_rule, max_size=rules),
        }), max_size=k8s),
        "calico": st.lists(calico_policy, max_size=3),
    })


cluster_st = clusters()


def manifests(c: dict[str, Any]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"team": n}}} for n in NAMESPACES
    ]
    objs += [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": n}}
             for n in NAMESPACES]
    objs.append({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
                 "spec": {"order": 100}})
    for i, p in enumerate(c["pods"]):
        labels = {"app": p["app"], **({"tier": p["tier"]} if p["tier"] else {})}
        ports = [{"name": "http", "containerPort": p["http"]}] if p["http"] else []
        objs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"p{i}", "namespace": p["ns"], "labels": labels},
                     "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]},
                     "status": {"phase": "Running", "podIP": f"{p['ip'][:-1]}{i + 1}"}})
    for i, k in enumerate(c["k8s"]):
        spec: dict[str, Any] = {"podSelector": k["selector"], "policyTypes": k["types"]}
        for d, peer_key in (("ingress", "from"), ("egress", "to")):
            rules = []
            for r in k[d]:
                rule: dict[str, Any] = {}
                if r.get("peers"):
                    rule[peer_key] = r["peers"]
                if r.get("ports"):
                    rule["ports"] = r["ports"]
                rules.append(rule)
            spec[d] = rules
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": f"k{i}", "namespace": k["ns"]}, "spec": spec})
    for i, p in enumerate(c["calico"]):
        name = f"{p['tier']}.c{i}" if p["tier"] != "default" else f"c{i}"
        spec = {"tier": p["tier"], "order": 10 + i * 10, "selector": p["selector"],
                "types": ["Ingress", "Egress"], "ingress": [], "egress": []}
        for d in ("ingress", "egress"):
            for r in p[d]:
                rule = {"action": r["action"]}
                if "protocol" in r or "ports" in r:
                    rule["protocol"] = r.get("protocol", "TCP")
                for side in ("source", "destination"):
                    body = dict(r.get(side) or {})
                    if p["global"] and body.get("namespaceSelector") is None and "selector" in body:
                        body["namespaceSelector"] = "all()"
                    if side == "destination" and "ports" in r:
                        body["ports"] = r["ports"]
                    if body:
                        rule[side] = body
                spec[d].append(rule)
        meta: dict[str, Any] = {"name": name}
        kind = "GlobalNetworkPolicy" if p["global"] else "NetworkPolicy"
        if not p["global"]:
            meta["namespace"] = p["ns"]
        objs.append({"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": meta, "spec": spec})
    return objs


# -- the scalar reference -------------------------------------------------------------------


def side_matches(em: EntityMatch, ep: Endpoint, ns_labels: dict[str, dict[str, str]], dst: Endpoint,
                 proto: str, port: int, rule: Rule) -> bool:
    labels = calico_labels(ep, ns_labels.get(ep.namespace or ""), {})
    ip = ep.ip
    if em.pods_only and ep.kind != "pod":
        return False
    if em.selector is not None and not em.selector.matches(labels):
        return False
    if em.namespace_selector is not None:
        if ep.namespace is None or not em.namespace_selector.matches(
                {**ns_labels[ep.namespace], "projectcalico.org/name": ep.namespace}):
            return False
    elif (em.scope_namespace is not None and (em.entity_scoped or em.not_selector is not None)
          and ep.namespace != em.scope_namespace):
        return False
    if em.not_selector is not None and em.not_selector.matches(labels):
        return False
    if em.nets and not any(ip in n for n in em.nets if n.version == ip.version):
        return False
    if em.not_nets and any(ip in n for n in em.not_nets if n.version == ip.version):
        return False
    if em.ports is not None:
        ok = False
        for pr in em.ports:
            if pr.name is None:
                ok |= pr.lo <= port <= pr.hi
            else:
                ok |= any(n == pr.name and p == proto and num == port for n, p, num in dst.named_ports)
        if not ok:
            return False
    return True


def rule_matches(rule: Rule, src: Endpoint, dst: Endpoint, ns_labels: dict, proto: str, port: int) -> bool:
    if rule.protocol is not None and str(rule.protocol) != proto:
        return False
    return (side_matches(rule.source, src, ns_labels, dst, proto, port, rule)
            and side_matches(rule.destination, dst, ns_labels, dst, proto, port, rule))


def applies(pol: Policy, ep: Endpoint, ns_labels: dict) -> bool:
    if ep.kind != "pod":
        return False
    if pol.namespace is not None and pol.namespace != ep.namespace:
        return False
    return pol.subject.matches(calico_labels(ep, ns_labels.get(ep.namespace or ""), {}))


def reference(analysis, src: Endpoint, dst: Endpoint, proto: str, port: int) -> int:
    ns_labels = analysis.inventory.namespace_labels
    verdicts = []
    for d, subj in (("egress", src), ("ingress", dst)):
        pols = [p for p in analysis.policies.policies if d in p.types and not p.staged and applies(p, subj, ns_labels)]
        verdict = ALLOW
        tiers = sorted({p.tier for p in pols}, key=lambda t: analysis.policies.tiers[t].sort_key)
        for tname in tiers:
            tier = analysis.policies.tiers[tname]
            result = None
            for pol in sorted((p for p in pols if p.tier == tname), key=lambda p: p.sort_key):
                for rule in pol.rules(d):
                    if rule.action == Action.LOG:
                        continue
                    if rule_matches(rule, src, dst, ns_labels, proto, port):
                        result = rule.action
                        break
                if result:
                    break
            if result == Action.ALLOW:
                verdict = ALLOW
                break
            if result == Action.DENY or (result is None and tier.default_action == Action.DENY):
                verdict = DENY
                break
        verdicts.append(verdict)
    return min(verdicts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(cluster=cluster_st)
def test_engine_equals_scalar_reference(tmp_path, cluster):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(manifests(cluster)))
    analysis = analyze(load_manifests([str(path)]))
    pods = [e for e in analysis.entities("pod") if e.kind == "pod"]
    pm = analysis.pairs("pod", pods, pods)
    for i, s in enumerate(pods):
        for j, t in enumerate(pods):
            src = analysis.inventory.endpoints[s.endpoints[0]]
            dst = analysis.inventory.endpoints[t.endpoints[0]]
            for proto, port in PROBES:
                atom = analysis.ports.index_of(proto, port)
                got = int(pm.verdict[pm.row[i, j], atom])
                want = reference(analysis, src, dst, proto, port)
                assert got == want, (s.name, t.name, proto, port, got, want)


def test_reference_helpers_agree_on_ipaddress():
    assert ipaddress.ip_address("10.1.2.3") in ipaddress.ip_network("10.1.0.0/16")


def test_forked_sigma_evaluation_gives_identical_results(tmp_path, monkeypatch):
    """The σ loop may run on forked workers; the result must not depend on it."""
    import numpy as np

    import auditor.reach.engine as engine_mod

    root = __import__("pathlib").Path(__file__).resolve().parents[2] / "sample_clusters" / "bank" / "calico"
    monkeypatch.setattr(engine_mod, "_MIN_SIGMAS_PER_WORKER", 1)
    runs = []
    for workers in ("1", "2"):
        monkeypatch.setenv("AUDITOR_WORKERS", workers)
        a = analyze(load_manifests([str(root)]))
        runs.append(a)
    one, two = runs
    assert two.engine.workers == 2 and one.engine.workers == 1
    for d in ("egress", "ingress"):
        r1, r2 = getattr(one, d), getattr(two, d)
        assert np.array_equal(r1.sigma_of, r2.sigma_of)
        assert np.array_equal(r1.part_of, r2.part_of)
        assert np.array_equal(r1.parts.dense(), r2.parts.dense())
        assert np.array_equal(r1.verdict, r2.verdict)
        assert np.array_equal(r1.rule, r2.rule)
