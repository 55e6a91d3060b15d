"""Policy changes in words (``auditor/policy/summary.py``): summaries and their comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auditor.policy.summary import describe_changes, describe_policy, policy_key, policy_rules
from auditor.reach.analysis import analyze
from auditor.sources.manifests import load_manifests

NS = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}
      for n in ("shop", "dev", "ops")]


def netpol(spec: dict[str, Any], name: str = "db") -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "shop"}, "spec": spec}


def calico(spec: dict[str, Any], name: str = "guard") -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "shop"}, "spec": spec}


def summaries(tmp_path: Path, *objects: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump_all([*NS, *objects], sort_keys=False))
    return {policy_key(p): p for p in policy_rules(analyze(load_manifests([str(path)])))}


def one(tmp_path: Path, obj: dict[str, Any]) -> dict[str, Any]:
    [s] = summaries(tmp_path, obj).values()
    return s


def ingress(*rules: dict[str, Any], types: tuple[str, ...] = ("Ingress",), app: str = "db") -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": list(types), "ingress": list(rules)}


def rule(*peers: dict[str, Any], ports: list[int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"from": list(peers)}
    if ports is not None:
        out["ports"] = [{"protocol": "TCP", "port": p} for p in ports]
    return out


WEB = {"podSelector": {"matchLabels": {"app": "web"}}}
DEV = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dev"}}}
OPS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}


def test_summary_of_a_kubernetes_policy(tmp_path: Path) -> None:
    s = one(tmp_path, netpol(ingress(rule(WEB, DEV, ports=[5432, 5433]))))
    assert (s["kind"], s["namespace"], s["name"], s["ref"]) == ("NetworkPolicy", "shop", "db", "NetworkPolicy shop/db")
    assert s["selects"] == 'pods `app == "db"` in namespace `shop`'
    assert s["rules"] == [{"direction": "ingress", "index": 0, "action": "Allow",
                           "peers": ["all pods in namespace `dev`", 'pods `app == "web"` in namespace `shop`'],
                           "ports": ["TCP 5432", "TCP 5433"], "extra": []}]
    assert describe_policy(s) == ('selects pods `app == "db"` in namespace `shop` — ingress: rule 0 admits all pods '
                                  'in namespace `dev`, pods `app == "web"` in namespace `shop` on TCP 5432, TCP 5433')


def test_a_rule_now_also_admits_a_namespace(tmp_path: Path) -> None:
    rules = [rule(WEB, ports=[80]), rule(OPS, ports=[22]), rule(WEB, ports=[5432])]
    old = one(tmp_path, netpol(ingress(*rules)))
    rules[2] = rule(WEB, DEV, ports=[5432])
    new = one(tmp_path, netpol(ingress(*rules)))
    assert describe_changes(old, new) == ["ingress rule 2 now also admits all pods in namespace `dev`"]
    assert describe_changes(new, old) == ["ingress rule 2 no longer admits all pods in namespace `dev`"]
    assert describe_changes(old, old) == []


def test_ports_added_removed_and_opened_to_any(tmp_path: Path) -> None:
    old = one(tmp_path, netpol(ingress(rule(WEB, ports=[80, 443]))))
    new = one(tmp_path, netpol(ingress(rule(WEB, ports=[443, 8443]))))
    assert describe_changes(old, new) == ["ingress rule 0 now also allows ports TCP 8443",
                                          "ingress rule 0 no longer allows ports TCP 80"]
    anyport = one(tmp_path, netpol(ingress(rule(WEB))))
    assert describe_changes(old, anyport) == [
        "ingress rule 0 now allows ports any protocol and port (was TCP 443, TCP 80)"]


def test_an_inserted_rule_is_added_not_every_rule_modified(tmp_path: Path) -> None:
    old = one(tmp_path, netpol(ingress(rule(WEB, ports=[80]), rule(OPS, ports=[22]))))
    new = one(tmp_path, netpol(ingress(rule(DEV, ports=[9000]), rule(WEB, ports=[80]), rule(OPS, ports=[22]))))
    assert describe_changes(old, new) == [
        "ingress rule 0 added: admits all pods in namespace `dev` on TCP 9000"]
    assert describe_changes(new, old) == [
        "ingress rule 0 removed (it admits all pods in namespace `dev` on TCP 9000)"]


def test_selection_types_and_egress(tmp_path: Path) -> None:
    old = one(tmp_path, netpol(ingress(rule(WEB, ports=[80]))))
    new = one(tmp_path, netpol({**ingress(rule(WEB, ports=[80]), types=("Ingress", "Egress"), app="api"),
                                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]}))
    assert describe_changes(old, new) == [
        'now selects pods `app == "api"` in namespace `shop` (was pods `app == "db"` in namespace `shop`)',
        "now also applies to egress (its egress is isolated: only its egress rules allow)",
        "egress rule 0 added: allows traffic to `10.0.0.0/8` except `10.1.0.0/16` on any protocol and port"]


def test_calico_action_change_and_reordering(tmp_path: Path) -> None:
    allow = {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'web'"},
             "destination": {"ports": [80]}}
    deny = {"action": "Deny", "source": {"namespaceSelector": "kubernetes.io/metadata.name == 'dev'"}}
    old = one(tmp_path, calico({"selector": "app == 'db'", "types": ["Ingress"], "ingress": [allow, deny]}))
    new = one(tmp_path, calico({"selector": "app == 'db'", "types": ["Ingress"], "ingress": [deny, allow]}))
    assert old["kind"] == "calico/NetworkPolicy"
    assert describe_changes(old, new) == ["ingress rules renumbered: 0 → 1, 1 → 0"]  # order matters with Deny
    passed = one(tmp_path, calico({"selector": "app == 'db'", "types": ["Ingress"],
                                   "ingress": [allow, {**deny, "action": "Pass"}]}))
    assert describe_changes(old, passed) == ["ingress rule 1 action Deny → Pass"]
    assert describe_policy(old).endswith("ingress: rule 0 admits endpoints `app == \"web\"` in namespace `shop` on "
                                         "TCP 80; rule 1 denies traffic from all endpoints in namespace `dev` on any "
                                         "protocol and port")
