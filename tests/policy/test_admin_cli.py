"""Admin network policies end to end: the ``sample_clusters/bank/admin/`` variant through the CLI
(audit, explain, --dataplane, the assumed dataplane in JSON) and policy drift in words."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from auditor.cli import main
from auditor.policy.summary import describe_changes, policy_key, policy_rules
from auditor.reach.analysis import AnalysisOptions, analyze
from auditor.sources.manifests import load_manifests
from tests.kits.admin_helpers import BASE, anp, from_ns, subject_ns

ATTACKER, DATABASE = "restricted/attacker", "restricted/StatefulSet/database"


@pytest.fixture
def admin(bank: Path) -> Path:
    return bank / "admin"


def audit(*args: str) -> Any:
    return CliRunner().invoke(main, ["audit", *args])


def test_bank_admin_sample_passes_the_bank_zones(admin: Path, controls_dir: Path) -> None:
    result = audit(str(admin), "--controls", str(controls_dir / "bank-zones.yaml"))
    assert result.exit_code == 0, result.output
    assert "9 pass, 0 fail" in result.output


def test_the_override_attempt_breaks_the_zones_without_the_admin_policies(admin: Path, controls_dir: Path,
                                                                          tmp_path: Path) -> None:
    copy = tmp_path / "admin"
    shutil.copytree(admin, copy)
    (copy / "70-admin-guardrails.yaml").unlink()
    result = audit(str(copy), "--controls", str(controls_dir / "bank-zones.yaml"))
    assert result.exit_code == 1
    assert "BANK-4 FAIL" in result.output and "override-attempt" in result.output
    (copy / "80-override-attempt.yaml").unlink()  # and the namespace policies alone pass
    assert audit(str(copy), "--controls", str(controls_dir / "bank-zones.yaml")).exit_code == 0


def test_explain_names_the_admin_policy_and_never_reaches_the_override(admin: Path) -> None:
    result = CliRunner().invoke(main, ["explain", str(admin), "--from", ATTACKER, "--to", DATABASE,
                                       "--port", "2379/TCP"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "tier adminnetworkpolicy:" in out
    assert "AdminNetworkPolicy bank-restricted-zone (priority 20) ingress rule 0: Deny → match" in out
    assert "⇒ DENY — tier adminnetworkpolicy: AdminNetworkPolicy bank-restricted-zone ingress rule 0 (Deny)" in out
    assert "later tiers not reached (default)" in out
    assert "override-attempt ingress rule" not in out  # selected, but its rules are never walked
    assert "admin policies selecting it (they decide only the flows their rules match, ADM-2): " \
           "AdminNetworkPolicy bank-restricted-database, AdminNetworkPolicy bank-restricted-zone" in out


def test_dataplane_option_wins_and_calico_332_ignores_v1alpha1(admin: Path, controls_dir: Path) -> None:
    result = audit(str(admin), "--controls", str(controls_dir / "bank-zones.yaml"), "--dataplane", "calico-3.32")
    assert result.exit_code == 1  # ANPs present, not enforced: the override attempt now counts
    assert "BANK-4 FAIL" in result.output


def test_the_assumed_dataplane_is_in_the_json_outputs(admin: Path, controls_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = audit(str(admin), "--controls", str(controls_dir / "bank-zones.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assumptions = json.loads(out.read_text())["assumptions"]
    line = next(a for a in assumptions if a.startswith("admin network policy dataplane"))
    assert "calico-3.30" in line and "ClusterInformation default calicoVersion v3.30.2" in line
    reach = CliRunner().invoke(main, ["reach", str(admin), "--format", "json", "--dataplane", "upstream"])
    assert reach.exit_code == 0, reach.output
    meta = json.loads(reach.stdout)
    text = json.dumps(meta)
    assert "admin network policy dataplane: upstream" in text and "from --dataplane" in text


def test_no_admin_policy_no_dataplane_line(bank: Path) -> None:
    reach = CliRunner().invoke(main, ["reach", str(bank / "after"), "--format", "json"])
    assert "admin network policy dataplane" not in reach.stdout


def test_unknown_dataplane_makes_the_audit_unknown(admin: Path, controls_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "admin"
    shutil.copytree(admin, copy)
    (copy / "05-calico-clusterinformation.yaml").unlink()
    result = audit(str(copy), "--controls", str(controls_dir / "bank-zones.yaml"))
    assert result.exit_code == 2
    assert "enforcement unknown" in result.output


# -- drift: admin policy changes in words -------------------------------------------------------------


def _summaries(tmp_path: Path, name: str, objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    analysis = analyze(load_manifests([str(path)]), AnalysisOptions(dataplane="upstream"))
    return {policy_key(p): p for p in policy_rules(analysis)}


def test_drift_describes_admin_policy_changes_in_words(tmp_path: Path) -> None:
    old = anp("zones", 10, subject=subject_ns("a"), ingress=[{"action": "Deny", "from": [from_ns("b")]}])
    new = anp("zones", 5, subject=subject_ns("a"), ingress=[{"action": "Allow", "from": [from_ns("b")]},
                                                            {"action": "Deny", "from": [{"namespaces": {}}]}])
    key = ("AdminNetworkPolicy", "", "zones")
    before = _summaries(tmp_path, "old.yaml", [*BASE, old])[key]
    after = _summaries(tmp_path, "new.yaml", [*BASE, new])[key]
    assert before["selects"] == "all pods in namespace `a`"
    assert before["tier"] == "kube-admin"
    changes = describe_changes(before, after)
    assert "priority 10.0 → 5.0" in changes
    assert "ingress rule 0 action Deny → Allow" in changes
    assert "ingress rule 1 added: denies traffic from all pods in all namespaces on any protocol and port" in changes


def test_the_pdf_scope_names_the_assumed_dataplane(admin: Path, controls_dir: Path, tmp_path: Path) -> None:
    from pypdf import PdfReader

    out = tmp_path / "reports"
    result = audit(str(admin), "--controls", str(controls_dir / "bank-zones.yaml"), "--report", str(out),
                   "--format", "pdf", "-o", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["snapshot"]["dataplane"].startswith(
        "admin network policy dataplane: calico-3.30")
    pdfs = sorted(out.rglob("*.pdf"))
    assert pdfs
    text = " ".join(page.extract_text() for pdf in pdfs for page in PdfReader(pdf).pages)
    text = " ".join(text.split())
    assert "Admin policy dataplane" in text and "calico-3.30" in text
