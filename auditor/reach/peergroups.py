"""Peer groups of a signature: classes that every rule side of σ sees alike.

Grouping hashes one key per class, so doing it from scratch costs O(classes) bytes per σ, and
the number of σs grows with the cluster: at 30,000 pods this was most of the engine's σ walk.
Most rule sides match a handful of classes (a namespaced policy's ``app=…`` peer), so σ's
partition is built as the partition of its *broad* sides (and named-port resolutions), kept
across σs, refined by the *narrow* sides only on the classes they match. The result is the
same partition, numbered in order of first appearance exactly like ``unique_rows`` of the
whole key.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from auditor.reach.bitmatrix import BitColumns
from auditor.reach.firstseen import first_seen
from auditor.reach.rowhash import unique_rows

_NARROW_FRACTION = 16  # a side is narrow when it matches at most classes / 16 of them
_SMALL_SIDES = 16  # up to this many sides (2 bits each) a class's key is one integer
_BASE_CACHE_BYTES = 256 << 20  # partitions of broad sides kept for reuse (results never depend on it)


def group_dtype(n_groups: int) -> type:
    """The smallest dtype that holds group ids below ``n_groups``."""
    return np.uint8 if n_groups <= 1 << 8 else np.uint16 if n_groups <= 1 << 16 else np.int32


class PeerPartitions:
    """Partitions of the classes by interned rule sides (bit columns ``sides_def``/``sides_pos``)
    and named-port resolution codes (``named_code``)."""

    def __init__(self, sides_def: BitColumns, sides_pos: BitColumns,
                 named_code: Callable[[object], np.ndarray]) -> None:
        self.sides_def = sides_def
        self.sides_pos = sides_pos
        self.named_code = named_code
        self.n = sides_def.n_classes
        self._support: dict[int, np.ndarray | None] = {}
        self._certain: dict[int, bool] = {}  # side: possible matches == certain matches
        self._base: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._base_bytes = 0

    def release(self) -> None:
        """Forget the broad-side partitions (a direction's walk is over: the engine keeps the
        ones it uses in its own partition matrix, and these would hold second copies)."""
        self._base.clear()
        self._base_bytes = 0

    def support(self, side: int) -> np.ndarray | None:
        """Classes side ``side`` possibly or certainly matches (ascending), or None when it
        matches too many of them to be worth keeping as a list."""
        if side not in self._support:
            sd, sp = self.sides_def.sparse.get(side), self.sides_pos.sparse.get(side)
            if sd is not None and sp is not None:  # kept as class lists: no pass over every class
                idx = np.union1d(sd, sp)
                certain = np.array_equal(sd, sp)
            else:
                d, p = self.sides_def.column(side), self.sides_pos.column(side)
                idx = np.flatnonzero(d | p)
                certain = np.array_equal(d, p)
            self._support[side] = idx.astype(np.int32) if idx.size <= self.n // _NARROW_FRACTION else None
            self._certain[side] = bool(certain)
        return self._support[side]

    def _possible(self, ids: tuple[int, ...] | list[int]) -> np.ndarray:
        """The sides whose possible matches say more than their certain ones (the others'
        possible bits repeat their certain bits, so they are left out of keys)."""
        for i in ids:
            self.support(i)
        return np.array([i for i in ids if not self._certain[i]], dtype=np.int64)

    def partition(self, ids: tuple[int, ...], specs: tuple) -> tuple[np.ndarray, np.ndarray]:
        """(group per class, first class of each group) for the sides ``ids`` and named-port
        specs ``specs``; groups numbered in order of first appearance."""
        narrow = [i for i in ids if self.support(i) is not None]
        if sum(self._support[i].size for i in narrow) > self.n // _NARROW_FRACTION:  # type: ignore[union-attr]
            narrow = []  # together they touch too much: one pass over every class is cheaper
        chosen = set(narrow)
        broad = tuple(i for i in ids if i not in chosen)
        base, first = self._base_partition(broad, specs)
        if not narrow:
            return base, first
        touched = np.unique(np.concatenate([self._support[i] for i in narrow]))  # type: ignore[misc]
        sel, unsure = np.array(narrow, dtype=np.int64), self._possible(narrow)
        key = np.concatenate([
            base[touched].astype(np.int32)[:, None].view(np.uint8),
            self.sides_def.keys_at(sel, touched),
            *([self.sides_pos.keys_at(unsure, touched)] if unsure.size else []),
        ], axis=1)
        sub_first, sub = unique_rows(np.ascontiguousarray(key))
        # every touched class has a narrow bit set, so it never equals an untouched class
        return _renumbered(base, first, touched, sub_first, sub)

    def _small_code(self, ids: tuple[int, ...], specs: tuple) -> np.ndarray | None:
        """One int64 per class that is equal exactly when the keys are, when the key fits in
        one: then grouping is a hash of integers instead of a hash of byte rows."""
        if len(ids) > _SMALL_SIDES:
            return None
        code = np.zeros(self.n, dtype=np.int64)
        unsure = set(self._possible(ids).tolist())
        for k, i in enumerate(ids):
            code |= (self.sides_def.column(i).astype(np.int64) << (2 * k))
            if i in unsure:
                code |= (self.sides_pos.column(i).astype(np.int64) << (2 * k + 1))
        radix = 1 << (2 * len(ids))
        for sp in specs:
            values = self.named_code(sp)
            width = int(values.max()) + 1 if values.size else 1
            if radix * width >= 1 << 62:
                return None
            code += values.astype(np.int64) * radix
            radix *= width
        return code

    def _base_partition(self, ids: tuple[int, ...], specs: tuple) -> tuple[np.ndarray, np.ndarray]:
        key = (ids, specs)
        hit = self._base.get(key)
        if hit is not None:
            return hit
        code = self._small_code(ids, specs)
        if code is not None:
            groups, first = _first_appearance(code)
        else:
            parts = []
            if ids:
                sel, unsure = np.array(ids, dtype=np.int64), self._possible(ids)
                parts.append(self.sides_def.keys(sel))
                if unsure.size:
                    parts.append(self.sides_pos.keys(unsure))
            if specs:
                parts.append(np.stack([self.named_code(sp) for sp in specs], axis=1).astype(np.int32).view(np.uint8))
            first, inv = unique_rows(np.ascontiguousarray(np.concatenate(parts, axis=1)))
            groups = inv.astype(group_dtype(first.size))
        if self._base_bytes + groups.nbytes > _BASE_CACHE_BYTES:
            self._base.clear()
            self._base_bytes = 0
        self._base[key] = (groups, first)
        self._base_bytes += groups.nbytes
        return groups, first


def _first_appearance(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group per class, first class per group) of equal codes, groups in order of first
    appearance (the numbering ``unique_rows`` gives)."""
    first, inv = first_seen(code)
    return inv.astype(group_dtype(first.size)), first


_MAX_MOVED_FIRSTS = 4  # past this many, renumbering from scratch is as cheap


def _renumbered(base: np.ndarray, first: np.ndarray, touched: np.ndarray, sub_first: np.ndarray,
                sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_first_appearance`` of ``base`` with the (ascending) ``touched`` classes moved to new
    groups ``sub`` (numbered by first appearance among them, ``sub_first`` their first
    positions in ``touched``), without hashing every class again: a base group keeps its first
    class unless that class moved, and only the few groups whose first class moved are looked
    up again."""
    n, nb = base.size, first.size
    moved = np.zeros(n, dtype=bool)
    moved[touched] = True
    lost = np.flatnonzero(moved[first])  # base groups whose first class moved out
    if lost.size > _MAX_MOVED_FIRSTS:
        label = base.astype(np.int64)
        label[touched] = nb + sub
        return _first_appearance(label)
    base_first = first.copy()
    alive = np.ones(nb, dtype=bool)
    for g in lost:
        rest = np.flatnonzero((base == g) & ~moved)
        if rest.size:
            base_first[g] = rest[0]
        else:
            alive[g] = False  # every class of the group moved
    firsts = np.concatenate([base_first[alive], touched[sub_first]])
    labels = np.concatenate([np.flatnonzero(alive), nb + np.arange(sub_first.size)])
    order = np.argsort(firsts, kind="stable")
    rank = np.empty(nb + sub_first.size, dtype=group_dtype(order.size))
    rank[labels[order]] = np.arange(order.size)
    groups = rank[base]
    groups[touched] = rank[nb + sub]
    return groups, firsts[order]
