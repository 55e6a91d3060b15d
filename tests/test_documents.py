"""The typed reader of our JSON documents (``auditor/documents.py``) on a real audit result of
``sample_clusters/bank/before``: every finding, violation, flow, inventory entry and waiver read
back as written; wrong kinds, schema versions and malformed results refused with one clear
``AuditorError``; port texts and ``PortSet`` round-trip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from auditor.cli import main
from auditor.compare.baseline import Baseline
from auditor.compare.drift import diff, side_from_result
from auditor.documents import (
    ALL,
    BASELINE_KIND,
    RESULT_KIND,
    RESULT_SCHEMA,
    AuditDocument,
    parse_ports,
    ports_text,
    read_json,
    sniff,
)
from auditor.errors import AuditorError
from auditor.portset import ALL_PROTOCOLS, FULL, PortSet

WAIVERS = "controls/examples/bank-waivers.yaml"


@pytest.fixture(scope="module")
def result_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``auditor audit sample_clusters/bank/before --controls controls/bank-zones.yaml`` with the
    example waivers, written with every piece of evidence (``--max-evidence 0``)."""
    from tests.conftest import BANK, CONTROLS, ROOT

    out = tmp_path_factory.mktemp("documents") / "result.json"
    r = CliRunner().invoke(main, ["audit", str(BANK / "before"), "--controls", str(CONTROLS / "bank-zones.yaml"),
                                  "--waivers", str(ROOT / WAIVERS), "--as-of", "2026-01-01", "--max-evidence", "0",
                                  "-o", str(out)], catch_exceptions=False)
    assert r.exit_code in (0, 1, 2), r.output
    return out


def test_reads_back_every_record_of_the_bank_audit(result_file: Path) -> None:
    raw = json.loads(result_file.read_text())
    doc = AuditDocument.read(str(result_file))
    assert (doc.schema_version, doc.verdict, doc.tool_version) == (RESULT_SCHEMA, raw["summary"]["verdict"],
                                                                    raw["tool_version"])
    assert [f.key for f in doc.findings] == [(f["pack"], f["control"]) for f in raw["findings"]]
    for f, r in zip(doc.findings, raw["findings"], strict=True):
        assert (f.verdict, f.title, f.severity, dict(f.counts)) == (r["verdict"], r["title"], r["severity"], r["counts"])
        assert (f.assertion_kind, f.assertion_spec) == (r["assertion"]["kind"], r["assertion"]["spec"])
        assert list(f.blocking) == r["unknown"]["reasons"]
        assert [dict(v) for v in f.violations] == r["violations"]  # rows read like the JSON they came from
        assert [v.row for v in f.open_violations] == [
            (v["kind"], v["src"], v["dst"], v["ports"], v["flow"], v["reason"]) for v in r["violations"]
            if not v["waived_by"]]
        assert len(f.waived_violations) == r["counts"]["waived"] and f.complete
        for v in f.violations:
            if v.ports:
                assert ports_text(v.port_set) == v.ports
    assert any(f.violations for f in doc.findings) and any(f.waived_violations for f in doc.findings)
    # the flow table: one typed row per JSON row, deciding rules resolved from the shared texts
    table = raw["flows"]
    assert doc.flows is not None and len(doc.flows.rows) == len(table["rows"]) > 0
    cols = table["columns"]
    for row, r in zip(doc.flows.rows, table["rows"], strict=True):
        cell = dict(zip(cols, r, strict=True))
        assert (row.src, row.dst, row.verdict, row.crossing) == (cell["src"], cell["dst"], cell["verdict"],
                                                                 cell["crossing"])
        assert row.decided_by == table["decided_by"][cell["decided_by"]]
        assert ports_text(row.ports) == cell["ports"]
    assert doc.flows.omitted == 0 and doc.flows.crossing == table["crossing"]
    # inventory and waivers
    assert doc.inventory is not None
    assert {w.name: dict(w.zones) for w in doc.inventory.workloads} == {
        w["name"]: {p: tuple(z) for p, z in w["zones"].items()} for w in raw["inventory"]["workloads"]}
    assert all(x.external for x in doc.inventory.external_networks)
    assert [(w.id, w.status, w.covers) for w in doc.waivers] == [(w["id"], w["status"], w["covers"])
                                                                  for w in raw["waivers"]]


def test_a_result_compared_with_itself_shows_no_drift_and_is_its_own_baseline(result_file: Path) -> None:
    doc = AuditDocument.read(str(result_file))
    side = side_from_result("old", doc)
    report = diff(side, side_from_result("new", doc.raw))
    assert not report.changed and report.unavailable == ()
    base = Baseline.from_document(doc, where=str(result_file))
    assert base.to_dict() == Baseline.from_dict(doc.raw, where=str(result_file)).to_dict()
    # every protected flow of the baseline is an allowed/unknown row of the result, ports as typed
    rows = {(r.src, r.dst, r.verdict): r.ports for r in doc.flows.rows}  # type: ignore[union-attr]
    assert base.flows
    for (src, dst), f in base.flows.items():
        assert f.allowed == rows.get((src, dst, "allowed"), PortSet())
        assert f.unknown == rows.get((src, dst, "unknown"), PortSet())


def _error(data: Any, tmp_path: Path) -> str:
    path = tmp_path / "doc.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps(data)))
    with pytest.raises(AuditorError) as err:
        AuditDocument.read(str(path))
    assert str(path) in str(err.value)  # the message names the file
    return str(err.value)


def test_refuses_wrong_kind_schema_and_malformed_results(result_file: Path, tmp_path: Path) -> None:
    raw = json.loads(result_file.read_text())
    assert "not an audit result (kind 'zone-auditor/baseline'" in _error({**raw, "kind": BASELINE_KIND}, tmp_path)
    assert "not an audit result (expected a JSON object)" in _error([raw], tmp_path)
    assert "schema_version 2 is not supported by this version (supported: 1)" in _error(
        {**raw, "schema_version": 2}, tmp_path)
    assert "incomplete audit result: missing findings" in _error(
        {k: v for k, v in raw.items() if k != "findings"}, tmp_path)
    broken = {**raw, "findings": [{k: v for k, v in raw["findings"][0].items() if k != "verdict"}]}
    assert "malformed audit result (KeyError: 'verdict')" in _error(broken, tmp_path)
    not_rows = {**raw, "findings": [{**raw["findings"][0], "violations": "none"}]}
    assert "malformed audit result (TypeError: evidence must be a list of objects, got str)" in _error(
        not_rows, tmp_path)
    # a bad flows table is refused when it is first read, with the same kind of message
    doc = AuditDocument.parse({**raw, "flows": {"columns": ["src"], "rows": [["a"]]}}, where="r.json")
    with pytest.raises(AuditorError, match=r"r\.json: malformed audit result \(KeyError"):
        _ = doc.flows


def test_the_cli_reports_a_wrong_schema_as_one_error_line(result_file: Path, tmp_path: Path) -> None:
    raw = json.loads(result_file.read_text())
    bad = tmp_path / "future.json"
    bad.write_text(json.dumps({**raw, "schema_version": 99}))
    r = CliRunner().invoke(main, ["report", str(bad), "--format", "csv", "-o", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "audit result schema_version 99 is not supported" in r.output and "Traceback" not in r.output


def test_sniff_and_read_json(result_file: Path, tmp_path: Path) -> None:
    kind, data = sniff(str(result_file))
    assert kind == "audit-result" and data["kind"] == RESULT_KIND
    other = tmp_path / "other.json"
    other.write_text('{"kind": "List", "items": []}')
    assert sniff(str(other))[0] == "json"
    assert sniff(str(tmp_path / "manifests.yaml")) == ("manifests", None)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(AuditorError, match="not JSON"):
        read_json(str(bad))


_ranges = st.lists(st.tuples(st.integers(0, 65535), st.integers(0, 300)), max_size=4)


@st.composite
def port_sets(draw: st.DrawFn) -> PortSet:
    out: dict[str, list[tuple[int, int]]] = {}
    for proto in draw(st.lists(st.sampled_from(ALL_PROTOCOLS), unique=True)):
        lo_max, hi_max = FULL[proto]
        out[proto] = [(max(lo_max, min(a, hi_max)), max(lo_max, min(a + w, hi_max))) for a, w in draw(_ranges)] \
            or [FULL[proto]]
    return PortSet.of(out)


@given(port_sets())
def test_port_text_round_trips(ports: PortSet) -> None:
    """``PortSet.text`` (written) and ``parse_ports`` (read back) are inverse on what the text ``all``
    spans: the form every document writes is read as the set it was written from."""
    text = ports_text(ports)
    assert parse_ports(text) == ports
    assert (text == "all") == (ports == ALL) and (text == "none") == (not ports)
