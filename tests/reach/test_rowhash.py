"""Row grouping must be exact: same rows share an id, different rows never do."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from auditor.reach.rowhash import unique_rows


@settings(max_examples=200, deadline=None)
@given(m=st.one_of(
    arrays(np.bool_, st.tuples(st.integers(0, 200), st.integers(1, 40))),
    arrays(np.uint8, st.tuples(st.integers(0, 200), st.integers(1, 20)), elements=st.integers(0, 3)),
    arrays(np.int32, st.tuples(st.integers(0, 120), st.integers(1, 5)), elements=st.integers(-2, 2)),
))
def test_unique_rows_groups_exactly(m):
    first, inverse = unique_rows(m)
    assert inverse.shape == (m.shape[0],)
    assert np.array_equal(m[first[inverse]], m)
    reps = {m[f].tobytes() for f in first}
    assert len(reps) == first.size  # representatives are pairwise different
    expected = {row.tobytes() for row in m}
    assert reps == expected


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 60), st.lists(st.integers(1, 5), min_size=1, max_size=5), st.integers(0, 2**32 - 1))
def test_refining_block_by_block_equals_one_pass(n: int, widths: list[int], seed: int) -> None:
    """``refine`` (the engine's signatures and behaviour classes, a slice of the key at a time)
    gives exactly ``unique_rows`` of the whole key: same groups, same ids, same representatives."""
    from auditor.reach.rowhash import column_blocks, refine

    rng = np.random.default_rng(seed)
    blocks = [rng.integers(0, 3, size=(n, w)).astype(np.uint8) for w in widths]
    whole = np.concatenate(blocks, axis=1) if n else np.zeros((0, sum(widths)), np.uint8)
    first, inv = refine(blocks, n)
    f2, i2 = unique_rows(whole)
    assert np.array_equal(first, f2) and np.array_equal(inv, i2)
    first3, inv3 = refine(column_blocks(whole, max_bytes=max(1, n)), n)
    assert np.array_equal(first3, f2) and np.array_equal(inv3, i2)


@settings(max_examples=120, deadline=None)
@given(n=st.integers(65, 400), w=st.integers(1, 10), values=st.integers(1, 1 << 40), seed=st.integers(0, 2**32 - 1))
def test_mixed_radix_path_numbers_rows_as_the_hash_path(n: int, w: int, values: int, seed: int) -> None:
    """Rows of a few words are grouped through per-column numbers in mixed radix (exact, no
    hash): the same ids (order of first appearance) and representatives as the hashed path,
    also when the columns have too many distinct values to combine (then it hashes)."""
    import auditor.reach.rowhash as rowhash

    rng = np.random.default_rng(seed)
    m = rng.integers(0, values, size=(n, w), dtype=np.uint64)
    m[n // 2:] = m[: n - n // 2]  # repeats
    first, inv = unique_rows(m)
    saved = rowhash.RADIX_WORDS
    rowhash.RADIX_WORDS = 0
    try:
        f2, i2 = unique_rows(m)
    finally:
        rowhash.RADIX_WORDS = saved
    assert np.array_equal(first, f2) and np.array_equal(inv, i2)
    assert np.array_equal(inv[first], np.arange(first.size))  # ids in order of first appearance
