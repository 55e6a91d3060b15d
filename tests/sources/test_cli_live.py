"""`--live` on the CLI: the real kubernetes client against the fake API server on loopback."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from auditor.cli import main
from tests.kits.fake_apiserver import FakeApiServer, Fault

BANK = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank" / "after"


def bank_objects() -> list[dict]:
    out = []
    for path in sorted(BANK.glob("*.yaml")):
        out.extend(d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict))
    return out


def test_scan_live_then_reach_equals_reach_on_manifests(tmp_path):
    with FakeApiServer(bank_objects()) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        snap = tmp_path / "live.json"
        result = CliRunner().invoke(main, ["scan", "--kubeconfig", str(kubeconfig), "-o", str(snap)])
        assert result.exit_code == 0, result.output
        direct = CliRunner().invoke(main, ["reach", "--live", "--kubeconfig", str(kubeconfig), "--format", "csv"])
    assert direct.exit_code == 0, direct.output
    from_snapshot = CliRunner().invoke(main, ["reach", str(snap), "--format", "csv"]).stdout
    from_manifests = CliRunner().invoke(main, ["reach", str(BANK), "--format", "csv"]).stdout
    assert from_snapshot == from_manifests == direct.stdout
    assert "restricted/attacker,restricted/StatefulSet/database,false" in from_snapshot


def test_live_and_inputs_together_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["reach", str(BANK), "--live"])
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_forbidden_kind_is_named_as_not_modelled(tmp_path):
    with FakeApiServer(bank_objects(), faults={"/apis/networking.k8s.io/v1/networkpolicies": Fault(status=403, times=None)}) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        result = CliRunner().invoke(main, ["reach", "--kubeconfig", str(kubeconfig), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "NetworkPolicy could not be read (collection status forbidden)" in result.stdout


def test_forbidden_policies_make_verdicts_unknown_never_allowed(tmp_path):
    with FakeApiServer(bank_objects(), faults={"/apis/networking.k8s.io/v1/networkpolicies": Fault(status=403, times=None)}) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        result = CliRunner().invoke(main, ["reach", "--kubeconfig", str(kubeconfig), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",")[2] for line in result.stdout.splitlines()[1:]]
    assert rows and set(rows) <= {"unknown", "false"}
    assert "unknown" in rows
