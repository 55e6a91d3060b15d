"""The controls' post-processing helpers that read their inputs in chunks to bound memory at
100,000 pods (``scan.first_where``, ``evidence._sorted_cells``) against plain references, with
chunks small enough that groups and duplicates straddle chunk boundaries."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from auditor.controls.assertions.scan import first_where
from auditor.controls.evidence import _sorted_cells


@st.composite
def _grouped(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(judgement flags, codes grouped into runs, first position of each run)."""
    n_codes = draw(st.integers(1, 6))
    has = np.array(draw(st.lists(st.booleans(), min_size=n_codes, max_size=n_codes)), dtype=bool)
    lens = draw(st.lists(st.integers(1, 5), min_size=1, max_size=12))
    codes = np.array(draw(st.lists(st.integers(0, n_codes - 1), min_size=sum(lens), max_size=sum(lens))),
                     dtype=np.int32)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    return has, codes, starts


@given(_grouped(), st.integers(1, 8))
def test_first_where_is_each_group_s_first_flagged_position(case: tuple[np.ndarray, np.ndarray, np.ndarray],
                                                            chunk: int) -> None:
    has, codes, starts = case
    ends = np.r_[starts[1:], codes.size]
    expected = [next((p for p in range(a, b) if has[codes[p]]), -1) for a, b in zip(starts, ends, strict=True)]
    assert first_where(has, codes, starts, chunk=chunk).tolist() == expected
    assert first_where(has, codes, starts).tolist() == expected  # one chunk


@given(st.lists(st.lists(st.integers(0, 40), max_size=9), max_size=6))
def test_sorted_cells_are_the_distinct_cells_sorted_and_the_parts_are_released(parts: list[list[int]]) -> None:
    arrays = [np.array(p, dtype=np.int64) for p in parts]
    expected = np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.int64)
    given_parts = list(arrays)
    got = _sorted_cells(given_parts)
    assert got.dtype == np.int64
    assert got.tolist() == expected.tolist()
    assert given_parts == []  # nothing of the parts is held once they are copied
