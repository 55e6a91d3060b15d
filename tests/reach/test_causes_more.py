"""Every ``unknown`` names its cause in every output (issue 13), for the cause codes that
``test_causes.py`` does not reach: the Istio layer's own codes (IST-*), an unmodelled admin
rule field (ADM-10), a control that cannot be evaluated at all, and the exposure codes (EXP-*),
each from one small manifest run through the real CLI, the outputs parsed back.

``selector-uncertain`` is tested in ``test_cause_names.py``: a pod whose own namespace,
service account and IP are known can still only possibly match through a NetworkSet of a
missing Namespace that covers its IP (CAL-41), and no more precise code names that pod.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdf
import pytest
import yaml
from click.testing import CliRunner

from auditor.cli import main
from tests.reach.test_causes import (
    BASE,
    DATA,
    DB_NAMES,
    HTTP_SVC,
    PACK,
    WEB,
    authz,
    calico,
    mpod,
    pod,
)

Obj = dict[str, Any]


def _run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code in (0, 1), r.output
    return r.stdout


def _write(tmp: Path, objs: list[Obj], name: str = "cluster.yaml") -> str:
    src = tmp / name
    src.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    return str(src)


def _audit(tmp: Path, src: str, pack: Obj, *extra: str, report: bool = True) -> tuple[Obj, str]:
    """The first finding of ``audit -o`` (``extra``: analysis flags) and the text of its PDF
    reports (``report``)."""
    pack_file = tmp / "pack.yaml"
    pack_file.write_text(yaml.safe_dump(pack))
    out = tmp / "result.json"
    CliRunner().invoke(main, ["audit", src, "--controls", str(pack_file), "-o", str(out), "--as-of", "2026-12-01",
                              *(["--report", str(tmp / "rep")] if report else []), *extra], catch_exceptions=False)
    finding = json.loads(out.read_text())["findings"][0]
    if not report:
        return finding, ""
    pdfs = sorted((tmp / "rep").glob("*.pdf"))
    assert pdfs
    text = " ".join(" ".join(p.extract_text() for pdf in pdfs for p in pypdf.PdfReader(str(pdf)).pages).split())
    return finding, text


def _codes(causes: list[Obj]) -> dict[str, set[str]]:
    """code → the objects named with it."""
    out: dict[str, set[str]] = {}
    for c in causes:
        assert c["words"], c
        out.setdefault(c["code"], set()).add(c["object"])
    return out


# -- flow causes: reach (CSV, JSON), explain, audit and its PDF --------------------------------------


def svc(ns: str, name: str, selector: dict[str, str] | None, ports: list[Obj], kind: str = "ClusterIP",
        lb: str | None = None, **spec: Any) -> Obj:
    body: Obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                 "spec": {"type": kind, "ports": ports, **spec}}
    if selector is not None:
        body["spec"]["selector"] = selector
    if lb:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": lb}]}}
    return body


def peer_authn(ns: str, name: str, spec: Obj) -> Obj:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def ns_labels(base: Obj, **labels: str) -> Obj:
    return {**base, "metadata": {**base["metadata"], "labels": {**base["metadata"]["labels"], **labels}}}


DB_ONLY = {"matchLabels": {"app": "db"}}
MESH = [WEB, DATA, mpod("web", "front"), mpod("data", "db"), HTTP_SVC]
TCP_SVC = svc("data", "db-tcp", {"app": "db"}, [{"name": "tcp", "port": 81, "targetPort": 8080}])
AMBIENT = [ns_labels(WEB, **{"istio.io/dataplane-mode": "ambient"}),
           ns_labels(DATA, **{"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}),
           pod("web", "front", ip="10.0.0.1"), pod("data", "db", ip="10.0.1.1"), HTTP_SVC]
UPSIDE_DOWN_RANGE = {
    "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy", "metadata": {"name": "db-guard"},
    "spec": {"priority": 10, "subject": {"pods": {"namespaceSelector": {}, "podSelector": DB_ONLY}},
             "ingress": [{"name": "deny-web", "action": "Deny", "from": [{"namespaces": {"matchLabels": {"zone": "web"}}}],
                          "ports": [{"portRange": {"start": 9000, "end": 8000}}]}]}}


@dataclass(frozen=True)
class FlowCase:
    """Objects that make web/front → data/db unknown for ``code``; ``named``: the object the
    cause must name (JSON ``object``; the CSV and explain words name it too); ``rule`` the
    semantics rule the case exercises (said when it fails)."""

    objects: list[Obj]
    named: str
    rule: str
    extra: tuple[str, ...] = ()


FLOW_CASES: dict[str, FlowCase] = {
    # ADM-10: ``start < end`` is documented but not CRD-checked: how the dataplane reads it is unknown
    "unmodelled-field": FlowCase([*BASE, UPSIDE_DOWN_RANGE], "AdminNetworkPolicy db-guard ingress rule 0", "ADM-10",
                                 ("--dataplane", "upstream")),
    # IST-22: a when key the tool cannot evaluate (a JWT claim)
    "mesh-condition": FlowCase([*MESH, authz("data", "claims", {
        "selector": DB_ONLY, "action": "ALLOW",
        "rules": [{"when": [{"key": "request.auth.claims[group]", "values": ["admin"]}]}]})],
        "AuthorizationPolicy data/claims rule 0", "IST-22"),
    # IST-9: a workload-level DISABLE with mesh clients: auto-mTLS infers only namespace/mesh modes
    "mtls-uncertain": FlowCase([*MESH, peer_authn("data", "db-plain", {"selector": DB_ONLY, "mtls": {"mode": "DISABLE"}})],
                               "Pod data/db", "IST-9"),
    # IST-29: ambient destination served by a waypoint: its L7 policy is not modelled
    "waypoint-l7": FlowCase([*AMBIENT, authz("data", "all", {"selector": DB_ONLY, "action": "ALLOW", "rules": [{}]})],
                            "Pod data/db", "IST-29"),
    # IST-25/IST-4: port 8080 is http for one Service and tcp for another; GET-only ALLOW differs
    "protocol-conflict": FlowCase([*MESH, TCP_SVC, authz("data", "get", {
        "selector": DB_ONLY, "action": "ALLOW", "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]})],
        "Pod data/db", "IST-25"),
    # IST-14/IST-19: the source's IP is unknown and the rule matches ipBlocks
    "mesh-source-uncertain": FlowCase([WEB, DATA, {**mpod("web", "front"), "status": {}}, mpod("data", "db"), HTTP_SVC,
                                       authz("data", "from-net", {
                                           "selector": DB_ONLY, "action": "ALLOW",
                                           "rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/24"]}}]}]})],
                                      "AuthorizationPolicy data/from-net rule 0", "IST-14"),
}


@pytest.mark.parametrize("code", sorted(FLOW_CASES))
def test_flow_cause_reaches_every_output(tmp_path: Path, code: str) -> None:
    """The flow is ``unknown`` and its cause (code, words, the object) is in the CSV
    ``why_unknown``, the JSON row and meta, explain's "unknown because" line, the audit
    result of a no-flow control and its PDF (rule ids per case: ADM-10, IST-9/14/22/25/29)."""
    case = FLOW_CASES[code]
    src = _write(tmp_path, case.objects)
    rows = list(csv.DictReader(io.StringIO(_run("reach", src, "--format", "csv", *case.extra))))
    row = next(r for r in rows if r["src"] == "web/front" and r["dst"] in DB_NAMES)
    assert row["allowed"] == "unknown" or row["unknown_ports"], case.rule
    assert code in row["why_unknown"] and case.named.split(" ", 1)[1] in row["why_unknown"]
    assert "unexplained" not in row["why_unknown"]
    doc = json.loads(_run("reach", src, "--format", "json", *case.extra))
    jrow = next(r for r in doc["rows"] if r["src"] == "web/front" and r["dst"] in DB_NAMES)
    assert case.named in _codes(jrow["why_unknown"]).get(code, set())
    assert code in {c["code"] for c in doc["why_unknown"] if c["count"] >= 1}
    text = _run("explain", src, "--from", "web/front", "--to", "data/db", "--port", "8080/TCP", *case.extra)
    because = [ln for ln in text.splitlines() if ln.startswith("unknown because ")]
    assert because and code in because[0], text
    finding, pdf_text = _audit(tmp_path, src, _on_ports("8080/TCP"), *case.extra)  # the mesh skips UDP… (IST-3)
    assert finding["verdict"] == "unknown"
    assert case.named in _codes(finding["unknown"]["causes"]).get(code, set())
    assert code in pdf_text and "Nothing in the input fell outside the model" not in pdf_text


def _on_ports(*ports: str) -> Obj:
    """``PACK``'s no-flow control (web may not reach data) on these ports only."""
    control = PACK["controls"][0]
    return {**PACK, "controls": [{**control, "assert": {**control["assert"], "ports": list(ports)}}]}


def test_control_blocked_names_its_reason(tmp_path: Path) -> None:
    """A control on a protocol no policy distinguishes (ICMPv6) cannot be evaluated: the
    audit result's unknown causes carry ``control-blocked`` with words naming the protocol, and
    the PDF says it (issue 13; the control's own blocking reason, not a flow's)."""
    finding, pdf_text = _audit(tmp_path, _write(tmp_path, BASE), _on_ports("ICMPv6"))
    assert finding["verdict"] == "unknown"
    blocked = [c for c in finding["unknown"]["causes"] if c["code"] == "control-blocked"]
    assert blocked and "protocol ICMPv6" in blocked[0]["words"]
    assert "control-blocked" in pdf_text and "ICMPv6" in pdf_text


# -- exposure causes: exposure (CSV, JSON), reach --from <network> (CSV, JSON), audit ------------------


def ingress(ns: str, name: str, backend: Obj, cls: str = "nginx") -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns},
            "spec": {"ingressClassName": cls, "rules": [{"host": "db.example", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend}]}}]}}


DB_SVC = svc("data", "db", {"app": "db"}, [{"name": "http", "port": 80, "targetPort": 8080}])
DB_LB = {"allocateLoadBalancerNodePorts": False}
PARTNER = ("--external", "partner=203.0.113.0/24")
ONLY_PARTNER = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "partner", "namespace": "data"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]}}
GATEWAY = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "web"},
           "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}
CROSS_NS_ROUTE = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                  "metadata": {"name": "to-db", "namespace": "web"},
                  "spec": {"parentRefs": [{"name": "gw"}],
                           "rules": [{"backendRefs": [{"name": "db", "namespace": "data", "port": 80}]}]}}
ISTIO_GW = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "data"},
            "spec": {"selector": {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
TO_PARTNER = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "ext", "namespace": "data"},
              "spec": {"hosts": ["shop.example.com"], "gateways": ["gw"],
                       "http": [{"route": [{"destination": {"host": "api.partner.example", "port": {"number": 443}}}]}]}}


@dataclass(frozen=True)
class PathCase:
    """Objects whose exposure path ``via`` is ``verdict`` with cause ``code`` naming ``named``;
    ``client`` the external network (``extra`` defines it); ``audited``: a no-exposure control
    on ``data`` must be unknown with the cause (paths with a backend in the zone); ``rule``
    the semantics rule the case exercises (said when it fails)."""

    objects: list[Obj]
    via: str
    named: str
    rule: str
    verdict: str = "unknown"
    client: str = "internet"
    extra: tuple[str, ...] = ()
    audited: bool = False


PATH_CASES: dict[str, PathCase] = {
    "lb-impl": PathCase([*BASE, svc("data", "db", {"app": "db"}, [{"port": 443, "targetPort": 8080}], "LoadBalancer",
                                    "198.51.100.20", loadBalancerSourceRanges=["198.51.100.0/24"], **DB_LB)],
                        "lb data/db", "Service data/db", "EXP-4", client="partner", extra=PARTNER, audited=True),
    "snat-node": PathCase([*BASE, ONLY_PARTNER, svc("data", "db", {"app": "db"}, [{"port": 80, "targetPort": 8080}],
                                                    "LoadBalancer", "198.51.100.20", **DB_LB)],
                          "lb data/db", "Service data/db", "EXP-6", audited=True),
    "controller-unknown": PathCase([*BASE, DB_SVC, ingress("data", "db", {"service": {"name": "db", "port": {"number": 80}}})],
                                   "ingress data/db", "Ingress data/db", "EXP-9", audited=True),
    "missing-service": PathCase([*BASE, ingress("data", "db", {"service": {"name": "absent", "port": {"number": 80}}})],
                                "ingress data/db", "Ingress data/db", "EXP-8", audited=True),
    "missing-port": PathCase([*BASE, DB_SVC, ingress("data", "db", {"service": {"name": "db", "port": {"number": 9999}}})],
                             "ingress data/db", "Ingress data/db", "EXP-8", audited=True),
    "backend-kind": PathCase([*BASE, ingress("data", "db", {"resource": {"apiGroup": "storage.example.com",
                                                                         "kind": "Bucket", "name": "static"}})],
                             "ingress data/db", "Ingress data/db", "EXP-8", audited=True),
    "no-selector": PathCase([*BASE, svc("data", "db", None, [{"port": 443, "targetPort": 8080}], "LoadBalancer",
                                        "198.51.100.20", **DB_LB)],
                            "lb data/db", "Service data/db", "EXP-3", audited=True),
    "no-reference-grant": PathCase([*BASE, DB_SVC, GATEWAY, CROSS_NS_ROUTE], "gateway web/gw", "HTTPRoute web/to-db",
                                   "EXP-11", verdict="deny"),
    # was an internal error (exit 3): the code was raised but never registered
    "external-host": PathCase([*BASE, ISTIO_GW, TO_PARTNER], "gateway data/gw", "VirtualService data/ext", "EXP-14"),
}


@pytest.mark.parametrize("code", sorted(PATH_CASES))
def test_exposure_cause_reaches_every_output(tmp_path: Path, code: str) -> None:
    """The exposure path carries its cause (code, words, the object that raised it) in
    ``exposure`` CSV and JSON and in ``reach --from <network>`` CSV and JSON (``why_unknown``
    of an unknown row, the deciding words of a denied one); where the path reaches a workload of
    a zone, a no-exposure control is unknown with that cause in the audit result and the PDF
    (EXP-2; the rule of each case: EXP-3/4/6/8/9/11/14)."""
    case = PATH_CASES[code]
    src = _write(tmp_path, case.objects)
    client = ("--client", case.client)
    rows = list(csv.DictReader(io.StringIO(_run("exposure", src, "--format", "csv", *case.extra, *client))))
    row = next(r for r in rows if r["via"] == case.via)
    assert row["verdict"] == case.verdict and code in row["causes"] and case.named in row["causes"], case.rule
    doc = json.loads(_run("exposure", src, "--format", "json", *case.extra, *client))
    path = next(p for p in doc["paths"] if p["via"] == case.via)
    assert case.named in _codes(path["causes"]).get(code, set())
    rows = list(csv.DictReader(io.StringIO(_run("reach", src, "--from", case.client, "--format", "csv", *case.extra))))
    row = next(r for r in rows if r["via"] == case.via)
    if case.verdict == "unknown":
        assert row["allowed"] == "unknown" and code in row["why_unknown"]
    else:
        assert row["allowed"] == "false" and row["why_unknown"] == "" and code in row["decided_by"]
    doc = json.loads(_run("reach", src, "--from", case.client, "--format", "json", *case.extra))
    jrow = next(r for r in doc["rows"] if r["via"] == case.via)
    if case.verdict == "unknown":
        assert case.named in _codes(jrow["why_unknown"]).get(code, set())
        assert code in {c["code"] for c in doc["why_unknown"]}
    if code == "external-host":  # a path that leaves the cluster lands in no zone: the control still passes
        finding, _ = _audit(tmp_path, src, _no_exposure(case.client, case.extra))
        assert finding["verdict"] == "pass", finding
    if case.audited:
        finding, pdf_text = _audit(tmp_path, src, _no_exposure(case.client, case.extra))
        assert finding["verdict"] == "unknown"
        assert case.named in _codes(finding["unknown"]["causes"]).get(code, set())
        assert code in pdf_text


def _no_exposure(client: str, extra: tuple[str, ...]) -> Obj:
    """A pack: zone ``data`` has no entry point from ``client`` (pod IPs declared unroutable,
    so only the entry points count)."""
    zones: Obj = {"data": {"namespaceSelector": "kubernetes.io/metadata.name == 'data'"},
                  "internet": {"cidrs": ["0.0.0.0/0"]}}
    if extra:
        name, _, cidr = extra[1].partition("=")
        zones[name] = {"cidrs": [cidr]}
    return {**PACK, "zones": zones, "controls": [{
        "id": "X", "title": "data is not exposed", "references": ["T 2"], "rationale": "r", "severity": "high",
        "assert": {"kind": "no-exposure", "zones": ["data"], "from": client, "assume": {"pod-ips-unroutable": True}}}]}


def test_direct_flow_from_outside_names_the_policy_cause(tmp_path: Path) -> None:
    """EXP-1: the direct internet → pod-IP flow is judged by policy alone; when a rule makes it
    unknown (a Calico rule on source ports), ``exposure`` must name that cause as ``reach --from
    internet`` does, and so must a no-exposure control (its causes once came out empty)."""
    src = _write(tmp_path, [*BASE, calico("data", "db-in", {
        "selector": "app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"ports": [1234]}}]})])
    where = "calico/NetworkPolicy data/db-in ingress rule 0"
    rows = list(csv.DictReader(io.StringIO(_run("exposure", src, "--format", "csv"))))
    row = next(r for r in rows if r["via"] == "direct" and r["backend"] == "data/db")
    assert row["verdict"] == "unknown" and "source-ports" in row["causes"] and where in row["causes"]
    doc = json.loads(_run("exposure", src, "--format", "json"))
    path = next(p for p in doc["paths"] if p["via"] == "direct" and p["backend"] == ["data/db"])
    assert where in _codes(path["causes"]).get("source-ports", set())
    pack = _no_exposure("internet", ())
    pack["controls"][0]["assert"].pop("assume")
    pack["controls"][0]["assert"]["zones"] = ["data"]
    finding, _ = _audit(tmp_path, src, pack, report=False)
    assert finding["verdict"] == "unknown"
    assert where in _codes(finding["unknown"]["causes"]).get("source-ports", set())


def test_egress_rows_name_their_causes(tmp_path: Path) -> None:
    """EXP-16/IST-5: a REGISTRY_ONLY Sidecar never denies; the egress row says so with
    ``mesh-routing`` naming the Sidecar. A direct egress flow made unknown by a rule (source
    ports) names that rule's cause, as ``reach`` does (it was empty)."""
    registry = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "registry", "namespace": "web"},
                "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}}
    uncertain = calico("data", "db-out", {"selector": "app == 'db'", "types": ["Egress"],
                                          "egress": [{"action": "Allow", "protocol": "TCP", "source": {"ports": [1234]}}]})
    src = _write(tmp_path, [*BASE, registry, uncertain])
    rows = {r["source"]: r for r in csv.DictReader(io.StringIO(_run("exposure", src, "--egress", "--format", "csv")))}
    front, db = rows["web/front"], rows["data/db"]
    assert front["verdict"] == "allow" and "mesh-routing" in front["causes"] and "Sidecar web/registry" in front["causes"]
    assert db["verdict"] == "unknown" and "source-ports" in db["causes"]
    assert "calico/NetworkPolicy data/db-out egress rule 0" in db["causes"]
    doc = json.loads(_run("exposure", src, "--egress", "--format", "json"))
    jrows = {r["source"]: r for r in doc["rows"]}
    assert "mesh-routing" in jrows["web/front"]["causes"] and "source-ports" in jrows["data/db"]["causes"]


def test_policy_hop_of_an_entry_path_names_the_policy_cause(tmp_path: Path) -> None:
    """EXP-1/EXP-6: the backend hop of a LoadBalancer path (ETP Local: the client is the source)
    is judged by CMP-1; when a rule makes it unknown (source ports), the path names that cause
    in ``exposure`` and in ``reach --from internet`` (its ``why_unknown`` was empty)."""
    src = _write(tmp_path, [*BASE, calico("data", "db-in", {
        "selector": "app == 'db'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"ports": [1234]}}]}),
        svc("data", "db", {"app": "db"}, [{"port": 443, "targetPort": 8080}], "LoadBalancer", "198.51.100.20",
            externalTrafficPolicy="Local", **DB_LB)])
    where = "calico/NetworkPolicy data/db-in ingress rule 0"
    rows = list(csv.DictReader(io.StringIO(_run("exposure", src, "--format", "csv"))))
    row = next(r for r in rows if r["via"] == "lb data/db")
    assert row["verdict"] == "unknown" and row["hops"] == "entry:allow → to-backend:unknown"
    assert "source-ports" in row["causes"] and where in row["causes"]
    doc = json.loads(_run("exposure", src, "--format", "json"))
    path = next(p for p in doc["paths"] if p["via"] == "lb data/db")
    assert where in _codes(path["causes"]).get("source-ports", set())
    assert [h["cause"] for h in path["hops"]] == [None, "source-ports"]
    rows = list(csv.DictReader(io.StringIO(_run("reach", src, "--from", "internet", "--format", "csv"))))
    row = next(r for r in rows if r["via"] == "lb data/db")
    assert row["allowed"] == "unknown" and "source-ports" in row["why_unknown"] and where in row["why_unknown"]


DOMAIN_EGRESS = {
    "apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy", "metadata": {"name": "no-partner"},
    "spec": {"priority": 5, "subject": {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "front"}}}},
             "egress": [{"name": "partner", "action": "Deny", "to": [{"domainNames": ["api.partner.example"]}]}]}}


def test_domain_names_peer_is_named_dns_runtime(tmp_path: Path) -> None:
    """EXP-17 / ADM-7: an AdminNetworkPolicy ``domainNames`` peer matches addresses DNS gives at
    run time, so web/front → internet is unknown, and the cause is filed as ``dns-runtime`` (it
    was ``unmodelled-field``, whose words said dns-runtime) in the CSV and JSON rows."""
    src = _write(tmp_path, [*BASE, DOMAIN_EGRESS])
    rows = list(csv.DictReader(io.StringIO(_run("reach", src, "--format", "csv", "--dataplane", "upstream"))))
    row = next(r for r in rows if r["src"] == "web/front" and r["dst"] == "internet")
    assert row["allowed"] == "unknown" and row["why_unknown"].startswith("dns-runtime:"), row
    doc = json.loads(_run("reach", src, "--format", "json", "--dataplane", "upstream"))
    jrow = next(r for r in doc["rows"] if r["src"] == "web/front" and r["dst"] == "internet")
    assert {c["code"] for c in jrow["why_unknown"]} == {"dns-runtime"}
    assert "AdminNetworkPolicy no-partner" in " ".join(c["object"] for c in jrow["why_unknown"])


def test_blocking_reasons_over_dns_are_filed_as_dns_runtime() -> None:
    """An ``egress-only-to`` control over host names is blocked because DNS decides at run time
    (EXP-17): its reason is filed under ``dns-runtime``, not the generic ``control-blocked``;
    other blocking reasons keep their codes."""
    from auditor.causes import classify_blocking

    dns = ("flows to external addresses outside the listed CIDRs may go to api.partner.example: whether an "
           "address belongs to a host is decided by DNS at run time (dns-runtime, EXP-17)")
    assert classify_blocking(dns) == "dns-runtime"
    assert classify_blocking("zone cde selects no workload in the input") == "zone-empty"
    assert classify_blocking("ports ICMPv6 are not distinguished by any policy") == "control-blocked"
