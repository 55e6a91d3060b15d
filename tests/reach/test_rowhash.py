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
