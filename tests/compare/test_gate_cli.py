"""``auditor baseline`` and ``auditor gate`` on the bank sample: the ratchet, --strict, exit codes,
JUnit and SARIF at the offending manifest, rendered manifests on stdin."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.kits.gate_kit import (
    AFTER,
    BEFORE,
    OPEN_DB_FILE,
    OPEN_DB_POLICY_LINE,
    OPEN_DB_TO_DMZ,
    PACK,
    concatenated,
    invoke,
    with_dmz_cache,
    with_open_db,
    with_unused_label,
)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")


@pytest.fixture
def after_baseline(tmp_path: Path) -> Path:
    out = tmp_path / "baseline.json"
    r = invoke("baseline", str(AFTER), "--controls", PACK, "-o", str(out))
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def before_baseline(tmp_path: Path) -> Path:
    out = tmp_path / "before-baseline.json"
    r = invoke("baseline", str(BEFORE), "--controls", PACK, "-o", str(out))
    assert r.exit_code == 0, r.output
    return out


def gate(inputs: list[str], baseline: Path, *extra: str, input: str | None = None) -> Any:
    return invoke("gate", *inputs, "--controls", PACK, "--baseline", str(baseline), *extra, input=input)


def gate_json(inputs: list[str], baseline: Path, *extra: str, input: str | None = None) -> tuple[int, dict[str, Any]]:
    r = gate(inputs, baseline, "--format", "json", *extra, input=input)
    return r.exit_code, json.loads(r.stdout)


# -- the baseline file -----------------------------------------------------------------------------------


def test_baseline_file_is_line_oriented_deterministic_and_has_no_capture_time(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert invoke("baseline", str(BEFORE), "--controls", PACK, "-o", str(a)).exit_code == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")  # another capture time: same baseline
    assert invoke("baseline", str(BEFORE), "--controls", PACK, "-o", str(b)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    data = json.loads(a.read_bytes())
    assert data["kind"] == "zone-auditor/baseline" and data["schema_version"] == 1
    assert "captured_at" not in a.read_text()
    assert data["protected_zones"] == {"bank-zones": ["dmz", "restricted", "trusted"]}
    bank1 = next(f for f in data["findings"] if f["control"] == "BANK-1")
    assert bank1["verdict"] == "fail" and len(bank1["violations"]) == 13
    assert ["flow", "restricted/attacker", "restricted/StatefulSet/database", "all", "allowed",
            "allowed, but not in the control's allow list"] in bank1["violations"]
    # one violation per line: a newly accepted failure is one added line in a pull request
    line = '["flow","restricted/attacker","restricted/StatefulSet/database","all","allowed",'
    assert any(x.strip().startswith(line) for x in a.read_text().splitlines())
    assert ["dmz/Deployment/customer", "restricted/StatefulSet/database", "all", "none"] in data["flows"]["rows"]
    assert not any(r[0] == "restricted/attacker" and r[1].startswith("restricted/") for r in data["flows"]["rows"])


def test_baseline_update_reports_fixed_and_newly_accepted(tmp_path: Path, before_baseline: Path) -> None:
    r = invoke("baseline", str(AFTER), "--controls", PACK, "-o", str(before_baseline))
    assert r.exit_code == 0
    assert "fixed since the previous baseline: bank-zones/BANK-1 (fail → pass)" in r.stderr
    r = invoke("baseline", str(with_open_db(tmp_path)), "--controls", PACK, "-o", str(before_baseline))
    assert r.exit_code == 0
    assert "newly accepted: bank-zones/BANK-2 (pass → fail, 1 new violation(s), 0 undecided)" in r.stderr
    assert ("newly accepted flow: dmz/Deployment/customer → restricted/StatefulSet/database [TCP:2379] into "
            "restricted") in r.stderr


def test_baseline_tighten_refuses_a_regression_and_accepts_a_fix(tmp_path: Path, after_baseline: Path) -> None:
    before = after_baseline.read_bytes()
    r = invoke("baseline", str(with_open_db(tmp_path)), "--controls", PACK, "-o", str(after_baseline), "--tighten")
    assert r.exit_code == 1
    assert "not written: --tighten" in r.stderr
    assert after_baseline.read_bytes() == before
    old = tmp_path / "old.json"
    assert invoke("baseline", str(BEFORE), "--controls", PACK, "-o", str(old)).exit_code == 0
    r = invoke("baseline", str(AFTER), "--controls", PACK, "-o", str(old), "--tighten")
    assert r.exit_code == 0, r.output
    assert old.read_bytes() == after_baseline.read_bytes()


def test_gzip_baseline(tmp_path: Path) -> None:
    out = tmp_path / "baseline.json.gz"
    assert invoke("baseline", str(BEFORE), "--controls", PACK, "-o", str(out)).exit_code == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert gate([str(BEFORE)], out).exit_code == 0


# -- the gate ---------------------------------------------------------------------------------------------


def test_opening_the_database_to_the_dmz_fails_with_the_flow_and_the_policy_file_and_line(
        tmp_path: Path, after_baseline: Path) -> None:
    changed = with_open_db(tmp_path)
    sarif, junit = tmp_path / "gate.sarif", tmp_path / "gate.xml"
    r = gate([str(changed)], after_baseline, "--sarif", str(sarif), "--junit", str(junit))
    assert r.exit_code == 1, r.output
    assert "regressions (fail the gate):" in r.stdout
    assert "BANK-2 (critical) pass → fail" in r.stdout
    assert ("dmz/Deployment/customer → restricted/StatefulSet/database [TCP:2379] into restricted — egress: "
            "NetworkPolicy dmz/customer-allow-egress-to-database egress rule 0 (Allow); ingress: NetworkPolicy "
            "restricted/database-allow-dmz ingress rule 0 (Allow)") in r.stdout
    assert "result: FAIL" in r.stdout and "(exit 1)" in r.stdout

    doc = json.loads(sarif.read_text())
    results = doc["runs"][0]["results"]
    by_rule = {x["ruleId"]: x for x in results}
    assert set(by_rule) == {"BANK-1", "BANK-2", "gate:new-flows"}
    for res in results:
        assert res["level"] == "error" and "suppressions" not in res
        phys = res["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"].endswith(f"open-db/{OPEN_DB_FILE}")
        assert phys["region"]["startLine"] == OPEN_DB_POLICY_LINE
        assert res["locations"][0]["logicalLocations"][0]["name"] == "NetworkPolicy restricted/database-allow-dmz"
    assert "newly allowed into protected zone restricted" in by_rule["gate:new-flows"]["message"]["text"]
    assert doc["runs"][0]["automationDetails"]["id"] == "zone-auditor-gate/bank-zones/"

    root = ET.parse(junit).getroot()
    failed = {c.get("name", "").split(":")[0] for c in root.iter("testcase") if c.find("failure") is not None}
    assert failed == {"BANK-1", "BANK-2", "gate"}
    assert root.get("failures") == "3"


def test_harmless_changes_pass(tmp_path: Path, after_baseline: Path) -> None:
    for changed in (with_unused_label(tmp_path), with_dmz_cache(tmp_path)):
        code, report = gate_json([str(changed)], after_baseline)
        assert code == 0, report
        assert report["verdict"] == "pass" and report["new_flows"] == []
        assert {c["status"] for c in report["controls"]} == {"ok"}


def test_ratchet_pre_existing_failures_pass_but_are_listed_and_strict_fails(before_baseline: Path,
                                                                           tmp_path: Path) -> None:
    r = gate([str(BEFORE)], before_baseline)
    assert r.exit_code == 0, r.output
    assert "pre-existing in the baseline (listed, not failing):" in r.stdout
    assert "BANK-1 fail: 13 violation(s)" in r.stdout
    r = gate([str(BEFORE)], before_baseline, "--strict")
    assert r.exit_code == 1
    assert "pre-existing in the baseline (fail the gate: --strict):" in r.stdout
    # the pre-existing violations are suppressed in SARIF (a waiver named "baseline"), failing under --strict
    sarif = tmp_path / "s.sarif"
    assert gate([str(BEFORE)], before_baseline, "--sarif", str(sarif)).exit_code == 0
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert results and all(x["suppressions"][0]["status"] == "accepted" for x in results)
    assert all("waiver baseline: pre-existing in the baseline" in x["suppressions"][0]["justification"]
               for x in results)
    assert gate([str(BEFORE)], before_baseline, "--strict", "--sarif", str(sarif)).exit_code == 1
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert results and not any("suppressions" in x for x in results)


def test_ratchet_a_new_violation_of_an_already_failing_control_fails(tmp_path: Path) -> None:
    """The ratchet is per violation: BANK-2 fails in the baseline, one more dmz flow fails the gate."""
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    for f in AFTER.glob("*.yaml"):
        (base_dir / f.name).write_text(f.read_text())
    # baseline: the dmz already reaches the attacker pod (a known, accepted failure of BANK-2)
    (base_dir / "70-attacker-open.yaml").write_text(OPEN_DB_TO_DMZ.replace("app: database", "app: attacker")
                                                    .replace("database-allow-dmz", "attacker-allow-dmz")
                                                    .replace("customer-allow-egress-to-database",
                                                             "customer-allow-egress-to-attacker"))
    baseline = tmp_path / "b.json"
    assert invoke("baseline", str(base_dir), "--controls", PACK, "-o", str(baseline)).exit_code == 0
    code, report = gate_json([str(base_dir)], baseline)
    assert code == 0
    assert {c["control"]: c["status"] for c in report["controls"]}["BANK-2"] == "pre-existing"
    (base_dir / OPEN_DB_FILE).write_text(OPEN_DB_TO_DMZ)
    code, report = gate_json([str(base_dir)], baseline)
    assert code == 1
    bank2 = next(c for c in report["controls"] if c["control"] == "BANK-2")
    assert bank2["status"] == "regression" and bank2["baseline"] == "fail" and bank2["pre_existing"] == 1
    assert [(v["src"], v["dst"], v["new_ports"]) for v in bank2["new_violations"]] == [
        ("dmz/Deployment/customer", "restricted/StatefulSet/database", "TCP:2379")]


def test_a_wider_port_on_a_pre_existing_violation_is_new(tmp_path: Path) -> None:
    base_dir = with_open_db(tmp_path, "base")
    baseline = tmp_path / "b.json"
    assert invoke("baseline", str(base_dir), "--controls", PACK, "-o", str(baseline)).exit_code == 0
    path = base_dir / OPEN_DB_FILE
    path.write_text(path.read_text().replace("port: 2379\n", "port: 2379\n          endPort: 2380\n"))
    code, report = gate_json([str(base_dir)], baseline)
    assert code == 1
    bank2 = next(c for c in report["controls"] if c["control"] == "BANK-2")
    assert [v["new_ports"] for v in bank2["new_violations"]] == ["TCP:2380"]
    assert [(f["ports"], f["baseline_ports"]) for f in report["new_flows"]] == [("TCP:2380", "TCP:2379")]


def test_fixed_controls_are_listed(before_baseline: Path) -> None:
    code, report = gate_json([str(AFTER)], before_baseline)
    assert code == 0
    assert {c["control"] for c in report["controls"] if c["status"] == "fixed"} == {
        "BANK-1", "BANK-2", "BANK-3", "BANK-4", "BANK-6", "BANK-8", "BANK-9"}


def test_a_control_that_becomes_unknown_exits_2(tmp_path: Path, after_baseline: Path) -> None:
    changed = with_dmz_cache(tmp_path)
    (changed / "80-anp.yaml").write_text("""\
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata:
  name: cluster-wide
spec:
  priority: 10
  subject:
    namespaces: {}
  ingress:
    - action: Allow
      from:
        - namespaces: {}
  egress:
    - action: Allow
      to:
        - namespaces: {}
""")
    code, report = gate_json([str(changed)], after_baseline)
    assert code == 2
    assert report["verdict"] == "unknown"
    statuses = {c["control"]: c["status"] for c in report["controls"]}
    assert statuses["BANK-2"] == "unknown" and "regression" not in statuses.values()
    assert any(f["verdict"] == "unknown" for f in report["new_flows"])
    assert "could not be established" in gate([str(changed)], after_baseline).stdout


def test_rendered_manifests_on_stdin(tmp_path: Path, after_baseline: Path) -> None:
    """`kustomize build … | auditor gate -`: workloads come from the pod templates."""
    r = gate(["-"], after_baseline, input=concatenated(AFTER))
    assert r.exit_code == 0, r.output
    r = gate(["-"], after_baseline, "--format", "json", input=concatenated(with_open_db(tmp_path)))
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert [(f["src"], f["dst"]) for f in report["new_flows"]] == [
        ("dmz/Deployment/customer", "restricted/StatefulSet/database")]


def test_helm_source_comments_point_sarif_at_the_template(tmp_path: Path, after_baseline: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    changed = with_open_db(tmp_path)
    chart = tmp_path / "deploy" / "charts" / "bank" / "templates"
    chart.mkdir(parents=True)
    stream = []
    for f in sorted(changed.glob("*.yaml")):
        (chart / f.name).write_text(f.read_text())
        for doc in f.read_text().split("\n---\n"):
            stream.append(f"---\n# Source: bank/templates/{f.name}\n{doc.strip()}\n")
    monkeypatch.chdir(tmp_path)
    sarif = tmp_path / "out.sarif"
    r = gate(["-"], after_baseline, "--sarif", str(sarif), "--source-prefix", "deploy/charts/", input="".join(stream))
    assert r.exit_code == 1
    locations = {loc["logicalLocations"][0]["name"]: loc.get("physicalLocation")
                 for res in json.loads(sarif.read_text())["runs"][0]["results"] for loc in res["locations"]}
    ingress = locations["NetworkPolicy restricted/database-allow-dmz"]
    assert ingress["artifactLocation"]["uri"] == f"deploy/charts/bank/templates/{OPEN_DB_FILE}"
    lines = (chart / OPEN_DB_FILE).read_text().splitlines()
    assert lines[ingress["region"]["startLine"] - 1] == "kind: NetworkPolicy"
    assert lines[ingress["region"]["startLine"] + 1].strip() == "name: database-allow-dmz"


def test_markdown_summary_for_a_pull_request(tmp_path: Path, after_baseline: Path) -> None:
    out = tmp_path / "gate.md"
    r = gate([str(with_open_db(tmp_path))], after_baseline, "--format", "markdown", "-o", str(out))
    assert r.exit_code == 1
    text = out.read_text()
    assert text.startswith("### ❌ Zone compliance gate: **FAIL**\n")
    assert "#### Regressions" in text and "#### New flows into protected zones" in text
    assert "| `BANK-2` | critical | pass → **fail** | dmz/Deployment/customer → restricted/StatefulSet/database" in text


def test_an_audit_result_works_as_a_baseline(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    assert invoke("audit", str(BEFORE), "--controls", PACK, "-o", str(result)).exit_code == 1
    assert gate([str(BEFORE)], result).exit_code == 0
    assert gate([str(BEFORE)], result, "--strict").exit_code == 1


@pytest.mark.parametrize("content, message", [
    ("{}", "not a baseline"),
    ("[1, 2", "not JSON"),
    ('{"kind": "zone-auditor/baseline", "schema_version": 99}', "schema_version 99 is not supported"),
    ('{"kind": "zone-auditor/baseline", "schema_version": 1, "findings": 3}', "malformed baseline"),
])
def test_a_bad_baseline_exits_2_with_one_line(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = gate([str(AFTER)], bad)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and message in r.stderr and r.stderr.count("\n") == 1


def test_missing_baseline_and_bad_input_exit_2(tmp_path: Path, after_baseline: Path) -> None:
    r = gate([str(AFTER)], tmp_path / "nope.json")
    assert r.exit_code == 2 and "no such baseline file" in r.stderr
    r = gate([str(tmp_path / "missing")], after_baseline)
    assert r.exit_code == 2 and r.stderr.startswith("error: ")


ICMPV6_RULE = """\
# Names ICMPv6 (CAL-27) and selects no pod: the analysis now distinguishes ICMPv6 ports, nothing
# else changes.
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: no-such-app-icmpv6
spec:
  selector: app == 'no-such-app'
  types: [Egress]
  egress:
    - action: Deny
      protocol: ICMPv6
"""


def test_an_open_pair_is_not_newly_opened_when_the_analysis_knows_more_protocols(tmp_path: Path) -> None:
    """A saved ``all`` reads back as TCP, UDP, SCTP and ICMP; a side computed from an analysis that
    also distinguishes ICMPv6 must read the same for a pair open on every port, or the gate and
    ``auditor diff`` would report an unchanged cluster as newly allowing ICMPv6."""
    manifests = tmp_path / "before"
    shutil.copytree(BEFORE, manifests)
    (manifests / "90-icmpv6.yaml").write_text(ICMPV6_RULE)
    base = tmp_path / "baseline.json"
    assert invoke("baseline", str(manifests), "--controls", PACK, "-o", str(base)).exit_code == 0
    rows = json.loads(base.read_text())["flows"]["rows"]
    assert any(r[2] == "all" for r in rows)  # some pair into a protected zone is open on every port
    code, report = gate_json([str(manifests)], base)
    assert report["new_flows"] == [] and code == 0
    result = tmp_path / "result.json"
    assert invoke("audit", str(manifests), "--controls", PACK, "-o", str(result)).exit_code in (0, 1)
    r = invoke("diff", str(result), str(manifests), "--controls", PACK, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["flows"]["changes"] == []
