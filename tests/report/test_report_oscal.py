"""``auditor report --format oscal``: OSCAL assessment results built with compliance-trestle,
read back through trestle: a finding per control (satisfied only for pass), violations as
observations linking their violations.csv row and the snapshot digest, waivers as risks
(deviation-approved while valid, open once expired), unknown as not-satisfied with the reason."""

from __future__ import annotations

import csv
import io
import pathlib
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from trestle.oscal.assessment_results import AssessmentResults

from auditor.cli import main
from auditor.report import parse_formats
from auditor.report.oscal import render
from tests.kits.report_kit import ROOT


def audit(tmp: Path, cluster: str, pack: str, *extra: str) -> tuple[dict, AssessmentResults, list[dict]]:
    out = tmp / "out"
    outcome = CliRunner().invoke(main, ["audit", str(ROOT / "sample_clusters" / "bank" / cluster), "--controls",
                                        str(ROOT / "controls" / pack), "-o", str(tmp / "result.json"),
                                        "--report", str(out), "--format", "oscal,csv", *extra],
                                 env={"SOURCE_DATE_EPOCH": "1780000000"})
    assert outcome.exit_code in (0, 1, 2), outcome.output
    result = orjson.loads((tmp / "result.json").read_bytes())
    doc = AssessmentResults.oscal_read(pathlib.Path(out / "assessment-results.json"))
    rows = list(csv.DictReader(io.StringIO((out / "violations.csv").read_text())))
    return result, doc, rows


@pytest.fixture(scope="module")
def waived(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, AssessmentResults, list[dict]]:
    """bank/before with the example waivers as of 2026-12-01: W-1 active (BANK-8 waived),
    W-2 expired (BANK-3 fails), W-3 unused."""
    return audit(tmp_path_factory.mktemp("oscal-waived"), "before", "bank-zones.yaml", "--waivers",
                 str(ROOT / "controls" / "examples" / "bank-waivers.yaml"), "--as-of", "2026-12-01")


def by_prop(items, name: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out = {}
    for item in items:
        for p in item.props or []:
            if p.name == name:
                out[p.value] = item
    return out


def status(risk) -> str:  # type: ignore[no-untyped-def]
    """The risk status as written (trestle reads it back as a token or an enum member)."""
    return str(risk.status.model_dump(mode="json"))


def test_every_control_is_a_finding_satisfied_only_when_it_passes(waived) -> None:  # type: ignore[no-untyped-def]
    result, doc, _ = waived
    (r,) = doc.results
    findings = by_prop(r.findings, "control")
    assert set(findings) == {f["control"] for f in result["findings"]}
    for f in result["findings"]:
        status = findings[f["control"]].target.status
        assert status.state.value == ("satisfied" if f["verdict"] == "pass" else "not-satisfied"), f["control"]
    assert {f["control"]: f["verdict"] for f in result["findings"]}["BANK-8"] == "waived"


def test_waivers_are_risks_and_an_expired_one_stays_expired(waived) -> None:  # type: ignore[no-untyped-def]
    _, doc, _ = waived
    (r,) = doc.results
    risks = by_prop(r.risks, "waiver")
    assert status(risks["W-1"]) == "deviation-approved"
    assert risks["W-1"].deadline.isoformat() == "2027-06-30T23:59:59+00:00"
    assert status(risks["W-2"]) == "open"  # expired: approves nothing
    assert "expired" in risks["W-2"].title and "approves nothing" in risks["W-2"].statement
    assert risks["W-2"].deadline.date().isoformat() == "2025-12-31"
    bank8 = by_prop(r.findings, "control")["BANK-8"]
    assert [x.risk_uuid for x in bank8.related_risks] == [risks["W-1"].uuid]
    waived_obs = {o.observation_uuid for o in risks["W-1"].related_observations}
    assert waived_obs and waived_obs <= {o.observation_uuid for o in bank8.related_observations}


def test_violations_link_their_csv_row_and_the_snapshot(waived) -> None:  # type: ignore[no-untyped-def]
    result, doc, rows = waived
    (r,) = doc.results
    digest = result["snapshot"]["digest"]
    observations = {o.uuid: o for o in r.observations}
    linked = 0
    for finding in r.findings:
        control = next(p.value for p in finding.props if p.name == "control")
        for rel in finding.related_observations or []:
            o = observations[rel.observation_uuid]
            hrefs = [e.href for e in o.relevant_evidence if e.href]
            assert any(p.value == digest for e in o.relevant_evidence for p in e.props or [])
            for href in hrefs:
                name, _, fragment = href.partition("#row=")
                assert name == "violations.csv"
                row = rows[int(fragment) - 2]  # RFC 7111: the header is row 1
                assert row["control"] == control
                assert f"{row['src']} → {row['dst']}" in o.title if row["src"] else row["dst"] in o.title
                linked += 1
    assert linked == len(rows) > 0


def test_unknown_is_not_satisfied_with_an_observation_saying_why(tmp_path: Path) -> None:
    """The PCI pack on the bank sample: no namespace is labelled cde, so the CDE is empty and
    the controls depending on it are unknown (never satisfied)."""
    result, doc, _ = audit(tmp_path, "after", "pci-dss-v4.yaml")
    unknown = [f for f in result["findings"] if f["verdict"] == "unknown"]
    assert unknown
    (r,) = doc.results
    findings = by_prop(r.findings, "control")
    observations = {o.uuid: o for o in r.observations}
    for f in unknown:
        finding = findings[f["control"]]
        assert finding.target.status.state.value == "not-satisfied"
        why = [observations[x.observation_uuid] for x in finding.related_observations
               if observations[x.observation_uuid].title.endswith("why the verdict is unknown")]
        assert len(why) == 1
        for reason in f["unknown"]["reasons"]:
            assert reason in why[0].description


def test_pack_mappings_become_the_reviewed_catalog_controls(waived) -> None:  # type: ignore[no-untyped-def]
    _, doc, _ = waived
    (r,) = doc.results
    selections = {next(p.value for p in s.props if p.name == "catalog"): [c.control_id for c in s.include_controls]
                  for s in r.reviewed_controls.control_selections}
    assert {"sc-7", "sc-7.5", "ac-4"} <= set(selections["nist-sp-800-53-rev5"])
    assert "req-1.3.1" in selections["pci-dss-v4"]
    assert selections["zone-auditor:bank-zones"][:2] == ["BANK-1", "BANK-2"]
    bank1 = by_prop(r.findings, "control")["BANK-1"]
    assert bank1.target.target_id == "ac-4_smt"
    assert {p.value for p in bank1.props if p.name == "nist-sp-800-53-rev5"} == {"ac-4", "sc-7", "sc-7.11"}


def test_deterministic_with_content_uuids_and_snapshot_time(waived) -> None:  # type: ignore[no-untyped-def]
    result, doc, _ = waived
    assert render(result) == render(orjson.loads(orjson.dumps(result)))
    uuids = [doc.uuid, *(o.uuid for o in doc.results[0].observations), *(f.uuid for f in doc.results[0].findings),
             *(k.uuid for k in doc.results[0].risks)]
    assert len(set(uuids)) == len(uuids)
    captured = result["snapshot"]["captured_at"].replace("Z", "+00:00")
    assert doc.metadata.last_modified.isoformat() == captured == doc.results[0].start.isoformat()
    changed = orjson.loads(orjson.dumps(result))
    changed["findings"][0]["message"] += "!"
    assert AssessmentResults.model_validate_json(orjson.dumps(orjson.loads(render(changed))["assessment-results"])
                                                 ).uuid != doc.uuid


def test_ids_that_are_not_oscal_tokens_are_made_tokens(waived) -> None:  # type: ignore[no-untyped-def]
    """Pack control ids may hold ':' or start with a digit; OSCAL ids may not."""
    result = orjson.loads(orjson.dumps(waived[0]))
    result["findings"][0]["control"] = "1:first"
    result["findings"][0]["mappings"] = {"800-53": ["ac-4"]}
    doc = AssessmentResults.model_validate(orjson.loads(render(result))["assessment-results"])
    own = doc.results[0].reviewed_controls.control_selections[-1]
    assert own.include_controls[0].control_id == "_1_first"
    assert any(p.name == "_800-53" and p.value == "ac-4" for p in doc.results[0].findings[0].props)


def test_oscal_is_written_on_request_only() -> None:
    assert "oscal" not in parse_formats([])
    assert "oscal" in parse_formats(["all"]) and parse_formats(["oscal"]) == ["oscal"]
