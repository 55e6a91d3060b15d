"""Entity pairs composed from their paths (``reach/paths.py``) against every class pair.

``Analysis.pairs`` and ``witness_rules`` read an entity pair off its distinct group triples
instead of enumerating its class pairs. The reference here enumerates every class pair of every
entity pair in plain Python loops: the pair's verdict is the best class pair's at each atom, and
the deciding rules are those of the *last* class pair (source-major order) with that verdict.
Random clusters (the engine reference's, with ipBlocks that split namespaces into several
classes, Calico tiers, and random ambient namespaces) and the bank samples (Istio included), at
every level, with the default memory budget and with one cell per chunk.
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
from auditor.sources.manifests import load_manifests
from tests.reach.test_engine_reference import NAMESPACES, clusters, manifests

BANK = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank"


def by_class_pairs(analysis: Analysis, pm: Any, i: int, j: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(verdict per atom, [egress, ingress, Istio] rule per atom) of entity pair (i, j) from
    every one of its class pairs."""
    b = pm.blocks
    best = None
    rules: list[np.ndarray] = []
    for s in b.s_cls[b.s_start[i]: b.s_start[i] + b.s_cnt[i]].tolist():
        for t in b.t_cls[b.t_start[j]: b.t_start[j] + b.t_cnt[j]].tolist():
            v, re_, ri = (x[0] for x in analysis.class_verdicts(np.array([s]), np.array([t])))
            layers = [re_, ri]
            if pm.l7 is not None:
                gl = int(pm.l7.gid(np.array([t]), np.array([s]))[0])
                v = np.minimum(v, pm.l7.verdict[gl])
                layers.append(pm.l7.rule[gl])
            if best is None:
                best, rules = v.copy(), [x.copy() for x in layers]
                continue
            take = v >= best  # the last class pair with the best verdict
            best = np.maximum(best, v)
            for out, x in zip(rules, layers, strict=True):
                out[take] = x[take]
    assert best is not None
    return best, rules


def check(analysis: Analysis, by: str) -> None:
    pm = analysis.pairs(by)
    b = pm.blocks
    n_s, n_t = pm.row.shape
    ii, jj = (x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij"))
    keep = (b.s_cnt[ii] > 0) & (b.t_cnt[jj] > 0)
    ii, jj = ii[keep], jj[keep]
    re_, ri, rl = analysis.witness_rules(pm, ii, jj)
    for k, (i, j) in enumerate(zip(ii.tolist(), jj.tolist(), strict=True)):
        want_v, want_rules = by_class_pairs(analysis, pm, i, j)
        assert pm.verdict[pm.row[i, j]].tolist() == want_v.tolist(), (by, pm.src[i].name, pm.dst[j].name)
        got = [re_[k], ri[k]] + ([rl[k]] if rl is not None else [])
        for side, g, w in zip(("egress", "ingress", "istio")[:len(got)], got, want_rules, strict=True):
            assert g.tolist() == w.tolist(), (by, side, pm.src[i].name, pm.dst[j].name)


# more pods than the engine reference draws, so namespaces and external networks span several
# classes and entity pairs several paths whose verdicts tie
cluster_st = clusters(pods=(4, 12), k8s=4, rules=3)


def with_ambient(objs: list[dict[str, Any]], ambient: set[str]) -> list[dict[str, Any]]:
    for o in objs:
        if o["kind"] == "Namespace" and o["metadata"]["name"] in ambient:
            o["metadata"]["labels"]["istio.io/dataplane-mode"] = "ambient"
    return objs


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(cluster=cluster_st, ambient=st.sets(st.sampled_from(NAMESPACES)), tiny=st.booleans())
def test_paths_equal_every_class_pair_on_random_clusters(tmp_path, cluster, ambient, tiny):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(with_ambient(manifests(cluster), ambient)))
    analysis = analyze(load_manifests([str(path)]))
    if tiny:
        analysis.block_cells = 1  # one entity, one pair per chunk
    for by in ("pod", "namespace"):
        check(analysis, by)


@pytest.mark.parametrize("sample", ["calico", "istio", "admin", "gateway"])
@pytest.mark.parametrize("by", ["pod", "workload", "namespace"])
def test_paths_equal_every_class_pair_on_bank_samples(sample, by):
    analysis = analyze(load_manifests([str(BANK / sample)]))
    check(analysis, by)
    analysis.block_cells = 7
    check(analysis, by)


def test_a_namespace_of_many_classes_has_few_paths():
    """The point of paths: a namespace whose pods an ipBlock splits into several classes, all
    under one σ, pairs with another namespace through fewer paths than class pairs."""
    analysis = analyze(load_manifests([str(BANK / "calico")]))
    pm = analysis.pairs("namespace")
    b = pm.blocks
    assert pm.paths is not None
    i = int(np.argmax(b.s_cnt))
    j = int(np.argmax(b.t_cnt))
    side = pm.paths.source_side(np.array([i]))
    paths = pm.paths.paths(side, np.array([i]), np.array([j]))
    n_class_pairs = int(b.s_cnt[i] * b.t_cnt[j])
    assert n_class_pairs > 1
    assert 1 <= int(paths.count[0]) <= n_class_pairs


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**32 - 1), n_keys=st.integers(1, 3),
       top=st.sampled_from([1, 3, 50, 2**40]), negative=st.booleans())
def test_lex_order_is_lexsort(n, seed, n_keys, top, negative):
    """``lex_order`` (one stable argsort of combined keys) orders exactly as ``np.lexsort``,
    ties included; keys that are negative or too wide to combine take ``lexsort`` itself."""
    from auditor.reach.paths import lex_order

    rng = np.random.default_rng(seed)
    keys = tuple(rng.integers(-2 if negative else 0, top, n) for _ in range(n_keys))
    assert np.array_equal(lex_order(keys), np.lexsort(keys))
