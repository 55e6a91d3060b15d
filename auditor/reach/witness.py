"""Entity pairs grouped by what their deciding rules depend on, so each group is worked out once.

``Analysis.witness_rules`` reads, per atom, the rules of the last most permissive path of an
entity pair; a path's contribution is only its groups' verdict and rule rows (and whether both
ends are ambient). Groups with equal rows are interchangeable: they are numbered by **kind**
(``group_kinds``), and two entity pairs whose path sequences have equal kinds have equal
witnesses. At 10,000 pods with 500 Calico policies ≈ 900,000 pairs of a row block have
≈ 730,000 distinct path sequences but only a few thousand distinct kind sequences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.reach.rowhash import unique_rows


@dataclass(frozen=True)
class Kinds:
    """``kind[g]``: id of group ``g``'s (verdict row, rule row); ``rep[k]``: one group of kind ``k``."""

    kind: np.ndarray
    rep: np.ndarray


def group_kinds(verdict: np.ndarray, rule: np.ndarray) -> Kinds:
    """Number the groups by their (verdict, rule) rows: groups of one kind decide alike. Each
    cell is coded ``rule * 3 + verdict`` in the narrowest dtype that holds it (at 10,000 pods
    two bytes a cell instead of five: the rows of ≈ 245,000 groups are hashed)."""
    n = verdict.shape[0]
    small = verdict.size == 0 or (int(verdict.min()) >= 0 and int(verdict.max()) <= 2 and int(rule.min()) >= 0)
    if small:
        top = (int(rule.max()) if rule.size else 0) * 3 + 2
        dt = np.uint16 if top < 1 << 16 else np.uint32 if top < 1 << 32 else np.uint64
        key = rule.astype(dt) * dt(3) + verdict.astype(dt)
    else:
        key = np.concatenate([np.ascontiguousarray(verdict).view(np.uint8).reshape(n, -1),
                              np.ascontiguousarray(rule).view(np.uint8).reshape(n, -1)], axis=1)
    first, inv = unique_rows(np.ascontiguousarray(key))
    return Kinds(kind=inv, rep=first)


def sequence_ids(count: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(id per item, first item of each id) for items that own ``count[k]`` consecutive rows of
    ``rows`` (items in order): equal ids ⇔ equal row sequences. Ids are dense (0..n-1) but not
    in order of first appearance: callers only compare them and read their representatives."""
    n = count.size
    ids = np.zeros(n, dtype=np.int64)
    start = np.cumsum(count) - count
    firsts: list[np.ndarray] = []
    offset = 0
    for c in np.unique(count).tolist():
        items = np.flatnonzero(count == c)
        idx = (start[items][:, None] + np.arange(c)[None, :]).reshape(-1)
        first, inv = unique_rows(rows[idx].reshape(items.size, -1))
        ids[items] = inv + offset
        firsts.append(items[first])
        offset += first.size
    return ids, (np.concatenate(firsts) if firsts else np.zeros(0, np.int64))
