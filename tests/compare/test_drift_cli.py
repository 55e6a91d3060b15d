"""``auditor diff OLD NEW`` on the bank sample: every input kind, every section, every format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.kits.gate_kit import (
    AFTER,
    BEFORE,
    OPEN_DB_FILE,
    PACK,
    ROOT,
    concatenated,
    copy_after,
    invoke,
    with_dmz_cache,
    with_open_db,
)

WAIVERS = str(ROOT / "controls" / "examples" / "bank-waivers.yaml")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")


def diff_json(old: str, new: str, *extra: str, input: str | None = None) -> dict[str, Any]:
    r = invoke("diff", old, new, "--format", "json", *extra, input=input)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def audit(inputs: Path | str, out: Path, *extra: str) -> Path:
    r = invoke("audit", str(inputs), "--controls", PACK, "-o", str(out), *extra)
    assert r.exit_code in (0, 1), r.output
    return out


def essentials(report: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on the input kind."""
    return {
        "controls": [(c["control"], c["old"], c["new"]) for c in report["controls"]],
        "allowed": [(f["src"], f["dst"], f["ports"], f["decided_by"]) for f in report["flows"]["changes"]
                    if f["change"] == "allowed"],
        "policies": [(p["change"], p["ref"], p["details"]) for p in report["policies"]],
    }


def test_opening_the_database_same_answer_from_every_input_kind(tmp_path: Path) -> None:
    changed = with_open_db(tmp_path)
    old_result, new_result = audit(AFTER, tmp_path / "old.json"), audit(changed, tmp_path / "new.json")
    snap = tmp_path / "snap.json"
    assert invoke("scan", str(AFTER), "-o", str(snap)).exit_code == 0
    from_results = diff_json(str(old_result), str(new_result))
    from_manifests = diff_json(str(AFTER), str(changed), "--controls", PACK)
    from_snapshot = diff_json(str(snap), str(changed), "--controls", PACK)
    from_stdin = diff_json(str(old_result), "-", "--controls", PACK, input=concatenated(changed))
    expected = {
        "controls": [("BANK-1", "pass", "fail"), ("BANK-2", "pass", "fail")],
        "allowed": [("dmz/Deployment/customer", "restricted/StatefulSet/database", "TCP:2379",
                     "egress: NetworkPolicy dmz/customer-allow-egress-to-database egress rule 0 (Allow); ingress: "
                     "NetworkPolicy restricted/database-allow-dmz ingress rule 0 (Allow)")],
        "policies": [
            ("added", "NetworkPolicy dmz/customer-allow-egress-to-database",
             ['selects pods `app == "customer"` in namespace `dmz` — egress: rule 0 allows traffic to pods '
              '`app == "database"` in namespaces `firewall-zone == "restricted"` on TCP 2379']),
            ("added", "NetworkPolicy restricted/database-allow-dmz",
             ['selects pods `app == "database"` in namespace `restricted` — ingress: rule 0 admits all pods in '
              'namespaces `firewall-zone == "dmz"` on TCP 2379'])],
    }
    for report in (from_results, from_manifests, from_snapshot, from_stdin):
        assert essentials(report) == expected
    assert from_results["flows"]["scope"] == "flows between zones (and flows a control cites)"
    added = next(p for p in from_results["policies"] if p["ref"] == "NetworkPolicy restricted/database-allow-dmz")
    assert added["file"].endswith(f"open-db/{OPEN_DB_FILE}") and added["line"] == 2
    assert from_results["old"]["kind"] == "audit-result" and from_snapshot["old"]["kind"] == "snapshot"
    assert from_stdin["new"]["kind"] == "manifests" and from_stdin["new"]["label"] == "-"


def test_json_is_deterministic_and_canonical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # both runs capture the same snapshots
    changed = with_open_db(tmp_path)
    a = invoke("diff", str(BEFORE), str(changed), "--controls", PACK, "--format", "json")
    b = invoke("diff", str(BEFORE), str(changed), "--controls", PACK, "--format", "json")
    assert a.exit_code == b.exit_code == 0
    assert a.stdout_bytes == b.stdout_bytes
    data = json.loads(a.stdout)
    assert a.stdout_bytes == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    assert data["kind"] == "zone-auditor/drift" and data["schema_version"] == 1
    changes = data["flows"]["changes"]
    order = {"allowed": 0, "unknown": 1, "denied": 2}
    assert changes == sorted(changes, key=lambda f: (order[f["change"]], f["src"], f["dst"], f["ports"]))


def test_before_to_after_denies_the_attacker_and_names_the_deny(tmp_path: Path) -> None:
    report = diff_json(str(BEFORE), str(AFTER), "--controls", PACK)
    assert [(c["control"], c["new"]) for c in report["controls"]] == [
        ("BANK-1", "pass"), ("BANK-2", "pass"), ("BANK-3", "pass"), ("BANK-4", "pass"), ("BANK-6", "pass"),
        ("BANK-8", "pass"), ("BANK-9", "pass")]
    denied = {(f["src"], f["dst"]): f for f in report["flows"]["changes"] if f["change"] == "denied"}
    attacker = denied[("restricted/attacker", "restricted/StatefulSet/database")]  # cited, inside one zone
    assert attacker["ports"] == "all"
    assert attacker["decided_by"] == ("egress: tier default: no rule matched, end-of-tier Deny (CAL-21, K8S-4); "
                                      "ingress: tier default: no rule matched, end-of-tier Deny (CAL-21, K8S-4)")
    assert attacker["was_decided_by"].startswith("egress: no policy applies")
    summary = denied[("dmz/Deployment/customer", "trusted/Deployment/summary")]
    assert summary["ports"] == "TCP:1-8079,8081-65535 UDP:all SCTP:all ICMP"  # 8080 stays allowed
    assert {p["change"] for p in report["policies"]} == {"added"} and len(report["policies"]) == 12


def test_workloads_entering_leaving_and_losing_their_zone(tmp_path: Path) -> None:
    changed = copy_after(tmp_path)
    ns = changed / "00-namespaces.yaml"
    ns.write_text(ns.read_text().replace("    firewall-zone: dmz            # internet-facing front end\n", ""))
    customer = changed / "20-dmz-customer.yaml"
    assert "firewall-zone: dmz" in customer.read_text()
    customer.write_text("\n".join(x for x in customer.read_text().splitlines() if "firewall-zone: dmz" not in x) + "\n")
    info = changed / "22-trusted-bank-info.yaml"
    info.write_text(info.read_text().replace("        firewall-zone: trusted\n", "        firewall-zone: restricted\n"))
    report = diff_json(str(AFTER), str(changed), "--controls", PACK)
    by_name = {w["workload"]: w for w in report["workloads"]}
    assert by_name["dmz/Deployment/customer"]["change"] == "lost-zone"
    assert by_name["dmz/Deployment/customer"]["old_zones"] == ["dmz"] and by_name["dmz/Deployment/customer"][
        "new_zones"] == []
    assert "firewall-zone=dmz removed" in by_name["dmz/Deployment/customer"]["detail"]
    assert by_name["trusted/Deployment/bank-info"]["change"] == "entered"
    assert by_name["trusted/Deployment/bank-info"]["new_zones"] == ["restricted", "trusted"]
    assert report["workloads"][0]["workload"] == "dmz/Deployment/customer"  # lost-zone first
    added = diff_json(str(AFTER), str(with_dmz_cache(tmp_path)), "--controls", PACK)["workloads"]
    assert added == [{"workload": "dmz/Deployment/cache", "change": "added", "old_zones": [], "new_zones": ["dmz"],
                      "detail": "in dmz"}]


def test_policy_modifications_in_words(tmp_path: Path) -> None:
    changed = copy_after(tmp_path)
    path = changed / "62-netpol-restricted.yaml"
    text = path.read_text()
    text = text.replace("              app: summary\n      ports:", "              app: summary\n"
                        "        - namespaceSelector:\n            matchLabels:\n"
                        "              kubernetes.io/metadata.name: dev\n      ports:")
    path.write_text(text.replace("          port: 2379\n", "          port: 2379\n        - protocol: TCP\n"
                                 "          port: 5432\n", 1))
    report = diff_json(str(AFTER), str(changed), "--controls", PACK)
    [pol] = report["policies"]
    assert pol["change"] == "modified" and pol["ref"] == "NetworkPolicy restricted/database-allow-ingress-from-summary"
    assert pol["details"] == ["ingress rule 0 now also admits all pods in namespace `dev`",
                              "ingress rule 0 now also allows ports TCP 5432"]
    assert pol["file"].endswith("62-netpol-restricted.yaml")


def test_waivers_that_expired_in_between(tmp_path: Path) -> None:
    old = audit(BEFORE, tmp_path / "old.json", "--waivers", WAIVERS, "--as-of", "2025-12-01")
    new = audit(BEFORE, tmp_path / "new.json", "--waivers", WAIVERS, "--as-of", "2026-12-01")
    report = diff_json(str(old), str(new))
    assert report["waivers"] == [{"id": "W-2", "control": "BANK-3", "change": "expired", "expires": "2025-12-31",
                                  "old_status": "active", "new_status": "expired", "covers": 2}]
    r = invoke("diff", str(old), str(new), "--format", "table")
    assert "W-2 [BANK-3] expired 2025-12-31 (was active; would cover 2)" in r.stdout


def test_markdown_for_a_pull_request_comment(tmp_path: Path) -> None:
    r = invoke("diff", str(AFTER), str(with_open_db(tmp_path)), "--controls", PACK, "--format", "markdown")
    assert r.exit_code == 0
    text = r.stdout
    lines = text.splitlines()
    assert lines[0].startswith("### Compliance drift: `") and lines[1] == ""
    assert lines[2].startswith("**2** control verdict(s) changed · **1** flow(s) newly allowed")
    assert "#### Controls" in text
    assert "| control | was | now | severity | title |\n|---|---|---|---|---|\n" in text
    assert "| `BANK-2` | pass | **fail** | critical | No flow from the dmz into the restricted zone |" in text
    assert "<details open><summary>Flows newly allowed (1)</summary>" in text
    assert "| `dmz/Deployment/customer` | `restricted/StatefulSet/database` | `TCP:2379` | dmz | restricted |" in text
    assert "<details open><summary>Policies (2)</summary>" in text
    assert text.count("<details") == text.count("</details>")
    for line in lines:
        if line.startswith("|"):
            assert line.endswith("|")
    nothing = invoke("diff", str(AFTER), str(AFTER), "--controls", PACK, "--format", "markdown").stdout
    assert "No compliance-relevant change." in nothing


def test_csv_one_row_per_change(tmp_path: Path) -> None:
    r = invoke("diff", str(AFTER), str(with_open_db(tmp_path)), "--controls", PACK, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["section", "change", "subject", "src", "dst", "ports", "old", "new", "detail",
                             "decided_by", "was_decided_by", "file", "line"]
    assert [(x["section"], x["change"], x["subject"]) for x in rows] == [
        ("controls", "verdict", "bank-zones/BANK-1"), ("controls", "verdict", "bank-zones/BANK-2"),
        ("flows", "allowed", "dmz/Deployment/customer -> restricted/StatefulSet/database"),
        ("policies", "added", "NetworkPolicy dmz/customer-allow-egress-to-database"),
        ("policies", "added", "NetworkPolicy restricted/database-allow-dmz")]
    flow = rows[2]
    assert (flow["ports"], flow["old"], flow["new"]) == ("TCP:2379", "dmz", "restricted")
    assert rows[4]["line"] == "2"


def test_without_controls_flows_and_policies_only(tmp_path: Path) -> None:
    report = diff_json(str(AFTER), str(with_dmz_cache(tmp_path)))
    assert report["flows"]["scope"] == "every workload pair"
    allowed = [(f["src"], f["dst"], f["ports"]) for f in report["flows"]["changes"] if f["change"] == "allowed"]
    assert ("dmz/Deployment/customer", "dmz/Deployment/cache", "TCP:6379") in allowed  # inside one zone: listed
    assert report["controls"] == [] and report["workloads"] == []
    assert any(u.startswith("controls:") for u in report["unavailable"])
    assert any(u.startswith("workloads:") for u in report["unavailable"])
    assert len(report["policies"]) == 2


def test_a_baseline_as_a_side(tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    assert invoke("baseline", str(AFTER), "--controls", PACK, "-o", str(baseline)).exit_code == 0
    report = diff_json(str(baseline), str(with_open_db(tmp_path)), "--controls", PACK)
    assert essentials(report)["controls"] == [("BANK-1", "pass", "fail"), ("BANK-2", "pass", "fail")]
    assert report["flows"]["scope"] == "flows into protected zones (dmz, restricted, trusted)"
    assert [(f["src"], f["dst"], f["ports"]) for f in report["flows"]["changes"]] == [
        ("dmz/Deployment/customer", "restricted/StatefulSet/database", "TCP:2379")]
    assert [p["change"] for p in report["policies"]] == ["added", "added"]


def test_exit_code_option_and_errors(tmp_path: Path) -> None:
    assert invoke("diff", str(AFTER), str(AFTER), "--exit-code").exit_code == 0
    assert invoke("diff", str(AFTER), str(with_open_db(tmp_path)), "--exit-code").exit_code == 1
    assert invoke("diff", str(AFTER), str(with_open_db(tmp_path, "x"))).exit_code == 0
    r = invoke("diff", "-", "-")
    assert r.exit_code == 2 and r.stderr.startswith("error: ")
    r = invoke("diff", str(AFTER), str(tmp_path / "missing"))
    assert r.exit_code == 2 and r.stderr.startswith("error: ")
    r = invoke("diff", str(AFTER), str(AFTER), "--waivers", WAIVERS)
    assert r.exit_code == 2 and "--zones and --waivers need --controls" in r.stderr


def test_results_that_list_only_some_flows(tmp_path: Path) -> None:
    old = audit(BEFORE, tmp_path / "old.json", "--max-evidence", "3")
    new = audit(AFTER, tmp_path / "new.json", "--max-evidence", "3")
    assert json.loads(old.read_text())["flows"]["omitted"] > 0
    report = diff_json(str(old), str(new))
    assert any(n.startswith("OLD lists only some of its flows") for n in report["notes"])
    denied = [f for f in report["flows"]["changes"] if f["change"] == "denied"]
    assert 0 < len(denied) <= 3  # only pairs both sides list are compared


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "drift.md"
    r = invoke("diff", str(BEFORE), str(AFTER), "--controls", PACK, "--format", "markdown", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    assert out.read_text().startswith("### Compliance drift:")
