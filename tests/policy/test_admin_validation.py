"""Admin network policy validation (ADM-10, ADM-11): exit 2 with file:line and field, or
``--lenient`` (skip with a note, affected verdicts unknown)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.errors import InvalidResource
from tests.kits.admin_helpers import ALL_NS, BASE, V1A1, anp, banp, cnp, from_ns
from tests.kits.k8s_helpers import build, verdict, write

DENY = {"action": "Deny", "from": [ALL_NS]}


def _many(n: int, item: Any) -> list[Any]:
    return [item] * n


@pytest.mark.parametrize(
    ("obj", "path", "expect"),
    [
        (anp("p", 1001, ingress=[DENY]), "spec.priority", "0-1000"),
        (anp("p", -1, ingress=[DENY]), "spec.priority", "0-1000"),
        ({"apiVersion": V1A1, "kind": "AdminNetworkPolicy", "metadata": {"name": "p"},
          "spec": {"subject": ALL_NS}}, "spec.priority", "required"),
        (anp("p", 1, subject={"namespaces": {}, "pods": {"namespaceSelector": {}, "podSelector": {}}}),
         "spec.subject", "exactly one"),
        ({"apiVersion": V1A1, "kind": "AdminNetworkPolicy", "metadata": {"name": "p"},
          "spec": {"priority": 1, "subject": {}}}, "spec.subject", "exactly one"),
        (anp("p", 1, ingress=[{"action": "Deny", "from": []}]), "spec.ingress[0].from", "1-100"),
        (anp("p", 1, ingress=[{"action": "Deny"}]), "spec.ingress[0].from", "required"),
        (anp("p", 1, ingress=[{"action": "Deny", "from": [{}]}]), "spec.ingress[0].from[0]", "exactly one"),
        (anp("p", 1, ingress=[{"action": "Deny", "from": [{"namespaces": {}, "pods": {
            "namespaceSelector": {}, "podSelector": {}}}]}]), "spec.ingress[0].from[0]", "exactly one"),
        (anp("p", 1, ingress=[{"action": "Deny", "from": [{"networks": ["10.0.0.0/8"]}]}]),
         "spec.ingress[0].from[0].networks", "not allowed in ingress"),
        (anp("p", 1, ingress=[{"action": "Drop", "from": [ALL_NS]}]), "spec.ingress[0].action", "Allow, Deny, Pass"),
        (anp("p", 1, ingress=[{**DENY, "ports": []}]), "spec.ingress[0].ports", "1-100"),
        (anp("p", 1, ingress=[{**DENY, "ports": [{"portNumber": {"port": 0}}]}]),
         "spec.ingress[0].ports[0].portNumber.port", "out of range"),
        (anp("p", 1, ingress=[{**DENY, "ports": [{"portNumber": {"port": 80}, "namedPort": "http"}]}]),
         "spec.ingress[0].ports[0]", "exactly one"),
        (anp("p", 1, egress=[{"action": "Deny", "to": [{"networks": ["10.0.0.300/8"]}]}]),
         "spec.egress[0].to[0].networks[0]", "not a valid CIDR"),
        (anp("p", 1, egress=[{"action": "Deny", "to": [{"networks": _many(26, "10.0.0.0/8")}]}]),
         "spec.egress[0].to[0].networks", "1-25"),
        (anp("p", 1, egress=[{"action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}],
                              "ports": [{"namedPort": "pg"}]}]), "spec.egress[0].ports", "named port"),
        (anp("p", 1, ingress=_many(101, DENY)), "spec.ingress", "0-100"),
        (anp("p", 1, ingress=[{**DENY, "from": _many(101, ALL_NS)}]), "spec.ingress[0].from", "1-100"),
        (anp("p", 1, egress=[{"action": "Deny", "to": [{"domainNames": ["not a domain"]}]}]),
         "spec.egress[0].to[0].domainNames[0]", "domain name"),
        (banp(ingress=[{"action": "Pass", "from": [ALL_NS]}]), "spec.ingress[0].action", "Allow, Deny"),
        (banp(name="other", ingress=[DENY]), "metadata.name", "'default'"),
        (cnp("p", "Middle", 1, ingress=[DENY]), "spec.tier", "Admin or Baseline"),
        (cnp("p", "Admin", 1, ingress=[{"action": "Allow", "from": [ALL_NS]}]), "spec.ingress[0].action", "Accept"),
        (cnp("p", "Admin", 1, ingress=_many(26, DENY)), "spec.ingress", "0-25"),
        (cnp("p", "Admin", 1, ingress=[{**DENY, "from": _many(26, ALL_NS)}]), "spec.ingress[0].from", "1-25"),
        (cnp("p", "Admin", 1, ingress=[{**DENY, "protocols": [{"tcp": {}}]}]),
         "spec.ingress[0].protocols[0].tcp", "destinationPort"),
        (cnp("p", "Admin", 1, ingress=[{**DENY, "protocols": [{"tcp": {"destinationPort": {
            "range": {"start": 90, "end": 80}}}}]}]), "spec.ingress[0].protocols[0].tcp.destinationPort.range",
         "less than end"),
        (cnp("p", "Admin", 1, ingress=[{**DENY, "ports": [{"portNumber": {"port": 80}}]}]),
         "spec.ingress[0].ports", "v1alpha2"),
        (cnp("p", "Admin", 1, ingress=[{**DENY, "protocols": [{"tcp": {"destinationPort": {"number": 80}},
                                                                 "udp": {"destinationPort": {"number": 80}}}]}]),
         "spec.ingress[0].protocols[0]", "exactly one"),
        (cnp("p", "Admin", 1, subject={"pods": {"namespaceSelector": {}}}), "spec.subject.pods.podSelector",
         "required"),
        (anp("p", 1, subject={"namespaces": {"matchLabels": {"bad key!": "x"}}}), "spec.subject.namespaces",
         "invalid label key"),
    ],
)
def test_adm_10_adm_11_invalid_objects_are_rejected_with_the_field(tmp_path, obj, path, expect):
    with pytest.raises(InvalidResource) as err:
        build(tmp_path, [*BASE, obj])
    text = str(err.value)
    assert path in text and expect in text
    assert "cluster.yaml:" in text  # file:line


def test_adm_10_invalid_object_on_the_cli_is_one_line_with_file_and_line(tmp_path):
    bad = anp("zones", 5000, ingress=[DENY])
    path = write(tmp_path, [*BASE, bad])
    result = CliRunner().invoke(main, ["reach", str(path)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in result.output
    n = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "AdminNetworkPolicy" in text)
    assert line.startswith(f"error: {path}:{n - 1} AdminNetworkPolicy zones: spec.priority: 5000")


def test_adm_10_lenient_skips_with_a_note_and_makes_verdicts_unknown(tmp_path):
    bad = anp("zones", 5000, ingress=[DENY])
    a = build(tmp_path, [*BASE, bad], lenient=True, dataplane="upstream")
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "unknown"
    assert any("AdminNetworkPolicy zones: invalid" in x for x in a.policies.unsupported)
    # not enforced by the pinned dataplane: the invalid object changes nothing
    a = build(tmp_path, [*BASE, bad], lenient=True, dataplane="calico-3.32")
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "allow"


def test_adm_10_unknown_peer_field_fails_closed(tmp_path):
    """A peer whose only field is unknown to this reader (a newer CRD): Deny/Pass deny
    everything at their position, Accept matches nothing."""
    deny = anp("p", 10, ingress=[{"action": "Deny", "from": [{"serviceAccounts": {"names": ["x"]}}]}])
    a = build(tmp_path, [*BASE, deny], dataplane="upstream")
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "deny"
    allow = cnp("p", "Baseline", 10, ingress=[{"action": "Accept", "from": [{"serviceAccounts": {}}]},
                                             {"action": "Deny", "from": [from_ns("b")]}])
    a = build(tmp_path, [*BASE, allow], dataplane="upstream")
    assert verdict(a, "b/client", "a/db", "5432/TCP") == "deny"
    assert verdict(a, "a/web", "a/db", "5432/TCP") == "allow"
