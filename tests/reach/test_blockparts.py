"""``BlockedParts`` (the engine's peer partitions as distinct blocks of classes) reads exactly as
the dense matrix it replaces, whatever the sizes, dtypes, repeats and chunking while building."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import auditor.reach.blockparts as blockparts
from auditor.reach.blockparts import BLOCK, BlockedParts


@st.composite
def _partitions(draw: st.DrawFn) -> tuple[list[np.ndarray], int]:
    """Rows of peer groups: mostly zero, with runs and repeated rows, some needing uint16."""
    n = draw(st.integers(1, 3 * BLOCK + 5))
    n_rows = draw(st.integers(0, 7))
    rows: list[np.ndarray] = []
    for _ in range(n_rows):
        if rows and draw(st.booleans()):
            rows.append(rows[draw(st.integers(0, len(rows) - 1))].copy())  # a repeated partition
            continue
        wide = draw(st.booleans())
        top = 700 if wide else 5
        row = np.zeros(n, dtype=np.uint16 if wide else np.uint8)
        for _ in range(draw(st.integers(0, 4))):
            lo = draw(st.integers(0, n - 1))
            hi = draw(st.integers(lo + 1, n))
            row[lo:hi] = draw(st.integers(0, top))
        rows.append(row)
    return rows, n


@given(_partitions(), st.integers(1, 5), st.data())
def test_blocked_parts_read_as_the_dense_matrix(case: tuple[list[np.ndarray], int], chunk: int,
                                                data: st.DataObject) -> None:
    rows, n = case
    old = blockparts._CHUNK_BYTES
    blockparts._CHUNK_BYTES = chunk * (-(-n // BLOCK)) * BLOCK  # a few partitions per chunk: blocks repeat across chunks
    try:
        bp = BlockedParts.from_rows(rows, n)
    finally:
        blockparts._CHUNK_BYTES = old
    dtype = max((r.dtype for r in rows), key=lambda t: t.itemsize, default=np.dtype(np.uint8))
    dense = np.stack(rows).astype(dtype) if rows else np.zeros((0, n), dtype)
    assert bp.shape == dense.shape and bp.dtype == dense.dtype
    assert np.array_equal(bp.dense(), dense)
    if not rows:
        return
    p = np.array(data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=6)))
    c = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=9)))
    assert np.array_equal(bp.at(p[:, None], c[None, :]), dense[p[:, None], c[None, :]])
    assert np.array_equal(bp.rows(p), dense[p])
    assert np.array_equal(bp.row(int(p[0])), dense[p[0]])
    assert np.array_equal(bp.columns(c), dense[:, c])
    assert np.array_equal(bp.columns_t(c), dense[:, c].T)
    assert np.array_equal(bp.at(p[:, None], c[None, :]), dense[p[:, None], c[None, :]])  # as a grid
    many = np.arange(n)[::-1]  # enough classes to decode partitions whole
    assert np.array_equal(bp.grid(p, many), dense[p][:, many])
    assert int(bp.at(int(p[0]), int(c[0]))) == int(dense[p[0], c[0]])
    slices = list(bp.class_major(max_bytes=n * dense.itemsize * 2))  # two partitions a slice
    assert np.array_equal(np.concatenate(slices, axis=1), dense.T)


def test_repeated_blocks_are_stored_once() -> None:
    zero = np.zeros(10 * BLOCK, dtype=np.uint8)
    ns = zero.copy()
    ns[3 * BLOCK:4 * BLOCK] = 1  # one namespace's classes in their own group
    bp = BlockedParts.from_rows([zero, ns, ns.copy(), zero.copy()], zero.size)
    assert bp.table.shape == (2, BLOCK)  # the all-zero block and the namespace's
    assert bp.nbytes < 4 * zero.size


@pytest.mark.parametrize("n", [1, BLOCK - 1, BLOCK, BLOCK + 1])
def test_class_counts_at_block_edges(n: int) -> None:
    row = (np.arange(n) % 3).astype(np.uint8)
    bp = BlockedParts.from_rows([row, row[::-1].copy()], n)
    assert np.array_equal(bp.dense(), np.stack([row, row[::-1]]))
