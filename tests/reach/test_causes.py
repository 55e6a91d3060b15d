"""Every ``unknown`` names its cause, in every output (issue 13): one small manifest per cause
code; the cause must reach the CSV ``why_unknown`` column, the JSON rows and meta, ``explain``'s
"unknown because" line, the audit result and the PDF text. Also CAL-1: an always-true
``serviceAccountSelector`` with the ``default`` ServiceAccount absent gives no unknown."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pypdf
import pytest
import yaml
from click.testing import CliRunner

from auditor.cli import main
from auditor.policy.selectors import always_true, parse_selector

WEB = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web", "labels": {"zone": "web"}}}
DATA = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "data", "labels": {"zone": "data"}}}


def pod(ns: str, name: str, *, ip: str | None = None, sa: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
                            "spec": {"containers": [{"name": "c", "image": "x",
                                                     "ports": [{"containerPort": 8080}]}]}}
    if sa:
        body["spec"]["serviceAccountName"] = sa
    if ip:
        body["status"] = {"podIP": ip, "phase": "Running"}
    return body


def calico(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def netpol(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


BASE = [WEB, DATA, pod("web", "front", ip="10.0.0.1"), pod("data", "db", ip="10.0.1.1")]
ALLOW_FRONT = {"action": "Allow", "protocol": "TCP", "destination": {"ports": [8080]}}

# code → objects that make web/front → data/db unknown for that cause
CASES: dict[str, list[dict[str, Any]]] = {
    "sa-labels-missing": [*BASE, calico("data", "db-in", {
        "selector": "app == 'db'", "serviceAccountSelector": "team == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Deny"}]})],
    "namespace-missing": [DATA, pod("web", "front", ip="10.0.0.1"), pod("data", "db", ip="10.0.1.1"),
                          netpol("data", "db-in", {
                              "podSelector": {}, "policyTypes": ["Ingress"],
                              "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"zone": "web"}}}]}]})],
    "pod-ip-unknown-vs-ipblock": [WEB, DATA, pod("web", "front"), pod("data", "db", ip="10.0.1.1"),
                                  netpol("data", "db-in", {
                                      "podSelector": {}, "policyTypes": ["Ingress"],
                                      "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/24"}}]}]})],
    "calico-http-rule": [*BASE, calico("data", "db-in", {
        "selector": "app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP", "http": {"methods": ["GET"]}}]})],
    "source-ports": [*BASE, calico("data", "db-in", {
        "selector": "app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"ports": [1234]}}]})],
    "equal-order-tie": [*BASE,
                        calico("data", "a", {"selector": "app == 'db'", "order": 5, "types": ["Ingress"],
                                             "ingress": [ALLOW_FRONT]}),
                        calico("data", "b", {"selector": "app == 'db'", "order": 5, "types": ["Ingress"],
                                             "ingress": [{"action": "Deny"}]})],
}

def mpod(ns: str, name: str) -> dict[str, Any]:
    body = pod(ns, name, ip="10.0.0.1" if ns == "web" else "10.0.1.1")
    body["spec"]["containers"].append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.3"})
    return body


def authz(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


HTTP_SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "data"},
            "spec": {"selector": {"app": "db"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
MESH = [WEB, DATA, mpod("web", "front"), mpod("data", "db"), HTTP_SVC, netpol("data", "tcp-only", {
    "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 8080, "protocol": "TCP"}]}]})]
TIER = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"}, "spec": {"order": 100}}
SA_NEEDS = {"selector": "app == 'db'", "serviceAccountSelector": "team == 'db'", "types": ["Ingress"]}

CASES.update({
    "maybe-pass": [*BASE, TIER, calico("data", "security.db", {
        "tier": "security", "order": 1, "selector": "app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Pass", "protocol": "TCP", "source": {"ports": [1234]}}]})],
    "invalid-skipped": [*BASE, netpol("data", "bad", {
        "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 99999}]}]})],
    "too-many-uncertain-policies": [*BASE, *(calico("data", f"p{k}", {**SA_NEEDS, "ingress": [{"action": "Deny"}]})
                                             for k in range(4))],
    "request-header-condition": [*MESH, authz("data", "hdr", {
        "selector": {"matchLabels": {"app": "db"}}, "action": "ALLOW",
        "rules": [{"when": [{"key": "request.headers[x-user]", "values": ["alice"]}]}]})],
    "custom-provider": [*MESH, authz("data", "ext", {
        "selector": {"matchLabels": {"app": "db"}}, "action": "CUSTOM", "provider": {"name": "opa"},
        "rules": [{}]})],
})
ANP = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
       "metadata": {"name": "db-guard"},
       "spec": {"priority": 10, "subject": {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "db"}}}},
                "ingress": [{"name": "deny-web", "action": "Deny",
                             "from": [{"namespaces": {"matchLabels": {"zone": "web"}}}]}]}}
CASES.update({
    "service-endpoints-unknown": [*BASE, calico("data", "db-in", {
        "selector": "app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "source": {"services": {"name": "absent", "namespace": "web"}}}]})],
    "icmp-code": [*BASE, calico("data", "db-in", {
        "selector": "app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}}]})],
    "dataplane-unknown": [*BASE, ANP],
})
DB_TEMPLATE = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "db", "namespace": "data"},
               "spec": {"selector": {"matchLabels": {"app": "db"}},
                        "template": {"metadata": {"labels": {"app": "db"}},
                                     "spec": {"containers": [{"name": "c", "image": "x",
                                                              "ports": [{"containerPort": 8080}]}]}}}}
CASES["mesh-membership-uncertain"] = [  # IST-1/IST-2: namespace absent, injection of the template unknown
    WEB, mpod("web", "front"), DB_TEMPLATE, MESH[5],
    authz("data", "only-x", {"selector": {"matchLabels": {"app": "db"}}, "action": "ALLOW",
                             "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/x/sa/y"]}}]}]})]
EXTRA = {"invalid-skipped": ["--lenient"]}
PORT = {"icmp-code": "8/ICMP"}

DB_NAMES = ("data/db", "data/Deployment/db")

ZONES = {"web": {"namespaceSelector": "kubernetes.io/metadata.name == 'web'"},
         "data": {"namespaceSelector": "kubernetes.io/metadata.name == 'data'"}}
PACK = {"schema": "zone-auditor/controls/v1", "id": "t", "title": "t", "framework": "tests", "zones": ZONES,
        "controls": [{"id": "C", "title": "web may not reach data", "references": ["T 1"], "rationale": "r",
                      "severity": "high", "assert": {"kind": "no-flow", "from": "web", "to": "data"}}]}


def _run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code in (0, 1), r.output
    return r.stdout


@pytest.mark.parametrize("code", sorted(CASES))
def test_cause_reaches_every_output(tmp_path: Path, code: str) -> None:
    src = tmp_path / "cluster.yaml"
    src.write_text(yaml.safe_dump_all(CASES[code], sort_keys=False))
    extra = EXTRA.get(code, [])
    rows = list(csv.DictReader(io.StringIO(_run("reach", str(src), "--format", "csv", *extra))))
    row = next(r for r in rows if r["src"] == "web/front" and r["dst"] in DB_NAMES)
    assert row["allowed"] == "unknown"
    assert code in row["why_unknown"]
    known = [r for r in rows if r["allowed"] != "unknown" and not r["unknown_ports"]]
    assert all(r["why_unknown"] == "" for r in known)
    doc = json.loads(_run("reach", str(src), "--format", "json", *extra))
    jrow = next(r for r in doc["rows"] if r["src"] == "web/front" and r["dst"] in DB_NAMES)
    assert code in {c["code"] for c in jrow["why_unknown"]} and all(c["words"] for c in jrow["why_unknown"])
    assert code in {c["code"] for c in doc["why_unknown"]} and all(c["count"] >= 1 for c in doc["why_unknown"])
    text = _run("explain", str(src), "--from", "web/front", "--to", "data/db", "--port", PORT.get(code, "8080/TCP"),
                *extra)
    because = [ln for ln in text.splitlines() if ln.startswith("unknown because ")]
    assert because and code in because[0]
    pack = tmp_path / "pack.yaml"
    pack.write_text(yaml.safe_dump(PACK))
    out = tmp_path / "result.json"
    CliRunner().invoke(main, ["audit", str(src), "--controls", str(pack), "-o", str(out), "--as-of",
                              "2026-12-01", "--report", str(tmp_path / "rep"), *extra], catch_exceptions=False)
    result = json.loads(out.read_text())
    finding = next(f for p in result["packs"] for f in p["findings"]) if "packs" in result and \
        result["packs"] and "findings" in result["packs"][0] else _first_finding(result)
    assert finding["verdict"] == "unknown"
    assert code in {c["code"] for c in finding["unknown"]["causes"]}
    pdfs = sorted((tmp_path / "rep").glob("*.pdf"))
    assert pdfs
    pdf_text = " ".join(" ".join(p.extract_text() for pdf in pdfs for p in pypdf.PdfReader(str(pdf)).pages).split())
    assert code in pdf_text
    assert "Nothing in the input fell outside the model" not in pdf_text


def _first_finding(result: dict[str, Any]) -> dict[str, Any]:
    for key in ("findings", "controls"):
        if result.get(key):
            return result[key][0]
    raise AssertionError(f"no finding in result keys {sorted(result)}")


def test_cal1_always_true_service_account_selector_gives_no_unknown(tmp_path: Path) -> None:
    """The 4-tier Calico Enterprise demo pattern: ``serviceAccountSelector: ''`` on every policy,
    pods with the ``default`` account (never in the input): zero unknown (CAL-1)."""
    objs: list[dict[str, Any]] = [WEB, DATA, pod("web", "front"), pod("data", "db"),
                                  {"apiVersion": "projectcalico.org/v3", "kind": "Tier",
                                   "metadata": {"name": "security"}, "spec": {"order": 100}}]
    for ns, app, sel in (("web", "front", ""), ("data", "db", "all()")):
        objs.append(calico(ns, f"security.{app}", {
            "tier": "security", "order": 10, "selector": f"app == '{app}'", "serviceAccountSelector": sel,
            "types": ["Ingress", "Egress"],
            "ingress": [{"action": "Allow", "source": {"serviceAccounts": {"selector": sel}}}],
            "egress": [{"action": "Allow", "destination": {"serviceAccounts": {"selector": ""}}}, {"action": "Deny"}]}))
    src = tmp_path / "demo.yaml"
    src.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    rows = list(csv.DictReader(io.StringIO(_run("reach", str(src), "--format", "csv"))))
    assert rows and not [r for r in rows if r["allowed"] == "unknown" or r["unknown_ports"]]


@pytest.mark.parametrize(("text", "expected"), [
    ("all()", True), ("", True), ("has(a) || !has(a)", True), ("a == 'x' || a != 'x'", True),
    ("team == 'web'", False), ("!has(a)", False), ("a in {'x'} || a not in {'x'}", True),
])
def test_always_true(text: str, expected: bool) -> None:
    assert always_true(parse_selector(text)) is expected


def test_lenient_invalid_ingress_only_policy_does_not_isolate_egress(tmp_path: Path) -> None:
    """Issue 13 §2.3 (K8S-3): an invalid ingress-only NetworkPolicy under --lenient makes ingress
    unknown (with its cause) and leaves egress alone: no "isolated for egress", no egress rule."""
    bad = netpol("web", "bad", {"podSelector": {"matchLabels": {"app": "front"}}, "policyTypes": ["Ingress"],
                                "ingress": [{"ports": [{"port": 99999}]}]})
    src = tmp_path / "c.yaml"
    src.write_text(yaml.safe_dump_all([WEB, pod("web", "front"), pod("web", "back"), bad], sort_keys=False))
    text = _run("explain", str(src), "--lenient", "--from", "web/front", "--to", "web/back", "--port", "80/TCP")
    egress = text.split("Destination ingress")[0]
    assert "isolated for egress: yes" not in egress and "egress rule" not in egress
    assert "not isolated for egress" in egress
    text = _run("explain", str(src), "--lenient", "--from", "web/back", "--to", "web/front", "--port", "80/TCP")
    assert "unknown because invalid-skipped" in text


def test_explain_host_network_daemonset_says_outside_the_pod_model(tmp_path: Path) -> None:
    """Issue 13 §2.4 (K8S-13): not "no pod, workload … named", but why it is not analysed."""
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "web"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "x"}]}}}}
    src = tmp_path / "c.yaml"
    src.write_text(yaml.safe_dump_all([WEB, pod("web", "front"), ds], sort_keys=False))
    r = CliRunner().invoke(main, ["explain", str(src), "--from", "web/front", "--to", "web/agent"])
    assert r.exit_code == 2
    assert "host-network" in r.output and "K8S-13" in r.output and "outside the pod model" in r.output
    assert "no pod, workload" not in r.output


def test_every_command_lists_ignored_kinds(tmp_path: Path) -> None:
    """Issue 13 §3: kinds present in the input that the analysis does not read, with counts."""
    ing = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "i", "namespace": "web"},
           "spec": {}}
    src = tmp_path / "c.yaml"
    src.write_text(yaml.safe_dump_all([WEB, pod("web", "front"), ing, dict(ing, metadata={"name": "j",
                                                                                          "namespace": "web"})]))
    table = _run("reach", str(src))
    assert "networking.istio.io/v1/DestinationRule: 2" in table
    doc = json.loads(_run("reach", str(src), "--format", "json"))
    assert doc["ignored_kinds"] == {"networking.istio.io/v1/DestinationRule": 2}
    r = CliRunner().invoke(main, ["reach", str(src), "--format", "csv"])
    assert "networking.istio.io/v1/DestinationRule 2" in r.stderr
    text = _run("explain", str(src), "--from", "web/front", "--to", "web/front", "--port", "80/TCP")
    assert "networking.istio.io/v1/DestinationRule 2" in text
    pack = tmp_path / "pack.yaml"
    pack.write_text(yaml.safe_dump(PACK))
    r = CliRunner().invoke(main, ["audit", str(src), "--controls", str(pack)])
    assert "networking.istio.io/v1/DestinationRule 2" in r.stdout


def test_reach_http_probes_tcp_only_and_shows_other_protocols_apart(tmp_path: Path) -> None:
    """Issue 13 §2.1: an HTTP request is TCP. ``--http 'POST /x'`` without ``--port`` on a request
    Istio denies on every TCP port is ``false``; UDP/SCTP/ICMP are a separate row saying the mesh
    does not see them."""
    only_get = authz("data", "only-get", {"selector": {"matchLabels": {"app": "db"}}, "action": "ALLOW",
                                          "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]})
    src = tmp_path / "c.yaml"
    src.write_text(yaml.safe_dump_all([*MESH[:5], only_get], sort_keys=False))
    rows = list(csv.DictReader(io.StringIO(_run("reach", str(src), "--http", "POST /x", "--to", "data/db",
                                                "--from", "web/front", "--format", "csv"))))
    post = [r for r in rows if r["method"] == "POST"]
    other = [r for r in rows if r["method"] != "POST"]
    assert len(post) == 1 and post[0]["allowed"] == "false" and "UDP" not in post[0]["ports"]
    assert len(other) == 1 and "mesh does not see" in other[0]["method"] and "TCP" not in other[0]["ports"].replace(
        "UDP", "")
    get = list(csv.DictReader(io.StringIO(_run("reach", str(src), "--http", "GET /x", "--to", "data/db",
                                               "--from", "web/front", "--format", "csv"))))
    assert [r["allowed"] for r in get if r["method"] == "GET"] == ["true"]


def test_explain_without_port_uses_every_declared_port(tmp_path: Path) -> None:
    """Issue 13 §2.2: not 1/TCP or 80/TCP, but the destination's container and Service ports,
    all of them; with none declared, the port assumed is named."""
    db = pod("data", "db", ip="10.0.1.1")
    db["spec"]["containers"][0]["ports"] = [{"containerPort": 5432}, {"containerPort": 53, "protocol": "UDP"},
                                            {"name": "metrics", "containerPort": 9187}]
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "data"},
           "spec": {"selector": {"app": "db"}, "ports": [{"port": 80, "targetPort": "metrics"}]}}
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "data"},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}
    src = tmp_path / "c.yaml"
    src.write_text(yaml.safe_dump_all([WEB, DATA, pod("web", "front", ip="10.0.0.1"), db, svc, bare]))
    text = _run("explain", str(src), "--from", "web/front", "--to", "data/db")
    flows = [ln for ln in text.splitlines() if ln.startswith("Flow: ")]
    assert [f.rsplit(" on ", 1)[1] for f in flows] == ["5432/TCP", "9187/TCP", "53/UDP"]
    text = _run("explain", str(src), "--from", "web/front", "--to", "data/bare")
    assert "declares no port: assumed" in text


def test_kind_unreadable_cause_reaches_every_output(tmp_path: Path) -> None:
    """CMP-10: a kind the scan could not read (collection status forbidden) makes the flows it
    could decide unknown, with the cause ``kind-unreadable`` in CSV, JSON, explain and the PDF."""
    from auditor.canonical import canonical_json
    from auditor.snapshot import build_snapshot, default_collection

    snap = build_snapshot([(o, None) for o in BASE], source="live: context=test",
                          collection={**default_collection(), "calico/GlobalNetworkPolicy": "forbidden"},
                          captured_at="2026-01-01T00:00:00Z")
    src = tmp_path / "snapshot.json"
    src.write_bytes(canonical_json(snap.to_dict()))
    rows = list(csv.DictReader(io.StringIO(_run("reach", str(src), "--format", "csv"))))
    row = next(r for r in rows if r["src"] == "web/front" and r["dst"] in DB_NAMES)
    assert row["allowed"] == "unknown" and "kind-unreadable" in row["why_unknown"]
    doc = json.loads(_run("reach", str(src), "--format", "json"))
    assert "kind-unreadable" in {c["code"] for c in doc["why_unknown"]}
    text = _run("explain", str(src), "--from", "web/front", "--to", "data/db", "--port", "8080/TCP")
    assert "unknown because kind-unreadable" in text
    pack = tmp_path / "pack.yaml"
    pack.write_text(yaml.safe_dump(PACK))
    CliRunner().invoke(main, ["audit", str(src), "--controls", str(pack), "-o", str(tmp_path / "r.json"),
                              "--as-of", "2026-12-01", "--report", str(tmp_path / "rep")], catch_exceptions=False)
    pdf_text = " ".join(" ".join(p.extract_text() for pdf in sorted((tmp_path / "rep").glob("*.pdf"))
                                 for p in pypdf.PdfReader(str(pdf)).pages).split())
    assert "kind-unreadable" in pdf_text


def _named_pod(ns: str, name: str, ip: str, http: int) -> dict[str, Any]:
    body = pod(ns, name, ip=ip)
    body["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": http}]
    return body


@pytest.mark.parametrize("level", ["pod", "workload", "namespace"])
def test_egress_port_name_in_a_cause_is_resolved_on_the_destination(tmp_path: Path, level: str) -> None:
    """An egress rule's port name means the *destination's* port. The source front calls its
    own ``http`` 80, the destination db calls it 8080; an uncertain egress rule (source ports)
    on ``http`` makes front → db:8080 unknown, and its cause must name that rule. Resolved on
    the source (as the causes once did, when asked about one peer) the rule would not match
    8080 and the cause would be lost."""
    docs = [WEB, DATA, _named_pod("web", "front", "10.0.0.1", 80), _named_pod("data", "db", "10.0.1.1", 8080),
            calico("web", "front-out", {
                "selector": "app == 'front'", "types": ["Egress"],
                "egress": [{"action": "Allow", "protocol": "TCP", "source": {"ports": [1234]},
                            "destination": {"ports": ["http"]}}]})]
    src = tmp_path / "cluster.yaml"
    src.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    rows = list(csv.DictReader(io.StringIO(_run("reach", str(src), "--format", "csv", "--by", level,
                                                "--port", "8080/TCP"))))
    row = next(r for r in rows if r["src"].startswith("web") and r["dst"].startswith("data"))
    assert row["allowed"] == "unknown"
    assert "source-ports" in row["why_unknown"] and "front-out" in row["why_unknown"]


def test_policies_without_order_that_decide_differently_name_the_tie(tmp_path: Path) -> None:
    """CAL-18: Calico policies of one tier without an order tie as equal-order ones do (their
    tie-break is version-specific): the engine makes the cell unknown, and its cause must say
    so, never "unexplained" (found at 10k pods with 500 Calico policies in 4 tiers)."""
    objs = [*BASE,
            calico("data", "a", {"selector": "app == 'db'", "types": ["Ingress"], "ingress": [ALLOW_FRONT]}),
            calico("data", "b", {"selector": "app == 'db'", "types": ["Ingress"], "ingress": [{"action": "Deny"}]})]
    src = tmp_path / "cluster.yaml"
    src.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    rows = list(csv.DictReader(io.StringIO(_run("reach", str(src), "--format", "csv"))))
    row = next(r for r in rows if r["src"] == "web/front" and r["dst"] in DB_NAMES)
    assert row["allowed"] == "unknown"
    assert "equal-order-tie" in row["why_unknown"] and "no order" in row["why_unknown"]
    assert "unexplained" not in row["why_unknown"]
    text = _run("explain", str(src), "--from", "web/front", "--to", "data/db", "--port", "8080/TCP")
    because = [ln for ln in text.splitlines() if ln.startswith("unknown because ")]
    assert because and "equal-order-tie" in because[0]
