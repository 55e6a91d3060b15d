"""`auditor report` and `auditor audit --report`: files written, exit codes, one-line errors;
and the evidence the audit result carries for reports (matrix, flows, inventory, policies)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import main
from auditor.report.csvs import FILES
from tests.kits.report_kit import BANK, PACK, ROOT, result

ALL = {"evidence-report.pdf", "executive-summary.pdf", *FILES, "junit.xml", "results.sarif"}


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def write_result(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(result(name)))
    return path


def test_report_writes_every_format(tmp_path: Path) -> None:
    src = write_result(tmp_path, "before")
    code, _, err = run("report", str(src), "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert {p.name for p in (tmp_path / "out").iterdir()} == ALL
    assert "wrote" in err


def test_report_formats_and_templates_can_be_chosen(tmp_path: Path) -> None:
    src = write_result(tmp_path, "after")
    code, _, err = run("report", str(src), "-o", str(tmp_path / "o"), "--format", "csv", "--format", "junit")
    assert code == 0, err
    assert {p.name for p in (tmp_path / "o").iterdir()} == {*FILES, "junit.xml"}
    code, _, err = run("report", str(src), "-o", str(tmp_path / "p"), "--format", "pdf,sarif", "--template",
                       "executive", "--paper", "letter")
    assert code == 0, err
    assert {p.name for p in (tmp_path / "p").iterdir()} == {"executive-summary.pdf", "results.sarif"}


def test_report_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    src = write_result(tmp_path, "after")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    other = tmp_path / "snapshot.json"
    other.write_text(json.dumps({"kind": "something-else"}))
    cases = [
        (["report", str(bad), "-o", str(tmp_path / "x")], "not JSON"),
        (["report", str(other), "-o", str(tmp_path / "x")], "not an audit result (kind 'something-else'"),
        (["report", str(tmp_path / "missing.json"), "-o", str(tmp_path / "x")], "cannot read"),
        (["report", str(src), "-o", str(tmp_path / "x"), "--format", "docx"], "--format 'docx'"),
        (["report", str(src), "-o", str(tmp_path / "x"), "--template", "nope"], "template 'nope' not found"),
    ]
    for args, message in cases:
        code, _, err = run(*args)
        assert code == 2, args
        assert err.startswith("error: ") and message in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing written on error


def test_audit_report_in_one_step_keeps_the_audit_exit_code(tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code, out, err = run("audit", os.path.relpath(BANK / "before"), "--controls", PACK, "-o",
                             str(tmp_path / "r.json"), "--report", str(tmp_path / "rep"), "--format", "csv,sarif")
        assert code == 1, err
        assert "result: FAIL" in out
        assert {p.name for p in (tmp_path / "rep").iterdir()} == {*FILES, "results.sarif"}
        assert "flows" in json.loads((tmp_path / "r.json").read_text())
        code, _, err = run("audit", os.path.relpath(BANK / "after"), "--controls", PACK, "--report",
                           str(tmp_path / "rep2"), "--template", "missing-template")
        assert code == 2 and "template 'missing-template' not found" in err
        assert not (tmp_path / "rep2").exists()
    finally:
        os.chdir(cwd)


def test_the_result_carries_what_reports_need() -> None:
    data = result("after")
    for key in ("scope", "inventory", "tiers", "policies", "zones_matrix", "flows"):
        assert key in data, key
    assert data["scope"]["collection"]["NetworkPolicy"] == "ok"
    assert data["scope"]["resources"]["NetworkPolicy"] == 12
    m = data["zones_matrix"]["bank-zones"]
    cells = {(c["src"], c["dst"]): c for c in m["cells"]}
    assert cells[("trusted", "restricted")]["status"] == "partial"
    assert cells[("trusted", "restricted")]["ports"] == "TCP:2379"
    assert cells[("dmz", "restricted")]["status"] == "denied"
    assert cells[("internet", "dmz")]["status"] == "allowed" and cells[("internet", "dmz")]["ports"] == "TCP:80"
    before = {(c["src"], c["dst"]): c["status"] for c in result("before")["zones_matrix"]["bank-zones"]["cells"]}
    assert before[("dmz", "restricted")] == "allowed"
    assert data["flows"]["columns"][:2] == ["src", "dst"]
    assert len(data["flows"]["rows"]) == 11
    workloads = {w["name"]: w for w in data["inventory"]["workloads"]}
    assert workloads["restricted/attacker"]["zones"] == {"bank-zones": ["restricted"]}
    assert workloads["restricted/attacker"]["pods"] == 1
    assert workloads["restricted/attacker"]["origin"]["line"] >= 1
    assert all(p["origin"]["file"].endswith(".yaml") for p in data["policies"])
