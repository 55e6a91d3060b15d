"""Peer groups built from broad and narrow sides are exactly the groups of the whole key; the walk's
first-matching-rule helper is exactly argmax."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.reach.bitmatrix import BitColumns
from auditor.reach.peergroups import PeerPartitions
from auditor.reach.rowhash import unique_rows


def _first_appearance_reference(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups of equal key rows numbered in order of first appearance, the plain way."""
    ids: dict[bytes, int] = {}
    inv = np.array([ids.setdefault(row.tobytes(), len(ids)) for row in key], dtype=np.int64)
    first = np.array([int(np.flatnonzero(inv == g)[0]) for g in range(len(ids))], dtype=np.int64)
    return inv, first


@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 120), n_sides=st.integers(1, 40), n_specs=st.integers(0, 3),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_partition_equals_groups_of_the_whole_key(n: int, n_sides: int, n_specs: int, seed: int, data) -> None:
    rng = np.random.default_rng(seed)
    # sides of every breadth: a few classes (narrow), about half, nearly all; pos ⊇ def
    density = rng.choice([0.01, 0.05, 0.5, 0.95], size=n_sides)
    pos = rng.random((n_sides, n)) < density[:, None]
    dfn = pos & (rng.random((n_sides, n)) < 0.8)
    dfn[::3] = pos[::3]  # sides matched certainly wherever they match at all
    sides_def, sides_pos = BitColumns(n), BitColumns(n)
    as_list = rng.random(n_sides) < 0.5  # the engine adds narrow sides as class lists
    for k in range(n_sides):
        sides_def.add(np.flatnonzero(dfn[k]) if as_list[k] else dfn[k])
        sides_pos.add(np.flatnonzero(pos[k]) if as_list[k] else pos[k])
    sides_def.freeze()
    sides_pos.freeze()
    codes = {f"spec{k}": rng.integers(0, 1 + 3 * k, size=n).astype(np.int32) for k in range(n_specs)}
    pp = PeerPartitions(sides_def, sides_pos, codes.__getitem__)
    for _ in range(3):  # several σs on one object: the caches must not leak between them
        ids = tuple(sorted(data.draw(st.sets(st.integers(0, n_sides - 1), min_size=0, max_size=n_sides))))
        specs = tuple(sorted(data.draw(st.sets(st.sampled_from(sorted(codes)), max_size=n_specs)))) if codes else ()
        cols = [dfn[list(ids)].T, pos[list(ids)].T] + [codes[s][:, None] for s in specs]
        key = np.concatenate([c.astype(np.int64) for c in cols], axis=1) if cols else np.zeros((n, 0), np.int64)
        inv_ref, first_ref = _first_appearance_reference(key)
        groups, first = pp.partition(ids, specs)
        assert groups.shape == (n,)
        assert np.array_equal(groups.astype(np.int64), inv_ref)
        assert np.array_equal(first, first_ref)


def test_unique_rows_numbers_by_first_appearance_when_words_differ_in_their_top_bits() -> None:
    """Bit-packed keys whose rows differ only in the top bit of two words: a plain linear row
    hash (Σ word × odd constant) maps both to the same value, so grouping fell back to a sort
    and numbered groups in sorted, not first-appearance, order."""
    top = np.uint64(1 << 63)
    words = np.zeros((100, 2), dtype=np.uint64)
    words[1::2] = top  # rows alternate between (0, 0) and (2^63, 2^63)
    words[0] = top  # first row is the "high" one, so first appearance ≠ sorted order
    words[1] = 0
    first, inv = unique_rows(words.view(np.uint8).reshape(100, 16))
    assert first.tolist() == [0, 1]
    assert inv[:4].tolist() == [0, 1, 1, 0]


@settings(max_examples=80, deadline=None)
@given(r=st.integers(1, 300), g=st.integers(1, 60), a=st.integers(1, 40), p=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_first_true_is_argmax_of_the_rule_stack(r: int, g: int, a: int, p: float, seed: int) -> None:
    """The walk's first matching rule per cell, on both sides of its wide-grid threshold."""
    from auditor.reach.engine import _first_true

    m = np.random.default_rng(seed).random((r, g, a)) < p
    assert np.array_equal(_first_true(m), m.argmax(axis=0))
