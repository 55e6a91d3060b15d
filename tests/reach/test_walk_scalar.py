"""``engine.walk`` (numpy over a (groups × atoms) grid, reading only the Pass rows' unsure
matches, ``_unsure_passes``) against a scalar walk of one cell at a time written from CAL-24's
words: random tier plans with Allow, Deny and Pass rules, equal-order tie groups, Pass and
Deny tier defaults, and possible matches that say more than the certain ones, pessimistic and
optimistic."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.policy.ir import Action, Tier
from auditor.reach.engine import _CODE, ALLOW, DENY, UNDECIDED, _Plan, walk

ACTIONS = (Action.ALLOW, Action.DENY, Action.PASS)
ENGINE = SimpleNamespace(end_of_tier={"t0": 1, "t1": 2, "t2": 3}, NO_POLICY=0, PROFILE=4)


@st.composite
def plans(draw: st.DrawFn) -> tuple[_Plan, np.ndarray, np.ndarray, int, int]:
    tiers = []
    codes: list[int] = []
    n = 0
    for t in range(draw(st.integers(1, 3))):
        lo = n
        spans = []
        for size in draw(st.lists(st.integers(0, 3), max_size=4)):  # rules per policy
            codes += [_CODE[draw(st.sampled_from(ACTIONS))] for _ in range(size)]
            spans.append((n, n + size))
            n += size
        ties = [spans[:2]] if len(spans) >= 2 and draw(st.booleans()) else []  # two equal-order policies
        tiers.append((Tier(name=f"t{t}", order=t, default_action=draw(st.sampled_from([Action.DENY, Action.PASS]))),
                      lo, n, ties))
    g, a = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mdef = rng.random((n, g, a)) < 0.3
    mpos = mdef | (rng.random((n, g, a)) < 0.3)
    plan = _Plan(np.arange(n), np.array(codes, dtype=np.int8), np.arange(100, 100 + n, dtype=np.int32), tiers)
    return plan, mdef, mpos, g, a


def scalar_walk(plan: _Plan, d: list[bool], p: list[bool], optimistic: bool) -> tuple[int, int, bool]:
    """One cell: the first matching rule of each tier decides (Allow/Deny), Pass goes on to the
    next tier, no match takes the tier's default; uncertain rules read as the walk leans, an
    unsure Pass before the decision taints the cell, as do equal-order policies that would
    decide it differently."""
    lean = _CODE[Action.ALLOW if optimistic else Action.DENY]
    codes = plan.codes.tolist()
    hit = [p[k] if codes[k] == lean else d[k] for k in range(len(codes))]
    taint = False
    rule = -1
    for tier, lo, hi, ties in plan.tiers:
        first = next((k for k in range(lo, hi) if hit[k]), None)
        unsure = next((k for k in range(lo, hi) if codes[k] == _CODE[Action.PASS] and p[k] and not d[k]), None)
        if unsure is not None and (first is None or unsure < first):
            taint = True
        for group in ties:
            seen = {codes[f] for a, b in group if (f := next((k for k in range(a, b) if hit[k]), None)) is not None}
            if (first is None or first >= group[0][0]) and len(seen) > 1:
                taint = True
        if first is not None:
            rule = int(plan.rids[first])
            if codes[first] == _CODE[Action.ALLOW]:
                return ALLOW, rule, taint
            if codes[first] == _CODE[Action.DENY]:
                return DENY, rule, taint
        elif tier.default_action == Action.DENY:
            return DENY, ENGINE.end_of_tier[tier.name], taint
    return ALLOW, ENGINE.PROFILE, taint


@settings(max_examples=300, deadline=None)
@given(plans(), st.booleans())
def test_walk_is_the_scalar_walk_of_every_cell(case: tuple[_Plan, np.ndarray, np.ndarray, int, int],
                                              optimistic: bool) -> None:
    plan, mdef, mpos, g, a = case
    v, r, t = walk(plan, mdef, mpos, g, a, ENGINE, optimistic=optimistic)  # type: ignore[arg-type]
    assert not (v == UNDECIDED).any()
    for i in range(g):
        for j in range(a):
            want = scalar_walk(plan, mdef[:, i, j].tolist(), mpos[:, i, j].tolist(), optimistic)
            assert (int(v[i, j]), int(r[i, j]), bool(t[i, j])) == want
