"""CI formats: JUnit XML (a test case per control) and SARIF 2.1.0 (a rule per control, a result
per violation located at the policy manifest that decided it)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from auditor.report.interface import ReportOptions
from auditor.report.junit import JUnitWriter
from auditor.report.sarif import MAX_RESULTS_PER_RULE, SarifWriter
from tests.kits.report_kit import copy_result, result


def junit(name: str, out: Path, data: dict[str, Any] | None = None) -> ET.Element:
    [path] = JUnitWriter().write(data or result(name), out, ReportOptions())
    assert path.name == "junit.xml"
    return ET.parse(path).getroot()


def sarif(name: str, out: Path, data: dict[str, Any] | None = None) -> dict[str, Any]:
    [path] = SarifWriter().write(data or result(name), out, ReportOptions())
    assert path.name == "results.sarif"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("sample", ["before", "after", "waived"])
def test_junit_has_a_testcase_per_control_and_a_failure_per_failing_control(tmp_path: Path, sample: str) -> None:
    data = result(sample)
    root = junit(sample, tmp_path)
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(data["findings"]) == int(root.get("tests", "0"))
    failing = [f for f in data["findings"] if f["verdict"] == "fail"]
    assert int(root.get("failures", "-1")) == len(failing) == len(root.findall(".//failure"))
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.findall("./properties/property")}
    assert props["snapshot_digest"] == data["snapshot"]["digest"]
    assert props["pack_digest"] == data["packs"][0]["digest"]
    for f, case in zip(data["findings"], cases, strict=True):
        assert case.get("name", "").startswith(f["control"] + ": ")
        failure = case.find("failure")
        assert (failure is not None) == (f["verdict"] == "fail")
        if failure is not None:
            text = failure.text or ""
            open_ = [v for v in f["violations"] if not v["waived_by"]]
            assert f"{len(open_)} violation(s)" in text
            for v in open_:
                assert (f"{v['src']} -> {v['dst']}" if v["src"] else v["dst"]) in text


def test_junit_waived_passes_and_lists_the_waiver(tmp_path: Path) -> None:
    root = junit("waived", tmp_path)
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("BANK-2:"))
    assert case.find("failure") is None
    out = case.find("system-out")
    assert out is not None and "waived by W-7" in (out.text or "")


def test_junit_unknown_is_an_error(tmp_path: Path) -> None:
    data = copy_result(result("after"))
    data["findings"][2]["verdict"] = "unknown"
    data["findings"][2]["unknown"]["reasons"] = ["zone 'dmz' selects no workload in the input"]
    root = junit("after", tmp_path, data)
    assert root.get("errors") == "1"
    err = root.find(".//error")
    assert err is not None and "zone 'dmz' selects no workload" in (err.text or "")


def test_sarif_structure(tmp_path: Path) -> None:
    data = result("before")
    doc = sarif("before", tmp_path)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "zone-auditor"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [f["control"] for f in data["findings"]]
    for r in rules:
        assert r["shortDescription"]["text"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert float(r["properties"]["security-severity"]) > 0
    n = sum(len(f["violations"]) for f in data["findings"])
    assert len(run["results"]) == n == 43  # 39 + BANK-9's four exposed inner workloads
    ids = {r["id"]: k for k, r in enumerate(rules)}
    for res in run["results"]:
        assert ids[res["ruleId"]] == res["ruleIndex"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"].startswith(res["ruleId"] + ": ")
        assert res["locations"]
        phys = res["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"]
        assert phys["region"]["startLine"] >= 1
    assert run["properties"]["snapshot_digest"] == data["snapshot"]["digest"]


def _file_of(location: dict[str, Any]) -> Path:
    uri = location["physicalLocation"]["artifactLocation"]["uri"]
    return Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)


def test_sarif_points_at_the_policy_that_allowed_the_violating_flow(tmp_path: Path) -> None:
    doc = sarif("open", tmp_path)
    results = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "BANK-1"]
    assert results
    for res in results:
        loc = res["locations"][0]
        path = _file_of(loc)
        assert path.name == "99-database-allow-all.yaml"
        line = loc["physicalLocation"]["region"]["startLine"]
        assert path.read_text().splitlines()[line - 1].startswith("apiVersion: networking.k8s.io/v1")
        assert loc["logicalLocations"][0]["name"] == "NetworkPolicy restricted/database-allow-all"


def test_sarif_without_a_deciding_policy_points_at_the_open_workload(tmp_path: Path) -> None:
    doc = sarif("before", tmp_path)
    res = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == "BANK-6")
    path = _file_of(res["locations"][0])
    assert path.exists()
    assert path.name in {"20-dmz-customer.yaml", "21-trusted-summary.yaml", "22-trusted-bank-info.yaml",
                         "23-restricted-database.yaml", "24-restricted-attacker.yaml"}


def test_sarif_waived_violations_are_suppressed(tmp_path: Path) -> None:
    doc = sarif("waived", tmp_path)
    waived = [r for r in doc["runs"][0]["results"] if "suppressions" in r]
    assert len(waived) == 2
    for r in waived:
        [s] = r["suppressions"]
        assert s["kind"] == "external" and s["status"] == "accepted"
        assert "W-7" in s["justification"] and "CISO office" in s["justification"]


def test_sarif_caps_results_per_rule(tmp_path: Path) -> None:
    data = copy_result(result("before"))
    f = data["findings"][0]
    f["violations"] = [dict(f["violations"][0], src=f"ns/Deployment/a-{i}") for i in range(MAX_RESULTS_PER_RULE + 10)]
    doc = sarif("before", tmp_path, data)
    run = doc["runs"][0]
    assert sum(1 for r in run["results"] if r["ruleId"] == f["control"]) == MAX_RESULTS_PER_RULE
    assert run["properties"]["truncated"] == {f["control"]: MAX_RESULTS_PER_RULE + 10}
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert "violations.csv" in notes[0]["message"]["text"]


def test_same_result_same_bytes(tmp_path: Path) -> None:
    for writer in (JUnitWriter(), SarifWriter()):
        [a] = writer.write(result("waived"), tmp_path / "a", ReportOptions())
        [b] = writer.write(result("waived"), tmp_path / "b", ReportOptions())
        assert a.read_bytes() == b.read_bytes()
