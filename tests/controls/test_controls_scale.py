"""Audits of large, mostly open clusters: the evidence cap (``--max-evidence``) and the fast paths.

A generated cluster (benchmarks/generate.py) audited with the PCI DSS pack has hundreds of
violations and unknown flows per control. Capped, a finding keeps the exact counts and verdict
(waivers applied to every violation), and its lists are the first rows of the uncapped ones; the
flow list likewise. Waivers are checked row by row against ``covers``. No timing here.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from auditor.canonical import canonical_json
from auditor.cli import main
from auditor.commands.pipeline import merge_externals
from auditor.controls.assertions.context import Context, entity_of
from auditor.controls.pack import external_networks, load_packs
from auditor.controls.result import AuditResult, ViolationTable
from auditor.controls.runner import run_audit
from auditor.controls.waivers import covers, load_waivers
from auditor.reach.analysis import Analysis, AnalysisOptions, analyze
from auditor.report.csvs import CsvWriter
from auditor.report.data import ReportData
from auditor.report.interface import ReportOptions
from auditor.report.junit import render as junit_render
from auditor.report.pdf.document import render_pdf
from auditor.report.pdf.template import load_template
from auditor.report.sarif import render as sarif_render
from auditor.sources.manifests import load_manifests
from tests.kits.istio_helpers import analysed, ap, mpod, netpol, ns
from tests.kits.report_kit import flat, pdf_text

ROOT = Path(__file__).resolve().parents[2]
PACK = str(ROOT / "controls" / "pci-dss-v4.yaml")
ZONES = str(ROOT / "controls" / "examples" / "bank-pci-zones.yaml")
AS_OF = dt.date(2026, 6, 1)
CAP = 7

WAIVERS = {
    "schema": "zone-auditor/waivers/v1",
    "waivers": [
        # every violation of the control (its unknown flows remain: the verdict is unknown)
        {"id": "W-IN", "control": "PCI-11.4.5-IN", "flows": [{"from": "zone:out-of-scope"}],
         "justification": "j", "approver": "a", "expires": "2027-01-01"},
        # late sources only (rows past the cap); together they cover TCP:8080,9100
        {"id": "W-8080", "control": "PCI-7.2", "flows": [{"from": "[m-z]*", "ports": ["8080/TCP"]}],
         "justification": "j", "approver": "a", "expires": "2027-01-01"},
        {"id": "W-9100", "control": "PCI-7.2", "flows": [{"from": "[m-z]*", "ports": [9100]}],
         "justification": "j", "approver": "a", "expires": "2027-01-01"},
        {"id": "W-OLD", "control": "PCI-1.3.2", "flows": [{"from": "[m-z]*"}],
         "justification": "j", "approver": "a", "expires": "2020-01-01"},
        {"id": "W-EP", "control": "PCI-2.2.7", "flows": [{"workload": "[a-h]*"}],
         "justification": "j", "approver": "a", "expires": "2027-01-01"},
        {"id": "W-NONE", "control": "PCI-1.3.3", "flows": [{"from": "nothing-*"}],
         "justification": "j", "approver": "a", "expires": "2027-01-01"},
    ],
}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "generate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cluster(path: Path, drop_namespaces: bool) -> Path:
    """400 pods, mostly open; without some Namespace objects, zone membership (namespace labels)
    of their pods is only possible, which makes flows unknown."""
    gen = _generator()
    items = gen.generate(400, 20, 80, seed=3)
    if drop_namespaces:
        names = sorted(it["metadata"]["name"] for it in items if it["kind"] == "Namespace")[::4]
        items = [it for it in items if not (it["kind"] == "Namespace" and it["metadata"]["name"] in names)]
    with path.open("w") as f:
        gen.dump(items, f)
    return path


class Setup:
    def __init__(self, path: Path, waivers: Path | None) -> None:
        self.path = path
        self.packs, self.zone_map = load_packs([PACK], ZONES)
        self.waivers = load_waivers(str(waivers)) if waivers else None
        self.analysis = self.analyse()

    def analyse(self) -> Analysis:
        snapshot = load_manifests([str(self.path)], captured_at="2026-03-04T05:06:07Z")
        return analyze(snapshot, AnalysisOptions(externals=merge_externals((), external_networks(self.packs))))

    def audit(self, cap: int, analysis: Analysis | None = None) -> AuditResult:
        return run_audit(analysis or self.analysis, self.packs, zone_map=self.zone_map, waivers=self.waivers,
                         as_of=AS_OF, max_evidence=cap)


@pytest.fixture(scope="module")
def open_(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """Namespaces missing (unknown flows), with waivers."""
    tmp = tmp_path_factory.mktemp("scale")
    (tmp / "waivers.yaml").write_text(yaml.safe_dump(WAIVERS))
    return Setup(_cluster(tmp / "open.yaml", True), tmp / "waivers.yaml")


@pytest.fixture(scope="module")
def complete(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    """Every namespace present (no unknown flow), with waivers."""
    tmp = tmp_path_factory.mktemp("scale-complete")
    (tmp / "waivers.yaml").write_text(yaml.safe_dump(WAIVERS))
    return Setup(_cluster(tmp / "complete.yaml", False), tmp / "waivers.yaml")


def _json(result: AuditResult) -> dict[str, Any]:
    return orjson.loads(canonical_json(result.to_dict()))


def _flow_rows(d: dict[str, Any]) -> list[list[Any]]:
    fl = d["flows"]
    k = fl["columns"].index("decided_by")
    return [[*r[:k], fl["decided_by"][r[k]], *r[k + 1:]] for r in fl["rows"]]


def _assert_prefix(full: dict[str, Any], capped: dict[str, Any], cap: int) -> None:
    assert capped["summary"] == full["summary"]
    assert capped["waivers"] == full["waivers"]
    for key in set(full) - {"findings", "flows"}:
        assert capped[key] == full[key], key
    for a, b in zip(full["findings"], capped["findings"], strict=True):
        assert (b["verdict"], b["counts"], b["message"], b["checked"]) == (a["verdict"], a["counts"], a["message"],
                                                                        a["checked"]), a["control"]
        assert a["violations_omitted"] == 0 and a["unknown"]["flows_omitted"] == 0
        assert b["violations"] == a["violations"][:cap]
        assert b["unknown"]["flows"] == a["unknown"]["flows"][:cap]
        assert b["violations_omitted"] == len(a["violations"]) - len(b["violations"])
        assert b["unknown"]["flows_omitted"] == len(a["unknown"]["flows"]) - len(b["unknown"]["flows"])
        assert sum(b["counts"].values()) == len(b["violations"]) + b["violations_omitted"] + \
            len(b["unknown"]["flows"]) + b["unknown"]["flows_omitted"]
        assert b["unknown"]["reasons"] == a["unknown"]["reasons"]
        assert [n for n in b["notes"] if "--max-evidence" not in n] == a["notes"]
        if b["violations_omitted"] or b["unknown"]["flows_omitted"]:
            assert any("re-run with --max-evidence 0 for all" in n for n in b["notes"])
    rows_full, rows_capped = _flow_rows(full), _flow_rows(capped)
    assert rows_capped == rows_full[:cap]
    assert full["flows"]["total"] == capped["flows"]["total"] == len(rows_full)
    assert full["flows"]["crossing"] == capped["flows"]["crossing"] == sum(1 for r in rows_full if r[-1])
    assert capped["flows"]["omitted"] == len(rows_full) - len(rows_capped)


def test_the_cap_keeps_counts_verdicts_and_lists_a_prefix(open_: Setup) -> None:
    full = _json(open_.audit(0))
    capped = _json(open_.audit(CAP))
    _assert_prefix(full, capped, CAP)
    verdicts = {f["control"]: f["verdict"] for f in capped["findings"]}
    assert verdicts["PCI-11.4.5-IN"] == "unknown"  # every violation waived, unknown flows remain
    assert verdicts["PCI-2.2.3"] == "unknown" and "fail" in verdicts.values()
    # the cap bites: lists are cut in most controls, both violations and unknown flows
    assert sum(1 for f in capped["findings"] if f["violations_omitted"]) >= 4
    assert sum(1 for f in capped["findings"] if f["unknown"]["flows_omitted"]) >= 4
    assert capped["flows"]["omitted"] > 100
    assert capped["summary"]["verdict"] == "fail"


def test_the_cap_keeps_the_waived_verdict(complete: Setup) -> None:
    full = _json(complete.audit(0))
    capped = _json(complete.audit(CAP))
    _assert_prefix(full, capped, CAP)
    f = next(f for f in capped["findings"] if f["control"] == "PCI-11.4.5-IN")
    assert f["verdict"] == "waived" and f["counts"]["violations"] == 0 and f["counts"]["waived"] > CAP
    assert f["violations_omitted"] == f["counts"]["waived"] - CAP
    assert all(v["waived_by"] == ["W-IN"] for v in f["violations"])
    assert f["message"] == f"{f['counts']['waived']} violation(s), all waived: " + f["claim"]


@pytest.mark.parametrize("cap", [0, 1, CAP])
def test_waivers_stay_exact_under_the_cap(open_: Setup, cap: int) -> None:
    """Every row of every finding (listed or not) is waived exactly as ``covers`` decides for it."""
    result = open_.audit(cap)
    assert open_.waivers is not None
    expected_covers = {w.id: 0 for w in open_.waivers.waivers}
    for f in result.findings:
        mine = [w for w in open_.waivers.waivers if w.applies_to(f)]
        valid = [w for w in mine if w.valid(AS_OF)]
        expired = [w for w in mine if not w.valid(AS_OF)]
        table = f.all_violations
        rows = table.rows()
        assert len(rows) == len(table) == f.counts["violations"] + f.counts["waived"]
        for v in rows:
            ids = covers(valid, v)
            assert v.waived_by == tuple(sorted(ids)), (f.control, v)
            for wid in (*ids, *covers(expired, v)):
                expected_covers[wid] += 1
        assert f.counts["waived"] == sum(1 for v in rows if v.waived_by)
        # the rows listed are the first rows of the table, with their decided_by
        assert list(f.violations) == [replace(v, decided_by=f.violations[k].decided_by)
                                      for k, v in enumerate(rows[:len(f.violations)])]
    statuses = {w.id: w for w in result.waivers}
    assert {k: statuses[k].covers for k in expected_covers} == expected_covers
    assert statuses["W-OLD"].status == "expired" and statuses["W-OLD"].covers > 0
    assert statuses["W-NONE"].status == "unused"
    assert statuses["W-8080"].status == statuses["W-9100"].status == "active"
    f72 = next(f for f in result.findings if f.control == "PCI-7.2")
    both = [v for v in f72.all_violations if v.waived_by == ("W-8080", "W-9100")]
    assert any(v.ports == "TCP:8080,9100" for v in both)  # two waivers together cover it
    listed = {(v.src, v.dst) for v in f72.violations}
    assert any((v.src, v.dst) not in listed for v in f72.all_violations if v.waived_by) or cap == 0
    ep = next(f for f in result.findings if f.control == "PCI-2.2.7")
    assert 0 < ep.counts["waived"] < len(ep.all_violations)


def test_capped_results_are_deterministic(open_: Setup) -> None:
    a = canonical_json(open_.audit(CAP).to_dict())
    b = canonical_json(open_.audit(CAP, open_.analyse()).to_dict())
    assert a == b
    assert canonical_json(open_.audit(0).to_dict()) == canonical_json(open_.audit(0, open_.analyse()).to_dict())


def test_decided_by_of_listed_rows_matches_the_uncapped_audit(open_: Setup) -> None:
    full = open_.audit(0)
    capped = open_.audit(CAP)
    for a, b in zip(full.findings, capped.findings, strict=True):
        assert [v.decided_by for v in b.violations] == [v.decided_by for v in a.violations[:CAP]]
        assert all(v.decided_by for v in b.violations if v.kind == "flow")
        # past the listed rows the table still names every violation, without decided_by
        assert a.all_violations.keys() == b.all_violations.keys()
        assert b.all_violations.keys(open_only=True) == [
            (v.kind, v.src, v.dst, v.ports, v.flow, v.reason) for v in a.violations if not v.waived_by]


def test_audit_cli_max_evidence(open_: Setup, tmp_path: Path) -> None:
    base = [str(open_.path), "--controls", PACK, "--zones", ZONES, "--as-of", "2026-06-01"]
    runner = CliRunner()
    r = runner.invoke(main, ["audit", *base, "--max-evidence", "3", "-o", str(tmp_path / "r.json")],
                      catch_exceptions=False)
    assert r.exit_code == 1, r.output
    d = json.loads((tmp_path / "r.json").read_text())
    assert all(len(f["violations"]) <= 3 for f in d["findings"])
    assert any(f["violations_omitted"] for f in d["findings"]) and len(d["flows"]["rows"]) == 3
    assert "more (see -o result.json; it lists the first 3 of" in r.stdout
    r0 = runner.invoke(main, ["audit", *base, "--max-evidence", "0", "-o", str(tmp_path / "r0.json")],
                       catch_exceptions=False)
    assert r0.exit_code == 1 and "--max-evidence 0 lists all" not in r0.stdout
    d0 = json.loads((tmp_path / "r0.json").read_text())
    assert [f["counts"] for f in d0["findings"]] == [f["counts"] for f in d["findings"]]
    assert d0["flows"]["omitted"] == 0 and all(f["violations_omitted"] == 0 for f in d0["findings"])
    # the default lists 1,000 per control: every violation of this cluster
    r_default = runner.invoke(main, ["audit", *base, "-o", str(tmp_path / "rd.json")], catch_exceptions=False)
    assert r_default.exit_code == 1
    bad = runner.invoke(main, ["audit", *base, "--max-evidence", "-1"])
    assert bad.exit_code == 2


def test_reports_say_how_much_is_shown(open_: Setup, tmp_path: Path) -> None:
    capped = _json(open_.audit(CAP))
    paths = CsvWriter().write(capped, tmp_path, ReportOptions())
    frames = {p.name: pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths}
    controls = frames["controls.csv"].set_index("control")
    for f in capped["findings"]:
        note = controls.loc[f["control"]]["evidence_note"]
        if f["violations_omitted"]:
            total = len(f["violations"]) + f["violations_omitted"]
            assert note.startswith(f"{len(f['violations']):,} of {total:,} violations")
            assert note.endswith("shown; re-run with --max-evidence 0 for all")
        elif not f["unknown"]["flows_omitted"]:
            assert note == ""
        assert int(controls.loc[f["control"]]["violations"]) == f["counts"]["violations"]
    assert len(frames["violations.csv"]) == sum(len(f["violations"]) + len(f["unknown"]["flows"])
                                                for f in capped["findings"])
    assert len(frames["flows.csv"]) == CAP
    junit = junit_render(ReportData(capped)).decode()
    assert "shown; re-run with --max-evidence 0 for all" in junit
    sarif = json.loads(sarif_render(ReportData(capped)))
    truncated = sarif["runs"][0]["properties"]["truncated"]
    f72 = next(f for f in capped["findings"] if f["control"] == "PCI-7.2")
    assert truncated["PCI-7.2"] == len(f72["violations"]) + f72["violations_omitted"]
    data = ReportData(capped)
    assert data.crossing_flows == capped["flows"]["crossing"] > len(capped["flows"]["rows"])
    text = flat(" ".join(pdf_text(render_pdf(data, load_template("auditor")))))
    assert f"{CAP} of {len(f72['violations']) + f72['violations_omitted']:,} violations shown" in text
    assert "re-run with --max-evidence 0 for all" in text
    assert f"Evidence: {f72['counts']['violations']:,} violation(s)" in text


# -- the single-class fast path of Analysis.pairs ---------------------------------------------------------


def _both_paths(a: Analysis, src: list[Any], dst: list[Any], monkeypatch: pytest.MonkeyPatch,
                by: str = "workload") -> None:
    fast = a.pairs(by, src, dst)
    with monkeypatch.context() as m:
        m.setattr(Analysis, "_single_class_rows", lambda *args, **kwargs: None)
        slow = a.pairs(by, src, dst)
    for name in ("row", "verdict", "network", "identity"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name


def test_single_class_pairs_equal_the_general_path(open_: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Context(open_.analysis, open_.packs[0])
    units = ctx.zones.all_units()
    rng = np.random.default_rng(1)
    for size in (5, 60, len(units) // 2):
        src = [entity_of(units[k]) for k in sorted(rng.choice(len(units), size, replace=False))]
        dst = [entity_of(units[k]) for k in sorted(rng.choice(len(units), size // 2 + 1, replace=False))]
        _both_paths(open_.analysis, src, dst, monkeypatch)
    everything = [entity_of(u) for u in units]
    _both_paths(open_.analysis, everything, everything, monkeypatch)


def test_single_class_pairs_with_istio_and_ambient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    amb = {"istio.io/dataplane-mode": "ambient"}
    objs = [ns("x", **amb), ns("y", **amb), ns("m", **{"istio-injection": "enabled"}), ns("plain"),
            mpod("x", "srv", {"app": "srv"}, sidecar=False, ip="10.1.0.1"),
            mpod("y", "cli", {"app": "cli"}, sidecar=False, ip="10.1.1.1"),
            mpod("m", "meshed", {"app": "meshed"}, sa="meshed", ip="10.1.3.1"),
            mpod("plain", "outsider", {"app": "o"}, sidecar=False, ip="10.1.2.1"),
            netpol("x", "allow-hbone", {"podSelector": {}, "policyTypes": ["Ingress"],
                                        "ingress": [{"ports": [{"port": 15008}, {"port": 8080}]}]}),
            ap("m", "only-get", {"selector": {"matchLabels": {"app": "meshed"}},
                                 "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]})]
    a = analysed(tmp_path, objs)
    assert a.classes.ambient.any() and a.l7_active
    pods = a.entities("pod")
    _both_paths(a, pods, pods, monkeypatch, by="pod")


def test_violation_table_of_objects_round_trips() -> None:
    from auditor.controls.result import Violation

    vs = [Violation(kind="flow", src=f"ns/{c}", dst="d/x", reason="r", ports="all", flow="allowed",
                    waived_by=("W",) if c in "bd" else ()) for c in "dcba"]
    t = ViolationTable.of(vs)
    assert [v.src for v in t] == ["ns/a", "ns/b", "ns/c", "ns/d"]
    assert (t.open_count(), t.waived_count()) == (2, 2)
    assert t.first_open() == vs[3]
    assert t.keys(open_only=True) == [("flow", "ns/a", "d/x", "all", "allowed", "r"),
                                      ("flow", "ns/c", "d/x", "all", "allowed", "r")]
