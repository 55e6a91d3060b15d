"""Every assertion kind, pass and fail, on small clusters written as YAML (plus the unknown cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kits.controls_kit import (
    ZONES,
    allow_egress,
    audit,
    control,
    deny_all,
    deployment,
    finding,
    flows,
    netpol,
    ns,
    pack,
    pod,
    two_zones,
)


def run(tmp_path: Path, objs: list[dict[str, Any]], assertion: dict[str, Any], zones: dict[str, Any] | None = None,
        **kw: Any):  # type: ignore[no-untyped-def]
    result = audit(tmp_path, objs, pack([control("C", assertion)], zones=zones), **kw)
    return finding(result, "C")


FRONT = "web/Deployment/front"
DB = "data/Deployment/db"


# -- no-flow -------------------------------------------------------------------------------------


def test_no_flow_passes_when_segmented(tmp_path: Path) -> None:
    f = run(tmp_path, two_zones(segmented=True), {"kind": "no-flow", "from": "internet", "to": ["web", "data"]})
    assert f.verdict == "pass"
    assert f.checked == {"sources": 1, "destinations": 2, "pairs": 2}


def test_no_flow_fails_with_the_flow_and_the_deciding_rules(tmp_path: Path) -> None:
    f = run(tmp_path, two_zones(segmented=False), {"kind": "no-flow", "from": "web", "to": "data"})
    assert f.verdict == "fail"
    (v,) = f.violations
    assert (v.src, v.dst, v.ports, v.flow) == (FRONT, DB, "all", "allowed")
    assert v.src_zones == ("web",) and v.dst_zones == ("data",)
    assert "no policy applies" in v.decided_by  # K8S-2 on both ends


def test_no_flow_on_a_port_reports_exactly_that_port(tmp_path: Path) -> None:
    # No rule mentions 22, so its atom is wide; the evidence names 22 only.
    f = run(tmp_path, two_zones(segmented=False), {"kind": "no-flow", "from": "web", "to": "data", "ports": ["22/TCP"]})
    assert [v.ports for v in f.violations] == ["TCP:22"]


def test_no_flow_on_ports_that_are_denied_passes(tmp_path: Path) -> None:
    objs = two_zones(segmented=True)
    assert run(tmp_path, objs, {"kind": "no-flow", "from": "web", "to": "data", "ports": ["22/TCP", "53/UDP"]}).verdict == "pass"
    f = run(tmp_path, objs, {"kind": "no-flow", "from": "web", "to": "data", "ports": ["5000-6000/TCP"]})
    assert f.verdict == "fail" and [v.ports for v in f.violations] == ["TCP:5432"]


def test_no_flow_with_unmodelled_policy_is_unknown_not_pass(tmp_path: Path) -> None:
    # An AdminNetworkPolicy whose enforcement is not established (no --dataplane, no Calico
    # version in the input, ADM-14) may or may not admit the flow: unknown, never pass.
    anp = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
           "metadata": {"name": "cluster-wide"},
           "spec": {"priority": 10, "subject": {"namespaces": {}},
                    "ingress": [{"action": "Allow", "from": [{"namespaces": {}}]}],
                    "egress": [{"action": "Allow", "to": [{"namespaces": {}}]}]}}
    f = run(tmp_path, [*two_zones(segmented=True), anp], {"kind": "no-flow", "from": "data", "to": "web"})
    assert f.verdict == "unknown"
    assert f.unknown_flows and f.unknown_flows[0].flow == "unknown"
    assert any("AdminNetworkPolicy" in n for n in f.notes)


def test_collection_not_ok_makes_the_control_unknown(tmp_path: Path) -> None:
    f = run(tmp_path, two_zones(segmented=True), {"kind": "no-flow", "from": "internet", "to": "data"},
            collection={"NetworkPolicy": "forbidden"})
    assert f.verdict == "unknown"
    assert "NetworkPolicy could not be read" in f.blocking[0]


def test_an_empty_protected_zone_is_unknown_unless_optional(tmp_path: Path) -> None:
    zones = {**ZONES, "pci": {"selector": "pci == 'yes'"}}
    f = run(tmp_path, two_zones(segmented=False), {"kind": "no-flow", "from": "internet", "to": "pci"}, zones=zones)
    assert f.verdict == "unknown" and "selects no workload" in f.blocking[0]
    zones["pci"]["optional"] = True
    f = run(tmp_path, two_zones(segmented=False), {"kind": "no-flow", "from": "internet", "to": "pci"}, zones=zones)
    assert f.verdict == "pass"


def test_membership_in_a_namespace_missing_from_the_input_is_unknown(tmp_path: Path) -> None:
    # db's namespace object is not in the input: whether it is labelled zone=data is unknown.
    objs = [ns("web", zone="web"), deployment("web", "front"), deployment("data", "db")]
    f = run(tmp_path, objs, {"kind": "no-flow", "from": "web", "to": "data"},
            zones={**ZONES, "data": {"namespaceSelector": "zone == 'data'"}})
    assert f.verdict == "unknown"
    # db may be in zone data (and, for all we know, in zone web too: its replicas reach each other)
    assert {(v.src, v.dst) for v in f.unknown_flows} == {(FRONT, DB), (DB, DB)}
    assert "zone membership unknown" in f.unknown_flows[0].reason


def test_zone_by_namespace_name_is_certain_even_without_the_namespace_object(tmp_path: Path) -> None:
    objs = [ns("web", zone="web"), deployment("web", "front"), deployment("data", "db")]
    zones = {**ZONES, "data": {"namespaceSelector": "kubernetes.io/metadata.name == 'data'"}}
    f = run(tmp_path, objs, {"kind": "no-flow", "from": "web", "to": "data"}, zones=zones)
    assert f.verdict == "fail"


# -- allow-only ----------------------------------------------------------------------------------


def test_allow_only_passes_when_only_the_allowed_flow_exists(tmp_path: Path) -> None:
    f = run(tmp_path, two_zones(segmented=True), {
        "kind": "allow-only", "to": "data",
        "allow": [{"from": {"zone": "web", "selector": "app == 'front'"}, "ports": ["5432/TCP"]}],
    })
    assert f.verdict == "pass"


def test_allow_only_fails_for_ports_beyond_the_allowance(tmp_path: Path) -> None:
    f = run(tmp_path, two_zones(segmented=True), {
        "kind": "allow-only", "to": "data", "allow": [{"from": "web", "ports": ["5433/TCP"]}],
    })
    assert f.verdict == "fail"
    (v,) = f.violations
    assert (v.src, v.dst, v.ports) == (FRONT, DB, "TCP:5432")
    assert "front-to-db" in v.decided_by and "db-from-front" in v.decided_by


def test_allow_only_counts_every_source_including_the_zone_itself(tmp_path: Path) -> None:
    objs = [*two_zones(segmented=False), pod("data", "intruder")]
    f = run(tmp_path, objs, {"kind": "allow-only", "to": "data", "allow": [{"from": "web", "ports": ["5432/TCP"]}]})
    got = flows(f)
    assert ("data/intruder", DB) in got and ("internet", DB) in got and (DB, "data/intruder") in got
    assert ("data/intruder", "data/intruder") not in got  # a pod to itself is not a flow (K8S-15)
    front = next(v for v in f.violations if v.src == FRONT and v.dst == DB)
    assert front.ports == "TCP:1-5431,5433-65535 UDP:all SCTP:all ICMP"


def test_allow_only_selector_narrows_the_permitted_source(tmp_path: Path) -> None:
    f = run(tmp_path, two_zones(segmented=True), {
        "kind": "allow-only", "to": "data", "allow": [{"from": {"zone": "web", "selector": "app == 'other'"}}],
    })
    assert flows(f) == {(FRONT, DB)}


def test_allow_only_outbound_form(tmp_path: Path) -> None:
    a = {"kind": "allow-only", "from": "web", "allow": [{"to": "data", "ports": ["5432/TCP"]}]}
    assert run(tmp_path, two_zones(segmented=True), a).verdict == "pass"
    f = run(tmp_path, two_zones(segmented=False), a)
    assert (FRONT, "internet") in flows(f)


def test_allow_only_with_http_requests_and_no_request_policy_fails(tmp_path: Path) -> None:
    f = run(tmp_path, two_zones(segmented=True), {
        "kind": "allow-only", "to": "data",
        "allow": [{"from": "web", "ports": ["5432/TCP"], "requests": [{"methods": ["GET"], "paths": ["/v1/*"]}]}],
    })
    assert f.verdict == "fail"
    assert "every HTTP request" in f.violations[0].reason


# -- must-allow ----------------------------------------------------------------------------------


def test_must_allow_passes_and_fails(tmp_path: Path) -> None:
    ok = {"kind": "must-allow", "flows": [{"from": "web", "to": "data", "ports": ["5432/TCP"]}]}
    assert run(tmp_path, two_zones(segmented=True), ok).verdict == "pass"
    bad = {"kind": "must-allow", "flows": [{"from": "web", "to": "data", "ports": ["5432/TCP", "5433/TCP"]}]}
    f = run(tmp_path, two_zones(segmented=True), bad)
    assert f.verdict == "fail"
    (v,) = f.violations
    assert (v.src, v.dst, v.ports, v.flow) == (FRONT, DB, "TCP:5433", "denied")
    assert "end-of-tier Deny" in v.decided_by


def test_must_allow_with_no_matching_workload_fails(tmp_path: Path) -> None:
    a = {"kind": "must-allow",
         "flows": [{"from": {"zone": "web", "selector": "app == 'gone'"}, "to": "data", "ports": ["5432/TCP"]}]}
    f = run(tmp_path, two_zones(segmented=True), a)
    assert f.verdict == "fail" and "no workload or network matches 'from'" in f.violations[0].reason


def test_must_allow_needs_every_pod_of_the_workload(tmp_path: Path) -> None:
    # Two pods of one Deployment; the canary pod is not selected by the egress allow.
    def rs_pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
        p = pod("web", name, {**labels, "pod-template-hash": "abc"})
        p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "front-abc",
                                             "uid": "1", "controller": True}]
        return p

    objs = [ns("web", zone="web"), ns("data", zone="data"), deployment("data", "db"),
            rs_pod("front-abc-1", {"app": "front"}), rs_pod("front-abc-2", {"app": "front", "canary": "yes"}),
            deny_all("web", ("Egress",)),
            netpol("web", "front-egress", {
                "podSelector": {"matchLabels": {"app": "front"},
                                "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]},
                "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 5432}]}]})]
    a = {"kind": "must-allow", "flows": [{"from": "web", "to": "data", "ports": ["5432/TCP"]}]}
    f = run(tmp_path, objs, a)
    assert f.verdict == "fail" and f.violations[0].src == FRONT
    # ... while for a no-flow control the same workload reaches the database (any pod suffices)
    g = run(tmp_path, objs, {"kind": "no-flow", "from": "web", "to": "data", "ports": ["5432/TCP"]})
    assert g.verdict == "fail"


# -- isolated ------------------------------------------------------------------------------------


def test_isolated_passes_with_default_deny_and_fails_without(tmp_path: Path) -> None:
    a = {"kind": "isolated", "zones": ["web", "data"]}
    assert run(tmp_path, two_zones(segmented=True), a).verdict == "pass"
    f = run(tmp_path, two_zones(segmented=False), a)
    assert f.verdict == "fail"
    assert {(v.dst, v.reason.split(":")[0]) for v in f.violations} == {
        (d, f"not isolated for {x}") for d in (FRONT, DB) for x in ("ingress", "egress")}
    assert all(v.kind == "endpoint" and v.ports == "all" for v in f.violations)


def test_isolated_per_direction(tmp_path: Path) -> None:
    objs = [ns("data", zone="data"), deployment("data", "db"), deny_all("data", ("Ingress",))]
    assert run(tmp_path, objs, {"kind": "isolated", "zones": ["data"], "directions": ["ingress"]}).verdict == "pass"
    f = run(tmp_path, objs, {"kind": "isolated", "zones": ["data"], "directions": ["egress"]})
    assert f.verdict == "fail" and "egress" in f.violations[0].reason


def test_a_policy_that_allows_everything_still_isolates(tmp_path: Path) -> None:
    # K8S-2: isolation is about being selected; an explicit allow-all is a decision, not a default.
    objs = [ns("data", zone="data"), deployment("data", "db"),
            netpol("data", "allow-all", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})]
    assert run(tmp_path, objs, {"kind": "isolated", "zones": ["data"], "directions": ["ingress"]}).verdict == "pass"


# -- zone-coverage -------------------------------------------------------------------------------


def test_zone_coverage(tmp_path: Path) -> None:
    zones = {"web": {"selector": "zone == 'web' || pcns.zone == 'web'"},
             "data": {"selector": "zone == 'data' || pcns.zone == 'data'"},
             "platform": {"namespaceSelector": "kubernetes.io/metadata.name == 'kube-system'"}}
    objs = [ns("web", zone="web"), ns("data", zone="data"), ns("kube-system"), ns("misc"),
            deployment("web", "front"), deployment("data", "db"), deployment("kube-system", "dns"),
            deployment("misc", "stray"), pod("data", "confused", {"app": "x", "zone": "web"})]
    f = run(tmp_path, objs, {"kind": "zone-coverage"}, zones=zones)
    assert f.verdict == "fail"
    got = {v.dst: v.reason for v in f.violations}
    assert got == {"misc/Deployment/stray": "in no zone (zones: web, data, platform)",
                   "data/confused": "in 2 zones: web, data"}
    assert f.checked["workloads"] == 5
    f = run(tmp_path, objs[:7], {"kind": "zone-coverage"}, zones=zones)
    assert f.verdict == "pass"


def test_zone_coverage_exclude_and_zone_subset(tmp_path: Path) -> None:
    objs = [ns("web", zone="web"), ns("kube-system"), deployment("web", "front"), deployment("kube-system", "dns")]
    a = {"kind": "zone-coverage", "zones": ["web"], "exclude": "projectcalico.org/namespace == 'kube-system'"}
    f = run(tmp_path, objs, a)
    assert f.verdict == "pass" and f.checked == {"workloads": 1, "excluded": 1}
    f = run(tmp_path, objs, {"kind": "zone-coverage", "zones": ["web"]})
    assert [v.dst for v in f.violations] == ["kube-system/Deployment/dns"]


def test_zone_coverage_unknown_namespace_is_unknown(tmp_path: Path) -> None:
    objs = [deployment("ghost", "x")]
    f = run(tmp_path, objs, {"kind": "zone-coverage", "zones": ["web", "data"]})
    assert f.verdict == "unknown" and f.unknown_flows[0].dst == "ghost/Deployment/x"


# -- mtls-required / identity-required ---------------------------------------------------------------

STRICT = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
          "metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": "STRICT"}}}


def meshed(*, sidecar: bool) -> list[dict[str, Any]]:
    containers = ["app", "istio-proxy"] if sidecar else ["app"]
    return [ns("web", zone="web"), ns("data", zone="data"),
            pod("web", "front", containers=containers), pod("data", "db", containers=containers)]


# -- egress-restricted ---------------------------------------------------------------------------


def test_egress_restricted(tmp_path: Path) -> None:
    a = {"kind": "egress-restricted", "zones": ["data"], "allow": []}
    assert run(tmp_path, two_zones(segmented=True), a).verdict == "pass"
    f = run(tmp_path, two_zones(segmented=False), a)
    assert flows(f) == {(DB, "internet")}


def test_egress_restricted_through_a_listed_network(tmp_path: Path) -> None:
    zones = {**ZONES, "partner": {"cidrs": ["203.0.113.0/24"]}}
    objs = [ns("data", zone="data"), deployment("data", "db"), deny_all("data", ("Egress",)),
            netpol("data", "to-partner", {"podSelector": {}, "policyTypes": ["Egress"],
                                          "egress": [{"to": [{"ipBlock": {"cidr": "203.0.113.0/25"}}]}]})]
    assert run(tmp_path, objs, {"kind": "egress-restricted", "zones": ["data"], "allow": ["partner"]},
               zones=zones).verdict == "pass"
    assert run(tmp_path, objs, {"kind": "egress-restricted", "zones": ["data"], "allow": ["203.0.113.0/25"]},
               zones=zones).verdict == "pass"
    f = run(tmp_path, objs, {"kind": "egress-restricted", "zones": ["data"], "allow": ["198.51.100.0/24"]}, zones=zones)
    assert f.verdict == "fail" and flows(f) == {(DB, "partner")}
    f = run(tmp_path, objs, {"kind": "egress-restricted", "zones": ["data"],
                             "allow": [{"to": "partner", "ports": ["443/TCP"]}]}, zones=zones)
    assert f.verdict == "fail" and f.violations[0].ports.startswith("TCP:1-442,444-65535")


@pytest.mark.parametrize("kind", ["no-flow", "allow-only", "must-allow", "isolated", "zone-coverage",
                                  "mtls-required", "identity-required", "egress-restricted", "zone-empty"])
def test_every_kind_reports_unknown_when_pods_could_not_be_read(tmp_path: Path, kind: str) -> None:
    assertion: dict[str, Any] = {
        "no-flow": {"from": "web", "to": "data"},
        "allow-only": {"to": "data", "allow": []},
        "must-allow": {"flows": [{"from": "web", "to": "data", "ports": [5432]}]},
        "isolated": {"zones": ["data"]},
        "zone-coverage": {},
        "mtls-required": {"zones": ["data"]},
        "identity-required": {"zones": ["data"]},
        "egress-restricted": {"zones": ["data"], "allow": []},
        "zone-empty": {"zones": ["data"]},
    }[kind]
    f = run(tmp_path, two_zones(segmented=True), {"kind": kind, **assertion}, collection={"Pod": "forbidden"})
    assert f.verdict == "unknown" and "Pod could not be read" in f.blocking[0]


def test_zones_of_the_same_egress_allow_example_uses_allow_egress_helper(tmp_path: Path) -> None:
    objs = [ns("web", zone="web"), ns("data", zone="data"), deployment("web", "front"), deployment("data", "db"),
            deny_all("web", ("Egress",)), allow_egress("web", "e", "front", "data", "db", 5432)]
    f = run(tmp_path, objs, {"kind": "allow-only", "from": "web", "allow": [{"to": "data", "ports": ["5432/TCP"]}]})
    assert f.verdict == "pass"


# -- isolated under Calico tiers (CAL-20..24) --------------------------------------------------


def _tier(name: str, order: float, action: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"order": order}
    if action:
        spec["defaultAction"] = action
    return {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": name}, "spec": spec}


def _gnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": spec}


CALICO_BASE = [ns("data", zone="data"), pod("data", "db", {"app": "db"})]
ISO_IN = {"kind": "isolated", "zones": ["data"], "directions": ["ingress"]}


def test_isolated_calico_pass_only_tier_is_not_isolation(tmp_path: Path) -> None:
    # EDGE-12: every applicable tier passes → the profile allows (CAL-22): open, with the ports.
    objs = [*CALICO_BASE, _tier("security", 100),
            _gnp("security.pass", {"tier": "security", "selector": "app == 'db'", "ingress": [{"action": "Pass"}]})]
    f = run(tmp_path, objs, ISO_IN)
    assert f.verdict == "fail" and "profile" in f.violations[0].reason and f.violations[0].ports == "all"


def test_isolated_calico_deny_tier_without_pass_isolates(tmp_path: Path) -> None:
    objs = [*CALICO_BASE, _tier("security", 100),
            _gnp("security.allow-web", {"tier": "security", "selector": "app == 'db'",
                                        "ingress": [{"action": "Allow", "protocol": "TCP",
                                                     "destination": {"ports": [5432]}}]})]
    f = run(tmp_path, objs, ISO_IN)
    assert f.verdict == "pass"


def test_isolated_calico_pass_then_default_tier_deny(tmp_path: Path) -> None:
    # CAL-21: a Pass reaches the default tier, whose policy ends in a deny: isolated.
    objs = [*CALICO_BASE, _tier("security", 100),
            _gnp("security.pass", {"tier": "security", "selector": "app == 'db'", "ingress": [{"action": "Pass"}]}),
            _gnp("default.db", {"selector": "app == 'db'", "ingress": [
                {"action": "Allow", "protocol": "TCP", "destination": {"ports": [5432]}}]})]
    assert run(tmp_path, objs, ISO_IN).verdict == "pass"


def test_isolated_calico_tier_default_pass_is_not_isolation(tmp_path: Path) -> None:
    objs = [*CALICO_BASE, _tier("security", 100, "Pass"),
            _gnp("security.log", {"tier": "security", "selector": "all()", "ingress": [{"action": "Log"}]})]
    assert run(tmp_path, objs, ISO_IN).verdict == "fail"


# -- mtls-required / identity-required with the engine's Istio model ----------------------------

def authz_allow(namespace: str, app: str, principals: list[str]) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": f"{app}-allow", "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": app}}, "action": "ALLOW",
                     "rules": [{"from": [{"source": {"principals": principals}}]}]}}


def meshed_segmented() -> list[dict[str, Any]]:
    return [*meshed(sidecar=True), deny_all("web"), deny_all("data"),
            allow_egress("web", "front-to-db", "front", "data", "db", 5432),
            netpol("data", "db-from-front", {
                "podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
                                       "podSelector": {"matchLabels": {"app": "front"}}}],
                             "ports": [{"port": 5432, "protocol": "TCP"}]}]})]


def test_model_mtls_required(tmp_path: Path) -> None:
    a = {"kind": "mtls-required", "zones": ["data"]}
    assert run(tmp_path, [*meshed(sidecar=True), STRICT], a).verdict == "pass"
    f = run(tmp_path, meshed(sidecar=True), a)  # no PeerAuthentication: PERMISSIVE (IST-6)
    assert f.verdict == "fail" and "PERMISSIVE" in f.violations[0].reason
    f = run(tmp_path, [*meshed(sidecar=False), STRICT], a)
    assert f.verdict == "fail" and "no Istio proxy" in f.violations[0].reason


def test_model_identity_required(tmp_path: Path) -> None:
    a = {"kind": "identity-required", "zones": ["data"]}
    front = "cluster.local/ns/web/sa/default"
    ok = [*meshed_segmented(), STRICT, authz_allow("data", "db", [front])]
    assert run(tmp_path, ok, a).verdict == "pass"
    assert run(tmp_path, ok, {**a, "require": "network+identity"}).verdict == "pass"
    f = run(tmp_path, [*meshed_segmented(), STRICT], a)  # mTLS, but no rule requires a principal
    assert f.verdict == "fail" and flows(f) == {("web/front", "data/db")}
    assert f.violations[0].ports == "TCP:5432"


def test_model_identity_required_sees_the_network_factor(tmp_path: Path) -> None:
    # Open L3/L4 (no NetworkPolicy) but an AuthorizationPolicy requiring the principal: identity
    # holds, the network factor does not (the two-factor rule fails).
    objs = [*meshed(sidecar=True), STRICT, authz_allow("data", "db", ["cluster.local/ns/web/sa/default"])]
    a = {"kind": "identity-required", "zones": ["data"]}
    f = run(tmp_path, objs, a)
    # TCP carries the verified principal; UDP/SCTP/ICMP bypass the sidecar (IST-3); plaintext TCP
    # from the internet is refused by STRICT (IST-9)
    assert {(v.src, v.dst, v.ports) for v in f.violations} == {
        ("web/front", "data/db", "UDP:all SCTP:all ICMP"), ("internet", "data/db", "UDP:all SCTP:all ICMP")}
    g = run(tmp_path, objs, {**a, "require": "network+identity"})
    assert ("web/front", "data/db", "all") in {(v.src, v.dst, v.ports) for v in g.violations}


def test_model_must_allow_through_the_mesh(tmp_path: Path) -> None:
    a = {"kind": "must-allow", "flows": [{"from": "web", "to": "data", "ports": ["5432/TCP"]}]}
    front = "cluster.local/ns/web/sa/default"
    assert run(tmp_path, [*meshed_segmented(), STRICT, authz_allow("data", "db", [front])], a).verdict == "pass"
    f = run(tmp_path, [*meshed_segmented(), STRICT, authz_allow("data", "db", ["cluster.local/ns/x/sa/y"])], a)
    assert f.verdict == "fail" and f.violations[0].flow == "denied"


def test_identity_required_on_an_empty_optional_zone_holds_like_the_other_kinds(tmp_path: Path) -> None:
    # nothing flows into a zone with no workload: vacuously true, as for isolated and mtls-required
    zones = {**ZONES, "empty": {"selector": "app == 'nothing'", "optional": True}}
    for kind in ("identity-required", "mtls-required", "isolated"):
        f = run(tmp_path, meshed(sidecar=True), {"kind": kind, "zones": ["empty"]}, zones=zones)
        assert f.verdict == "pass" and not f.blocking, (kind, f.blocking)
