"""``decided_by`` of many pairs at once (the rows of each side grouped with numpy, side words
worked out once per distinct side, then joined) is the text and structure that ``_why`` gives
pair by pair, on every bank sample and level, with all atoms and with one port; and the words
are those of ``DecidedBy(sides)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from auditor.reach.analysis import analyze
from auditor.reach.decision import DecidedBy
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.sources.manifests import load_manifests

BANK = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank"


@pytest.fixture(scope="module", params=["before", "after", "calico", "istio", "admin", "gateway"])
def analysis(request):
    return analyze(load_manifests([str(BANK / request.param)]))


@pytest.mark.parametrize("by", ["pod", "workload", "namespace"])
def test_grouped_evidence_is_pair_by_pair_evidence(analysis, by):
    pm = analysis.pairs(by)
    n_s, n_t = pm.row.shape
    ii, jj = (x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij"))
    re_, ri, rl = analysis.witness_rules(pm, ii, jj)
    v = pm.verdict[pm.row[ii, jj]]
    atom = int(np.flatnonzero((v == ALLOW).any(axis=0) | (v == UNKNOWN).any(axis=0))[0])
    for atoms in (None, np.array([atom])):
        grouped = analysis._why_by_sides(v, re_, ri, atoms, rl)  # what decided_by_many uses past 64 pairs
        for k in range(ii.size):
            one = analysis._why(v[k], re_[k], ri[k], atoms, None if rl is None else rl[k])
            assert str(grouped[k]) == str(one) and grouped[k].sides == one.sides, (k, atoms)
            assert str(one) == str(DecidedBy(one.sides))
