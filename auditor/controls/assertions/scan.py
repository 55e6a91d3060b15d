"""Scanning a flow matrix: judge every live cell once per distinct case, aggregate per workload pair.

Soundness: a cell judged violating whose units are only *possibly* in their zones becomes an
unknown flow (``MEMBERSHIP_UNKNOWN``), never a violation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from auditor.controls.assertions.context import MEMBERSHIP_UNKNOWN, Context, FlowMatrix
from auditor.controls.result import Violation, ViolationTable
from auditor.controls.zones import Unit
from auditor.portset import PortSet
from auditor.reach.budget import release_free_memory
from auditor.reach.engine import ALLOW, DENY, UNKNOWN
from auditor.reach.firstseen import first_seen

# judge(row, i, j) → (violating ports, why they violate, unknown ports, why unknown)
Judge = Callable[[int, int, int], tuple[PortSet, str, PortSet, str]]


def _distinct(cols: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(first index, inverse) of the distinct rows of non-negative int64 columns: one mixed-radix
    code per row when it fits in 62 bits, else ``np.unique(axis=0)``."""
    code = np.zeros(cols[0].size, dtype=np.int64)
    span = 1
    for c in cols:
        hi = int(c.max(initial=0)) + 1
        if (c.size and int(c.min()) < 0) or span * hi >= 1 << 62:
            _, first, inv = np.unique(np.stack(cols, axis=1), axis=0, return_index=True, return_inverse=True)
            return first, inv.reshape(-1)
        code = code * hi + c
        span *= hi
    return first_seen(code, span)


FIRST_WHERE_CHUNK = 1 << 22  # positions searched at a time (tens of millions of leads at 100k pods)


def first_where(has: np.ndarray, codes: np.ndarray, starts: np.ndarray, chunk: int = FIRST_WHERE_CHUNK
                ) -> np.ndarray:
    """Per group (``starts``: first position of each group in the grouped array ``codes``), the
    first position whose code ``has`` holds for (-1: none). Read ``chunk`` positions at a time, so
    the temporaries stay small beside the codes; a group's first hit is in its first chunk with one."""
    out = np.full(starts.size, -1, dtype=np.int64)
    for lo in range(0, codes.size, chunk):
        pos = np.flatnonzero(has[codes[lo:lo + chunk]])
        if not pos.size:
            continue
        pos += lo
        group = np.searchsorted(starts, pos, side="right") - 1  # non-decreasing
        at = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        group, pos = group[at], pos[at]
        fresh = out[group] < 0  # only a group's first chunk with a hit sets it
        out[group[fresh]] = pos[fresh]
    return out


class _Cells:
    """The live cells of a flow matrix's row blocks that a control judges: some port allowed
    or undecided, minus a single pod to itself (K8S-15) and external to external."""

    def __init__(self, fm: FlowMatrix, s_eid: np.ndarray, d_eid: np.ndarray) -> None:
        self.fm, self.s_eid, self.d_eid = fm, s_eid, d_eid
        self.s_single = np.array([u.single_pod for u in fm.src], dtype=bool)
        self.s_ext = np.array([u.kind == "external" for u in fm.src], dtype=bool)
        self.d_ext = np.array([u.kind == "external" for u in fm.dst], dtype=bool)
        self.s_def = np.array([u.definite for u in fm.src], dtype=bool)
        self.d_def = np.array([u.definite for u in fm.dst], dtype=bool)

    def live(self, lo: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(source positions, destination positions, verdict rows, definite) of the block's
        judged cells in row-major order, or None when it has none. The cells of a whole matrix
        are listed once for all the controls that judge it (``Context.live_cells``: the same
        matrix object is the same units, so the same cells; only ``definite`` differs)."""
        pm = self.fm.pm
        if pm is None:
            found = self._listed(lo, rows)
        else:
            hit = self.fm.ctx.live_cells.get((id(pm), lo))
            if hit is None or hit[0] is not pm:
                hit = self.fm.ctx.live_cells[(id(pm), lo)] = (pm, _frozen(self._listed(lo, rows)))
            found = hit[1]
        if found is None:
            return None
        ii, jj, rows = found
        return ii, jj, rows, self.s_def[ii] & self.d_def[jj]

    def _listed(self, lo: int, rows: np.ndarray) -> Listed | None:
        live = (self.fm.verdict != DENY).any(axis=1)
        ii, jj = np.nonzero(live[rows])
        rows = rows[ii, jj].astype(np.int64)
        ii = ii + lo
        # a pod to itself never leaves the pod (K8S-15); external to external is not ours to judge
        keep = ~((self.s_eid[ii] == self.d_eid[jj]) & self.s_single[ii]) & ~(self.s_ext[ii] & self.d_ext[jj])
        if not keep.all():
            ii, jj, rows = ii[keep], jj[keep], rows[keep]
        if not ii.size:
            return None
        return ii, jj, rows


Listed = tuple[np.ndarray, np.ndarray, np.ndarray]  # source positions, destination positions, verdict rows


def _frozen(found: Listed | None) -> Listed | None:
    """Cells shared between controls, made read-only (no control may change another's cells)."""
    for a in found or ():
        a.flags.writeable = False
    return found


def _reporter(ctx: Context, fm: FlowMatrix) -> Callable[[], None]:
    """A call per block read of a streamed matrix (and one at the end) reports its progress;
    a whole matrix is one step and reports nothing."""
    stream = fm.stream
    if ctx.progress is None or stream is None:
        return lambda: None
    phase = f"{ctx.phase or 'control'}: flow matrix ({stream.n_blocks} blocks of {stream.rows:,} × {len(fm.dst):,} pairs)"
    done = -1

    def report() -> None:
        nonlocal done
        done = min(done + 1, stream.n_blocks)
        assert ctx.progress is not None
        ctx.progress(phase, done, stream.n_blocks)

    return report


def _joined(leads: list[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    """The blocks' lead columns concatenated, one column at a time, each block's part dropped as
    soon as it is copied (at 100,000 pods a control has tens of millions of leads)."""
    parts = [list(p) for p in leads]
    leads.clear()
    out = []
    for c in range(len(parts[0])):
        out.append(np.concatenate([p[c] for p in parts]))
        for p in parts:
            p[c] = None
    return out


def scan(ctx: Context, fm: FlowMatrix, judge: Judge,
         key: Callable[[np.ndarray, np.ndarray], list[np.ndarray]] | None = None) -> tuple[ViolationTable, ViolationTable]:
    """Judge every live cell, aggregate per workload pair, return (violations, unknown flows).

    ``judge(row, i, j)`` must depend only on the verdict row and on what ``key(ii, jj)`` returns
    (extra int64 columns per cell): it runs once per distinct key, not once per cell. A workload
    pair's evidence is the union of its cells' (ports, reasons in cell order), a function of the
    sequence of distinct judgements met in its cells: it is computed once per such sequence, and
    the pairs are kept as rows of a ``ViolationTable`` (``decided_by`` is worked out only for the
    rows listed, from the first cell of the pair that violates).

    The matrix is read block by block of source rows (``FlowMatrix.row_blocks``: one block when
    it is held whole); judgements are numbered in order of first appearance across the blocks and
    each block keeps only the first cell of each (workload pair, judgement), so the result is the
    same whatever the blocks.
    """
    empty = ViolationTable(names=ctx.names, zones=ctx.name_zones)
    if fm.empty:
        return empty, empty
    s_eid, d_eid = fm.entity_ids()
    n_ent = int(max(s_eid.max(initial=0), d_eid.max(initial=0))) + 1
    cells = _Cells(fm, s_eid, d_eid)
    results: list[tuple[PortSet, str, PortSet, str]] = []
    result_of: dict[tuple[int, ...], int] = {}
    marks: list[tuple[bool, bool]] = []  # (violates, unknown) per judgement
    leads: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # (pair, judgement, i, j)
    flagged = np.zeros(0, dtype=bool)  # per judgement: violates or unknown
    report = _reporter(ctx, fm)
    for lo, rows_block in fm.row_blocks():
        report()
        found = cells.live(lo, rows_block)
        if found is None:
            continue
        ii, jj, rows, definite = found
        cols = [rows, definite.astype(np.int64), *(key(ii, jj) if key is not None else [])]
        first, inv = _distinct(cols)
        ids = np.empty(first.size, dtype=np.int64)
        for n, f in enumerate(first.tolist()):
            k = tuple(int(c[f]) for c in cols)
            r = result_of.get(k)
            if r is None:
                r = result_of[k] = len(results)
                viol, why, unk, unk_why = judge(int(rows[f]), int(ii[f]), int(jj[f]))
                if viol and not definite[f]:
                    unk, unk_why, viol = unk.union(viol), MEMBERSHIP_UNKNOWN, PortSet()
                results.append((viol, why, unk, unk_why))
                marks.append((bool(viol), bool(unk)))
            ids[n] = r
        inv = ids[inv]
        if flagged.size != len(marks):  # new judgements in this block
            flagged = np.array([v or u for v, u in marks], dtype=bool)
        sel = flagged[inv]
        ii, jj, inv = ii[sel], jj[sel], inv[sel]
        if not ii.size:
            continue
        pair = s_eid[ii] * n_ent + d_eid[jj]
        lead = np.flatnonzero(~pd.Series(pair * len(results) + inv).duplicated().to_numpy())
        leads.append((pair[lead], inv[lead].astype(np.int32), ii[lead].astype(np.int32), jj[lead].astype(np.int32)))
        del pair, ii, jj, inv, sel
    report()  # every block read
    if not leads:
        return empty, empty
    # the distinct judgements of each pair, in the order its cells (row-major) meet them: the
    # first cell of each (pair, judgement), grouped by pair (no sort of every cell)
    n_blocks = len(leads)
    l_pair, l_res, l_i, l_j = _joined(leads)
    if fm.stream is not None:
        release_free_memory()  # the blocks' temporaries, before the tables are built
    n_res = len(results)
    if n_blocks > 1:  # a pair met in two blocks: its first cells only
        key = l_pair * n_res
        key += l_res
        once = np.flatnonzero(~pd.Series(key).duplicated().to_numpy())
        del key
        l_pair, l_res, l_i, l_j = l_pair[once], l_res[once], l_i[once], l_j[once]
        del once
    # grouped by pair, each column moved and its unsorted copy dropped at once (tens of
    # millions of leads at 100,000 pods: four copies of them would not fit the budget)
    order = np.argsort(l_pair, kind="stable")
    u_pair = l_pair[order]
    del l_pair
    u_res = l_res[order]
    del l_res
    lead_i = l_i[order]
    del l_i
    lead_j = l_j[order]
    del l_j, order
    has_viol = np.array([m[0] for m in marks], dtype=bool)
    has_unk = np.array([m[1] for m in marks], dtype=bool)
    g_start = np.flatnonzero(np.r_[True, u_pair[1:] != u_pair[:-1]])  # one group per workload pair
    g_len = np.diff(np.r_[g_start, u_pair.size])
    del u_pair
    combo = u_res[g_start].astype(np.int64)  # a pair meeting one judgement: its id
    sequences: dict[tuple[int, ...], int] = {}
    multi = np.flatnonzero(g_len > 1)  # pairs meeting several judgements: their sequences, in Python
    lens = g_len[multi]
    pos = np.repeat(g_start[multi] - np.r_[0, np.cumsum(lens)[:-1]], lens) + np.arange(int(lens.sum()))
    seq_res = u_res[pos].tolist()
    at = 0
    for g, n in zip(multi.tolist(), lens.tolist(), strict=True):
        combo[g] = n_res + sequences.setdefault(tuple(seq_res[at:at + n]), len(sequences))
        at += n
    del seq_res, pos
    seqs = [(r,) for r in range(n_res)] + list(sequences)
    # per sequence: (violating ports, reasons, unknown ports not violating, reasons)
    agg: dict[int, tuple[PortSet, str, PortSet, str]] = {}
    for c in np.unique(combo).tolist():
        viol, unk = PortSet(), PortSet()
        v_why: dict[str, None] = {}
        u_why: dict[str, None] = {}
        for r in seqs[c]:
            v, why, u, uwhy = results[r]
            if v:
                viol = viol.union(v)
                v_why[why] = None
            if u:
                unk = unk.union(u)
                u_why[uwhy] = None
        agg[c] = (viol, "; ".join(v_why), unk.minus(viol), "; ".join(u_why))
    src = s_eid[lead_i[g_start]].astype(np.int32)
    dst = d_eid[lead_j[g_start]].astype(np.int32)
    # the witness cells of decided_by: per pair, its first cell that violates (is unknown), as
    # (source row, destination column); -1: none
    witness = []
    for has in (has_viol, has_unk):
        first_at = first_where(has, u_res, g_start)
        witness.append((np.where(first_at >= 0, lead_i[first_at], -1).astype(np.int32),
                        np.where(first_at >= 0, lead_j[first_at], -1).astype(np.int32)))
        del first_at
    del u_res, lead_i, lead_j
    rank = ctx.name_rank

    def table(flow: str, pick: int, cells: tuple[np.ndarray, np.ndarray], verdicts: tuple[int, ...]
              ) -> ViolationTable:
        templates: list[Violation] = []
        tid: dict[int, int] = {}
        for c, a in agg.items():
            ports = a[pick]
            if ports:
                tid[c] = len(templates)
                templates.append(Violation(kind="flow", src=None, dst="", ports=ports.text(ctx.universe), flow=flow,
                                           reason=a[pick + 1], port_set=ports))
        lookup = np.full(n_res + len(sequences), -1, dtype=np.int32)
        for c, t in tid.items():
            lookup[c] = t
        t_of = lookup[combo]
        keep = np.flatnonzero(t_of >= 0)
        # by source then destination name: one combined key (a pair is listed once), sorted
        # stably; half the temporaries of a lexsort of two keys over tens of millions of pairs
        order = rank[src[keep]] * len(rank)
        order += rank[dst[keep]]
        keep = keep[np.argsort(order, kind="stable")]
        del order
        t_of = t_of[keep]
        wi, wj = cells[0][keep], cells[1][keep]

        def explainer(n: int) -> list[str]:
            asks = [((int(wi[k]), int(wj[k])), templates[int(t_of[k])].port_set or PortSet(), verdicts)
                    for k in range(n)]
            return fm.whys(asks)

        return ViolationTable(templates=tuple(templates), template=t_of, src=src[keep], dst=dst[keep],
                              names=ctx.names, zones=ctx.name_zones, explainer=explainer)

    return table("allowed", 0, witness[0], (ALLOW,)), table("unknown", 2, witness[1], (ALLOW, UNKNOWN))


def pairs_checked(src: Sequence[Unit], dst: Sequence[Unit]) -> dict[str, int]:
    s = {u.entity: u for u in src}
    t = {u.entity: u for u in dst}
    pairs = len(s) * len(t)
    pairs -= sum(1 for name, u in s.items() if name in t and u.single_pod)
    pairs -= sum(1 for u in s.values() if u.kind == "external") * sum(1 for u in t.values() if u.kind == "external")
    return {"sources": len(s), "destinations": len(t), "pairs": max(pairs, 0)}
