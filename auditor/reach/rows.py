"""Pair matrix → the rows of ``auditor reach`` (a pandas DataFrame, deterministic order)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.causes import Cause, count_line, counted
from auditor.csvtext import identity_codes
from auditor.reach.analysis import Analysis, Entity, PairMatrix
from auditor.reach.decision import DecidedBy, SideDecision, causes_of, detail_of
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, VERDICT_WORDS
from auditor.reach.l7.compile import Request
from auditor.reach.ports import PortQuery

DETAIL = "decided_by_detail"  # JSON only: the structured ``decided_by`` (see ``for_people``)
NON_TCP = "(non-TCP: not HTTP, the mesh does not see it)"  # ``--http`` rows of the other protocols
WHY = "why_unknown"  # causes of an unknown row: [{code, words, object}] in JSON, text in CSV/table


def _per_distinct(values: Sequence[object] | np.ndarray, fn: Callable[[Any], Any]) -> np.ndarray:
    """``fn`` of every element, worked out once per distinct object (rows share their evidence
    objects: grouping by identity costs a pass over pointers, not a Python call per row)."""
    codes, first = identity_codes(values)
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    done = np.empty(first.size, dtype=object)
    done[:] = [fn(v) for v in arr[first].tolist()]
    return done[codes]


def _why_text(causes: list[dict[str, str]]) -> str:
    return " | ".join(f"{c['code']}: {c['words']}" for c in causes)


def for_people(df: pd.DataFrame) -> pd.DataFrame:
    """The rows without ``decided_by_detail``: CSV and the table show ``decided_by`` and
    ``why_unknown`` as text."""
    out = df.drop(columns=[DETAIL], errors="ignore")
    if WHY in out.columns:
        out = out.assign(**{WHY: _per_distinct(out[WHY].to_numpy(dtype=object), _why_text)})
    return out


def cause_groups(df: pd.DataFrame) -> Counter[tuple[Cause, ...]]:
    """How many rows of ``df`` have each group of causes (``()`` for a known row), counted per
    distinct ``why_unknown`` object rather than row by row."""
    if WHY not in df.columns or df.empty:
        return Counter()
    values = df[WHY].to_numpy(dtype=object)
    codes, first = identity_codes(values)
    n = np.bincount(codes, minlength=first.size)
    out: Counter[tuple[Cause, ...]] = Counter()
    for x, k in zip(values[first].tolist(), n.tolist(), strict=True):
        out[tuple(Cause.from_json(c) for c in x)] += k
    return out


_KNOWN = np.empty(1, dtype=object)
_KNOWN[0] = []  # the why_unknown of every known row (one shared list, never mutated)


def _why_unknown(whys: Sequence[DecidedBy], unknown: np.ndarray) -> np.ndarray:
    """``why_unknown`` per row: the causes of rows with an unknown verdict or unknown ports."""
    unknown = np.asarray(unknown, dtype=bool)
    out = np.empty(len(whys), dtype=object)
    out[:] = _KNOWN
    at = np.flatnonzero(unknown)
    if at.size:
        picked = np.asarray(whys, dtype=object)[at]
        # one list per distinct group of causes (never mutated): distinct decisions mostly share
        # their causes, so the rows' ``why_unknown`` cells are few distinct objects downstream
        lists: dict[tuple[Cause, ...], list[dict[str, str]]] = {}
        by_sides: dict[tuple[int, ...], list[dict[str, str]]] = {}  # decisions share their side objects

        def listed(w: object) -> list[dict[str, str]]:
            sides = getattr(w, "sides", None)
            key = tuple(map(id, sides)) if sides is not None else None
            hit = by_sides.get(key) if key is not None else None
            if hit is None:
                found = causes_of(w)  # type: ignore[arg-type]
                hit = lists.get(found)
                if hit is None:
                    hit = lists[found] = [c.to_json() for c in found]
                if key is not None:
                    by_sides[key] = hit
            return hit

        out[at] = _per_distinct(picked, listed)
    return out


def _details(whys: Sequence[DecidedBy]) -> np.ndarray:
    """``decided_by_detail`` per row (each distinct decision converted once, and each distinct
    side once: decisions share their sides)."""
    sides: dict[int, dict[str, object]] = {}

    def side_json(s: SideDecision) -> dict[str, object]:
        hit = sides.get(id(s))
        if hit is None:
            hit = sides[id(s)] = s.to_json()
        return hit

    return _per_distinct(whys, lambda w: [side_json(s) for s in w.sides] if isinstance(w, DecidedBy)
                         else detail_of(w))


def _pair_index(pm: PairMatrix) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of every reported pair: no external→external, no pod→itself (K8S-15)."""
    n_s, n_t = pm.row.shape
    ii, jj = np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    s_ext = np.array([e.kind == "external" for e in pm.src], dtype=bool)
    t_ext = np.array([e.kind == "external" for e in pm.dst], dtype=bool)
    keep = ~(s_ext[ii] & t_ext[jj])
    if pm.excluded_self:
        s_names = np.array([e.name for e in pm.src], dtype=object)
        t_names = np.array([e.name for e in pm.dst], dtype=object)
        keep &= s_names[ii] != t_names[jj]
    return ii[keep], jj[keep]


def _assurance(analysis: Analysis, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray, atom: int | None = None,
               only: np.ndarray | None = None) -> np.ndarray:
    """The ``assurance`` word of every pair (computed once per distinct row; at ``atom``, or at
    the atoms ``only`` when given)."""
    rows = pm.row[ii, jj]
    uniq, first, inv = np.unique(rows, return_index=True, return_inverse=True)
    atoms = only if atom is None else np.array([atom])
    words = [analysis.assurance(pm, int(ii[k]), int(jj[k]), atoms) for k in first]
    return np.array(words, dtype=object)[inv] if len(uniq) else np.array([], dtype=object)


def _requests(analysis: Analysis, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """The request classes each allowed pair admits (Istio layer, CMP-6): ``any request`` where
    no AuthorizationPolicy applies to the destination. Pairs of single-class entities are
    grouped by (σ, peer group, verdict row), so the labels are computed once per group."""
    out = np.full(len(ii), "", dtype=object)
    l7 = analysis.l7
    b = pm.blocks
    if l7 is None or b is None or pm.request is not None or not len(ii):
        return out
    res = l7.result
    rows = pm.row[ii, jj]
    allowed_row = (pm.verdict == ALLOW).any(axis=1)
    has_pol = np.array([bool(info.policies) for info in l7.infos], dtype=bool)
    cache: dict[tuple[int, int, int], list[str]] = {}

    def labels_for(sc: int, t: int, r: int) -> list[str]:
        sig = int(res.sigma_of[t])
        if not has_pol[sig]:
            return ["any request"]
        key = (sig, int(res.group_of[sig, sc]), r)
        hit = cache.get(key)
        if hit is None:
            ok = np.flatnonzero(pm.verdict[r] == ALLOW)
            a = analysis.class_verdicts(np.array([sc]), np.array([t]))[0][0]
            atoms = ok[a[ok] == ALLOW]
            hit = cache[key] = l7.allowed_requests(t, sc, atoms) if atoms.size else []
        return hit

    single = (b.s_cnt[ii] == 1) & (b.t_cnt[jj] == 1) & allowed_row[rows]
    if single.any():
        k = np.flatnonzero(single)
        sc = b.s_cls[b.s_start[ii[k]]]
        tc = b.t_cls[b.t_start[jj[k]]]
        sig = res.sigma_of[tc]
        plain = ~has_pol[sig]
        out[k[plain]] = "any request"
        k, sc, tc = k[~plain], sc[~plain], tc[~plain]
        if k.size:
            key = np.stack([res.sigma_of[tc], res.group_of[res.sigma_of[tc], sc], rows[k]], axis=1)
            _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
            texts = np.array([" | ".join(labels_for(int(sc[f]), int(tc[f]), int(rows[k[f]]))) for f in first],
                             dtype=object)
            out[k] = texts[inv.reshape(-1)]
    for n in np.flatnonzero(~single & allowed_row[rows]):
        i, j = int(ii[n]), int(jj[n])
        labels: list[str] = []
        for t in b.t_cls[b.t_start[j]: b.t_start[j] + b.t_cnt[j]]:
            for sc_ in b.s_cls[b.s_start[i]: b.s_start[i] + b.s_cnt[i]]:
                labels.extend(labels_for(int(sc_), int(t), int(rows[n])))
        labels = list(dict.fromkeys(labels))
        out[n] = "any request" if "any request" in labels else " | ".join(labels)
    return out


def summary_rows(analysis: Analysis, pm: PairMatrix, only: np.ndarray | None = None, *,
                 detail: bool = True) -> pd.DataFrame:
    """One row per pair: allowed (any port), the allowed and unknown port summaries, which
    request classes get through (with an Istio layer), why, and the assurance. ``only``: a mask
    of the port atoms the rows are about (``--http``: TCP, since an HTTP request is TCP).
    ``detail``: add ``decided_by_detail`` (JSON only; CSV and tables leave it out)."""
    ii, jj = _pair_index(pm)
    rows = pm.row[ii, jj]
    uniq, inv = np.unique(rows, return_inverse=True)
    mask = np.ones(len(analysis.ports), dtype=bool) if only is None else only
    allowed_w, ports_w, unknown_w = [], [], []
    row_atoms: dict[int, np.ndarray] = {}
    for r in uniq:
        v = np.where(mask, pm.verdict[r], DENY)
        word = ALLOW if (v == ALLOW).any() else (UNKNOWN if (v == UNKNOWN).any() else DENY)
        allowed_w.append(VERDICT_WORDS[word])
        ports_w.append(analysis.ports.summary(v == ALLOW))
        unknown_w.append(analysis.ports.summary(v == UNKNOWN) if (v == UNKNOWN).any() else "")
        pick = (v == word) & mask
        row_atoms[int(r)] = np.flatnonzero(pick if pick.any() else mask)
    src = np.array([e.name for e in pm.src], dtype=object)[ii]
    dst = np.array([e.name for e in pm.dst], dtype=object)[jj]
    cols: dict[str, object] = {"src": src, "dst": dst}
    if pm.request is not None:
        cols["method"] = pm.request.method
        cols["path"] = pm.request.path
    cols.update({
        "allowed": np.array(allowed_w, dtype=object)[inv],
        "ports": np.array(ports_w, dtype=object)[inv],
        "unknown_ports": np.array(unknown_w, dtype=object)[inv],
    })
    if analysis.l7_active and pm.request is None:
        cols["requests"] = _requests(analysis, pm, ii, jj)
    whys = analysis.decided_by_many(pm, ii, jj) if only is None else \
        analysis.decided_by_many(pm, ii, jj, [row_atoms[int(r)] for r in rows])
    cols["decided_by"] = np.array(whys, dtype=object)
    cols["assurance"] = _assurance(analysis, pm, ii, jj, only=None if only is None else np.flatnonzero(mask))
    cols[WHY] = _why_unknown(whys, ((pm.verdict == UNKNOWN) & mask).any(axis=1)[rows])
    if detail:
        cols[DETAIL] = _details(whys)
    return pd.DataFrame(cols)


def port_rows(analysis: Analysis, pm: PairMatrix, queries: Sequence[PortQuery], *, detail: bool = True
              ) -> pd.DataFrame:
    """One row per (pair, port): ``src,dst,port,protocol,[method,path,]allowed,decided_by,assurance``."""
    ii, jj = _pair_index(pm)
    rows = pm.row[ii, jj]
    frames = []
    for order, q in enumerate(queries):
        atom = analysis.ports.index_of(q.protocol, q.port)
        if atom is None:
            raise ValueError(f"--port {q}: protocol {q.protocol} is not modelled")
        words = np.array([VERDICT_WORDS[int(x)] for x in range(3)], dtype=object)[pm.verdict[rows, atom]]
        whys = analysis.decided_by_many(pm, ii, jj, [np.array([atom])] * len(ii))
        cols: dict[str, object] = {
            "src": np.array([e.name for e in pm.src], dtype=object)[ii],
            "dst": np.array([e.name for e in pm.dst], dtype=object)[jj],
            "port": "" if q.port is None else str(q.port),
            "protocol": q.protocol,
        }
        if pm.request is not None:
            cols["method"] = pm.request.method
            cols["path"] = pm.request.path
        cols.update({
            "allowed": words,
            "decided_by": np.array(whys, dtype=object),
            "assurance": _assurance(analysis, pm, ii, jj, atom),
            WHY: _why_unknown(whys, pm.verdict[rows, atom] == UNKNOWN),
            **({DETAIL: _details(whys)} if detail else {}),
            "_order": order,
        })
        frames.append(pd.DataFrame(cols))
    df = pd.concat(frames, ignore_index=True)
    df = df.sort_values(["src", "dst", "_order"], kind="stable").drop(columns="_order")
    return df.reset_index(drop=True)


def http_rows(analysis: Analysis, pms: Sequence[PairMatrix], queries: Sequence[PortQuery],
              plain: PairMatrix | None = None, *, detail: bool = True) -> pd.DataFrame:
    """``--http``: one pair matrix per request; rows per (pair, [port,] request), with
    ``method,path`` after ``protocol`` (port rows) or after ``dst`` (summary rows). Summary rows
    cover TCP ports only; ``plain`` (the matrix without a request) adds one row per pair for the
    other protocols, marked ``NON_TCP``."""
    frames = []
    tcp = analysis.ports.protocol_mask("TCP")
    for order, pm in enumerate(pms):
        # an HTTP request is TCP: without --port only TCP ports are probed (issue 13 §2.1)
        df = port_rows(analysis, pm, queries, detail=detail) if queries else \
            summary_rows(analysis, pm, only=tcp, detail=detail)
        df["_request"] = order
        df["_row"] = np.arange(len(df))
        frames.append(df)
    if not queries and plain is not None and (~tcp).any():
        # the other protocols, once: the mesh does not see them (IST-3), L3/L4 decides
        df = summary_rows(analysis, plain, only=~tcp, detail=detail)
        df["method"] = NON_TCP
        df["path"] = ""
        df = df[[c for c in frames[0].columns if c not in ("_request", "_row")]]
        df["_request"] = len(pms)
        df["_row"] = np.arange(len(df))
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df = df.sort_values(["src", "dst", "_row", "_request"], kind="stable") if queries else \
        df.sort_values(["src", "dst", "_request"], kind="stable")
    return df.drop(columns=["_request", "_row"]).reset_index(drop=True)


def row_blocks(analysis: Analysis, by: str, src: Sequence[Entity] | None, dst: Sequence[Entity] | None,
               queries: Sequence[PortQuery] = (), requests: Sequence[Request] = (),
               rows: int | None = None, *, detail: bool = True) -> Iterator[pd.DataFrame]:
    """The rows of ``auditor reach`` in blocks of ``rows`` source entities, in output order:
    concatenated they are exactly ``summary_rows`` / ``port_rows`` / ``http_rows`` of the whole
    matrix (``detail``: with ``decided_by_detail``). Port and HTTP rows are sorted by source name, so their blocks take the sources in
    name order (names are unique, so the sort never ties across blocks)."""
    sources = list(src if src is not None else analysis.entities(by))
    if queries or requests:
        sources.sort(key=lambda e: e.name)
    step = max(1, rows or len(sources) or 1)
    starts = range(0, len(sources), step) if sources else range(1)
    for k in starts:
        part = sources[k:k + step]
        if requests:
            plain = None if queries else analysis.pairs(by, part, dst)
            yield http_rows(analysis, [analysis.pairs(by, part, dst, request=r) for r in requests], queries,
                            plain=plain, detail=detail)
        else:
            pm = analysis.pairs(by, part, dst)
            yield port_rows(analysis, pm, queries, detail=detail) if queries else \
                summary_rows(analysis, pm, detail=detail)



class CauseTally:
    """The causes of unknown rows counted over rows that arrive block by block (``reach``
    streams them): ``counted``/``count_line`` of ``cause_groups`` of all blocks together."""

    def __init__(self) -> None:
        self.groups: Counter[tuple[Cause, ...]] = Counter()

    def add(self, df: pd.DataFrame) -> None:
        self.groups.update(cause_groups(df))

    def counted(self) -> list[dict[str, object]]:
        return counted(self.groups)

    def line(self, what: str) -> str:
        return count_line(self.groups, what)
