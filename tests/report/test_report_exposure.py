"""The exposure evidence in reports: the PDF "Internet exposure" section, exposure.csv, SARIF
locations at the entry object's line (bank front-door variant)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader

from auditor.cli import main
from tests.conftest import BANK, CONTROLS


def _report(tmp_path: Path, variant: str) -> Path:
    out = tmp_path / "rep"
    r = CliRunner().invoke(main, ["audit", str(BANK / variant), "--controls", str(CONTROLS / "bank-zones.yaml"),
                                  "--controls", str(CONTROLS / "examples" / "bank-exposure.yaml"),
                                  "--report", str(out), "--format", "pdf,csv,sarif"])
    assert r.exit_code in (0, 1), r.output
    return out


def test_pdf_csv_and_sarif_carry_the_exposure_paths(tmp_path: Path) -> None:
    out = _report(tmp_path, "ingress")
    text = "\n".join(p.extract_text() for p in PdfReader(str(out / "evidence-report.pdf")).pages)
    assert "Internet exposure" in text
    assert "2 entry-point paths and 2 direct pod-IP flows from internet are allowed or unknown" in text
    rows = list(csv.DictReader((out / "exposure.csv").open(encoding="utf-8")))
    [ing] = [r for r in rows if r["via"] == "ingress dmz/customer"]
    assert (ing["verdict"], ing["port"], ing["source_line"]) == ("allow", "80/TCP", "3")
    assert ing["source_file"].endswith("27-ingress-customer.yaml")


def test_sarif_points_exposure_findings_at_the_service_line(tmp_path: Path) -> None:
    out = _report(tmp_path, "after")
    doc = json.loads((out / "results.sarif").read_text())
    results = [r for r in doc["runs"][0]["results"] if r["ruleId"].endswith("EXPOSE-1")]
    assert results
    first = results[0]["locations"][0]["physicalLocation"]
    assert first["artifactLocation"]["uri"].endswith("20-dmz-customer.yaml")
    assert first["region"]["startLine"] == 39  # the customer LoadBalancer Service
