"""``gate._not_in``: the current rows not in the baseline, exactly a set difference in the
current order, also when the lists are equal (the shortcut) or equal up to order."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.compare.gate import _not_in

NAMES = ["a", "b", "ns/Deployment/web", "internet"]
TEXTS = ["none", "all", "TCP:80"]


row_st = st.tuples(st.sampled_from(["flow", "endpoint"]), st.sampled_from([None, "a", "b"]), st.sampled_from(NAMES),
                   st.sampled_from(TEXTS), st.sampled_from([None, "allowed", "unknown"]), st.sampled_from(["r", "s"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(row_st, max_size=12), st.lists(row_st, max_size=12), st.booleans())
def test_rows_not_in_the_baseline_are_a_set_difference(current: list[Any], baseline: list[Any], same: bool) -> None:
    if same:  # the unchanged-control case: equal lists, in the same order or not
        baseline = list(current) if len(current) % 2 else list(reversed(current))
    have = set(baseline)
    assert _not_in(current, baseline) == [r for r in current if r not in have]
