"""Issue 13 §2.7/§2.8: ``--lenient`` loading. An object defined twice with different content is
an error by default (evidence must be unambiguous); under ``--lenient`` the last definition is
used and a note names both files. A document that is not a Kubernetes object is an error by
default; under ``--lenient`` it is skipped with a note."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import main


def _inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (d / "1.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: '1'}}\n")
    (d / "2.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: '2'}}\n")
    return d


def test_duplicate_with_different_content_is_an_error_by_default(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["reach", str(_inputs(tmp_path))])
    assert r.exit_code == 2 and "defined twice" in r.output


def test_duplicate_under_lenient_takes_the_last_and_notes_both_files(tmp_path: Path) -> None:
    d = _inputs(tmp_path)
    r = CliRunner().invoke(main, ["reach", str(d), "--lenient", "--format", "json"])
    assert r.exit_code == 0, r.output
    notes = json.loads(r.stdout)["notes"]
    dup = [n for n in notes if "defined twice" in n]
    assert dup and "1.yaml" in dup[0] and "2.yaml" in dup[0] and "the last one" in dup[0]


def test_non_kubernetes_document_is_skipped_under_lenient(tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    (d / "results.json").write_text(json.dumps([{"test": "x", "ok": True}]))
    (d / "other.json").write_text(json.dumps({"results": [1, 2]}))
    r = CliRunner().invoke(main, ["reach", str(d)])
    assert r.exit_code == 2 and ("not a Kubernetes object" in r.output or "apiVersion is missing" in r.output)
    r = CliRunner().invoke(main, ["reach", str(d), "--lenient", "--format", "json"])
    assert r.exit_code == 0, r.output
    notes = json.loads(r.stdout)["notes"]
    assert any("results.json" in n and "skipped under --lenient" in n for n in notes)
    assert any("other.json" in n and "skipped under --lenient" in n for n in notes)
