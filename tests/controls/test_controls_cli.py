"""``auditor audit`` end to end on the bank sample: exit codes, evidence, the JSON result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from auditor.cli import main

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
PACK = str(ROOT / "controls" / "bank-zones.yaml")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # the snapshot's captured_at


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["audit", *args], catch_exceptions=False)


def test_after_passes_exit_0() -> None:
    r = invoke(str(BANK / "after"), "--controls", PACK)
    assert r.exit_code == 0, r.output
    assert "result: PASS — 9 pass, 0 fail, 0 waived, 0 unknown (exit 0)" in r.stdout


def test_the_kubectl_dump_passes_too() -> None:
    assert invoke(str(BANK / "kubectl-dump.yaml"), "--controls", PACK).exit_code == 0


def test_before_fails_exit_1_with_the_attacker_flow_as_evidence(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    r = invoke(str(BANK / "before"), "--controls", PACK, "-o", str(out))
    assert r.exit_code == 1
    assert "restricted/attacker → restricted/StatefulSet/database [all]" in r.stdout
    result = json.loads(out.read_bytes())
    bank1 = next(f for f in result["findings"] if f["control"] == "BANK-1")
    assert bank1["verdict"] == "fail"
    attacker = [v for v in bank1["violations"] if v["src"] == "restricted/attacker"
                and v["dst"] == "restricted/StatefulSet/database"]
    detail = attacker[0].pop("decided_by_detail")  # the structured decided_by (K8S-2 at both ends)
    assert [(s["side"], [r["reason"] for r in s["rules"]]) for s in detail] == [
        ("egress", ["no-policy"]), ("ingress", ["no-policy"])]
    assert attacker == [{
        "kind": "flow", "src": "restricted/attacker", "dst": "restricted/StatefulSet/database", "ports": "all",
        "flow": "allowed",
        "decided_by": "egress: no policy applies: not isolated (K8S-2, CAL-22); "
                      "ingress: no policy applies: not isolated (K8S-2, CAL-22)",
        "src_zones": ["restricted"], "dst_zones": ["restricted"],
        "reason": "allowed, but not in the control's allow list", "waived_by": [],
    }]
    verdicts = {f["control"]: f["verdict"] for f in result["findings"]}
    assert verdicts == {"BANK-1": "fail", "BANK-2": "fail", "BANK-3": "fail", "BANK-4": "fail",
                        "BANK-5": "pass", "BANK-6": "fail", "BANK-7": "pass", "BANK-8": "fail",
                        "BANK-9": "fail"}


def test_json_result_is_deterministic_and_schema_versioned(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for path in (a, b):
        invoke(str(BANK / "before"), "--controls", PACK, "-o", str(path))
    assert a.read_bytes() == b.read_bytes()
    result = json.loads(a.read_bytes())
    assert {"as_of", "assumptions", "findings", "kind", "notes", "packs", "schema_version", "snapshot", "summary",
            "tool", "tool_version", "unsupported", "waivers", "waivers_file", "zones", "zones_file"} <= set(result)
    assert result["schema_version"] == 1 and result["kind"] == "zone-auditor/audit-result"
    assert result["as_of"] is None  # no waivers: the date plays no part
    assert result["summary"] == {"verdict": "fail", "exit_code": 1,
                                 "controls": {"pass": 2, "fail": 7, "waived": 0, "unknown": 0}}
    assert set(result["snapshot"]) == {"digest", "content_digest", "source", "captured_at", "incomplete"}
    (p,) = result["packs"]
    assert p["id"] == "bank-zones" and len(p["digest"]) == 64
    f = result["findings"][0]
    assert sorted(f) == ["assertion", "checked", "claim", "control", "counts", "mappings", "message", "notes",
                         "pack", "rationale", "references", "severity", "title", "unknown", "verdict", "violations",
                         "violations_omitted"]
    assert f["mappings"] == {"nist-sp-800-53-rev5": ["ac-4", "sc-7", "sc-7.11"], "pci-dss-v4": ["req-1.3.1"]}
    assert f["violations_omitted"] == 0 and f["unknown"]["flows_omitted"] == 0
    assert result["zones"]["bank-zones"]["restricted"]["members"] == ["restricted/StatefulSet/database",
                                                                     "restricted/attacker"]


def test_output_dash_writes_json_to_stdout_and_the_table_to_stderr() -> None:
    r = invoke(str(BANK / "after"), "--controls", PACK, "-o", "-")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["summary"]["verdict"] == "pass"
    assert "CONTROL" in r.stderr


def test_unknown_exits_2(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text(yaml.safe_dump({
        "schema": "zone-auditor/controls/v1", "id": "p", "title": "t", "framework": "f",
        "zones": {"cde": {"selector": "pci-scope == 'cde'"}, "internet": {"cidrs": ["0.0.0.0/0"]}},
        "controls": [{"id": "C", "title": "t", "references": ["R"], "rationale": "r", "severity": "high",
                      "assert": {"kind": "no-flow", "from": "internet", "to": "cde"}}]}))
    r = invoke(str(BANK / "after"), "--controls", str(pack))
    assert r.exit_code == 2
    assert "zone 'cde' selects no workload" in r.stdout and "(exit 2)" in r.stdout


def test_a_failure_outranks_unknown_in_the_exit_code() -> None:
    # The PCI pack's default labels are not on the bank sample: the scope is unknown (never "pass"),
    # and zone coverage fails outright: exit 1.
    r = invoke(str(BANK / "after"), "--controls", str(ROOT / "controls" / "pci-dss-v4.yaml"), "-o", "-")
    result = json.loads(r.stdout)
    verdicts = {f["control"]: f["verdict"] for f in result["findings"]}
    assert verdicts.pop("PCI-2.2.3") == "fail"
    assert set(verdicts.values()) == {"unknown"}
    assert r.exit_code == 1 and result["summary"]["verdict"] == "fail"


def test_pci_and_hipaa_with_the_example_zone_maps() -> None:
    r = invoke(str(BANK / "after"), "--controls", str(ROOT / "controls" / "pci-dss-v4.yaml"),
               "--zones", str(ROOT / "controls" / "examples" / "bank-pci-zones.yaml"), "-o", "-")
    verdicts = {f["control"]: f["verdict"] for f in json.loads(r.stdout)["findings"]}
    assert verdicts.pop("PCI-2.2.7") == "fail" and verdicts.pop("PCI-7.2") == "fail"  # no Istio in the sample
    assert set(verdicts.values()) == {"pass"} and r.exit_code == 1
    r = invoke(str(BANK / "before"), "--controls", str(ROOT / "controls" / "hipaa.yaml"),
               "--zones", str(ROOT / "controls" / "examples" / "bank-hipaa-zones.yaml"))
    assert r.exit_code == 1


def test_invalid_pack_exits_2_with_one_precise_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(PACK).read_text().replace("      from: dmz\n      to: restricted",
                                                  "      from: dmzz\n      to: restricted"))
    r = invoke(str(BANK / "after"), "--controls", str(bad))
    assert r.exit_code == 2
    assert r.stderr == (f"error: {bad}:67: controls[1].assert.from: unknown zone 'dmzz' "
                        "(did you mean 'dmz'? defined: dmz, internet, platform, restricted, trusted)\n")


def test_invalid_inputs_exit_2(tmp_path: Path) -> None:
    assert invoke(str(BANK / "after"), "--controls", str(tmp_path / "missing.yaml")).exit_code == 2
    r = invoke(str(BANK / "after"), "--controls", PACK, "--as-of", "tomorrow")
    assert r.exit_code == 2 and "--as-of 'tomorrow'" in r.stderr
    r = invoke(str(BANK / "after"), "--controls", PACK, "--external", "internet=10.0.0.0/8")
    assert r.exit_code == 2 and "remap the zone with --zones" in r.stderr
    r = invoke(str(tmp_path), "--controls", PACK)
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["audit", str(BANK / "after")])
    assert r.exit_code == 2 and "--controls" in r.output


def test_waivers_and_expiry_from_the_command_line(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(yaml.safe_dump({"waivers": [
        {"id": "W-1", "control": "BANK-8", "flows": [{"from": "zone:restricted", "to": "internet"}],
         "justification": "backups to the old offsite store until the migration", "approver": "ciso@bank.example",
         "expires": "2026-12-31"},
        {"id": "W-2", "control": "BANK-3", "flows": [{"from": "internet", "to": "trusted/*", "ports": ["443/TCP"]}],
         "justification": "never matches", "approver": "ciso@bank.example", "expires": "2026-12-31"},
    ]}))
    out = tmp_path / "r.json"
    r = invoke(str(BANK / "before"), "--controls", PACK, "--waivers", str(waivers), "--as-of", "2026-12-31",
               "-o", str(out))
    result = json.loads(out.read_bytes())
    assert r.exit_code == 1
    assert next(f for f in result["findings"] if f["control"] == "BANK-8")["verdict"] == "waived"
    assert {w["id"]: w["status"] for w in result["waivers"]} == {"W-1": "active", "W-2": "unused"}
    assert result["as_of"] == "2026-12-31" and result["waivers_file"]["waivers"] == 2
    assert "W-1 [BANK-8]: active, covers 2" in r.stdout
    r = invoke(str(BANK / "before"), "--controls", PACK, "--waivers", str(waivers), "--as-of", "2027-01-01",
               "-o", str(out))
    result = json.loads(out.read_bytes())
    assert next(f for f in result["findings"] if f["control"] == "BANK-8")["verdict"] == "fail"
    assert {w["id"]: w["status"] for w in result["waivers"]} == {"W-1": "expired", "W-2": "expired"}
