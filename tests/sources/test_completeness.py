"""Issue #12 §4: a snapshot is complete or loudly incomplete.

- a kind the snapshot's ``collection`` does not mention was not read: the controls depending
  on it are unknown (an older or edited snapshot with its digest recomputed passed before);
- ``scan`` of a cluster where a kind is forbidden exits 2 and writes nothing, unless
  ``--allow-incomplete`` (then the snapshot records the kind as incomplete);
- ``reach`` still exits 0 but says on stderr how many rows are unknown, and why.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from auditor.canonical import canonical_json, sha256_hex
from auditor.cli import main
from tests.kits.fake_apiserver import FakeApiServer, Fault
from tests.kits.mutate_kit import BANK, PACK, find, mutated, read_docs

FORBID_NP = {"/apis/networking.k8s.io/v1/networkpolicies": Fault(status=403, times=None)}


def bank_objects() -> list[dict]:
    return [d for p in sorted((BANK / "after").glob("*.yaml")) for d in read_docs(p)]


def test_a_kind_missing_from_collection_is_not_read(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    assert CliRunner().invoke(main, ["scan", str(BANK / "after"), "-o", str(snap)]).exit_code == 0
    data = json.loads(snap.read_text())
    del data["collection"]["NetworkPolicy"]
    payload = {k: v for k, v in data.items() if k != "digest"}
    data["digest"] = sha256_hex(canonical_json(payload))  # an edited snapshot, digest redone
    snap.write_text(json.dumps(data))
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["audit", str(snap), "--controls", PACK, "-o", str(out)])
    assert r.exit_code == 2, r.output
    result = json.loads(out.read_text())
    assert result["snapshot"]["incomplete"] == {"NetworkPolicy": "not-read"}
    assert result["summary"]["verdict"] == "unknown"
    assert all(f["verdict"] != "pass" for f in result["findings"] if f["control"] != "BANK-7")


def test_scan_of_a_forbidden_kind_exits_2_unless_allowed(tmp_path: Path) -> None:
    with FakeApiServer(bank_objects(), faults=FORBID_NP) as api:
        kubeconfig = str(api.write_kubeconfig(tmp_path / "kubeconfig"))
        snap = tmp_path / "live.json"
        r = CliRunner().invoke(main, ["scan", "--kubeconfig", kubeconfig, "-o", str(snap)])
        assert r.exit_code == 2
        assert "incomplete snapshot, not written: NetworkPolicy forbidden" in r.stderr
        assert "--allow-incomplete" in r.stderr and not snap.exists()
        r = CliRunner().invoke(main, ["scan", "--kubeconfig", kubeconfig, "-o", str(snap), "--allow-incomplete"])
        assert r.exit_code == 0, r.output
        assert "incomplete (verdicts depending on these kinds are unknown): NetworkPolicy forbidden" in r.stderr
    assert json.loads(snap.read_text())["collection"]["NetworkPolicy"] == "forbidden"
    r = CliRunner().invoke(main, ["audit", str(snap), "--controls", PACK])
    assert r.exit_code == 2  # unknown, never pass


def test_scan_refuses_an_invalid_object(tmp_path: Path) -> None:
    def change(docs: list) -> None:
        find(docs, "NetworkPolicy", "default-deny", "restricted")["spec"]["ingress"] = {}
    target, _ = mutated(tmp_path, "after", "50-netpol-default-deny.yaml", change)
    snap = tmp_path / "s.json"
    r = CliRunner().invoke(main, ["scan", str(target), "-o", str(snap)])
    assert r.exit_code == 2 and "spec.ingress: must be a list" in r.stderr and not snap.exists()
    r = CliRunner().invoke(main, ["scan", str(target), "-o", str(snap), "--lenient"])
    assert r.exit_code == 0 and "invalid, kept as read" in r.stderr and snap.exists()


def test_reach_names_unknown_rows_on_stderr_and_exits_0(tmp_path: Path) -> None:
    with FakeApiServer(bank_objects(), faults=FORBID_NP) as api:
        kubeconfig = str(api.write_kubeconfig(tmp_path / "kubeconfig"))
        r = CliRunner().invoke(main, ["reach", "--kubeconfig", kubeconfig, "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    unknown_rows = sum(1 for row in rows if row["allowed"] == "unknown" or row["unknown_ports"])
    notes = [line for line in r.stderr.splitlines() if "unknown rows by cause" in line]
    assert len(notes) == 1 and unknown_rows > 0
    assert notes[0].startswith(f"{unknown_rows} unknown rows by cause: kind-unreadable {unknown_rows}")
    assert all(row["why_unknown"].startswith("kind-unreadable") for row in rows
               if row["allowed"] == "unknown" or row["unknown_ports"])


def test_reach_on_a_complete_cluster_prints_no_note() -> None:
    r = CliRunner().invoke(main, ["reach", str(BANK / "after"), "--format", "csv"])
    assert r.exit_code == 0 and "unknown rows by cause" not in r.stderr
