"""BitColumns: the engine's bit-packed (items × classes) store agrees with a dense bool matrix."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.reach.bitmatrix import BitColumns


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 30), st.integers(0, 2**32 - 1))
def test_bit_columns_agree_with_dense_rows(n_classes: int, n_items: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_items, n_classes)) < 0.4
    bc = BitColumns(n_classes)
    assert [bc.add(row) for row in dense] == list(range(n_items))
    bc.freeze()
    assert bc.bits.shape == ((n_items + 7) // 8, n_classes)
    # column c is np.packbits of class c's items
    assert np.array_equal(bc.bits, np.packbits(dense, axis=0) if n_items else bc.bits)
    assert np.array_equal(bc.class_bytes(), bc.bits.T)
    for k in range(n_items):
        assert np.array_equal(bc.column(k), dense[k])
    for c in range(n_classes):
        assert bc.row_items(c).tolist() == np.flatnonzero(dense[:, c]).tolist()
        for k in range(n_items):
            assert bc.bit(k, c) == bool(dense[k, c])
    items = rng.choice(n_items, size=min(n_items, 5), replace=False) if n_items else np.zeros(0, np.int64)
    classes = rng.choice(n_classes, size=min(n_classes, 7), replace=False)
    assert np.array_equal(bc.take(items, classes), dense[np.ix_(items, classes)])
    # keys: two classes get equal keys exactly when the chosen items see them alike
    keys = bc.keys(items)
    assert np.array_equal(bc.keys_at(items, classes), keys[classes])
    for a in range(n_classes):
        for b in range(n_classes):
            same = np.array_equal(dense[items, a], dense[items, b])
            assert np.array_equal(keys[a], keys[b]) == same
