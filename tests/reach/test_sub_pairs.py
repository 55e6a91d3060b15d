"""``sub_pairs`` (a matrix read off a larger one) is field for field what ``pairs`` computes for
the same sources and destinations: the controls' units of the bank samples, random subsets."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.commands.pipeline import (
    AnalysisFlags,
    AuditSetup,
    InputSpec,
    analyse,
    analysis_options,
    read_inputs,
)
from auditor.controls.assertions.context import Context, entity_of
from auditor.reach.analysis import PairMatrix
from auditor.reach.subpairs import sub_pairs
from tests.conftest import BANK, CONTROLS

SAMPLES = ("after", "calico", "istio")


@functools.cache
def _units(sample: str):  # type: ignore[no-untyped-def]
    setup = AuditSetup.load([str(CONTROLS / "pci-dss-v4.yaml")], str(CONTROLS / "examples" / "bank-pci-zones.yaml"),
                            None, None)
    analysis = analyse(read_inputs(InputSpec(inputs=(str(BANK / sample),))).snapshot,
                       analysis_options(AnalysisFlags(), setup.zones()))
    ctx = Context(analysis, setup.packs[0])
    ents = [entity_of(u) for u in ctx.zones.all_units()]
    return analysis, ents, analysis.pairs("workload", ents, ents)


def _same(a: PairMatrix, b: PairMatrix) -> None:
    assert a.src == b.src and a.dst == b.dst
    np.testing.assert_array_equal(a.row, b.row)
    assert a.row.dtype == b.row.dtype and a.verdict.dtype == b.verdict.dtype
    np.testing.assert_array_equal(a.verdict, b.verdict)
    np.testing.assert_array_equal(a.network, b.network)
    np.testing.assert_array_equal(a.identity, b.identity)
    assert a.blocks is not None and b.blocks is not None
    for name in ("s_cls", "s_start", "s_cnt", "t_cls", "t_start", "t_cnt", "s_has", "t_has"):
        np.testing.assert_array_equal(getattr(a.blocks, name), getattr(b.blocks, name))
    assert (a.excluded_self, a.request, a.paths) == (b.excluded_self, b.request, b.paths)


@pytest.mark.parametrize("sample", SAMPLES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_sub_pairs_equal_pairs_of_the_subsets(sample: str, data: st.DataObject) -> None:
    analysis, ents, full = _units(sample)
    n = len(ents)
    s_mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    t_mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    si, ti = np.flatnonzero(s_mask), np.flatnonzero(t_mask)
    got = sub_pairs(full, si, ti)
    assert got is not None
    _same(got, analysis.pairs("workload", [ents[k] for k in si], [ents[k] for k in ti]))


def test_sub_pairs_refuses_what_it_cannot_read_off() -> None:
    _, _, full = _units("after")
    assert sub_pairs(full, np.zeros(0, dtype=np.int64), np.arange(2)) is None
