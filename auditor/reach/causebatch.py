"""The causes of many unknown entity pairs at once: ``CauseFinder.pair_causes`` without a
Python step per pair or per class pair.

``pair_causes`` walks an entity pair's class pairs, keeps the first 256 distinct (egress,
ingress, Istio) group triples, and asks ``engine_causes``/``l7_causes`` for each unknown layer:
calls keyed by (layer, σ, group, atoms, the ends' flags) and cached as templates that name the
row's ends, not classes. Here the class pairs of all pairs are enumerated with numpy, the calls are numbered by their
key in call order, each key not cached yet is worked out once with the classes of its first
call (the same representative), and the rules of σ are matched for all of a subject's new
peers in one step (the port stack is peer-free there, so a rule matches at a peer and atoms iff
its sides match and its ports meet the atoms: two small matrix products instead of one
(rules × atoms) gather per key). Pairs with the same sequence of calls share one answer; a call
whose causes name an end is named per (call, classes, entities) first (``CauseFinder.resolve``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from auditor.causes import Cause, unique
from auditor.csvtext import dense_codes, first_positions
from auditor.reach.bitmatrix import BitColumns
from auditor.reach.engine import ALLOW, MAX_UNCERTAIN_POLICIES, UNKNOWN, DirectionResult
from auditor.reach.rowhash import unique_rows
from auditor.reach.uncertainty import _MAX_CLASS_PAIRS, CauseFinder, Sides, end_name, marked

PairMatrix = Any  # passed in (this module sits below ``analysis``)

_CELLS = 250_000  # class pairs enumerated per step
_MATCH_CELLS = 8_000_000  # (rules × keys) cells per matrix product
_SIDES = ("egress", "ingress", "istio")


def _take(bits: BitColumns, items: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``BitColumns.take`` gathering only the (byte row, class) cells asked for, not whole rows."""
    items = np.asarray(items, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    if items.size == 0:
        return np.zeros((0, classes.size), dtype=bool)
    sub = bits.bits[(items >> 3)[:, None], classes[None, :]]
    return ((sub >> (7 - (items & 7)).astype(np.uint8)[:, None]) & 1).astype(bool)


class _Rules:
    """σ's compiled rules (certain policies, then uncertain ones) as arrays."""

    def __init__(self, finder: CauseFinder, d: str, res: DirectionResult, sig: int) -> None:
        e = finder.e
        self.certain_p, self.uncertain_p = res.sigma_policies[sig], res.sigma_uncertain[sig]
        self.crs = [cr for pi in (*self.certain_p, *self.uncertain_p) for cr in e._compiled[d][pi]]  # type: ignore[index]
        self.subject_ids = np.array([cr.subject_id for cr in self.crs], dtype=np.int64)
        self.peer_ids = np.array([cr.peer_id for cr in self.crs], dtype=np.int64)
        self.certain = np.array([cr.certain for cr in self.crs], dtype=bool)
        n_a = e.n_atoms
        self.ties: dict[bytes, list[Cause]] = {}  # ``_ties`` per set of rules that may match
        self.unc = np.zeros((len(self.crs), n_a), dtype=bool)
        for k, cr in enumerate(self.crs):
            if cr.ports_uncertain is not None:
                self.unc[k] = cr.ports_uncertain


def _rules(finder: CauseFinder, d: str, res: DirectionResult, sig: int) -> _Rules:
    memo: dict[tuple[str, int, int], Any] = finder._batch_rules
    key = (d, id(res), sig)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _Rules(finder, d, res, sig)
    return hit


def _engine_misses(finder: CauseFinder, d: str, res: DirectionResult, sig: int, subjects: np.ndarray,
                   peers: np.ndarray, atoms: np.ndarray, keys: Sequence[tuple]) -> None:
    """``engine_causes(d, res, subjects[m], peers[m], flatnonzero(atoms[m]))`` for every m (all
    under σ ``sig``), whose cache keys are ``keys[m]`` (none cached yet): the same answers,
    cached under the same keys. σ's side bits are gathered once for all of them."""
    e = finder.e
    r = _rules(finder, d, res, sig)
    n_r = len(r.crs)
    hit = maybe = np.zeros((n_r, peers.size), dtype=bool)
    subj, s_of = np.unique(subjects, return_inverse=True)
    s_of = s_of.reshape(-1)
    if n_r:
        s_def = _take(e._sides_def, r.subject_ids, subj) & r.certain[:, None]
        s_pos = _take(e._sides_pos, r.subject_ids, subj)
        p_def = _take(e._sides_def, r.peer_ids, peers) & s_def[:, s_of]
        p_pos = _take(e._sides_pos, r.peer_ids, peers) & s_pos[:, s_of]
        meets = np.zeros((n_r, peers.size), dtype=bool)
        meets_unc = np.zeros((n_r, peers.size), dtype=bool)
        at = atoms.astype(np.float32).T
        per_peer = e._ports_per_peer(d, r.crs)  # type: ignore[arg-type]
        for n, subject in enumerate(subj.tolist()):
            cols = np.flatnonzero(s_of == n)
            if per_peer:  # egress port names resolve on each peer: one stack row per resolution
                rows, row_of = e._port_rows(d, subject, r.crs, peers[cols])  # type: ignore[arg-type]
                stack = rows if row_of is None else rows[:, row_of]
                asked = atoms[cols].astype(np.float32)
                meets[:, cols] = np.einsum("rca,ca->rc", stack.astype(np.float32), asked) > 0
                meets_unc[:, cols] = np.einsum("rca,ca->rc", (stack & r.unc[:, None, :]).astype(np.float32),
                                               asked) > 0
                continue
            port = finder._ports.get((d, sig, subject))
            if port is None:  # as engine_causes: without port names the stack is peer-free (kept)
                port = finder._ports[(d, sig, subject)] = e._port_stack(d, subject, r.crs, peers[:1])  # type: ignore[arg-type]
            port = port[:, 0, :]
            # m_pos = p_pos ∧ port, m_def = p_def ∧ port ∧ ¬unc: "any atom asked" as counts
            meets[:, cols] = (port.astype(np.float32) @ at[:, cols]) > 0
            meets_unc[:, cols] = ((port & r.unc).astype(np.float32) @ at[:, cols]) > 0
        hit = p_pos & meets
        maybe = p_pos & ((~p_def & meets) | (p_def & meets_unc))
    bases: dict[int, list[Cause]] = {}
    for m, key in enumerate(keys):
        subject = int(subjects[m])
        base = bases.get(subject)
        if base is None:
            base = bases[subject] = []
            for pi in r.uncertain_p:
                base.extend(finder.applicability_causes(pi, subject, "s" if d == "egress" else "d"))
            if len(r.uncertain_p) > MAX_UNCERTAIN_POLICIES:
                base.append(Cause("too-many-uncertain-policies",
                                  f"{len(r.uncertain_p)} policies may or may not apply (more than "
                                  f"{MAX_UNCERTAIN_POLICIES})", ", ".join(e.policies[pi].ref for pi in r.uncertain_p[:3])))
        out = list(base)
        possible: dict[int, set[str]] = {}
        la = np.flatnonzero(atoms[m])
        peer = int(peers[m])
        for k in np.flatnonzero(hit[:, m]).tolist():  # a rule that may match only also may match
            cr = r.crs[k]
            possible.setdefault(cr.policy, set()).add(cr.rule.action.value)
            if maybe[k, m]:
                out.extend(finder.rule_causes(d, cr, subject, peer, la))
        tie_key = hit[:, m].tobytes()  # the ties depend on which rules may match only
        ties = r.ties.get(tie_key)
        if ties is None:
            ties = r.ties[tie_key] = finder._ties(list(possible), possible)
        out.extend(ties)
        if not out:
            out.append(Cause("unexplained", f"{d}: unknown for a reason the engine did not record", d))
        finder._cache[key] = {d: unique(out)}


def pair_causes_many(finder: CauseFinder, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray,
                     unk: np.ndarray) -> list[Sides]:
    """``[finder.pair_causes(pm, ii[n], jj[n], atoms) for n]`` where ``unk[n]`` is pair n's
    unknown verdict masked to the atoms asked about; the finder's caches end up the same."""
    n = int(np.asarray(ii).size)
    if n == 0:
        return []
    b = pm.blocks
    assert b is not None
    ii = np.asarray(ii, dtype=np.int64)
    jj = np.asarray(jj, dtype=np.int64)
    out: list[Sides] = [{}] * n
    live = np.flatnonzero(unk.any(axis=1))
    if not live.size:
        return out
    # pairs in order, in steps of bounded class pairs: calls keep their global order
    cost = b.s_cnt[ii[live]] * b.t_cnt[jj[live]]
    csum = np.cumsum(cost)
    lo = 0
    while lo < live.size:
        base = csum[lo - 1] if lo else 0
        hi = lo + max(1, int(np.searchsorted(csum[lo:] - base, _CELLS, side="right")))
        part = live[lo:hi]
        for k, found in zip(part.tolist(), _chunk(finder, pm, ii[part], jj[part], unk[part]), strict=True):
            out[k] = found
        lo = hi
    return out


def _chunk(finder: CauseFinder, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray, unk: np.ndarray) -> list[Sides]:
    b = pm.blocks
    eg, ig, l7 = finder.a.egress, finder.a.ingress, pm.l7
    n = ii.size
    own_s, own_t = finder.own_blocks(pm)  # each entity's own classes: its names and flags
    n_s, n_t = b.s_cnt[ii], b.t_cnt[jj]
    cnt = n_s * n_t
    owner = np.repeat(np.arange(n), cnt)
    off = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    sc = own_s[b.s_start[ii][owner] + off // n_t[owner]]  # source-major, as pair_causes walks
    tc = own_t[b.t_start[jj][owner] + off % n_t[owner]]
    ge = eg.gid(sc, tc).astype(np.int64)
    gi = ig.gid(tc, sc).astype(np.int64)
    gl = l7.gid(tc, sc).astype(np.int64) if l7 is not None else np.full_like(ge, -1)
    # the first _MAX_CLASS_PAIRS distinct triples of each pair, in class-pair order
    fl = finder.flags  # 4 bits a class: both ends' flags share the Istio group's column (no wider key)
    first, _ = unique_rows(np.ascontiguousarray(np.stack([owner, ge, gi, (gl << 8) | (fl[sc] << 4) | fl[tc]], axis=1)))
    keep = np.sort(first)
    k_owner = owner[keep]
    starts = np.r_[0, np.flatnonzero(k_owner[1:] != k_owner[:-1]) + 1]
    rank = np.arange(keep.size) - np.repeat(starts, np.diff(np.r_[starts, keep.size]))
    keep = keep[rank < _MAX_CLASS_PAIRS]
    owner, sc, tc, ge, gi, gl = owner[keep], sc[keep], tc[keep], ge[keep], gi[keep], gl[keep]
    ve, vi = eg.verdict[ge], ig.verdict[gi]
    vl = l7.verdict[gl] if l7 is not None else np.full_like(ve, ALLOW)
    at = unk[owner] & (np.minimum(np.minimum(ve, vi), vl) == UNKNOWN)
    # the calls, in order: class pair by class pair, egress then ingress then Istio
    layers = [at & (v == UNKNOWN) for v in (ve, vi, vl)]
    has = np.stack([x.any(axis=1) for x in layers], axis=1)  # (class pairs × 3)
    cp, side = np.nonzero(has)  # row-major: the calls' order
    c_atoms = np.stack(layers, axis=1)[cp, side]
    c_group = np.stack([ge, gi, gl], axis=1)[cp, side]
    c_subject = np.where(side == 0, sc[cp], tc[cp])  # ingress and Istio: the destination's layer
    c_peer = np.where(side == 0, tc[cp], sc[cp])
    key = np.concatenate([np.stack([(side << 8) | (fl[c_subject] << 4) | fl[c_peer], c_group], axis=1).view(np.uint8),
                          np.packbits(c_atoms, axis=1)], axis=1)
    code = dense_codes(unique_rows(np.ascontiguousarray(key))[1]) if cp.size else np.zeros(0, np.int64)
    first_call = first_positions(code)
    found = _found(finder, pm, first_call, side, c_subject, c_peer, c_atoms)
    code = _named(finder, pm, found, code, sc[cp], tc[cp], ii[owner[cp]], jj[owner[cp]])
    return _assemble(owner[cp], side, code, found, n)


def _named(finder: CauseFinder, pm: PairMatrix, found: list[tuple[Cause, ...]], code: np.ndarray, sc: np.ndarray,
           tc: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """The calls' codes, where a call's causes name an end renumbered to its causes named for its
    classes (``sc``, ``tc``) and entities (``ii``, ``jj``), appended to ``found``: named once per
    distinct (code, classes, entities)."""
    ends = np.array([marked(f) for f in found], dtype=bool)
    todo = np.flatnonzero(ends[code]) if code.size else np.zeros(0, np.int64)
    if not todo.size:
        return code
    code = code.copy()
    memo: dict[tuple[int, ...], int] = {}
    for c in todo.tolist():
        k = (int(code[c]), int(sc[c]), int(tc[c]), int(ii[c]), int(jj[c]))
        hit = memo.get(k)
        if hit is None:
            hit = memo[k] = len(found)
            found.append(finder.resolve(found[k[0]], k[1], k[2], end_name(pm.src[k[3]]), end_name(pm.dst[k[4]])))
        code[c] = hit
    return code


def _found(finder: CauseFinder, pm: PairMatrix, first_call: np.ndarray, side: np.ndarray, subject: np.ndarray,
           peer: np.ndarray, atoms: np.ndarray) -> list[tuple[Cause, ...]]:
    """The causes of each distinct call (by its first call), working out the ones not cached."""
    a = finder.a
    cache_keys: list[tuple] = []
    todo: dict[tuple[str, int], list[int]] = {}  # (layer, σ) → distinct calls not cached
    for c, f in enumerate(first_call.tolist()):
        s, subj, pr = int(side[f]), int(subject[f]), int(peer[f])
        la = np.flatnonzero(atoms[f])
        if s == 2:
            gid = int(pm.l7.gid(np.array([subj]), np.array([pr]))[0])
            ck: tuple = ("istio", id(pm.l7), gid, la.tobytes())
        else:
            res = a.egress if s == 0 else a.ingress
            ck = finder.engine_key(_SIDES[s], res, subj, pr, la)
            sig = ck[1]
        cache_keys.append(ck)
        if ck not in finder._cache:
            if s == 2:
                finder.l7_templates(pm.l7, subj, pr, la)
            else:
                todo.setdefault((_SIDES[s], sig), []).append(c)
    for (d, sig), calls in todo.items():
        res = a.egress if d == "egress" else a.ingress
        fs = first_call[np.array(calls, dtype=np.int64)]
        step = max(1, _MATCH_CELLS // max(1, len(_rules(finder, d, res, sig).crs) * finder.e.n_atoms))
        for lo in range(0, len(calls), step):
            sl = slice(lo, lo + step)
            _engine_misses(finder, d, res, sig, subject[fs[sl]].astype(np.int64), peer[fs[sl]].astype(np.int64),
                           atoms[fs[sl]], [cache_keys[c] for c in calls[sl]])
    return [finder._cache[ck][_SIDES[int(side[f])]] for ck, f in zip(cache_keys, first_call.tolist(), strict=True)]


def _assemble(call_pair: np.ndarray, side: np.ndarray, code: np.ndarray, found: list[tuple[Cause, ...]],
              n: int) -> list[Sides]:
    """Each pair's sides: its calls' causes per layer (a layer in order of its first call), one
    answer per distinct sequence of calls. A pair without calls (unknown only by the composition
    of layers) names the pair."""
    n_calls = np.bincount(call_pair, minlength=n)
    tag = code * 3 + side  # a call: its key (which names the layer) and layer
    start = np.cumsum(n_calls) - n_calls
    seq = np.full(n, -1, dtype=np.int64)
    reps: list[np.ndarray] = []
    for length in np.unique(n_calls).tolist():
        who = np.flatnonzero(n_calls == length)
        rows = tag[start[who][:, None] + np.arange(length)[None, :]] if length else np.zeros((who.size, 0), np.int64)
        first, inv = unique_rows(np.ascontiguousarray(rows)) if length else (np.zeros(1, np.int64),
                                                                           np.zeros(who.size, np.int64))
        seq[who] = len(reps) + inv
        reps.extend(rows[first])
    answers: list[Sides] = []
    shared: dict[tuple[Cause, ...], tuple[Cause, ...]] = {}  # equal causes, one object (memo keys downstream)
    for calls in reps:
        by: dict[str, list[Cause]] = {}
        for t in calls.tolist():
            by.setdefault(_SIDES[t % 3], []).extend(found[t // 3])
        if not by:
            by["ingress"] = [Cause("unexplained", "unknown by the composition of layers", "")]
        answers.append({k: shared.setdefault(u, u) for k, v in by.items() for u in (unique(v),)})
    return [answers[s] for s in seq.tolist()]
