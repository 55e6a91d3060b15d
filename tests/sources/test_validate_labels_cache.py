"""The label checks are memoised (keys and values repeat over every pod); ``labels`` must report
exactly what a fresh, unmemoised check reports, in the same order, whatever came before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.sources.validate import rules

_TEXT = st.text(alphabet="aZ9-_./ ", max_size=8)


def _fresh(value: dict, path: tuple, values: bool) -> list:
    found = []
    for key in sorted(k for k in value if isinstance(k, str)):
        problem = rules.qualified_name(key)
        if problem:
            found.append(((*path, key), f"key {key!r}: {problem}"))
        elif values and isinstance(value[key], str):
            problem = rules.label_value(value[key])
            if problem:
                found.append(((*path, key), f"value {value[key]!r}: {problem}"))
    return found


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers()), max_size=4), st.booleans()),
                min_size=1, max_size=6))
def test_labels_reports_what_a_fresh_check_reports(maps: list[tuple[dict, bool]]) -> None:
    for value, values in maps:
        assert list(rules.labels(value, ("metadata", "labels"), values=values)) == _fresh(
            value, ("metadata", "labels"), values)
