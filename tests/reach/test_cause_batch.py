"""The causes of many unknown pairs at once (``causebatch.pair_causes_many``: class pairs
enumerated with numpy, each new (layer, σ, group, atoms) key worked out once for all its peers)
are what ``CauseFinder.pair_causes`` gives pair by pair, in the same order: the same answers and
the same cache (each key holds the causes of the same representative classes). Checked on
generated Calico clusters (ICMP codes, maybe-Pass, an Istio layer) at every level, with all
atoms and with a subset, and on random clusters whose pods lack IPs and namespaces."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.reach.analysis import Analysis, analyze
from auditor.reach.causebatch import pair_causes_many
from auditor.reach.engine import UNKNOWN
from auditor.reach.uncertainty import CauseFinder
from auditor.sources.manifests import load_manifests
from tests.reach.test_engine_reference import NAMESPACES, clusters, manifests

ROOT = Path(__file__).resolve().parents[2]


def _generated(tmp_path: Path, **kw: Any) -> Analysis:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "generate.py")
    assert spec and spec.loader
    gen: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    path = tmp_path / "cluster.yaml"
    with open(path, "w") as fh:
        gen.dump(gen.generate(400, 12, 40, **kw), fh)
    return analyze(load_manifests([str(path)]))


@pytest.fixture(scope="module", params=[{"calico_policies": 250, "seed": 5},
                                        {"calico_policies": 200, "authz_policies": 40, "seed": 6}])
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    return _generated(tmp_path_factory.mktemp("gen"), **request.param)


def _same_as_pair_by_pair(a: Analysis, by: str, limit: int = 4000, one_atom: bool = False) -> int:
    pm = a.pairs(by)
    n_s, n_t = pm.row.shape
    ii, jj = (x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij"))
    unk = pm.verdict[pm.row[ii, jj]] == UNKNOWN
    atoms = None
    if one_atom and unk.any():
        atom = int(np.flatnonzero(unk.any(axis=0))[-1])
        atoms = np.array([atom])
        mask = np.zeros_like(unk)
        mask[:, atom] = True
        unk &= mask
    ks = np.flatnonzero((pm.verdict[pm.row[ii, jj]] == UNKNOWN).any(axis=1))
    if ks.size > limit:  # a spread-out subset, still in pair order (the order fixes the cache)
        ks = ks[np.linspace(0, ks.size - 1, limit).astype(np.int64)]
    ref_finder, batch_finder = CauseFinder(a), CauseFinder(a)
    ref = [ref_finder.pair_causes(pm, int(ii[k]), int(jj[k]), atoms) for k in ks.tolist()]
    got = pair_causes_many(batch_finder, pm, ii[ks], jj[ks], unk[ks])
    assert got == ref
    assert [list(g) for g in got] == [list(r) for r in ref]  # the sides in the same order
    assert batch_finder._cache == ref_finder._cache
    return int(ks.size)


@pytest.mark.parametrize("by", ["pod", "workload", "namespace"])
@pytest.mark.parametrize("one_atom", [False, True])
def test_batched_causes_are_pair_by_pair_causes_on_generated_clusters(generated: Analysis, by: str,
                                                                      one_atom: bool) -> None:
    assert _same_as_pair_by_pair(generated, by, one_atom=one_atom) > 0


def test_batched_causes_through_decided_by_many(generated: Analysis) -> None:
    """``decided_by_many`` (the rows' path) attaches the causes the pair-by-pair walk names."""
    pm = generated.pairs("workload")
    n_s, n_t = pm.row.shape
    ii, jj = (x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij"))
    whys = generated.decided_by_many(pm, ii, jj)
    finder = CauseFinder(generated)
    unknown = np.flatnonzero((pm.verdict[pm.row[ii, jj]] == UNKNOWN).any(axis=1))
    assert unknown.size
    for k in unknown.tolist():
        sides = finder.pair_causes(pm, int(ii[k]), int(jj[k]), None)
        bare = generated._decided_by_many(pm, ii[k:k + 1], jj[k:k + 1])[0]
        want = bare.with_causes(sides)
        assert str(whys[k]) == str(want) and whys[k].sides == want.sides


def _with_unknowns(objs: list[dict[str, Any]], no_ip: list[bool], drop_ns: bool) -> list[dict[str, Any]]:
    """Pods without an IP (unknown against ipBlocks/nets) and a missing Namespace (its labels
    unknown to namespace selectors): the usual sources of unknown cells."""
    out, pods = [], 0
    for o in objs:
        if drop_ns and o["kind"] == "Namespace" and o["metadata"]["name"] == NAMESPACES[-1]:
            continue
        if o["kind"] == "Pod":
            if no_ip[pods % len(no_ip)]:
                o = {**o, "status": {"phase": "Running"}}
            pods += 1
        out.append(o)
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(cluster=clusters(pods=(2, 8), k8s=4), no_ip=st.lists(st.booleans(), min_size=1, max_size=4), drop_ns=st.booleans())
def test_batched_causes_are_pair_by_pair_causes_on_random_clusters(tmp_path: Path, cluster: dict[str, Any],
                                                                   no_ip: list[bool], drop_ns: bool) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(_with_unknowns(manifests(cluster), no_ip, drop_ns)))
    a = analyze(load_manifests([str(path)]))
    for by in ("pod", "workload", "namespace"):
        _same_as_pair_by_pair(a, by)
        _same_as_pair_by_pair(a, by, one_atom=True)


def test_cause_attacher_is_with_causes(generated: Analysis) -> None:
    """``CauseAttacher`` (side words made once) gives ``with_causes``'s text and sides, for sides
    the decision names and for a side it does not (added as ``unknown``)."""
    from auditor.causes import Cause
    from auditor.reach.decision import CauseAttacher

    pm = generated.pairs("namespace")
    n_s, n_t = pm.row.shape
    ii, jj = (x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij"))
    whys = generated._decided_by_many(pm, ii, jj)
    a, b = Cause("icmp-code", "r: ICMP code", "r"), Cause("maybe-pass", "p may match", "p")
    attach = CauseAttacher()
    for n, d in enumerate(whys[:400]):
        for f in ({}, {"egress": (a,)}, {"ingress": (a, b)}, {"istio": (b,)}, {"egress": (), "istio": (a,)},
                  {"ingress": (b,), "egress": (a,)}):
            got, want = attach(d, f), d.with_causes(f)
            assert str(got) == str(want) and got.sides == want.sides, (n, f)
