"""The bank scenario's Istio stage (sample_clusters/bank/istio): the attacker reaches the
database at L3/L4 and is denied by Istio; summary gets GET on two paths with identity assurance."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.reach.analysis import Analysis, analyze
from auditor.sources.manifests import load_manifests
from tests.kits.istio_helpers import assurance, flow

SAMPLE = str(Path(__file__).resolve().parents[2] / "sample_clusters" / "bank" / "istio")
SUMMARY, DATABASE, ATTACKER = "trusted/Deployment/summary", "restricted/StatefulSet/database", "restricted/attacker"
CUSTOMER = "dmz/Deployment/customer"


@pytest.fixture(scope="module")
def bank() -> Analysis:
    return analyze(load_manifests([SAMPLE]))


def test_attacker_is_admitted_at_l4_and_denied_by_istio(bank: Analysis) -> None:
    assert flow(bank, ATTACKER, DATABASE, "2379/TCP", by="workload") == "deny"
    assert flow(bank, ATTACKER, DATABASE, "2379/TCP", http="GET /accounts", by="workload") == "deny"
    s, t = bank.find(ATTACKER)[0], bank.find(DATABASE)[0]
    pm = bank.pairs("workload", [s], [t])
    why = bank.decided_by(pm, 0, 0, [bank.ports.index_of("TCP", 2379)])
    assert "egress: NetworkPolicy restricted/restricted-allow-egress-to-database" in why
    assert "ingress: NetworkPolicy restricted/database-allow-ingress-from-restricted" in why
    assert "istio: ALLOW AuthorizationPolicies apply and none matched" in why


def test_summary_gets_two_paths_with_identity_assurance(bank: Analysis) -> None:
    assert flow(bank, SUMMARY, DATABASE, "2379/TCP", http="GET /accounts", by="workload") == "allow"
    assert flow(bank, SUMMARY, DATABASE, "2379/TCP", http="GET /balances/7", by="workload") == "allow"
    assert flow(bank, SUMMARY, DATABASE, "2379/TCP", http="DELETE /accounts", by="workload") == "deny"
    assert flow(bank, SUMMARY, DATABASE, "2379/TCP", http="GET /admin", by="workload") == "deny"
    assert assurance(bank, SUMMARY, DATABASE, "2379/TCP", by="workload") == "network+identity"
    assert assurance(bank, SUMMARY, DATABASE, "2379/TCP", http="GET /accounts", by="workload") == "network+identity"


def test_strict_mtls_and_port_level_exception(bank: Analysis) -> None:
    assert flow(bank, CUSTOMER, "trusted/Deployment/summary", "8080/TCP", by="workload") == "allow"  # PERMISSIVE
    assert assurance(bank, CUSTOMER, SUMMARY, "8080/TCP", by="workload") == "network"
    facts = bank.mesh_facts(bank.find(DATABASE)[0])[0]
    assert facts["proxy"] == "sidecar" and facts["mtls"] == {"STRICT": "TCP:all"}
    assert facts["policies"] == ["AuthorizationPolicy restricted/database-allow-summary"]
    assert bank.mesh_facts(bank.find(CUSTOMER)[0])[0]["proxy"] == "no proxy"


def _csv(args: list[str]) -> list[dict[str, str]]:
    result = CliRunner().invoke(main, ["reach", SAMPLE, "--format", "csv", *args])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_cli_http_csv_columns_and_rows() -> None:
    rows = _csv(["--to", DATABASE, "--port", "2379/TCP", "--http", "GET /accounts", "--http", "DELETE /accounts"])
    header = list(rows[0])
    assert header[:8] == ["src", "dst", "port", "protocol", "method", "path", "allowed", "decided_by"]
    got = {(r["src"], r["method"]): (r["allowed"], r["assurance"]) for r in rows}
    assert got[(SUMMARY, "GET")] == ("true", "network+identity")
    assert got[(SUMMARY, "DELETE")] == ("false", "")
    assert got[(ATTACKER, "GET")] == ("false", "")
    attacker = next(r for r in rows if r["src"] == ATTACKER and r["method"] == "GET")
    assert "istio: ALLOW AuthorizationPolicies apply and none matched" in attacker["decided_by"]


def test_cli_summary_names_allowed_request_classes() -> None:
    rows = _csv(["--from", SUMMARY, "--to", DATABASE])
    assert rows[0]["requests"] == "GET /accounts | GET /balances/*"
    assert rows[0]["assurance"] == "network+identity"
    summary = _csv(["--from", SUMMARY, "--to", DATABASE, "--http", "GET /accounts?limit=5"])
    assert [summary[0][k] for k in ("method", "path", "allowed")] == ["GET", "/accounts", "true"]


def test_cli_explain_shows_the_l7_stage() -> None:
    result = CliRunner().invoke(main, ["explain", SAMPLE, "--from", ATTACKER, "--to", DATABASE])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Flow: restricted/attacker → restricted/StatefulSet/database on 2379/TCP" in out
    assert "mTLS mode: STRICT (PeerAuthentication istio-system/default)" in out
    assert "AuthorizationPolicy restricted/database-allow-summary (ALLOW)" in out
    assert "principal cluster.local/ns/restricted/sa/attacker not in [cluster.local/ns/trusted/sa/summary]" in out
    assert out.rstrip().endswith("CMP-1)") and "Verdict: DENY" in out
    ok = CliRunner().invoke(main, ["explain", SAMPLE, "--from", SUMMARY, "--to", DATABASE, "--http", "GET /accounts"])
    assert "GET /accounts: ALLOW — AuthorizationPolicy restricted/database-allow-summary rule 0 (ALLOW)" in ok.stdout
    assert "Verdict: ALLOW" in ok.stdout


def test_cli_bad_http_argument_is_one_line_exit_2() -> None:
    result = CliRunner().invoke(main, ["reach", SAMPLE, "--http", "accounts"])
    assert result.exit_code == 2 and "expected 'METHOD /path'" in result.stderr
