"""The period rules on their own (no database): failure windows and coverage, property-tested.

Properties that fix the windows uniquely: every failing run lies in exactly one window; a
window opens on a failing run and closes on the first passing (or waived) run after it; no
passing run lies inside a window; a window open at the last run has no close.
"""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.history.period import (
    ControlKey,
    Period,
    RunInfo,
    _coverage,
    _gaps,
    _windows,
    stamp,
    when,
)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
VERDICTS = st.sampled_from(["pass", "fail", "unknown", "waived"])


def _runs(offsets: list[int]) -> list[RunInfo]:
    out, t = [], START
    for i, hours in enumerate(offsets):
        t = t + dt.timedelta(hours=hours)
        out.append(RunInfo(i + 1, "c", stamp(t), False, "pass", "t", "d" * 64))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(VERDICTS, min_size=1, max_size=40))
def test_failure_windows_follow_the_rules(verdicts: list[str]) -> None:
    runs = _runs([24] * len(verdicts))
    period = Period(START, runs[-1].time + dt.timedelta(hours=1), dt.timedelta(hours=24))
    rows = [(i, SimpleNamespace(verdict=v, violations=1)) for i, v in enumerate(verdicts)]
    windows = _windows("c", ControlKey("p", "C"), rows, runs, period)
    index = {r.id: i for i, r in enumerate(runs)}
    spans = []
    for w in windows:
        a = index[w.opening_run]
        b = index[w.closing_run] if w.closing_run is not None else len(runs)
        assert verdicts[a] == "fail"
        assert all(v in ("fail", "unknown") for v in verdicts[a:b])
        if w.closing_run is not None:
            assert verdicts[b] in ("pass", "waived") and w.closed == runs[b].captured_at
            assert w.duration_hours == round((runs[b].time - runs[a].time).total_seconds() / 3600, 2)
        else:
            assert w.closed is None and b == len(runs)
        spans.append((a, b))
    assert spans == sorted(spans) and all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    for i, v in enumerate(verdicts):
        inside = sum(1 for a, b in spans if a <= i < b)
        if v == "fail":
            assert inside == 1
        if v in ("pass", "waived"):
            assert inside == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=100))
def test_coverage_never_exceeds_the_period_and_gaps_are_over_twice_the_interval(offsets: list[int],
                                                                                 tail: int) -> None:
    runs = _runs(offsets)
    every = dt.timedelta(hours=24)
    period = Period(START, runs[-1].time + dt.timedelta(hours=tail + 1), every)
    cover = _coverage(runs, 0, period)
    assert all(dt.timedelta(0) < c <= 2 * every for c in cover.values())
    covered = sum(cover.values(), dt.timedelta())
    gaps = _gaps("c", runs, None, period)
    assert all(when(g.end) - when(g.start) > 2 * every for g in gaps)
    assert covered <= period.length
    # everything not covered by a run lies before the first run or beyond 2x after a run: no gap means
    # coverage is complete except for the start of the period up to the first run
    if not gaps:
        assert covered >= period.length - (runs[0].time - START)
