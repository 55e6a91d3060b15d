"""Deciding rules worked out once per distinct kind sequence (``reach/witness.py``).

``witness_ids`` groups entity pairs whose paths have equal (verdict, rule) rows in the same
order, and ``_decided_by_many`` words each distinct (witness, verdict row) once. Checked against
the straightforward computations: the kinds and sequence ids against plain Python grouping
(random tables), and the evidence against ``_why`` pair by pair on the witness rules that
``test_paths`` checks against every class pair (random clusters with ambient namespaces and
tiny chunks, and the bank samples, every level, all atoms, one atom and per-pair atoms).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.reach.analysis import Analysis, analyze
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.reach.witness import group_kinds, sequence_ids
from auditor.sources.manifests import load_manifests
from tests.reach.test_engine_reference import NAMESPACES, clusters, manifests
from tests.reach.test_paths import with_ambient

BANK = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank"


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 40), atoms=st.integers(1, 5))
def test_group_kinds_are_equal_rows(data: Any, n: int, atoms: int) -> None:
    v = np.array(data.draw(st.lists(st.lists(st.integers(0, 2), min_size=atoms, max_size=atoms),
                                    min_size=n, max_size=n)), dtype=np.int8)
    r = np.array(data.draw(st.lists(st.lists(st.integers(-1, 3), min_size=atoms, max_size=atoms),
                                    min_size=n, max_size=n)), dtype=np.int32)
    k = group_kinds(v, r)
    for a in range(n):
        assert k.kind[k.rep[k.kind[a]]] == k.kind[a]
        for b in range(n):
            same = v[a].tolist() == v[b].tolist() and r[a].tolist() == r[b].tolist()
            assert (k.kind[a] == k.kind[b]) == same


@settings(max_examples=200, deadline=None)
@given(seqs=st.lists(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=4),
                     min_size=1, max_size=70))
def test_sequence_ids_are_equal_sequences(seqs: list[list[tuple[int, int]]]) -> None:
    count = np.array([len(s) for s in seqs], dtype=np.int64)
    rows = np.array([p for s in seqs for p in s], dtype=np.int32).reshape(-1, 2)
    ids, first = sequence_ids(count, rows)
    assert sorted(np.unique(ids).tolist()) == list(range(first.size))
    for a in range(len(seqs)):
        assert seqs[first[ids[a]]] == seqs[a]
        for b in range(len(seqs)):
            assert (ids[a] == ids[b]) == (seqs[a] == seqs[b])


def check(analysis: Analysis, by: str) -> None:
    pm = analysis.pairs(by)
    n_s, n_t = pm.row.shape
    ii, jj = (x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij"))
    re_, ri, rl = analysis.witness_rules(pm, ii, jj)
    v = pm.verdict[pm.row[ii, jj]]
    live = (v == ALLOW).any(axis=0) | (v == UNKNOWN).any(axis=0)
    atom = np.array([int(np.flatnonzero(live)[0]) if live.any() else 0])
    per_pair = [np.flatnonzero(v[k] == ALLOW) if k % 3 else atom for k in range(ii.size)]
    for atoms in (None, [atom] * ii.size, per_pair):
        got = analysis._decided_by_many(pm, ii, jj, atoms)
        for k in range(ii.size):
            want = analysis._why(v[k], re_[k], ri[k], None if atoms is None else atoms[k],
                                 None if rl is None else rl[k])
            assert str(got[k]) == str(want) and got[k].sides == want.sides, (by, k)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(cluster=clusters(pods=(4, 12), k8s=4, rules=3), ambient=st.sets(st.sampled_from(NAMESPACES)),
       tiny=st.booleans())
def test_evidence_is_pair_by_pair_on_random_clusters(tmp_path: Path, cluster: dict[str, Any],
                                                      ambient: set[str], tiny: bool) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(with_ambient(manifests(cluster), ambient)))
    analysis = analyze(load_manifests([str(path)]))
    if tiny:
        analysis.block_cells = 1  # one pair per chunk: kinds must agree across chunks
    for by in ("pod", "workload", "namespace"):
        check(analysis, by)


@pytest.mark.parametrize("sample", ["calico", "istio", "admin", "gateway"])
@pytest.mark.parametrize("by", ["pod", "workload", "namespace"])
def test_evidence_is_pair_by_pair_on_bank_samples(sample: str, by: str) -> None:
    analysis = analyze(load_manifests([str(BANK / sample)]))
    check(analysis, by)
