"""Egress from a zone (semantics.md G.5, G.6: EXP-16, EXP-17, EDGE-48)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from auditor.policy.routes import load_routing
from auditor.reach.analysis import analyze
from auditor.reach.exposure.egress import (
    DomainRule,
    domain_matches,
    domain_rules,
    domain_verdict,
    egress_paths,
)
from auditor.snapshot import Resource
from auditor.sources.manifests import load_manifests
from tests.kits.exposure_kit import deploy, ns, write

GNP = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": "cde-egress"},
       "spec": {"selector": "zone == 'cde'", "types": ["Egress"],
                "egress": [{"action": "Allow", "destination": {"domains": ["*.example.com"]}}, {"action": "Deny"}]}}


def _rules() -> list[DomainRule]:
    res = Resource("projectcalico.org/v3", "GlobalNetworkPolicy", "calico/GlobalNetworkPolicy", None, "cde-egress", GNP)
    return domain_rules(res)


def test_exp_17_edge_48_domains_by_name_and_by_ip() -> None:
    rules = _rules()
    assert domain_verdict(rules, "example.com")[0] == "deny"
    assert domain_verdict(rules, "api.example.com")[0] == "allow"
    verdict, rule, cause = domain_verdict(rules, "93.184.215.14")
    assert verdict == "unknown" and cause is not None and cause.code == "dns-runtime"
    assert "domains *.example.com" in rule


def test_exp_17_wildcard_is_whole_labels() -> None:
    assert domain_matches("*.example.com", "a.b.example.com")
    assert not domain_matches("*.example.com", "example.com")
    assert not domain_matches("*.example.com", "badexample.com")
    assert domain_matches("API.Example.com.", "api.example.com")


@given(st.lists(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=4))
def test_exp_17_wildcard_matches_any_nonempty_prefix_of_labels(labels: list[str]) -> None:
    assert domain_matches("*.example.com", ".".join([*labels, "example", "com"]))
    assert domain_matches("api.example.com", "api.example.com")
    assert not domain_matches("*.example.com", ".".join([*labels, "example", "org"]))


def test_exp_16_service_entry_is_an_extra_path_with_the_direct_verdict(tmp_path: Path) -> None:
    se = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "payments", "namespace": "cde"},
          "spec": {"hosts": ["api.payments.example"], "ports": [{"number": 443, "name": "https", "protocol": "TLS"}],
                   "location": "MESH_EXTERNAL", "resolution": "DNS"}}
    sidecar = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "default", "namespace": "cde"},
               "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}}
    f = write(tmp_path, [ns("cde"), deploy("cde", "vault", {"app": "vault"}), se, sidecar])
    snap = load_manifests([str(f)])
    an = analyze(snap)
    src = [e for e in an.entities("workload") if e.name == "cde/Deployment/vault"]
    paths = egress_paths(an, load_routing(snap), src)
    assert [(p.via, p.verdict) for p in paths] == [("direct", "allow"), ("service-entry cde/payments", "allow")]
    assert paths[0].causes[0].code == "mesh-routing"  # REGISTRY_ONLY never denies
