"""Sparse set-up paths agree with dense evaluation on every class.

The engine evaluates a rule side on its candidate classes only (a namespace's, a selector's)
and a namespaced policy on its namespace's classes, keeps them as class lists, packs them once,
and groups signatures by those lists. Random clusters (namespaces with and without a Namespace
object, service accounts, network sets, Kubernetes and Calico policies) must give exactly the
masks, bits and signatures of evaluating everything densely.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.policy.ir import EntityMatch
from auditor.policy.selectors import always_true
from auditor.reach.analysis import Analysis, analyze
from auditor.reach.bitmatrix import BitColumns
from auditor.reach.engine import Engine, _set_ids
from auditor.reach.matching import Matcher
from auditor.reach.rowhash import column_blocks, refine
from auditor.sources.manifests import load_manifests

NAMESPACES = ("n0", "n1", "n2", "n3", "n4")  # n3, n4 may have no Namespace object (unknown labels)
APPS = ("web", "db", "api")

pod_st = st.fixed_dictionaries({
    "ns": st.sampled_from(NAMESPACES),
    "app": st.sampled_from(APPS),
    "tier": st.sampled_from(["front", "back", None]),
    "sa": st.sampled_from(["default", "svc", "x" * 63]),
    "ip": st.integers(1, 250),
})
selector_st = st.sampled_from(["app == 'web'", "app in {'db', 'api'}", "has(tier)", "tier != 'front'", "all()",
                               "pcns.env == 'prod'", "pcsa.role == 'admin'"])
ns_selector_st = st.sampled_from(["env == 'prod'", "all()", "projectcalico.org/name == 'n1'", "has(env)",
                                  "kubernetes.io/metadata.name in {'n0', 'n3'}"])
calico_side = st.fixed_dictionaries({}, optional={
    "selector": selector_st,
    "notSelector": st.sampled_from(["app == 'db'", "role == 'edge'"]),
    "namespaceSelector": ns_selector_st,
    "nets": st.sampled_from([["10.0.0.0/24"], ["10.0.0.128/25", "192.168.0.0/16"]]),
    "serviceAccounts": st.sampled_from([{"names": ["svc"]}, {"selector": "role == 'admin'"},
                                        {"names": ["x" * 63]}]),
})
k8s_peer = st.one_of(
    st.fixed_dictionaries({"podSelector": st.fixed_dictionaries({"matchLabels": st.fixed_dictionaries(
        {"app": st.sampled_from(APPS)})})}),
    st.fixed_dictionaries({"namespaceSelector": st.fixed_dictionaries({"matchLabels": st.fixed_dictionaries(
        {"env": st.sampled_from(["prod", "dev"])})})}, optional={
        "podSelector": st.fixed_dictionaries({"matchLabels": st.fixed_dictionaries({"app": st.sampled_from(APPS)})})}),
)
cluster_st = st.fixed_dictionaries({
    "pods": st.lists(pod_st, min_size=1, max_size=40),
    "namespaces": st.lists(st.tuples(st.sampled_from(NAMESPACES), st.sampled_from(["prod", "dev", None])),
                           max_size=4, unique_by=lambda t: t[0]),
    "netsets": st.lists(st.tuples(st.sampled_from([None, "n0", "n1"]), st.sampled_from(APPS)), max_size=2),
    "k8s": st.lists(st.tuples(st.sampled_from(NAMESPACES), st.lists(k8s_peer, max_size=3)), max_size=3),
    "calico": st.lists(st.tuples(st.sampled_from([None, *NAMESPACES]), selector_st,
                                 st.lists(st.tuples(calico_side, calico_side), max_size=3)), max_size=3),
})


def manifests(c: dict[str, Any]) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for name, env in c["namespaces"]:
        objs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": name, "labels": {"env": env} if env else {}}})
        objs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": "svc", "namespace": name, "labels": {"role": "admin"}}})
    for i, p in enumerate(c["pods"]):
        labels = {"app": p["app"], **({"tier": p["tier"]} if p["tier"] else {})}
        objs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"p{i}", "namespace": p["ns"], "labels": labels},
                     "spec": {"serviceAccountName": p["sa"], "containers": [{"name": "c", "image": "x"}]},
                     "status": {"phase": "Running", "podIP": f"10.0.0.{p['ip']}"}})
    for i, (ns, app) in enumerate(c["netsets"]):
        meta: dict[str, Any] = {"name": f"s{i}", "labels": {"app": app}}
        if ns:
            meta["namespace"] = ns
        objs.append({"apiVersion": "projectcalico.org/v3", "kind": "NetworkSet" if ns else "GlobalNetworkSet",
                     "metadata": meta, "spec": {"nets": ["10.0.0.0/26"]}})
    for i, (ns, peers) in enumerate(c["k8s"]):
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": f"k{i}", "namespace": ns},
                     "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                              "ingress": [{"from": peers}] if peers else [], "egress": [{"to": peers}]}})
    for i, (ns, selector, rules) in enumerate(c["calico"]):
        meta = {"name": f"c{i}", **({"namespace": ns} if ns else {})}
        spec = {"order": 10 + i, "selector": selector, "types": ["Ingress", "Egress"],
                "ingress": [{"action": "Allow", "source": s, "destination": d} for s, d in rules],
                "egress": [{"action": "Deny", "source": s, "destination": d} for s, d in rules]}
        objs.append({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy" if ns else "GlobalNetworkPolicy",
                     "metadata": meta, "spec": spec})
    return objs


def _analysis(c: dict[str, Any]) -> Analysis:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.yaml"
        path.write_text(yaml.safe_dump_all(manifests(c), sort_keys=False))
        return analyze(load_manifests([str(path)]))


def _dense(row: np.ndarray, n: int) -> np.ndarray:
    if row.dtype == bool:
        return row
    out = np.zeros(n, dtype=bool)
    out[row] = True
    return out


def _dense_applies(e: Engine, pol: Any, d: str) -> tuple[np.ndarray, np.ndarray]:
    """A policy's applicability on every class, the plain way (no namespace candidates)."""
    c, m = e.c, e.m
    none = np.zeros(c.n, dtype=bool)
    if d not in pol.types:
        return none, none
    mask = c.is_pod.copy()
    if pol.namespace is not None:
        mask &= c.namespace_code == (c.namespaces.index(pol.namespace) if pol.namespace in c.namespaces else -2)
    sd, sp = m.labels_selector(pol.subject)
    dm, pm = mask & sd, mask & sp
    if pol.subject_namespace_selector is not None:
        nd, np_ = m.namespace_selector(pol.subject_namespace_selector)
        dm, pm = dm & nd, pm & np_
    if pol.subject_sa_selector is not None and not always_true(pol.subject_sa_selector):
        sm = m._sel("sa_labels", pol.subject_sa_selector)
        dm, pm = dm & sm & ~c.sa_unknown, pm & (sm | c.sa_unknown)
    return dm, pm


def _variants(em: EntityMatch) -> list[EntityMatch]:
    """The side, and the same side moved to another namespace, scoped or not."""
    out = [em, replace(em, scope_namespace="n1"), replace(em, scope_namespace="nowhere")]
    if em.namespace_selector is None and not em.global_only and em.selector is not None:
        out.append(replace(em, scope_namespace=None))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster_st)
def test_sparse_sides_and_applicability_agree_with_dense(c: dict[str, Any]) -> None:
    a = _analysis(c)
    e, n = a.engine, a.classes.n
    m = Matcher(a.classes, a.addresses, a.ports)
    m._narrow = n  # every candidate set counts as narrow, so the sparse path is taken wherever it can be
    for em in e._side_index:
        for side in _variants(em):
            ref = m._side(side)
            assert ref is not None
            rd, rp = m.side_rows(side)
            assert np.array_equal(_dense(rd, n), ref[0]) and np.array_equal(_dense(rp, n), ref[1])
            same = m._side(Matcher.mask_key(side))  # what the engine reuses for sides matching alike
            assert same is not None and np.array_equal(same[0], ref[0]) and np.array_equal(same[1], ref[1])
    for em, k in e._side_index.items():  # the engine's packed sides are the dense masks
        ref = m._side(em)
        assert ref is not None
        assert np.array_equal(e._sides_def.column(k), ref[0]) and np.array_equal(e._sides_pos.column(k), ref[1])
        assert e._side_trivial[k] == bool(ref[0].all() and ref[1].all())
    for d in ("ingress", "egress"):
        app_def, app_pos, any_pos = e._applicability(d)
        for i, pol in enumerate(e.policies):
            dm, pm = _dense_applies(e, pol, d)
            assert np.array_equal(app_def.column(i), dm) and np.array_equal(app_pos.column(i), pm)
            assert any_pos[i] == bool(pm.any())
        for cls in range(n):
            assert app_def.row_items(cls).tolist() == [i for i in range(app_def.n_items) if app_def.bit(i, cls)]
        assert np.array_equal(e._signatures(d, app_def, app_pos, any_pos), _dense_signatures(e, d, app_def, app_pos,
                                                                                              any_pos))


def _dense_signatures(e: Engine, d: str, app_def: BitColumns, app_pos: BitColumns,
                      any_pos: np.ndarray) -> np.ndarray:
    """σ per class from the whole dense key (every policy's bits, every subject side's bits)."""
    c = e.c
    sides_seen: set[int] = set()
    codes: list[np.ndarray] = []
    specs_seen: set[Any] = set()
    for pi, compiled in enumerate(e._compiled[d]):  # type: ignore[index]
        if not any_pos[pi]:
            continue
        for cr in compiled:
            sides_seen.add(cr.subject_id)
            for spec in (cr.named, cr.not_named) if d == "ingress" else ():
                if spec is not None and spec not in specs_seen:
                    specs_seen.add(spec)
                    codes.append(e.m.named_code(spec))
    sides = np.array(sorted(s for s in sides_seen if not e._side_trivial[s]), dtype=np.int64)
    blocks = [*column_blocks(app_def.bits.T), *column_blocks(app_pos.bits.T), e._sides_def.keys(sides),
              e._sides_pos.keys(sides), *[code.astype(np.int32)[:, None] for code in codes],
              (~c.is_pod).astype(np.uint8)[:, None]]
    return refine(blocks, c.n)[1].astype(np.int32)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60), st.lists(st.integers(0, 12), min_size=1, max_size=4), st.integers(0, 2**32 - 1))
def test_set_ids_number_equal_cell_sets_by_first_appearance(n: int, items: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    fields, dense = [], []
    for k in items:
        m = rng.random((k, n)) < rng.choice([0.05, 0.3, 0.8])
        it, cl = np.nonzero(m)
        perm = rng.permutation(it.size)  # cells in any order
        fields.append((it[perm].astype(np.int64), cl[perm].astype(np.int32)))
        dense.append(m.T)
    ids = _set_ids(fields, n)
    key = np.concatenate(dense, axis=1) if n else np.zeros((0, 0), bool)
    seen: dict[bytes, int] = {}
    ref = [seen.setdefault(key[i].tobytes(), len(seen)) for i in range(n)]
    assert ids.tolist() == ref


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 50), st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_bit_columns_from_sparse_and_dense_rows(n_classes: int, n_items: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_items, n_classes)) < rng.choice([0.05, 0.4])
    sparse = rng.random(n_items) < rng.choice([0.0, 0.5, 1.0])
    bc = BitColumns(n_classes)
    for k in range(n_items):
        row = np.flatnonzero(dense[k]) if sparse[k] else dense[k]
        assert bc.add(row) == k
        assert np.array_equal(_dense(bc.row(k), n_classes), dense[k])  # before packing
    bc.freeze()
    for c in range(n_classes):  # all-sparse stores answer from their cells, others from the bits
        assert bc.row_items(c).tolist() == np.flatnonzero(dense[:, c]).tolist()
    assert np.array_equal(bc.bits, np.packbits(dense, axis=0)) if n_items else bc.bits.shape == (0, n_classes)
    for k in range(n_items):
        assert np.array_equal(bc.support(k), np.flatnonzero(dense[k]))
        assert np.array_equal(_dense(bc.row(k), n_classes), dense[k])
    items, classes = bc.sparse_cells()
    assert sorted(zip(items.tolist(), classes.tolist(), strict=True)) == [
        (k, c) for k in range(n_items) if sparse[k] for c in np.flatnonzero(dense[k]).tolist()]
    assert bc.dense_items(np.arange(n_items)).tolist() == [k for k in range(n_items) if not sparse[k]]
