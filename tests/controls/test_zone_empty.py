"""``zone-empty`` on the bank sample (the CLI and its JSON result) and on small clusters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from tests.kits.controls_kit import audit, control, deployment, finding, ns, pack

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ROOT / "sample_clusters" / "bank" / "before"

BANK_PACK = """\
schema: zone-auditor/controls/v1
id: quarantine
title: Quarantine
framework: tests
zones:
  planted:
    selector: app == 'attacker'
  retired:
    selector: firewall-zone == 'legacy'
controls:
  - id: Q-1
    title: nothing runs as the attacker app
    references: [TEST 1]
    rationale: r
    severity: high
    assert: {kind: zone-empty, zones: planted}
  - id: Q-2
    title: the retired zone is empty
    references: [TEST 2]
    rationale: r
    severity: low
    assert: {kind: zone-empty, zones: [retired]}
"""


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")


def bank_audit(tmp_path: Path, text: str) -> tuple[int, dict[str, Any]]:
    pack_path = tmp_path / "quarantine.yaml"
    pack_path.write_text(text)
    out = tmp_path / "result.json"
    r = CliRunner().invoke(main, ["audit", str(BEFORE), "--controls", str(pack_path), "-o", str(out)],
                           catch_exceptions=False)
    result = json.loads(out.read_text())
    return r.exit_code, {f["control"]: f for f in result["findings"]}


def test_zone_empty_fails_naming_the_attacker_and_passes_on_an_empty_zone(tmp_path: Path) -> None:
    code, findings = bank_audit(tmp_path, BANK_PACK)
    assert code == 1
    q1 = findings["Q-1"]
    assert q1["verdict"] == "fail" and q1["counts"] == {"violations": 1, "waived": 0, "unknown": 0}
    (v,) = q1["violations"]
    assert (v["kind"], v["src"], v["dst"], v["flow"]) == ("endpoint", None, "restricted/attacker", None)
    assert "planted" in v["dst_zones"] and "planted" in v["reason"]
    assert q1["claim"] == "no workload in planted"
    assert q1["message"] == "1 violation(s), e.g. restricted/attacker"
    q2 = findings["Q-2"]
    assert q2["verdict"] == "pass" and q2["unknown"]["reasons"] == []  # an empty zone is not unknown here
    assert q2["message"] == "holds: no workload in retired"


def test_zone_empty_is_not_gated_on_an_empty_zone_but_others_are(tmp_path: Path) -> None:
    # the same empty zone under isolated: unknown (its scope cannot be evidenced)
    text = BANK_PACK.replace("assert: {kind: zone-empty, zones: [retired]}", "assert: {kind: isolated, zones: [retired]}")
    _, findings = bank_audit(tmp_path, text)
    assert findings["Q-2"]["verdict"] == "unknown"
    assert "selects no workload" in findings["Q-2"]["unknown"]["reasons"][0]


def test_zone_empty_rejects_an_external_zone_with_its_line(tmp_path: Path) -> None:
    text = BANK_PACK.replace("  retired:\n", "  net:\n    cidrs: [10.0.0.0/8]\n  retired:\n").replace(
        "zones: [retired]}", "zones: [retired, net]}")
    pack_path = tmp_path / "bad.yaml"
    pack_path.write_text(text)
    r = CliRunner().invoke(main, ["audit", str(BEFORE), "--controls", str(pack_path)])
    assert r.exit_code == 2
    line = text.splitlines().index("    assert: {kind: zone-empty, zones: [retired, net]}") + 1
    assert f"bad.yaml:{line}: controls[1].assert.zones[1]: zone 'net' is an external (cidrs) zone; " \
           "only workload zones have members" in r.output


ZONES = {"web": {"namespaceSelector": "zone == 'web'"}, "meta": {"selector": "pcns.team == 'x'"}}


def test_zone_empty_is_unknown_when_pods_could_not_be_read(tmp_path: Path) -> None:
    objs = [ns("web", zone="web"), deployment("web", "front")]
    f = finding(audit(tmp_path, objs, pack([control("C", {"kind": "zone-empty", "zones": "web"})], zones=ZONES),
                      collection={"Pod": "forbidden"}), "C")
    assert f.verdict == "unknown" and "Pod could not be read" in f.blocking[0] and not f.violations


def test_zone_empty_is_unknown_when_membership_is_only_possible(tmp_path: Path) -> None:
    # the namespace of ghost/x is not in the input: whether its pods carry pcns.team is unknown
    objs = [ns("web", zone="web"), deployment("web", "front"), deployment("ghost", "x")]
    f = finding(audit(tmp_path, objs, pack([control("C", {"kind": "zone-empty", "zones": "meta"})], zones=ZONES)), "C")
    assert f.verdict == "unknown"
    assert [(v.kind, v.dst) for v in f.unknown_flows] == [("endpoint", "ghost/Deployment/x")]
    assert "zone membership unknown" in f.unknown_flows[0].reason
    # a definite member still fails, whatever else is unknown
    objs.append(ns("data", team="x"))
    objs.append(deployment("data", "db"))
    f = finding(audit(tmp_path, objs, pack([control("C", {"kind": "zone-empty", "zones": "meta"})], zones=ZONES)), "C")
    assert f.verdict == "fail" and [v.dst for v in f.violations] == ["data/Deployment/db"]
