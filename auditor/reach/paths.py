"""Entity pairs composed from their sides' distinct groups, not from every class pair.

Inside one entity pair (E, F), the class pairs (c, d) whose source classes share an egress σ
(and ambient flag) and whose destination classes share an ingress and Istio σ (and ambient
flag) form a full product: c's egress group depends only on d (under its σ), and d's ingress
and Istio groups only on c (under its σs). A class pair's verdict is the minimum of its layers
and an entity pair takes the maximum over its class pairs (CMP-1), so over such a product it is
reached on the *distinct* egress groups × the *distinct* ingress/Istio groups. An entity pair
is therefore its distinct group triples — its **paths** — each with the last position
(source class, destination class) where it occurs: all that ``Analysis.pairs`` (OR of bits)
and ``Analysis.witness_rules`` (the last most permissive class pair) read.

Why: at 100,000 pods a namespace holds ≈ 17 behaviour classes (ipBlocks slice the pod range by
node) but only 1–3 σs, so the ≈ 290 class pairs of a namespace pair become a handful of paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from auditor.reach.engine import DirectionResult
from auditor.reach.l7.evaluate import L7Result


@dataclass(frozen=True)
class Paths:
    """Paths of requested entity pairs: pair ``k``'s are ``[start[k], start[k] + count[k])``,
    in increasing class-pair position (so the last of equal verdicts is the last class pair)."""

    start: np.ndarray
    count: np.ndarray
    ge: np.ndarray  # egress group
    gi: np.ndarray  # ingress group
    gl: np.ndarray | None  # Istio group (None: no Istio layer)
    amb: np.ndarray | None  # both classes ambient (None: no HBONE rule in play)


@dataclass(frozen=True)
class _Cells:
    """Distinct values per cell of a (rows × segments) table, in CSR form: cell ``r * n_seg + s``
    holds ``val/pos[start[cell] : start[cell] + count[cell]]``, ``pos`` the last position of
    each value inside the segment."""

    start: np.ndarray
    count: np.ndarray
    val: np.ndarray
    pos: np.ndarray


def lex_order(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``np.lexsort(keys)`` (last key most significant): one stable argsort of the keys combined
    into one int64 when they are non-negative and fit, ~10x faster than ``lexsort`` on the
    ≈ 10^6 paths of a row block; ``lexsort`` otherwise. Both are stable: the same order."""
    if not keys or keys[0].size == 0:
        return np.lexsort(keys) if keys else np.zeros(0, np.int64)
    spans = []
    for k in keys:
        if int(k.min()) < 0:
            return np.lexsort(keys)
        spans.append(int(k.max()) + 1)
    if np.prod([float(x) for x in spans]) >= 2.0 ** 62:
        return np.lexsort(keys)
    combined = np.zeros(keys[0].size, dtype=np.int64)
    for k, span in zip(reversed(keys), reversed(spans), strict=True):
        combined = combined * span + k.astype(np.int64)
    return np.argsort(combined, kind="stable")


def _cells(table: np.ndarray, pos: np.ndarray, seg_start: np.ndarray) -> _Cells:
    """Distinct values of ``table[r, segment s]`` with the last ``pos`` of each (``pos`` per
    column). Most cells hold one value: those are read off a min/max reduction; only the others
    are sorted."""
    n_rows, n_cols = table.shape
    n_seg = seg_start.size
    if n_rows == 0 or n_seg == 0:
        z = np.zeros(0, np.int64)
        return _Cells(np.zeros(n_rows * n_seg, np.int64), np.zeros(n_rows * n_seg, np.int64), z, z)
    seg_len = np.diff(np.r_[seg_start, n_cols])
    lo = np.minimum.reduceat(table, seg_start, axis=1)
    hi = np.maximum.reduceat(table, seg_start, axis=1)
    mixed = (lo != hi).reshape(-1)
    count = np.ones(n_rows * n_seg, dtype=np.int64)
    seg_last = np.maximum.reduceat(pos, seg_start)
    extra_val = extra_pos = extra_cell = np.zeros(0, np.int64)
    if mixed.any():
        cell = np.flatnonzero(mixed)
        r, s = np.divmod(cell, n_seg)
        lens = seg_len[s]
        owner = np.repeat(np.arange(cell.size), lens)
        col = np.repeat(seg_start[s] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
        v = table[r[owner], col].astype(np.int64)
        p = pos[col]
        order = lex_order((p, v, owner))
        owner, v, p = owner[order], v[order], p[order]
        last = np.ones(owner.size, dtype=bool)
        last[:-1] = (owner[1:] != owner[:-1]) | (v[1:] != v[:-1])
        extra_cell, extra_val, extra_pos = cell[owner[last]], v[last], p[last]
        count[cell] = np.bincount(owner[last], minlength=cell.size)
    start = np.cumsum(count) - count
    val = np.empty(int(count.sum()), dtype=np.int64)
    out_pos = np.empty_like(val)
    one = np.flatnonzero(~mixed)
    val[start[one]] = lo.reshape(-1)[one]
    out_pos[start[one]] = np.tile(seg_last, n_rows)[one]
    if extra_cell.size:
        first = np.r_[True, extra_cell[1:] != extra_cell[:-1]]
        run = np.cumsum(first) - 1
        rank = np.arange(extra_cell.size) - np.flatnonzero(first)[run]
        val[start[extra_cell] + rank] = extra_val
        out_pos[start[extra_cell] + rank] = extra_pos
    return _Cells(start, count, val, out_pos)


def _runs(keys: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, run id per sorted element): elements sorted by ``keys`` (last key most
    significant, as ``np.lexsort``); ``keys[0]`` only orders inside a run, the others split runs."""
    order = lex_order(tuple(keys))
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
        for k in keys[1:]:
            ks = k[order]
            new[1:] |= ks[1:] != ks[:-1]
    return order, np.cumsum(new) - 1


_MEMO_SIDES = 64


def _spans(cost: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive (lo, hi) spans of items whose summed cost stays within ``budget`` (an item
    over budget alone is a span of its own)."""
    k = 0
    csum = np.cumsum(cost)
    while k < cost.size:
        base = csum[k - 1] if k else 0
        stop = k + max(1, int(np.searchsorted(csum[k:] - base, budget, side="right")))
        yield k, stop
        k = stop


class PathComposer:
    """Paths of entity pairs for one list of sources and one of destinations, each entity a
    run of (behaviour) classes: ``s_cls[s_start[e] : s_start[e] + s_cnt[e]]``."""

    def __init__(self, egress: DirectionResult, ingress: DirectionResult, l7: L7Result | None,
                 ambient: np.ndarray | None, s: tuple[np.ndarray, np.ndarray, np.ndarray],
                 t: tuple[np.ndarray, np.ndarray, np.ndarray]):
        self.egress, self.ingress, self.l7 = egress, ingress, l7
        self.ambient = ambient  # None: the HBONE rule is not in play
        self.s_cls, self.s_start, self.s_cnt = s
        t_cls, t_start, t_cnt = t
        self.width = int(max(1, t_cnt.max() if t_cnt.size else 1))
        # destination parts Q: (entity, ingress σ, Istio σ, ambient), classes sorted into them
        t_ent = np.repeat(np.arange(t_cnt.size), t_cnt)
        t_pos = np.arange(t_cls.size) - np.repeat(t_start, t_cnt)
        tau_i = ingress.sigma_of[t_cls]
        tau_l = l7.sigma_of[t_cls] if l7 is not None else np.zeros_like(tau_i)
        t_amb = ambient[t_cls].astype(np.int64) if ambient is not None else np.zeros_like(tau_i)
        order, q_of = _runs([t_pos, t_amb, tau_l, tau_i, t_ent], t_cls.size)
        self.t_cls = t_cls[order]
        self.t_pos = t_pos[order]
        first = np.r_[True, q_of[1:] != q_of[:-1]] if q_of.size else np.zeros(0, bool)
        self.q_start = np.flatnonzero(first)
        q_ent = t_ent[order][self.q_start]
        self.q_amb = t_amb[order][self.q_start].astype(bool)
        tau_key = np.stack([tau_i[order][self.q_start], tau_l[order][self.q_start]], axis=1)
        taus, self.q_tau = (np.unique(tau_key, axis=0, return_inverse=True) if tau_key.size
                            else (np.zeros((0, 2), np.int64), np.zeros(0, np.int64)))
        self.q_tau = self.q_tau.reshape(-1)
        self.tau_i, self.tau_l = taus[:, 0], taus[:, 1]
        self.f_cnt = np.bincount(q_ent, minlength=t_cnt.size).astype(np.int64)
        self.f_start = np.cumsum(self.f_cnt) - self.f_cnt
        # parts per source entity, for the memory budget before any table is built
        s_ent = np.repeat(np.arange(self.s_cnt.size), self.s_cnt)
        s_sig = egress.sigma_of[self.s_cls].astype(np.int64)
        if ambient is not None:
            s_sig = s_sig * 2 + ambient[self.s_cls]
        span = int(s_sig.max()) + 1 if s_sig.size else 1
        distinct = np.unique(s_ent * span + s_sig)  # one per (entity, egress σ, ambient)
        self.s_parts = np.bincount(distinct // span, minlength=self.s_cnt.size).astype(np.int64)
        self._memo: dict[tuple[int, ...], _SourceSide] = {}

    @property
    def n_q(self) -> int:
        return int(self.q_start.size)

    @property
    def n_tau(self) -> int:
        return int(self.tau_i.size)

    def chunks(self, entities: np.ndarray, budget: int) -> Iterator[np.ndarray]:
        """``entities`` (sorted source indices, each with classes) in consecutive chunks whose
        tables (classes × destination columns) and part pairs stay within ``budget`` cells."""
        # X: parts × destination classes; Y: source classes × destination τs; then part pairs
        tables = self.s_parts[entities] * max(1, int(self.t_cls.size)) + self.s_cnt[entities] * max(1, self.n_tau)
        cost = np.maximum(tables, self.s_parts[entities] * max(1, self.n_q))
        for lo, hi in _spans(cost, budget):
            yield entities[lo:hi]

    def row_spans(self, side: _SourceSide, rows: np.ndarray, cols: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
        """Spans of ``rows`` (side's entities) whose pairs with every entity of ``cols`` expand to
        at most about ``budget // 4`` part pairs (each becomes ≥ 1 path of a few int64 arrays)."""
        per_row = side.e_cnt[np.searchsorted(side.entities, rows)] * int(self.f_cnt[cols].sum())
        return _spans(per_row, max(1, budget // 4))

    def pair_spans(self, side: _SourceSide, ii: np.ndarray, jj: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
        """Spans of the pairs (ii, jj) with at most about ``budget`` part pairs each."""
        return _spans(side.e_cnt[np.searchsorted(side.entities, ii)] * self.f_cnt[jj], budget)

    def source_side(self, entities: np.ndarray) -> _SourceSide:
        """Source parts P and the two group tables of these source entities (the last
        ``_MEMO_SIDES`` are kept: ``pairs`` and then ``witness_rules`` of one block ask for the
        same chunks, and the tables hold cells, not class pairs)."""
        key = tuple(entities.tolist())
        side = self._memo.get(key)
        if side is None:
            side = self._memo[key] = _SourceSide.build(self, entities)
            while len(self._memo) > _MEMO_SIDES:
                del self._memo[next(iter(self._memo))]
        return side

    def paths(self, side: _SourceSide, ii: np.ndarray, jj: np.ndarray) -> Paths:
        """Paths of entity pairs (ii[k], jj[k]); every ii is one of ``side``'s entities and
        every pair has classes on both sides."""
        local = np.searchsorted(side.entities, ii)
        n_p, n_q = side.e_cnt[local], self.f_cnt[jj]
        combos = n_p * n_q
        owner = np.repeat(np.arange(ii.size), combos)
        off = np.arange(int(combos.sum())) - np.repeat(np.cumsum(combos) - combos, combos)
        p = side.e_start[local][owner] + off // n_q[owner]
        q = self.f_start[jj][owner] + off % n_q[owner]
        x_cell = side.p_sigma[p] * self.n_q + q
        y_cell = self.q_tau[q] * side.n_p + p
        nx, ny = side.x.count[x_cell], side.y.count[y_cell]
        k = nx * ny
        owner2 = np.repeat(np.arange(p.size), k)
        off2 = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        xi = side.x.start[x_cell][owner2] + off2 // ny[owner2]
        yi = side.y.start[y_cell][owner2] + off2 % ny[owner2]
        pair = owner[owner2]
        rank = side.y.pos[yi] * self.width + side.x.pos[xi]
        order = lex_order((rank, pair))
        ge = side.x.val[xi][order]
        y = side.y.val[yi][order]
        n_gl = side.n_gl
        gi, gl = (np.divmod(y, n_gl) if self.l7 is not None else (y, None))
        amb = None
        if self.ambient is not None:
            amb = (side.p_amb[p] & self.q_amb[q])[owner2][order]
        count = np.bincount(pair, minlength=ii.size).astype(np.int64)
        return Paths(start=np.cumsum(count) - count, count=count, ge=ge, gi=gi, gl=gl, amb=amb)


@dataclass(frozen=True)
class _SourceSide:
    """Source parts P (entity, egress σ, ambient) of some source entities, and the tables
    X (egress σ of P × destination part Q → distinct egress groups, last destination position)
    and Y (destination τ × P → distinct ingress/Istio groups, last source position)."""

    entities: np.ndarray  # sorted source entity indices
    e_start: np.ndarray  # first part of each entity (local order)
    e_cnt: np.ndarray
    p_sigma: np.ndarray  # part → row of X (distinct egress σ)
    p_amb: np.ndarray
    n_p: int
    n_gl: int
    x: _Cells
    y: _Cells

    @classmethod
    def build(cls, comp: PathComposer, entities: np.ndarray) -> _SourceSide:
        cnt = comp.s_cnt[entities]
        ent = np.repeat(np.arange(entities.size), cnt)
        idx = np.repeat(comp.s_start[entities] - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
        s_cls = comp.s_cls[idx]
        s_pos = idx - np.repeat(comp.s_start[entities], cnt)
        sig = comp.egress.sigma_of[s_cls]
        amb = comp.ambient[s_cls].astype(np.int64) if comp.ambient is not None else np.zeros_like(sig)
        order, p_of = _runs([s_pos, amb, sig, ent], s_cls.size)
        s_cls, s_pos, sig, amb, ent = s_cls[order], s_pos[order], sig[order], amb[order], ent[order]
        first = np.r_[True, p_of[1:] != p_of[:-1]] if p_of.size else np.zeros(0, bool)
        p_start = np.flatnonzero(first)
        n_p = int(p_start.size)
        sigmas, p_sigma = np.unique(sig[p_start], return_inverse=True)
        e_cnt = np.bincount(ent[p_start], minlength=entities.size).astype(np.int64)
        # X: every egress σ of these sources × every destination class, reduced per part Q
        eg = comp.egress
        x_tab = (eg.offset[sigmas][:, None].astype(np.int64)
                 + eg.parts.at(eg.part_of[sigmas][:, None], comp.t_cls[None, :]).astype(np.int64))
        x = _cells(x_tab, comp.t_pos, comp.q_start)
        del x_tab
        # Y: every destination τ × every source class, reduced per part P
        ig = comp.ingress
        y_tab = (ig.offset[comp.tau_i][:, None].astype(np.int64)
                 + ig.parts.at(ig.part_of[comp.tau_i][:, None], s_cls[None, :]).astype(np.int64))
        n_gl = 1
        if comp.l7 is not None:
            l7 = comp.l7
            n_gl = int(l7.verdict.shape[0])
            y_tab = y_tab * n_gl + (l7.offset[comp.tau_l][:, None].astype(np.int64)
                                    + l7.group_of[comp.tau_l[:, None], s_cls[None, :]].astype(np.int64))
        y = _cells(y_tab, s_pos, p_start)
        return cls(entities=entities, e_start=np.cumsum(e_cnt) - e_cnt, e_cnt=e_cnt,
                   p_sigma=p_sigma.reshape(-1).astype(np.int64), p_amb=amb[p_start].astype(bool), n_p=n_p,
                   n_gl=n_gl, x=x, y=y)
