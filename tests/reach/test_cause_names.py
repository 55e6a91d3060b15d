"""A cause names its own row's object (pod, workload, namespace), not the object of another row
whose class shares the cached cause: causes are cached per distinct (σ, group, atoms) and the
rows of one class (or of classes sharing σ and peer group) must each be named for themselves.
Each case runs the real CLI on YAML and reads the CSV back."""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from auditor.cli import main
from tests.reach.test_causes import DB_TEMPLATE, MESH, WEB, authz, mpod, netpol, pod

Obj = dict[str, Any]


def _why(tmp: Path, objs: list[Obj], *args: str) -> dict[tuple[str, str], str]:
    """``why_unknown`` of every unknown CSV row of ``reach`` by (src, dst)."""
    src = tmp / "cluster.yaml"
    src.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    r = CliRunner().invoke(main, ["reach", str(src), "--format", "csv", *args], catch_exceptions=False)
    assert r.exit_code in (0, 1), r.output
    return {(row["src"], row["dst"]): row["why_unknown"] for row in csv.DictReader(io.StringIO(r.stdout))
            if row["allowed"] == "unknown"}


def _bare(ns: str, name: str) -> Obj:
    body = pod(ns, name)
    body["metadata"]["labels"] = {"app": "web"}  # one class: same labels, no IP
    return body


SHOP = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"zone": "shop"}}}
IPBLOCK_ONLY = [SHOP, _bare("shop", "alpha-1"), _bare("shop", "beta-1"), pod("shop", "client", ip="10.1.0.9"),
                netpol("shop", "out", {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
                                       "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})]


def test_unknown_pod_ip_names_the_rows_own_pod(tmp_path: Path) -> None:
    for by in ("pod", "workload"):
        why = _why(tmp_path, IPBLOCK_ONLY, "--by", by, "--from", "shop/client")
        for name in ("shop/alpha-1", "shop/beta-1"):
            assert why[("shop/client", name)].startswith(f"pod-ip-unknown-vs-ipblock: IP of {name} unknown"), (by, why)


def test_missing_namespace_names_the_rows_own_namespace(tmp_path: Path) -> None:
    # two sources in two missing namespaces: the same σ (no policy selects them) and peer group
    data = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data", "labels": {"zone": "data"}}}
    objs = [WEB, data, pod("data", "db", ip="10.0.1.1"), pod("ghost-a", "app", ip="10.0.2.1"),
            pod("ghost-b", "app", ip="10.0.2.2"),
            netpol("data", "from-web", {"podSelector": {}, "policyTypes": ["Ingress"],
                                        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"zone": "web"}}}]}]})]
    for by in ("pod", "workload", "namespace"):
        why = _why(tmp_path, objs, "--by", by)
        rows = {k: v for k, v in why.items() if k[0].startswith("ghost-") and k[1].startswith("data")}
        assert len(rows) == 2, (by, why)
        for (src, _), text in rows.items():
            ns = src.split("/")[0]
            assert text.startswith(f"namespace-missing: Namespace {ns} not in input"), (by, text)


def test_mesh_membership_names_the_rows_own_workload(tmp_path: Path) -> None:
    db2 = copy.deepcopy(DB_TEMPLATE)
    db2["metadata"]["name"] = "db2"  # the same pod template: one class for both workloads
    objs = [WEB, mpod("web", "front"), DB_TEMPLATE, db2, MESH[5],
            authz("data", "only-x", {"selector": {"matchLabels": {"app": "db"}}, "action": "ALLOW",
                                     "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/x/sa/y"]}}]}]})]
    why = _why(tmp_path, objs, "--by", "workload", "--from", "web/front")
    for name in ("data/Deployment/db", "data/Deployment/db2"):
        text = why[("web/front", name)]
        assert f"mesh-membership-uncertain: {name} may or may not have an Istio proxy" in text, why
        other = "data/Deployment/db2" if name.endswith("db") else "data/Deployment/db "
        assert other not in text + " ", why


def test_selector_uncertain_from_a_network_set_in_a_missing_namespace(tmp_path: Path) -> None:
    """CAL-41: a rule's namespaceSelector possibly matches a NetworkSet of a missing Namespace, so
    it possibly matches the pods whose IPs lie in the set's CIDRs; such a pod's own namespace,
    service account and IP are known, so no more precise code names it: ``selector-uncertain``."""
    data = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data", "labels": {"zone": "data"}}}
    objs = [WEB, data, pod("web", "front", ip="10.0.0.1"), pod("data", "db", ip="10.0.5.5"),
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "data"}},
            {"apiVersion": "projectcalico.org/v3", "kind": "NetworkSet",
             "metadata": {"name": "ghosts", "namespace": "ghost", "labels": {"role": "ghost"}},
             "spec": {"nets": ["10.0.5.0/24"]}},
            {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "out"},
             "spec": {"selector": "app == 'front'", "types": ["Egress"],
                      "egress": [{"action": "Allow", "destination": {"namespaceSelector": "team == 'x'"}}]}}]
    why = _why(tmp_path, objs, "--by", "pod", "--from", "web/front")
    assert why[("web/front", "data/db")] == (
        "selector-uncertain: calico/GlobalNetworkPolicy out egress rule 0 may or may not match"), why
