"""Row blocks: streaming the pair matrix block by block gives the bytes of the whole matrix.

``reach`` writes its CSV/JSON block by block (``--max-memory`` picks the block size); the block
size must never change a byte. Checked on the bank samples (Kubernetes, Calico tiers, Istio)
at every level, with summary rows, port rows and HTTP rows, for blocks of 1, 2, 7 sources and
all at once.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from auditor.commands.text import csv_chunks, json_chunks, to_csv, to_json
from auditor.reach.analysis import analyze
from auditor.reach.l7 import Request
from auditor.reach.ports import PortQuery
from auditor.reach.rows import http_rows, port_rows, row_blocks, summary_rows
from auditor.sources.manifests import load_manifests

BANK = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank"


@pytest.fixture(scope="module", params=["after", "calico", "istio"])
def analysis(request):
    return analyze(load_manifests([str(BANK / request.param)]))


@pytest.mark.parametrize("by", ["pod", "workload", "namespace"])
def test_summary_rows_in_blocks_are_the_whole_matrix(analysis, by):
    whole = summary_rows(analysis, analysis.pairs(by))
    expected = to_csv(whole)
    meta = {"tool": "zone-auditor", "by": by, "notes": ["a"], "source": "x"}
    assert len(whole) > 10
    for rows in (1, 2, 7, None):
        got = "".join(csv_chunks(row_blocks(analysis, by, None, None, rows=rows)))
        assert got == expected, rows
        blob = b"".join(json_chunks(meta, row_blocks(analysis, by, None, None, rows=rows)))
        assert blob == to_json(meta, whole), rows
    parsed = list(csv.DictReader(io.StringIO(expected)))
    assert len(parsed) == len(whole)


def test_port_rows_in_blocks_keep_the_global_sort(analysis):
    queries = [PortQuery.parse("5432/TCP"), PortQuery.parse("53/UDP")]
    pm = analysis.pairs("workload")
    expected = to_csv(port_rows(analysis, pm, queries))
    for rows in (1, 3, None):
        assert "".join(csv_chunks(row_blocks(analysis, "workload", None, None, queries, rows=rows))) == expected


def test_http_rows_in_blocks(analysis):
    requests = [Request.parse("GET /accounts"), Request.parse("POST /admin")]
    pms = [analysis.pairs("workload", request=r) for r in requests]
    expected = to_csv(http_rows(analysis, pms, [], plain=analysis.pairs("workload")))
    for rows in (1, 4):
        assert "".join(csv_chunks(row_blocks(analysis, "workload", None, None, (), requests, rows=rows))) == expected


def test_empty_source_list_gives_the_header_only(analysis):
    dst = analysis.entities("workload")
    expected = to_csv(summary_rows(analysis, analysis.pairs("workload", [], dst)))
    got = "".join(csv_chunks(row_blocks(analysis, "workload", [], dst, rows=5)))
    assert got == expected and got.count("\n") == 1
