"""``first_seen`` / ``compact``: direct addressing numbers values exactly as hashing does.

The controls' streamed matrices number billions of cells with them; a difference in numbering
would change which cell of a workload pair is its witness, so they are checked against the
hashed path and against numpy's sort-based definitions on arbitrary arrays.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.reach import firstseen
from auditor.reach.firstseen import compact, first_seen

values = st.lists(st.integers(0, 300), max_size=400)


def _reference(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First positions in order of first appearance, and each element's rank among them."""
    uniq, first = np.unique(code, return_index=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[order] = np.arange(uniq.size)
    return first[order], rank[np.searchsorted(uniq, code)]


@settings(max_examples=200, deadline=None)
@given(xs=values, extra=st.integers(0, 50))
def test_direct_and_hashed_numbering_agree(xs: list[int], extra: int) -> None:
    code = np.array(xs, dtype=np.int64)
    span = int(code.max(initial=0)) + 1 + extra
    want_first, want_inv = _reference(code)
    for got_first, got_inv in (first_seen(code, span), first_seen(code)):
        assert got_first.tolist() == want_first.tolist()
        assert got_inv.tolist() == want_inv.tolist()
        assert np.array_equal(code[got_first][got_inv], code)


def test_a_range_too_wide_for_the_array_is_hashed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A span far beyond the array's size would allocate a table for nothing: hashed instead,
    with the same numbers (a table this size would raise MemoryError if it were allocated)."""
    code = np.array([7, 1 << 40, 7, 3], dtype=np.int64)
    monkeypatch.setattr(firstseen, "DENSE_SPAN", 1 << 62)
    first, inv = first_seen(code, 1 << 41)
    assert first.tolist() == [0, 1, 3] and inv.tolist() == [0, 1, 0, 2]


@settings(max_examples=200, deadline=None)
@given(xs=values)
def test_compact_numbers_values_in_increasing_order(xs: list[int]) -> None:
    v = np.array(xs, dtype=np.int64)
    local, m = compact(v, 301)
    uniq = np.unique(v)
    assert m == uniq.size
    assert local.tolist() == np.searchsorted(uniq, v).tolist()
