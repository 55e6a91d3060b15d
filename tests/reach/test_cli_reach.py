"""`auditor scan / reach / explain` end to end on the bank sample and on broken inputs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def flow(table: list[dict[str, str]], src: str, dst: str) -> dict[str, str]:
    hits = [r for r in table if r["src"] == src and r["dst"] == dst]
    assert len(hits) == 1, (src, dst, hits)
    return hits[0]


def test_attacker_reaches_database_before_and_not_after():
    code, out, _ = run("reach", str(BANK / "before"), "--port", "2379/TCP", "--format", "csv")
    assert code == 0
    assert flow(rows(out), "restricted/attacker", "restricted/StatefulSet/database")["allowed"] == "true"
    code, out, _ = run("reach", str(BANK / "after"), "--port", "2379/TCP", "--port", "53/UDP", "--format", "csv")
    assert code == 0
    table = rows(out)
    assert list(table[0].keys())[:5] == ["src", "dst", "port", "protocol", "allowed"]
    attack = [r for r in table if r["src"] == "restricted/attacker" and r["dst"] == "restricted/StatefulSet/database"]
    assert [(r["port"], r["protocol"], r["allowed"]) for r in attack] == [("2379", "TCP", "false"), ("53", "UDP", "false")]
    assert "end-of-tier Deny" in attack[0]["decided_by"]


def test_after_expected_zone_flows():
    code, out, _ = run("reach", str(BANK / "after"), "--format", "csv")
    assert code == 0
    t = rows(out)
    assert flow(t, "internet", "dmz/Deployment/customer")["ports"] == "TCP:80"
    assert flow(t, "dmz/Deployment/customer", "trusted/Deployment/summary")["ports"] == "TCP:8080"
    assert flow(t, "trusted/Deployment/summary", "restricted/StatefulSet/database")["ports"] == "TCP:2379"
    assert flow(t, "trusted/Deployment/bank-info", "restricted/StatefulSet/database")["allowed"] == "false"
    assert flow(t, "dmz/Deployment/customer", "restricted/StatefulSet/database")["allowed"] == "false"
    assert flow(t, "restricted/attacker", "kube-system/Deployment/kube-dns")["ports"] == "TCP:53 UDP:53"
    for r in t:
        if r["src"] == "restricted/attacker" and r["dst"] != "kube-system/Deployment/kube-dns":
            assert r["allowed"] == "false", r
    # named port "http" on customer's egress resolves to 8080 on summary (K8S-12)
    assert "customer-allow-egress-to-summary" in flow(t, "dmz/Deployment/customer", "trusted/Deployment/summary")["decided_by"]


def test_explain_says_why_bank_info_is_denied():
    code, out, _ = run("explain", str(BANK / "after"), "--from", "trusted/bank-info", "--to",
                       "restricted/database", "--port", "2379/TCP")
    assert code == 0
    assert "Source egress — trusted/Deployment/bank-info" in out
    assert "bank-info-allow-egress-to-database (order 1000) egress rule 0: Allow → match" in out
    assert "no rule matched → end-of-tier Deny" in out
    assert out.strip().endswith("K8S-5)")
    assert "Verdict: DENY" in out


def test_explain_without_port_uses_first_allowed_port():
    code, out, _ = run("explain", str(BANK / "after"), "--from", "trusted/summary", "--to", "restricted/database")
    assert code == 0
    assert "allowed ports: TCP:2379" in out
    assert "Verdict: ALLOW" in out


def test_csv_and_json_are_deterministic_and_json_carries_evidence(tmp_path, monkeypatch):
    # the same snapshot: its capture time is in snapshot_digest, so two runs a second apart
    # would differ there (and only there) without a fixed time
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    a = run("reach", str(BANK / "after"), "--format", "json")[1]
    b = run("reach", str(BANK / "after"), "--format", "json")[1]
    assert a == b
    doc = json.loads(a)
    assert len(doc["snapshot_digest"]) == 64
    assert any("K8S-10" in x for x in doc["assumptions"])
    assert {r["src"] for r in doc["rows"]} >= {"internet", "restricted/attacker"}
    c1 = run("reach", str(BANK / "before"), "--by", "pod", "--format", "csv")[1]
    c2 = run("reach", str(BANK / "before"), "--by", "pod", "--format", "csv")[1]
    assert c1 == c2 and c1.count("\n") > 10


def test_scan_then_reach_on_snapshot_equals_manifests(tmp_path):
    snap = tmp_path / "snap.json"
    code, _, err = run("scan", str(BANK / "after"), "-o", str(snap))
    assert code == 0 and "digest" in err
    from_snapshot = run("reach", str(snap), "--format", "csv")[1]
    from_manifests = run("reach", str(BANK / "after"), "--format", "csv")[1]
    assert from_snapshot == from_manifests


def test_stdin_input_and_only_filter():
    text = "".join((p.read_text() + "\n---\n") for p in sorted((BANK / "after").glob("*.yaml")))
    code, out, _ = run("reach", "-", "--only", "allowed", "--format", "csv", input=text)
    assert code == 0
    assert {r["allowed"] for r in rows(out)} == {"true"}
    assert len(rows(out)) >= 5


def test_kubectl_dump_rolls_pods_up_and_excludes_host_network():
    code, out, _ = run("reach", str(BANK / "kubectl-dump.yaml"), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    names = {r["src"] for r in doc["rows"]}
    assert "dmz/Deployment/customer" in names
    assert any("K8S-13" in x for x in doc["excluded"])


def test_output_file_written_atomically(tmp_path):
    out = tmp_path / "flows.csv"
    code, stdout, _ = run("reach", str(BANK / "after"), "--format", "csv", "-o", str(out))
    assert code == 0 and stdout == ""
    assert out.read_text().startswith("src,dst,allowed,ports")
    assert [p.name for p in tmp_path.iterdir()] == ["flows.csv"]


@pytest.mark.parametrize(
    ("files", "args", "needle"),
    [
        ({}, ["does/not/exist.yaml"], "does/not/exist.yaml"),
        ({"bad.yaml": "kind: Pod\nmetadata: [oops\n"}, [], "bad.yaml"),
        ({"np.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: a}\n"
                     "spec:\n  podSelector: {matchExpressions: [{key: a, operator: Equals, values: [x]}]}\n"},
         [], "NetworkPolicy a/np"),
        ({"np.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: a}\n"
                     "spec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.300/8}}]}]\n"},
         [], "not a valid CIDR"),
        ({"ok.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"}, ["--port", "80/XYZ"], "unknown protocol"),
        ({"ok.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"}, ["--port", "99999/TCP"], "out of range"),
        ({"ok.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"}, ["--external", "corp=10.0.0/8"],
         "not a CIDR"),
        ({"ok.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"}, ["--from", "nope/nothing"],
         "no pod, workload"),
    ],
)
def test_bad_input_one_error_line_exit_2_nothing_written(tmp_path, files, args, needle):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    inputs = [str(tmp_path / n) for n in files] if files else []
    if args and args[0].endswith(".yaml"):
        inputs, args = [args[0]], args[1:]
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["reach", *inputs, *args, "--format", "csv", "-o", str(out)])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert "Traceback" not in result.output
    assert not out.exists()


def test_lenient_turns_invalid_policy_into_unknown(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {containers: [{name: c, image: x}]}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: a}\n"
        "spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 0}]}]\n"
    )
    code, _, err = run("reach", str(tmp_path / "c.yaml"), "--format", "csv")
    assert code == 2 and "NetworkPolicy a/np" in err
    code, out, _ = run("reach", str(tmp_path / "c.yaml"), "--format", "csv", "--lenient")
    assert code == 0
    assert flow(rows(out), "internet", "a/p")["allowed"] == "unknown"
