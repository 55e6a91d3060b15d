"""Control pack validation: every mistake names the file, the line, the path inside it and what is wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from auditor.controls.pack import external_networks, load_packs
from auditor.errors import AuditorError

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
schema: zone-auditor/controls/v1
id: demo
title: Demo
framework: Demo framework
zones:
  web:
    selector: zone == 'web'
  data:
    namespaceSelector: zone == 'data'
  internet:
    cidrs: ["0.0.0.0/0"]
controls:
  - id: C-1
    title: t
    references: [REF 1]
    rationale: r
    severity: high
"""


def load_text(tmp_path: Path, text: str, zones: str | None = None) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    zones_path = None
    if zones is not None:
        zones_path = tmp_path / "zones.yaml"
        zones_path.write_text(zones)
    load_packs([str(path)], str(zones_path) if zones_path else None)


def error(tmp_path: Path, text: str, zones: str | None = None) -> str:
    with pytest.raises(AuditorError) as info:
        load_text(tmp_path, text, zones)
    message = str(info.value)
    assert "\n" not in message
    return message.replace(str(tmp_path) + "/", "")


def with_assert(body: str) -> str:
    return HEAD + "    assert:\n" + "".join(f"      {line}\n" for line in body.strip().splitlines())


def test_a_valid_pack_loads(tmp_path: Path) -> None:
    text = with_assert("kind: no-flow\nfrom: internet\nto: [web, data]\nports: [443/TCP, 53/udp, 8000-8100]")
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    (pack,), zm = load_packs([str(path)])
    assert zm is None
    assert pack.id == "demo" and pack.digest == hashlib.sha256(text.encode()).hexdigest()
    (c,) = pack.controls
    assert c.assertion.kind == "no-flow"
    assert c.assertion.ports is not None and c.assertion.ports.text() == "TCP:443,8000-8100 UDP:53"
    assert [p.zone for p in c.assertion.dst] == ["web", "data"]


def test_unknown_zone(tmp_path: Path) -> None:
    msg = error(tmp_path, with_assert("kind: no-flow\nfrom: internet\nto: [web, dta]"))
    assert msg == ("pack.yaml:21: controls[0].assert.to[1]: unknown zone 'dta' "
                   "(did you mean 'data'? defined: data, internet, web)")


def test_unknown_assertion_kind(tmp_path: Path) -> None:
    msg = error(tmp_path, with_assert("kind: no-flows\nfrom: internet\nto: web"))
    assert msg.startswith("pack.yaml:19: controls[0].assert.kind: unknown assertion kind 'no-flows' "
                          "(did you mean 'no-flow'? kinds: no-flow, allow-only,")


@pytest.mark.parametrize(("port", "problem"), [
    ("70000/TCP", "port 70000 is out of range 1-65535"),
    ("0", "port 0 is out of range 1-65535"),
    ("90-80/TCP", "range start 90 is above its end 80"),
    ("80/HTTP", "unknown protocol 'HTTP'"),
    ("80/ICMP", "ICMP type 80"),  # no: types are 0-255, so 80 is fine ...
    ("300/ICMP", "ICMP type 300 is out of range 0-255"),
    ("http", "unknown protocol 'http'"),
    ("80/TCP/x", "is not a port"),
])
def test_bad_port(tmp_path: Path, port: str, problem: str) -> None:
    text = with_assert(f"kind: no-flow\nfrom: internet\nto: web\nports: [443/TCP, '{port}']")
    if port == "80/ICMP":
        load_text(tmp_path, text)  # a valid ICMP type
        return
    msg = error(tmp_path, text)
    assert msg.startswith("pack.yaml:22: controls[0].assert.ports[1]: bad port: ")
    assert problem in msg


@pytest.mark.parametrize(("body", "expected"), [
    ("kind: no-flow\nto: web", "pack.yaml:18: controls[0].assert: missing required field 'from'"),
    ("kind: no-flow\nfrom: web\nto: data\nport: [80]",
     "pack.yaml:22: controls[0].assert.port: unknown field 'port' (allowed here: kind, from, to, ports, requests)"),
    ("kind: isolated\nzones: [internet]",
     "pack.yaml:20: controls[0].assert.zones[0]: zone 'internet' is an external (cidrs) zone; "
     "isolation is a property of workloads"),
    ("kind: isolated\nzones: web\ndirections: [inbound]",
     "pack.yaml:21: controls[0].assert.directions[0]: unknown direction 'inbound' (ingress, egress)"),
    ("kind: egress-restricted\nzones: [data]\nallow: [web]",
     "pack.yaml:21: controls[0].assert.allow[0]: zone 'web' selects workloads; "
     "egress-restricted allows external (cidrs) zones, CIDRs or network sets"),
    ("kind: egress-restricted\nzones: [data]\nallow: ['10.0.0.1/8']",
     "pack.yaml:21: controls[0].assert.allow[0]: '10.0.0.1/8' is not a valid CIDR (10.0.0.1/8 has host bits set)"),
    ("kind: allow-only\nto: data\nfrom: web\nallow: []",
     "pack.yaml:18: controls[0].assert: give exactly one of 'to' (traffic into these zones) or 'from' "
     "(traffic out of them)"),
    ("kind: must-allow\nflows: [{from: web, to: data}]",
     "pack.yaml:20: controls[0].assert.flows[0]: missing required field 'ports'"),
    ("kind: no-flow\nfrom: {zone: internet, selector: a == 'b'}\nto: web",
     "pack.yaml:20: controls[0].assert.from.selector: zone 'internet' is external (cidrs): "
     "it has no workloads to narrow to"),
    ("kind: no-flow\nfrom: {zone: web, selector: \"a == \"}\nto: data",
     "pack.yaml:20: controls[0].assert.from.selector: invalid selector \"a ==\" at column 5: expected a quoted"),
    ("kind: allow-only\nto: data\nallow: [{from: web, requests: [{methods: [FETCH]}]}]",
     "pack.yaml:21: controls[0].assert.allow[0].requests[0].methods[0]: unknown HTTP method 'FETCH'"),
])
def test_assertion_mistakes(tmp_path: Path, body: str, expected: str) -> None:
    assert error(tmp_path, with_assert(body)).startswith(expected)


def test_control_field_mistakes(tmp_path: Path) -> None:
    bad_severity = HEAD.replace("severity: high", "severity: urgent") + "    assert: {kind: no-flow, from: web, to: data}\n"
    assert error(tmp_path, bad_severity) == (
        "pack.yaml:17: controls[0].severity: unknown severity 'urgent' (critical, high, medium, low, info)")
    no_assert = HEAD
    assert error(tmp_path, no_assert) == (
        "pack.yaml:13: controls[0]: missing required field 'assert' (exactly one assertion per control)")
    two = HEAD + "    assert:\n      - {kind: no-flow, from: web, to: data}\n      - {kind: isolated, zones: [web]}\n"
    assert error(tmp_path, two).startswith("pack.yaml:18: controls[0].assert: exactly one assertion per control")
    dup = with_assert("kind: isolated\nzones: [web]") + HEAD[HEAD.index("  - id: C-1"):] + \
        "    assert: {kind: isolated, zones: [data]}\n"
    assert error(tmp_path, dup) == "pack.yaml:21: controls[1].id: duplicate control id 'C-1' (also controls[0])"
    no_refs = HEAD.replace("    references: [REF 1]\n", "") + "    assert: {kind: isolated, zones: [web]}\n"
    assert error(tmp_path, no_refs) == "pack.yaml:13: controls[0]: missing required field 'references'"


def test_pack_level_mistakes(tmp_path: Path) -> None:
    ok = with_assert("kind: isolated\nzones: [web]")
    assert error(tmp_path, ok.replace("controls/v1", "controls/v9")) == (
        "pack.yaml:1: schema: unsupported schema 'zone-auditor/controls/v9' (expected 'zone-auditor/controls/v1')")
    assert error(tmp_path, ok.replace("  data:\n    namespaceSelector: zone == 'data'\n",
                                      "  data:\n    namespaceSelector: zone == 'data'\n  web:\n    selector: a == 'b'\n")
                 ) == "pack.yaml:10: zones.web: duplicate key 'web' (first at line 6)"
    assert error(tmp_path, ok.replace("cidrs: [\"0.0.0.0/0\"]", "cidrs: [\"0.0.0.0/0\"]\n    selector: a == 'b'")
                 ) == ("pack.yaml:11: zones.internet.cidrs: a zone is selected either by selectors (workloads) "
                       "or by cidrs (external), not both")
    assert error(tmp_path, ok.replace("    selector: zone == 'web'\n", "    description: nothing\n")) == (
        "pack.yaml:6: zones.web: a zone needs 'selector' and/or 'namespaceSelector' (workloads) or 'cidrs' (external)")
    assert error(tmp_path, ok.replace("cidrs: [\"0.0.0.0/0\"]", "cidrs: [\"0.0.0.0\"]")) == (
        "pack.yaml:11: zones.internet.cidrs[0]: '0.0.0.0' is not a CIDR (expected e.g. 10.0.0.0/8 or ::/0)")
    assert error(tmp_path, ok.replace("zones:\n", "zones:\n  Web-Zone:\n    selector: a == 'b'\n")) == (
        "pack.yaml:6: zones.Web-Zone: zone name 'Web-Zone' must be lower-case letters, digits, '-', '.' or '_'")
    assert error(tmp_path, "schema: [unclosed\n").startswith("pack.yaml:2: invalid YAML: ")
    assert error(tmp_path, "- a list\n") == "pack.yaml:1: (top level): must be a control pack mapping, got a list"


def test_zones_override(tmp_path: Path) -> None:
    text = with_assert("kind: isolated\nzones: [web]")
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    zones = tmp_path / "zones.yaml"
    zones.write_text("schema: zone-auditor/zones/v1\nzones:\n  web:\n    selector: tier == 'frontend'\n")
    (pack,), zm = load_packs([str(path)], str(zones))
    assert zm is not None and zm.digest == hashlib.sha256(zones.read_bytes()).hexdigest()
    assert str(pack.zones["web"].selector) == 'tier == "frontend"'
    assert pack.zones["web"].defined_in == str(zones)
    assert str(pack.zones["data"].namespace_selector) == 'zone == "data"'  # untouched
    msg = error(tmp_path, text, "zones:\n  wbe:\n    selector: a == 'b'\n")
    assert msg == "zones.yaml:2: zones.wbe: zone 'wbe' is not defined by any pack (did you mean 'web'? defined: data, internet, web)"
    # an override that changes a zone's kind is checked against the controls using it
    msg = error(tmp_path, text, "zones:\n  web:\n    cidrs: ['10.0.0.0/8']\n")
    assert msg.startswith("pack.yaml:20: controls[0].assert.zones[0]: zone 'web' is an external (cidrs) zone")


def test_cidr_zones_become_external_networks_and_must_agree(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text(with_assert("kind: isolated\nzones: [web]"))
    b.write_text(with_assert("kind: isolated\nzones: [web]").replace("id: demo", "id: other")
                 .replace('cidrs: ["0.0.0.0/0"]', 'cidrs: ["0.0.0.0/0", "::/0"]'))
    with pytest.raises(AuditorError, match="CIDR zone 'internet' is defined differently"):
        load_packs([str(a), str(b)])
    b.write_text(a.read_text().replace("id: demo", "id: other"))
    packs, _ = load_packs([str(a), str(b)])
    (net,) = external_networks(packs)
    assert net.name == "internet" and [str(n) for n in net.networks] == ["0.0.0.0/0"]
    b.write_text(a.read_text())
    with pytest.raises(AuditorError, match="pack id 'demo' is also used by"):
        load_packs([str(a), str(b)])


def test_shipped_packs_load_and_use_every_assertion_kind() -> None:
    packs, _ = load_packs([str(ROOT / "controls")])
    assert [p.id for p in packs] == ["bank-zones", "hipaa", "pci-dss-v4"]
    kinds = {c.assertion.kind for p in packs for c in p.controls}
    assert kinds == {"no-flow", "allow-only", "must-allow", "isolated", "zone-coverage", "mtls-required",
                     "identity-required", "egress-restricted", "no-exposure", "egress-only-to"}
    pci = packs[2]
    assert {"cde", "connected", "out-of-scope", "internet"} <= set(pci.zones)
    refs = {r for c in pci.controls for r in c.references}
    for req in ("1.2.1", "1.3.1", "1.3.2", "1.3.3", "1.4.1", "1.4.2", "1.4.4", "2.2.7", "7.2.1", "11.4.5"):
        assert f"PCI DSS v4.0 {req}" in refs
    hipaa_refs = {r for c in packs[1].controls for r in c.references}
    for req in ("164.312(a)(1)", "164.312(c)(1)", "164.312(e)(1)", "164.312(d)", "164.308(a)(1)(ii)(D)"):
        assert f"HIPAA {req}" in hipaa_refs


def test_example_zone_maps_load() -> None:
    for pack_name, zones in (("pci-dss-v4", "bank-pci-zones"), ("hipaa", "bank-hipaa-zones")):
        packs, zm = load_packs([str(ROOT / "controls" / f"{pack_name}.yaml")],
                               str(ROOT / "controls" / "examples" / f"{zones}.yaml"))
        assert zm is not None and set(zm.zones) <= set(packs[0].zones)
