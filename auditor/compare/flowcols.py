"""Flows into protected zones as columns: (src, dst) → ``ProtectedFlow`` without a dict entry per pair.

A 10k-pod gate holds ≈ 212,000 such pairs on each side (the baseline file's ``flows.rows`` and
the fresh analysis) but only a few dozen distinct (allowed, unknown) values. ``FlowColumns``
keeps a side as two name codes and a value code per pair; ``changed_pairs`` compares two sides
through sorted integer keys, one comparison per distinct (before, now) couple of values. The
mapping interface (``auditor diff``, writing a baseline, tests) builds the dict on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from auditor.documents import NONE, parse_ports
from auditor.portset import PortSet

Pair = tuple[str, str]


@dataclass(frozen=True)
class ProtectedFlow:
    """A (src, dst) pair into a protected zone from outside it: its allowed and undecided ports."""

    allowed: PortSet = NONE
    unknown: PortSet = NONE


class FlowColumns(Mapping[Pair, ProtectedFlow]):
    """Pair ``k`` is (``names[src[k]]``, ``names[dst[k]]``) → ``values[code[k]]``; the pairs are
    distinct and in mapping order."""

    def __init__(self, names: Sequence[str], src: np.ndarray, dst: np.ndarray, code: np.ndarray,
                 values: Sequence[ProtectedFlow]) -> None:
        self.names = list(names)
        self.src = np.asarray(src, dtype=np.int64)
        self.dst = np.asarray(dst, dtype=np.int64)
        self.code = np.asarray(code, dtype=np.int64)
        self.values = list(values)
        self._dict: dict[Pair, ProtectedFlow] | None = None

    @classmethod
    def of(cls, flows: Mapping[Pair, ProtectedFlow]) -> FlowColumns:
        """Any mapping of pairs as columns (itself when it already is)."""
        if isinstance(flows, FlowColumns):
            return flows
        names: dict[str, int] = {}
        values: dict[ProtectedFlow, int] = {}
        src, dst, code = [], [], []
        for (s, d), f in flows.items():
            src.append(names.setdefault(s, len(names)))
            dst.append(names.setdefault(d, len(names)))
            code.append(values.setdefault(f, len(values)))
        return cls(list(names), np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64),
                   np.array(code, dtype=np.int64), list(values))

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> FlowColumns:
        """``flows.rows`` of a baseline file, ``[src, dst, allowed, unknown]``, read as the dict
        comprehension of ``_by_row`` reads them: ``str`` of each cell, each distinct port text
        parsed once, a later row of a pair replacing an earlier one, the first bad row raising.
        Distinct pairs of good rows (what ``auditor baseline`` writes) are coded in one pass
        and their distinct port texts parsed after it; anything else is read again by
        ``_by_row``, so that it fails, or is read, exactly the same way."""
        names: dict[str, int] = {}
        texts: dict[tuple[str, str], int] = {}
        try:
            coded = [(names.setdefault(str(r[0]), len(names)), names.setdefault(str(r[1]), len(names)),
                      texts.setdefault((str(r[2]), str(r[3])), len(texts))) for r in rows]
            values = [ProtectedFlow(parse_ports(a), parse_ports(u)) for a, u in texts]  # in order of first appearance
        except Exception:  # the row-by-row read raises the error of the first bad row
            return cls._by_row(rows)
        cols = np.fromiter(chain.from_iterable(coded), dtype=np.int64, count=3 * len(coded)).reshape(-1, 3)
        src, dst = cols[:, 0], cols[:, 1]
        pairs = np.sort(src * len(names) + dst)
        if bool((pairs[1:] == pairs[:-1]).any()):  # a pair written twice: the last row wins
            return cls._by_row(rows)
        return cls(list(names), src, dst, cols[:, 2], values)

    @classmethod
    def _by_row(cls, rows: Sequence[Sequence[Any]]) -> FlowColumns:
        """``from_rows`` one row at a time (each distinct (allowed, unknown) text parsed once)."""
        shared: dict[tuple[str, str], ProtectedFlow] = {}

        def flow(allowed: object, unknown: object) -> ProtectedFlow:
            key = (str(allowed), str(unknown))
            hit = shared.get(key)
            if hit is None:
                hit = shared[key] = ProtectedFlow(parse_ports(key[0]), parse_ports(key[1]))
            return hit

        return cls.of({(str(r[0]), str(r[1])): flow(r[2], r[3]) for r in rows})

    # -- the mapping ----------------------------------------------------------------------------
    def as_dict(self) -> dict[Pair, ProtectedFlow]:
        if self._dict is None:
            names = np.array(self.names, dtype=object)
            self._dict = dict(zip(zip(names[self.src].tolist(), names[self.dst].tolist(), strict=True),
                                  map(self.values.__getitem__, self.code.tolist()), strict=True))
        return self._dict

    def __getitem__(self, key: Pair) -> ProtectedFlow:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return int(self.code.size)

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()

    def __repr__(self) -> str:
        return f"FlowColumns({len(self)} pairs, {len(self.values)} values)"


def changed_pairs(before: Mapping[Pair, ProtectedFlow],
                  now: Mapping[Pair, ProtectedFlow]) -> Iterator[tuple[Pair, ProtectedFlow | None, ProtectedFlow]]:
    """The pairs of ``now`` whose flow is not the one ``before`` has for them (None: not in
    ``before``), in ``now``'s order: what ``for key, f in now.items(): if before.get(key) != f``
    yields, compared as sorted integer keys and once per distinct couple of values."""
    b, c = FlowColumns.of(before), FlowColumns.of(now)
    if not len(c):
        return
    pos = {name: k for k, name in enumerate(c.names)}
    remap = np.array([pos.get(name, -1) for name in b.names], dtype=np.int64)
    bs, bd = remap[b.src], remap[b.dst]
    known = (bs >= 0) & (bd >= 0)  # a pair of names ``now`` never mentions matches nothing there
    width = len(c.names)
    b_key = bs[known] * width + bd[known]
    b_val = b.code[known]
    order = np.argsort(b_key, kind="stable")
    b_key, b_val = b_key[order], b_val[order]
    c_key = c.src * width + c.dst
    was = np.full(c_key.size, -1, dtype=np.int64)  # the value ``before`` has for the pair (-1: none)
    if b_key.size:
        at = np.minimum(np.searchsorted(b_key, c_key), b_key.size - 1)
        hit = b_key[at] == c_key
        was[hit] = b_val[at[hit]]
    # equality of each distinct (before value, now value) couple, compared once
    n_now = len(c.values)
    couples, inv = np.unique((was + 1) * n_now + c.code, return_inverse=True)
    equal = np.array([w > 0 and b.values[w - 1] == c.values[v] for w, v in
                      zip(*(x.tolist() for x in np.divmod(couples, n_now)), strict=True)], dtype=bool)
    for k in np.flatnonzero(~equal[inv.reshape(-1)]).tolist():
        w = int(was[k])
        yield (c.names[c.src[k]], c.names[c.dst[k]]), (b.values[w] if w >= 0 else None), c.values[c.code[k]]
