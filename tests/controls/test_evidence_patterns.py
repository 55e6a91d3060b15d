"""The flows' control patterns are numbered as ``np.unique(axis=0)`` numbers them (ascending
bytes): the faster integer path must give the same distinct rows and the same inverse."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.controls.evidence import _distinct_sorted_rows


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 300), width=st.integers(1, 9), top=st.sampled_from([1, 3, 255]),
       seed=st.integers(0, 2**32 - 1))
def test_distinct_sorted_rows_equal_numpy_unique(n: int, width: int, top: int, seed: int) -> None:
    rows = np.random.default_rng(seed).integers(0, top + 1, size=(n, width), dtype=np.uint8)
    uniq, inv = _distinct_sorted_rows(rows)
    if not n:
        assert uniq == [] and inv.size == 0
        return
    want, want_inv = np.unique(rows, axis=0, return_inverse=True)
    assert uniq == [r.tobytes() for r in want]
    assert np.array_equal(inv, np.asarray(want_inv).reshape(-1))
