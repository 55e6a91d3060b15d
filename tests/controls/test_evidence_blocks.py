"""The audit's evidence (zone matrix, flow list) read in blocks of source rows of the workload matrix.

At 100,000 pods the workload × workload matrix does not fit in memory, so ``build_evidence``
reads it ``rows`` sources at a time (``evidence.BLOCK_ROWS`` forces the size). The result must
not depend on the block size: the same JSON bytes with one block and with blocks of one, two or
three sources, capped (``--max-evidence``) or not, and no block may ask for the whole matrix.
"""

from __future__ import annotations

import importlib.util
import traceback
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.controls import evidence
from auditor.reach.analysis import Analysis

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
PCI = str(ROOT / "controls" / "pci-dss-v4.yaml")
PCI_ZONES = str(ROOT / "controls" / "examples" / "bank-pci-zones.yaml")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # the snapshot's captured_at


def _audit(tmp: Path, rows: int | None, source: Path, *args: str) -> bytes:
    """``audit -o`` JSON bytes with ``rows`` sources per block of the evidence (None: the budget's)."""
    out = tmp / f"r-{rows}.json"
    old = evidence.BLOCK_ROWS
    evidence.BLOCK_ROWS = rows
    try:
        r = CliRunner().invoke(main, ["audit", str(source), "--as-of", "2026-12-01", "-o", str(out), *args],
                               catch_exceptions=False)
    finally:
        evidence.BLOCK_ROWS = old
    assert r.exit_code in (0, 1, 2), r.output
    return out.read_bytes()


def _generated(path: Path) -> Path:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "generate.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    items = gen.generate(300, 15, 60, seed=5)
    with path.open("w") as f:
        gen.dump(items, f)
    return path


@pytest.mark.parametrize("sample,pack", [("before", "bank-zones"), ("after", "pci-dss-v4"), ("istio", "hipaa"),
                                         ("calico", "pci-dss-v4")])
def test_blocks_of_one_to_three_sources_give_the_same_bytes(tmp_path: Path, sample: str, pack: str) -> None:
    args = ("--controls", str(ROOT / "controls" / f"{pack}.yaml"))
    whole = _audit(tmp_path, None, BANK / sample, *args)
    assert b'"zones_matrix"' in whole and b'"flows"' in whole
    for rows in (1, 2, 3):
        assert _audit(tmp_path, rows, BANK / sample, *args) == whole, rows


@pytest.mark.parametrize("cap", ["0", "5"])
def test_a_generated_cluster_gives_the_same_bytes_in_blocks(tmp_path: Path, cap: str) -> None:
    """Hundreds of flows, capped or not: the kept records are merged and cut block by block."""
    source = _generated(tmp_path / "gen.yaml")
    args = ("--controls", PCI, "--zones", PCI_ZONES, "--max-evidence", cap)
    whole = _audit(tmp_path, None, source, *args)
    for rows in (1, 3, 17):
        assert _audit(tmp_path, rows, source, *args) == whole, rows


def test_citations_read_in_chunks_of_rows_give_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cited cells are gathered ``CITED_ROWS`` violation rows at a time: chunks of one, two
    and seven rows give the bytes of one chunk (the generated cluster has hundreds per control)."""
    source = _generated(tmp_path / "gen.yaml")
    args = ("--controls", PCI, "--zones", PCI_ZONES, "--max-evidence", "0")
    whole = _audit(tmp_path, 3, source, *args)
    for chunk in (1, 2, 7):
        monkeypatch.setattr(evidence, "CITED_ROWS", chunk)
        assert _audit(tmp_path, 3, source, *args) == whole, chunk


def test_forced_blocks_never_ask_for_the_whole_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With blocks of two sources, every matrix the evidence asks for (the blocks, and the small
    ones of the kept flows' deciding rules) has at most two sources."""
    asked: list[int] = []
    real = Analysis.pairs

    def pairs(self: Analysis, by: str, src: Any = None, dst: Any = None, *a: Any, **k: Any) -> Any:
        if any(f.filename.endswith(str(Path("controls", "evidence.py"))) for f in traceback.extract_stack()):
            n = len(src) if src is not None else len(self.entities(by))
            assert n <= 2, f"the evidence asked for a matrix of {n} sources"
            asked.append(n)
        return real(self, by, src, dst, *a, **k)

    whole = _audit(tmp_path, None, BANK / "before", "--controls", PCI)
    monkeypatch.setattr(Analysis, "pairs", pairs)
    assert _audit(tmp_path, 2, BANK / "before", "--controls", PCI) == whole
    assert len(asked) > 4  # 7 workloads: 4 blocks, then the kept flows' sources two at a time


def test_the_block_size_comes_from_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A matrix that fits is one block (no extra ``pairs`` calls); a tight budget cuts it, down to
    ``MIN_BLOCK_PAIRS`` a block."""
    from auditor.reach import budget

    class A:
        ports = [0] * 10

    monkeypatch.setattr(budget, "rss_bytes", lambda: 1 << 30)
    assert evidence.block_rows(A(), 2000, None) == 2000  # type: ignore[arg-type]
    rows = evidence.block_rows(A(), 30_000, 2 << 30)  # type: ignore[arg-type]
    assert 1 <= rows < 30_000 and rows * 30_000 * evidence.EVIDENCE_PAIR_BYTES <= 1 << 29
    assert evidence.block_rows(A(), 30_000, 2 << 30, forced=3) == 3  # type: ignore[arg-type]
    monkeypatch.setattr(budget, "rss_bytes", lambda: 3 << 30)  # over the budget: blocks of MIN_BLOCK_PAIRS
    assert evidence.block_rows(A(), 30_000, 2 << 30) == evidence.MIN_BLOCK_PAIRS // 30_000  # type: ignore[arg-type]


def test_required_flows_found_denied_are_listed_whatever_the_chunks(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A must-allow control's denied flows come into the flow list from the citations: with chunks
    of one row each is still found with its own ports and deciding rules (rows after the first
    chunk included)."""
    from auditor.canonical import canonical_json
    from tests.kits.controls_kit import audit, control, pack, two_zones

    must = {"kind": "must-allow", "flows": [{"from": "web", "to": "data", "ports": ["5432/TCP", "5433/TCP"]},
                                            {"from": "data", "to": "web", "ports": ["8080/TCP"]}]}
    no_flow = {"kind": "no-flow", "from": "data", "to": "web"}
    packs = pack([control("MUST", must), control("NONE", no_flow)])
    whole = audit(tmp_path, two_zones(segmented=True), packs).to_dict()
    denied = [r for r in whole["flows"]["rows"] if "denied" in r]
    assert len(denied) >= 2, denied  # both required flows are denied by the segmented cluster
    for chunk in (1, 2):
        monkeypatch.setattr(evidence, "CITED_ROWS", chunk)
        assert canonical_json(audit(tmp_path, two_zones(segmented=True), packs).to_dict()) == canonical_json(whole)
