"""``engine.walk_both`` (the pessimistic and the optimistic walk as one walk over two grids side
by side) gives exactly what the two walks give one at a time: random tier plans with Allow,
Deny and Pass rules, equal-order tie groups, Pass and Deny tier defaults, and possible matches
that say more than the certain ones."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.policy.ir import Action, Tier
from auditor.reach.engine import _CODE, _Plan, walk, walk_both

ACTIONS = (Action.ALLOW, Action.DENY, Action.PASS)


@st.composite
def plans(draw: st.DrawFn) -> tuple[_Plan, np.ndarray, np.ndarray, int, int]:
    n_tiers = draw(st.integers(1, 3))
    tiers = []
    codes: list[int] = []
    n = 0
    for t in range(n_tiers):
        lo = n
        sizes = draw(st.lists(st.integers(0, 3), min_size=0, max_size=4))  # rules per policy
        spans = []
        for size in sizes:
            codes += [_CODE[draw(st.sampled_from(ACTIONS))] for _ in range(size)]
            spans.append((n, n + size))
            n += size
        ties = [spans[:2]] if len(spans) >= 2 and draw(st.booleans()) else []  # two equal-order policies
        default = draw(st.sampled_from([Action.DENY, Action.PASS]))
        tiers.append((Tier(name=f"t{t}", order=t, default_action=default), lo, n, ties))
    g, a = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mdef = rng.random((n, g, a)) < 0.3
    mpos = mdef | (rng.random((n, g, a)) < 0.3)
    plan = _Plan(np.arange(n), np.array(codes, dtype=np.int8), np.arange(100, 100 + n, dtype=np.int32), tiers)
    return plan, mdef, mpos, g, a


ENGINE = SimpleNamespace(end_of_tier={"t0": 1, "t1": 2, "t2": 3}, NO_POLICY=0, PROFILE=4)


@settings(max_examples=300, deadline=None)
@given(plans())
def test_walk_both_is_the_two_walks(case: tuple[_Plan, np.ndarray, np.ndarray, int, int]) -> None:
    plan, mdef, mpos, g, a = case
    pess = walk(plan, mdef, mpos, g, a, ENGINE, optimistic=False)  # type: ignore[arg-type]
    opt = walk(plan, mdef, mpos, g, a, ENGINE, optimistic=True)  # type: ignore[arg-type]
    both = walk_both(plan, mdef, mpos, g, a, ENGINE)  # type: ignore[arg-type]
    for want, got in zip((pess, opt), both, strict=True):
        for w, x in zip(want, got, strict=True):
            assert np.array_equal(w, x)
