"""Property tests for admin network policies: priorities and ties (ADM-3, ADM-5, ADM-6), port
ranges (ADM-8, ADM-11), against a small reference reading of §F."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.policy.admin import AdminInvalid, _v1alpha2_protocol
from tests.kits.admin_helpers import ALL_NS, BASE, anp, banp, cnp
from tests.kits.k8s_helpers import build, verdict

ACTIONS = ("Allow", "Deny", "Pass")
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def reference(policies: list[tuple[int, str]], baseline: str | None) -> str:
    """ADM-3/5/6 for policies that all match the flow: lowest priority first; the first
    priority group whose actions disagree → unknown; Pass → (no NetworkPolicy) → BANP → allow."""
    for priority in sorted({p for p, _ in policies}):
        actions = {a for p, a in policies if p == priority}
        if len(actions) > 1:
            return "unknown"
        action = actions.pop()
        if action == "Allow":
            return "allow"
        if action == "Deny":
            return "deny"
        break  # Pass: skip the rest of the admin tier
    if baseline == "Deny":
        return "deny"
    return "allow"


@SETTINGS
@given(
    policies=st.lists(st.tuples(st.integers(1, 6), st.sampled_from(ACTIONS)), min_size=1, max_size=5),
    baseline=st.sampled_from([None, "Allow", "Deny"]),
)
def test_adm_3_adm_5_priorities_ties_and_pass_match_the_reference(policies, baseline):
    objs = [*BASE]
    for i, (priority, action) in enumerate(policies):
        objs.append(anp(f"p{i}", priority, ingress=[{"action": action, "from": [ALL_NS]}]))
    if baseline:
        objs.append(banp(ingress=[{"action": baseline, "from": [ALL_NS]}]))
    with tempfile.TemporaryDirectory() as tmp:
        a = build(Path(tmp), objs, dataplane="upstream")
        assert verdict(a, "b/client", "a/db", "5432/TCP") == reference(policies, baseline)


@SETTINGS
@given(
    policies=st.lists(st.tuples(st.integers(0, 1000), st.sampled_from(("Accept", "Deny", "Pass"))),
                      min_size=1, max_size=4, unique_by=lambda t: t[0]),
)
def test_adm_12_distinct_cnp_priorities_are_always_decided(policies):
    objs = [*BASE, *(cnp(f"p{i}", "Admin", prio, ingress=[{"action": act, "from": [ALL_NS]}])
                     for i, (prio, act) in enumerate(policies))]
    with tempfile.TemporaryDirectory() as tmp:
        a = build(Path(tmp), objs, dataplane="calico-3.32")
        expect = reference([(p, "Allow" if x == "Accept" else x) for p, x in policies], None)
        assert verdict(a, "b/client", "a/db", "5432/TCP") == expect != "unknown"


ports = st.integers(1, 65535)


@SETTINGS
@given(lo=ports, hi=ports, probe=ports, protocol=st.sampled_from(("TCP", "UDP", "SCTP")))
def test_adm_8_v1alpha1_port_range_is_inclusive(lo, hi, probe, protocol):
    lo, hi = min(lo, hi), max(lo, hi)
    rule = {"action": "Deny", "from": [ALL_NS], "ports": [{"portRange": {"protocol": protocol, "start": lo, "end": hi}}]}
    with tempfile.TemporaryDirectory() as tmp:
        a = build(Path(tmp), [*BASE, anp("p", 1, ingress=[rule])], dataplane="upstream")
        for port in (lo, hi, probe):
            inside = lo <= port <= hi
            assert verdict(a, "b/client", "a/db", f"{port}/{protocol}") == ("deny" if inside else "allow")
        other = "UDP" if protocol == "TCP" else "TCP"
        assert verdict(a, "b/client", "a/db", f"{lo}/{other}") == "allow"


@given(lo=ports, hi=ports)
def test_adm_11_v1alpha2_range_start_must_be_below_end(lo, hi):
    raw = {"udp": {"destinationPort": {"range": {"start": lo, "end": hi}}}}
    if lo < hi:
        port = _v1alpha2_protocol(raw, "p")
        assert (port.protocol, port.lo, port.hi) == ("UDP", lo, hi)
    else:
        try:
            _v1alpha2_protocol(raw, "p")
        except AdminInvalid as exc:
            assert "less than end" in str(exc)
        else:
            raise AssertionError("a range with start >= end must be rejected")


@given(value=st.one_of(st.integers(-5, 0), st.integers(65536, 10**6)))
def test_adm_10_out_of_range_port_numbers_are_rejected(value):
    raw = {"tcp": {"destinationPort": {"number": value}}}
    try:
        _v1alpha2_protocol(raw, "p")
    except AdminInvalid as exc:
        assert "out of range" in str(exc)
    else:
        raise AssertionError("out-of-range port accepted")
