"""The bank sample's Calico variant through the CLI (``sample_clusters/bank/calico/``)."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from auditor.cli import main
from auditor.reach.analysis import AnalysisOptions, analyze
from auditor.sources.manifests import load_manifests
from tests.kits.k8s_helpers import verdict

SAMPLE = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank" / "calico"
CUSTOMER, SUMMARY, BANK_INFO = "dmz/Deployment/customer", "trusted/Deployment/summary", "trusted/Deployment/bank-info"
DATABASE, ATTACKER, DNS = "restricted/StatefulSet/database", "restricted/attacker", "kube-system/Deployment/kube-dns"
MANAGED_DB = "GlobalNetworkSet/managed-db"


def reach_csv(*args: str) -> dict[tuple[str, str, str], dict[str, str]]:
    result = CliRunner().invoke(main, ["reach", *args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = csv.DictReader(io.StringIO(result.stdout))
    return {(r["src"], r["dst"], f"{r['port']}/{r['protocol']}"): r for r in rows}


@pytest.fixture(scope="module")
def rows() -> dict[tuple[str, str, str], dict[str, str]]:
    return reach_csv(str(SAMPLE), "--port", "80/TCP", "--port", "8080/TCP", "--port", "2379/TCP",
                     "--port", "5432/TCP", "--port", "53/UDP")


@pytest.mark.parametrize(
    ("src", "dst", "port", "allowed"),
    [
        ("internet", CUSTOMER, "80/TCP", "true"),
        (CUSTOMER, SUMMARY, "8080/TCP", "true"),  # named port http resolves to 8080 on summary
        (CUSTOMER, SUMMARY, "80/TCP", "false"),
        (SUMMARY, DATABASE, "2379/TCP", "true"),
        (BANK_INFO, DATABASE, "2379/TCP", "true"),  # the firewall change (40-firewall-change.yaml)
        (ATTACKER, DATABASE, "2379/TCP", "false"),  # platform tries to allow it; security denies first
        (CUSTOMER, DATABASE, "2379/TCP", "false"),
        ("internet", DATABASE, "2379/TCP", "false"),
        (SUMMARY, MANAGED_DB, "5432/TCP", "true"),  # the one workload that may use the managed DB
        (BANK_INFO, MANAGED_DB, "5432/TCP", "false"),
        (CUSTOMER, MANAGED_DB, "5432/TCP", "false"),
        (ATTACKER, MANAGED_DB, "5432/TCP", "false"),
        (DNS, MANAGED_DB, "5432/TCP", "false"),
        (ATTACKER, DNS, "53/UDP", "true"),
        (SUMMARY, DNS, "53/UDP", "true"),
        ("internet", DNS, "53/UDP", "false"),
        (SUMMARY, "internet", "80/TCP", "false"),
    ],
)
def test_bank_calico_sample_flows(rows, src, dst, port, allowed):
    assert rows[(src, dst, port)]["allowed"] == allowed


def test_bank_calico_sample_has_no_unknown_verdicts(rows):
    assert {r["allowed"] for r in rows.values()} <= {"true", "false"}


def test_bank_calico_decided_by_names_tier_policy_and_rule(rows):
    why = rows[(ATTACKER, DATABASE, "2379/TCP")]["decided_by"]
    assert "tier security: calico/GlobalNetworkPolicy security.restricted-zone egress rule 2 (Deny)" in why
    why = rows[(BANK_INFO, DATABASE, "2379/TCP")]["decided_by"]
    assert "tier platform: calico/NetworkPolicy restricted/platform.database-allow-bank-info ingress rule 0" in why


def test_bank_calico_without_the_firewall_change(tmp_path):
    for f in SAMPLE.glob("*.yaml"):
        if f.name != "40-firewall-change.yaml":
            shutil.copy(f, tmp_path / f.name)
    before = reach_csv(str(tmp_path), "--port", "2379/TCP")
    row = before[(BANK_INFO, DATABASE, "2379/TCP")]
    assert row["allowed"] == "false"
    assert "tier platform: no rule matched, end-of-tier Deny" in row["decided_by"]
    assert before[(SUMMARY, DATABASE, "2379/TCP")]["allowed"] == "true"


def test_bank_calico_explain_shows_the_tier_walk():
    result = CliRunner().invoke(main, ["explain", str(SAMPLE), "--from", ATTACKER, "--to", "restricted/database",
                                       "--port", "2379/TCP"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "tier security:" in out
    assert "security.restricted-zone (order 120) ingress rule 1: Deny → match" in out
    assert "later tiers not reached (platform)" in out
    assert "Verdict: DENY" in out
    result = CliRunner().invoke(main, ["explain", str(SAMPLE), "--from", BANK_INFO, "--to", "restricted/database",
                                       "--port", "2379/TCP"])
    assert "Pass → next tier (CAL-20)" in result.output
    assert "tier platform:" in result.output
    assert "Verdict: ALLOW" in result.output


def test_bank_calico_staged_policy_with_staged(tmp_path):
    for f in SAMPLE.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    staged = {"apiVersion": "projectcalico.org/v3", "kind": "StagedNetworkPolicy",
              "metadata": {"name": "platform.database-allow-bank-info", "namespace": "restricted"},
              "spec": {"stagedAction": "Delete", "tier": "platform"}}
    (tmp_path / "50-staged.yaml").write_text(yaml.safe_dump(staged))
    snapshot = load_manifests([str(tmp_path)])
    a = analyze(snapshot)
    assert verdict(a, BANK_INFO, DATABASE, "2379/TCP", by="workload") == "allow"
    assert any("staged, not enforced" in n for n in a.policies.notes)
    a = analyze(snapshot, AnalysisOptions(with_staged=True))
    assert verdict(a, BANK_INFO, DATABASE, "2379/TCP", by="workload") == "deny"


def test_bank_calico_json_names_staged_and_unsupported(tmp_path):
    for f in SAMPLE.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    hep = {"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint", "metadata": {"name": "worker-eth0"},
           "spec": {"node": "bank-worker", "interfaceName": "eth0"}}
    (tmp_path / "60-hep.yaml").write_text(yaml.safe_dump(hep))
    result = CliRunner().invoke(main, ["reach", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "host endpoints are not modelled" in result.output
