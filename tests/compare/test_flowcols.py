"""Protected flows as columns (``compare/flowcols.py``) read, hold and compare exactly what the
dict forms did: the dict comprehension over ``flows.rows`` and the pair-by-pair comparison."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.compare.flowcols import FlowColumns, ProtectedFlow, changed_pairs
from auditor.documents import parse_ports

NAMES = ["a", "b", "ns/Deployment/web", "internet", "ns/Deployment/db"]
TEXTS = ["none", "all", "TCP:80", "TCP:80,443", "TCP:53 UDP:53", "UDP:53"]


def _dict_rows(rows: Any) -> dict[tuple[str, str], ProtectedFlow]:
    """How the baseline's rows were read before: one dict entry per row, the last row winning."""
    return {(str(r[0]), str(r[1])): ProtectedFlow(parse_ports(str(r[2])), parse_ports(str(r[3]))) for r in rows}


def _dict_changed(before: Any, now: Any) -> list[tuple[tuple[str, str], Any, ProtectedFlow]]:
    """The comparison run_gate made before: pair by pair, in the current side's order."""
    return [(k, before.get(k), f) for k, f in now.items() if before.get(k) != f]


rows_st = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES), st.sampled_from(TEXTS),
                             st.sampled_from(TEXTS)).map(list), max_size=40)


@settings(max_examples=200, deadline=None)
@given(rows_st)
def test_rows_read_as_the_dict_comprehension(rows: list[list[str]]) -> None:
    got = FlowColumns.from_rows(rows)
    want = _dict_rows(rows)
    assert list(got.items()) == list(want.items())  # same pairs, same order, last row of a pair wins
    assert len(got) == len(want)
    assert got == want


@settings(max_examples=300, deadline=None)
@given(rows_st, rows_st, st.booleans())
def test_changed_pairs_equal_the_pair_by_pair_comparison(old: list[list[str]], new: list[list[str]],
                                                         as_dicts: bool) -> None:
    before, now = FlowColumns.from_rows(old), FlowColumns.from_rows(new)
    want = _dict_changed(_dict_rows(old), _dict_rows(new))
    got = list(changed_pairs(_dict_rows(old), _dict_rows(new)) if as_dicts else changed_pairs(before, now))
    assert got == want
    assert list(changed_pairs(now, now)) == []


def test_cells_that_are_not_strings_are_read_with_str() -> None:
    rows: list[list[Any]] = [[1, "b", "TCP:80", "none"], ["a", 2, "all", "none", "extra"]]
    assert list(FlowColumns.from_rows(rows).items()) == list(_dict_rows(rows).items())


@pytest.mark.parametrize("rows", [
    [["a", "b", "TCP:80", "none"], ["a", "c", "TCP:80"]],  # a short row
    [["a", "b", "TCP:99999", "none"], ["a", "c", "TCP:80"]],  # a bad port first, a short row after
    [["a", "b", "TCP:80", "none"], 7],  # not a row
])
def test_bad_rows_fail_as_the_dict_comprehension_does(rows: list[Any]) -> None:
    with pytest.raises(Exception) as want:
        _dict_rows(rows)
    with pytest.raises(Exception) as got:
        FlowColumns.from_rows(rows)
    assert (type(got.value), str(got.value)) == (type(want.value), str(want.value))

