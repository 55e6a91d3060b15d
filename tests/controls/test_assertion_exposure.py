"""``no-exposure`` and ``exposure-only-via`` on the bank front-door variants (EXP-1, section G)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import main
from auditor.controls.pack import load_packs
from auditor.errors import AuditorError
from tests.conftest import BANK, CONTROLS

PACK = str(CONTROLS / "examples" / "bank-exposure.yaml")


def _findings(variant: str, *extra: str) -> dict[str, dict]:
    r = CliRunner().invoke(main, ["audit", str(BANK / variant), "--controls", PACK, *extra, "-o", "-"])
    assert r.exit_code in (0, 1), r.output
    data = json.loads(r.stdout)
    return {f["control"]: f for f in data["findings"]}


def test_front_door_variants_are_exposed_on_443_only() -> None:
    for variant in ("ingress", "gateway"):
        found = _findings(variant)
        assert found["EXPOSE-1"]["verdict"] == "pass", (variant, found["EXPOSE-1"])
        assert found["EXPOSE-2"]["verdict"] == "pass"


def test_after_variant_fails_on_its_port_80_load_balancer() -> None:
    found = _findings("after")
    f = found["EXPOSE-1"]
    assert f["verdict"] == "fail"
    text = json.dumps(f)
    assert "lb dmz/customer" in text and "dmz/Deployment/customer" in text
    assert "cloud-firewall" in text  # the NodePort path is an unknown flow with its cause
    assert any("assumption: pod IPs may be routable" in n for n in f["notes"])


def test_before_variant_exposes_the_inner_tiers() -> None:
    f = _findings("before")["EXPOSE-2"]
    assert f["verdict"] == "fail"
    assert "restricted/StatefulSet/database" in json.dumps(f)


def test_declared_unroutable_pod_ips_drop_the_direct_flow(tmp_path: Path) -> None:
    text = Path(PACK).read_text().replace("      kind: no-exposure\n      zones: [inner]\n",
                                          "      kind: no-exposure\n      zones: [inner]\n"
                                          "      assume: {pod-ips-unroutable: true}\n")
    pack = tmp_path / "pack.yaml"
    pack.write_text(text)
    r = CliRunner().invoke(main, ["audit", str(BANK / "before"), "--controls", str(pack), "-o", "-"])
    f = {x["control"]: x for x in json.loads(r.stdout)["findings"]}["EXPOSE-2"]
    assert f["verdict"] == "pass"  # before/ has no entry point into the inner tiers, only direct flows
    assert any("not routable from internet" in n for n in f["notes"])


def test_bad_allowance_is_a_file_line_error(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(Path(PACK).read_text().replace("{via: lb, ports: [443]}", "{via: tunnel, ports: [443]}"))
    try:
        load_packs([str(pack)])
    except AuditorError as exc:
        assert f"{pack}:" in str(exc) and "via" in str(exc)
    else:
        raise AssertionError("an unknown via word must be rejected")


EGRESS_PACK = """\
schema: zone-auditor/controls/v1
id: egress
title: egress
framework: test
version: "1"
zones:
  dmz: {selector: firewall-zone == 'dmz' || pcns.firewall-zone == 'dmz'}
  restricted: {selector: firewall-zone == 'restricted' || pcns.firewall-zone == 'restricted'}
  internet: {cidrs: ["0.0.0.0/0"]}
controls:
  - {id: E-CIDR, title: t, severity: high, references: [x], rationale: x,
     assert: {kind: egress-only-to, zones: [dmz], to: []}}
  - {id: E-HOST, title: t, severity: high, references: [x], rationale: x,
     assert: {kind: egress-only-to, zones: [dmz], to: [198.51.100.0/24, api.processor.example]}}
  - {id: E-CLOSED, title: t, severity: high, references: [x], rationale: x,
     assert: {kind: egress-only-to, zones: [restricted], to: [api.processor.example]}}
"""


def test_egress_only_to_hosts_are_unknown_never_pass(tmp_path: Path) -> None:
    pack = tmp_path / "egress.yaml"
    pack.write_text(EGRESS_PACK)
    r = CliRunner().invoke(main, ["audit", str(BANK / "before"), "--controls", str(pack), "-o", "-"])
    found = {f["control"]: f for f in json.loads(r.stdout)["findings"]}
    assert found["E-CIDR"]["verdict"] == "fail"  # before/: the dmz reaches the whole internet
    assert found["E-HOST"]["verdict"] == "unknown"
    assert "dns-runtime" in " ".join(found["E-HOST"]["unknown"]["reasons"])
    r = CliRunner().invoke(main, ["audit", str(BANK / "after"), "--controls", str(pack), "-o", "-"])
    found = {f["control"]: f for f in json.loads(r.stdout)["findings"]}
    assert found["E-CLOSED"]["verdict"] == "pass"  # after/: the restricted zone starts nothing external


def test_egress_only_to_rejects_what_is_neither_cidr_zone_nor_host(tmp_path: Path) -> None:
    pack = tmp_path / "egress.yaml"
    pack.write_text(EGRESS_PACK.replace("api.processor.example]}}\n  - {id: E-CLOSED",
                                        "not a host!]}}\n  - {id: E-CLOSED"))
    try:
        load_packs([str(pack)])
    except AuditorError as exc:
        assert "must be a CIDR, an external zone or a host name" in str(exc) and f"{pack}:" in str(exc)
    else:
        raise AssertionError("a malformed destination must be rejected")
