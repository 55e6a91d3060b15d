"""Distinct values numbered in order of first appearance, by direct addressing when they are
small integers.

The controls' streamed matrices number the cells of every block by their group combination and
their judgement: billions of cells at 100,000 pods. A hash table (``pandas.factorize``) costs
≈ 90 ns a cell there; when the values fit in a small range, an array indexed by value does the
same in a few passes of plain gathers and scatters. Both give identical numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DENSE_SPAN = 1 << 24  # largest value range addressed directly (a 128 MB table of first positions)


def first_seen(code: np.ndarray, span: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(first, inverse) of the distinct values of a 1-D int64 array: ``first[k]`` is the position
    where the ``k``-th distinct value (in order of first appearance) first occurs, and
    ``code == code[first][inverse]``. ``span``: all values lie in ``[0, span)`` (direct
    addressing when the range is small beside the array); None: hashed."""
    n = code.size
    if span is not None and 0 < span <= min(DENSE_SPAN, 4 * n + 4096):
        at = np.full(span, n, dtype=np.int64)
        at[code[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)  # the last write (first position) wins
        present = np.flatnonzero(at < n)
        first = at[present]
        order = np.argsort(first, kind="stable")
        rank = at  # reused as value → number
        rank[present[order]] = np.arange(order.size, dtype=np.int64)
        return first[order], rank[code]
    inv, uniques = pd.factorize(code)
    inv = inv.astype(np.int64)
    first = np.empty(len(uniques), dtype=np.int64)
    first[inv[::-1]] = np.arange(inv.size - 1, -1, -1, dtype=np.int64)
    return first, inv


def compact(values: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Values in ``[0, size)`` renumbered ``0 … m-1`` in increasing order (a presence table, no
    sort of the values), and ``m``."""
    seen = np.zeros(size, dtype=bool)
    seen[values] = True
    local = np.cumsum(seen, dtype=np.int64) - 1
    return local[values], int(local[-1]) + 1 if size else 0
