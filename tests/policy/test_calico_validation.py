"""Invalid Calico objects are rejected with one clear line (CAL-10, C23), or unknown under --lenient;
port-range parsing agrees with port-range membership (CAL-33)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.cli import main
from auditor.errors import InvalidResource
from auditor.policy.calico import parse_port
from auditor.policy.ir import PortRange
from tests.kits.k8s_helpers import build, verdict, write
from tests.policy.test_calico_semantics import BASE, cnp, gnp, gns, tier


def rule_policy(rule: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return gnp("bad", {"selector": "app == 'db'", "ingress": [rule], **spec})


def test_cal10_bad_selector_names_policy_field_and_column(tmp_path):
    pol = rule_policy({"action": "Allow", "source": {"selector": "app == 'web' && role = 'x'"}})
    with pytest.raises(InvalidResource) as err:
        build(tmp_path, [*BASE, pol])
    text = str(err.value)
    assert "calico/GlobalNetworkPolicy bad" in text
    assert "spec.ingress[0].source.selector" in text
    assert "column 22" in text


def test_cal10_bad_selector_exits_2_through_the_cli(tmp_path):
    pol = cnp("a", "broken", {"selector": "app == 'db' &&", "ingress": [{"action": "Allow"}]})
    path = write(tmp_path, [*BASE, pol])
    result = CliRunner().invoke(main, ["reach", str(path)])
    assert result.exit_code == 2
    assert "calico/NetworkPolicy a/broken" in result.output
    assert "spec.selector" in result.output and "column" in result.output
    assert "Traceback" not in result.output


def test_cal10_lenient_makes_the_policy_subjects_unknown(tmp_path):
    pol = cnp("a", "broken", {"selector": "app == 'db'", "ingress": [{"action": "Allow", "source": {
        "selector": "a b"}}]})
    a = build(tmp_path, [*BASE, pol], lenient=True)
    assert verdict(a, "b/client", "a/db", "80/TCP") == "unknown"
    assert verdict(a, "b/client", "b/web", "80/TCP") == "allow"  # other namespace: not in its scope
    assert any("calico/NetworkPolicy a/broken" in u for u in a.policies.unsupported)
    result = CliRunner().invoke(main, ["reach", "--lenient", str(write(tmp_path, [*BASE, pol]))])
    assert result.exit_code == 0
    assert "invalid, treated as unknown" in result.output


@pytest.mark.parametrize(
    ("rule", "expect"),
    [
        ({"action": "allow"}, "action"),
        ({"action": "Allow", "protocol": "tcp"}, "protocol"),
        ({"action": "Allow", "protocol": 0}, "protocol"),
        ({"action": "Allow", "destination": {"ports": [80]}}, "numeric ports need protocol"),
        ({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["9000:8000"]}}, "reversed"),
        ({"action": "Allow", "protocol": "TCP", "destination": {"ports": [70000]}}, "out of range"),
        ({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["Bad_Name"]}}, "port name"),
        ({"action": "Allow", "protocol": "TCP", "icmp": {"type": 8}}, "needs protocol ICMP"),
        ({"action": "Allow", "protocol": "ICMP", "icmp": {"code": 1}}, "code needs a type"),
        ({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 255}}, "0-254"),
        ({"action": "Allow", "protocol": "ICMP", "ipVersion": 6}, "ipVersion"),
        ({"action": "Allow", "source": {"nets": ["10.0.0.0/8"]}, "destination": {"nets": ["fd00::/8"]}},
         "mixes IPv4 and IPv6"),
        ({"action": "Allow", "source": {"nets": ["10.0.0.1/8"]}}, "not a valid CIDR"),
        ({"action": "Allow", "source": {"notNets": ["0.0.0.0/0"]}}, "excludes every address"),
        ({"action": "Allow", "source": {"selector": "global()"}}, "global()"),
        ({"action": "Allow", "source": {"namespaceSelector": "global() && a == 'b'"}}, "global()"),
        ({"action": "Deny", "http": {"methods": ["GET"]}}, "only valid on Allow"),
        ({"action": "Allow", "protocol": "UDP", "http": {"methods": ["GET"]}}, "needs protocol TCP"),
        ({"action": "Allow", "http": {"paths": [{"exact": "/a", "prefix": "/b"}]}}, "exactly one"),
        ({"action": "Allow", "source": {"services": {"name": "db", "namespace": "a"}, "selector": "a == 'b'"}},
         "cannot be combined"),
        ({"action": "Allow", "destination": {"services": {"name": "db", "namespace": "a"}}}, "ingress rule"),
    ],
)
def test_cal26_to_cal35_invalid_rules_are_rejected(tmp_path, rule, expect):
    with pytest.raises(InvalidResource) as err:
        build(tmp_path, [*BASE, rule_policy(rule)])
    assert expect in str(err.value)
    assert "calico/GlobalNetworkPolicy bad" in str(err.value)


@pytest.mark.parametrize(
    ("objects", "expect"),
    [
        ([gnp("p", {"selector": "global()"})], "global()"),
        ([gnp("p", {"types": ["Ingress", "Ingress"]})], "more than once"),
        ([gnp("p", {"types": ["Inbound"]})], "'Inbound' is not one of 'Ingress', 'Egress'"),
        ([gnp("p", {"tier": "missing"})], "does not exist"),
        ([gnp("p", {"order": "10"})], "must be a number"),
        ([gnp("p", {"preDNAT": True, "ingress": [{"action": "Deny"}]})], "applyOnForward"),
        ([gnp("p", {"preDNAT": True, "applyOnForward": True, "egress": [{"action": "Deny"}]})], "preDNAT"),
        ([tier("default", 5)], "order must be 1000000"),
        ([tier("kube-admin", 1000, "Deny")], "must be Pass"),
        ([tier("Bad.Name", 5)], "DNS-1123"),
        ([tier("t", 5, "Allow")], "'Allow' is not one of 'Pass', 'Deny'"),
        ([cnp("a", "p", {"stagedAction": "Delete", "selector": "all()"}, kind="StagedNetworkPolicy")],
         "stagedAction Delete"),
        ([cnp("a", "p", {"stagedAction": "Maybe"}, kind="StagedNetworkPolicy")], "stagedAction"),
        ([gns("s", {"x": "y"}, ["not-a-cidr"])], "not a valid CIDR"),
        ([gns("s", {"projectcalico.org/namespace": "a"}, ["10.0.0.0/8"])], "reserved"),
        ([gnp("p", {"egress": [{"action": "Allow", "destination": {"services": {"name": "db"}}}]})],
         "namespace"),
    ],
)
def test_cal9_cal15_cal16_invalid_objects_are_rejected(tmp_path, objects, expect):
    with pytest.raises(InvalidResource) as err:
        build(tmp_path, [*BASE, *objects])
    assert expect in str(err.value)


# -- CAL-33: "a:b" port ranges --------------------------------------------------------------------

ports = st.integers(1, 65535)


@given(lo=ports, hi=ports)
def test_cal33_range_parsing(lo, hi):
    text = f"{lo}:{hi}"
    if lo <= hi:
        assert parse_port(text, "p") == PortRange(lo, hi)
        assert str(parse_port(text, "p")) == (str(lo) if lo == hi else text)
    else:
        with pytest.raises(ValueError, match="reversed"):
            parse_port(text, "p")


@given(value=st.one_of(st.integers(-5, 0), st.integers(65536, 10**6)))
def test_cal33_out_of_range_ports_are_rejected(value):
    with pytest.raises(ValueError):
        parse_port(value, "p")
    with pytest.raises(ValueError):
        parse_port(f"1:{value}", "p")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bounds=st.tuples(ports, ports).map(sorted), probes=st.lists(ports, min_size=1, max_size=6))
def test_cal33_range_membership_matches_the_engine(tmp_path, bounds, probes):
    lo, hi = bounds
    pol = gnp("p", {"selector": "app == 'db'", "ingress": [
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": [f"{lo}:{hi}"]}}]})
    a = build(tmp_path, [*BASE, pol])
    for port in {*probes, lo, hi, max(1, lo - 1), min(65535, hi + 1)}:
        expected = "allow" if lo <= port <= hi else "deny"
        assert verdict(a, "b/client", "a/db", f"{port}/TCP") == expected, (lo, hi, port)


def test_cal16_unreadable_tiers_make_tiered_policies_unknown_not_an_error(tmp_path):
    from dataclasses import replace

    from auditor.reach.analysis import AnalysisOptions, analyze
    from auditor.sources.manifests import load_manifests

    pol = gnp("security.p", {"tier": "security", "selector": "app == 'db'", "ingress": [{"action": "Deny"}]})
    snapshot = load_manifests([str(write(tmp_path, [*BASE, pol]))])
    with pytest.raises(InvalidResource, match="does not exist"):
        analyze(snapshot)
    snapshot = replace(snapshot, collection={**snapshot.collection, "calico/Tier": "forbidden"})
    a = analyze(snapshot, AnalysisOptions())
    assert verdict(a, "b/client", "a/db", "80/TCP") == "unknown"
    assert any("could not be read" in u for u in a.policies.unsupported)
